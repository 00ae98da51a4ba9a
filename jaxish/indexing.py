"""``tensor[key]``: ints, slices (any step), ``...``, ``newaxis`` and integer or
boolean tensor indices (a gather), with NumPy's semantics."""
from __future__ import annotations

import numpy as np

from .core import Tensor, Tracer
from .primitives import shape_ops as so


def _is_adv(k) -> bool:
    if isinstance(k, Tensor):
        return k.ndim > 0 or k.dtype.is_bool or isinstance(k, Tracer)
    if isinstance(k, np.ndarray):
        return True
    return isinstance(k, list)


def _as_index_tensor(k):
    if isinstance(k, Tensor):
        return k
    arr = np.asarray(k)
    if arr.dtype.kind not in "biu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise IndexError(f"index arrays must be integers or booleans, got {arr.dtype}")
    return Tensor(arr)


def getitem(x: Tensor, key):
    from .ops import _in
    x = _in(x)
    if not isinstance(key, tuple):
        key = (key,)
    # expand the boolean masks into one integer index per masked axis
    entries = []
    for k in key:
        if _is_adv(k):
            t = _as_index_tensor(k)
            if t.dtype.is_bool:
                if isinstance(t, Tracer):
                    t._concrete("boolean mask indexing (its output shape depends on the values)")
                nz = np.nonzero(t._value)
                entries.extend(("adv", Tensor(i.astype(np.int64)), t.ndim > 0) for i in nz)
                if t.ndim == 0:  # x[True] / x[False] add an axis
                    entries[-len(nz):] = []
                    entries.append(("new",))
                    if not t._value:
                        entries.append(("empty",))
                continue
            if not t.dtype.is_integer:
                raise IndexError(f"index tensors must be integers or booleans, got {t.dtype.name}")
            entries.append(("adv", t, True))
        elif k is None:
            entries.append(("new",))
        elif k is Ellipsis:
            entries.append(("ellipsis",))
        elif isinstance(k, slice):
            entries.append(("slice", k))
        elif isinstance(k, (int, np.integer)) or (isinstance(k, Tensor) and k.ndim == 0):
            if isinstance(k, Tensor) and not k.dtype.is_integer:
                raise IndexError(f"only integer scalar tensors are valid indices, got {k.dtype.name}")
            entries.append(("int", int(k)))
        else:
            raise IndexError(f"invalid index {k!r} of type {type(k).__name__}: only integers, slices, ..., "
                             f"newaxis and integer or boolean tensors are valid indices")
    if sum(e[0] == "ellipsis" for e in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for e in entries if e[0] in ("int", "slice", "adv"))
    nd = x.ndim
    if consumed > nd:
        raise IndexError(f"too many indices for a tensor of shape {x.aval.shape}: {consumed} were indexed")
    if ("ellipsis",) in entries:
        i = entries.index(("ellipsis",))
        entries[i:i + 1] = [("slice", slice(None))] * (nd - consumed)
    else:
        entries += [("slice", slice(None))] * (nd - consumed)

    # 1. basic slicing over every axis (ints become length-1 slices)
    index, dim = [], 0
    for e in entries:
        if e[0] == "int":
            n = x.aval.shape[dim]
            i = e[1]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {dim} with size {n}")
            i %= n
            index.append((i, i + 1, 1))
            dim += 1
        elif e[0] == "slice":
            index.append(e[1].indices(x.aval.shape[dim]))
            dim += 1
        elif e[0] == "adv":
            index.append((0, x.aval.shape[dim], 1))
            dim += 1
    index = tuple(index)
    if any(ix != (0, n, 1) for ix, n in zip(index, x.aval.shape)):
        x = so.slice_p.bind(x, index=index)

    # 2. advanced (integer) indices: adjacent ones merge into one gather
    adv_axes = [i for i, e in enumerate([e for e in entries if e[0] in ("int", "slice", "adv")]) if e[0] == "adv"]
    adv = [e[1] for e in entries if e[0] == "adv"]
    adv_shape = ()
    if adv:
        if adv_axes != list(range(adv_axes[0], adv_axes[0] + len(adv_axes))):
            raise IndexError("non-adjacent integer-array indices are not supported; index them one at a time")
        from .ops import add, broadcast_to, cast, multiply, reshape
        adv_shape = np.broadcast_shapes(*[tuple(t.aval.shape) for t in adv])
        a0 = adv_axes[0]
        dims = x.aval.shape[a0:a0 + len(adv)]
        if len(adv) == 1:
            lin = adv[0]
        else:  # row-major linear index into the merged axes
            lin = None
            for t, d in zip(adv, dims):
                t = _wrap(cast(broadcast_to(t, adv_shape), "int64"), d)
                lin = t if lin is None else add(multiply(lin, d), t)
            x = reshape(x, x.aval.shape[:a0] + (-1,) + x.aval.shape[a0 + len(adv):])
        x = so.gather_p.bind(x, lin, axis=a0)

    # 3. final shape: drop int axes, insert new axes
    shape, dim = [], 0
    placed = False
    cur = list(x.aval.shape)
    for e in entries:
        if e[0] == "int":
            dim += 1
        elif e[0] == "slice":
            shape.append(cur[dim])
            dim += 1
        elif e[0] == "adv":
            if not placed:
                shape.extend(adv_shape)
                dim += len(adv_shape)
                placed = True
        elif e[0] == "new":
            shape.append(1)
        elif e[0] == "empty":
            shape[-1] = 0
    shape = tuple(shape)
    if shape != tuple(x.aval.shape):
        if int(np.prod(shape, dtype=np.int64)) == 0 and x.aval.size != 0:
            return _empty(x, shape)
        x = so.reshape_p.bind(x, shape=shape)
    return x


def _wrap(t, n):
    """Negative indices count from the end (as in NumPy)."""
    from .ops import add, less, where
    return where(less(t, 0), add(t, n), t)


def _empty(x, shape):
    from .creation import zeros
    return zeros(shape, x.dtype)
