"""``tensor[key]``: ints, slices (any step), ``...``, ``newaxis``, Python and
NumPy booleans, and integer or boolean tensor indices (a gather), with NumPy's
semantics.

Out-of-range indices
--------------------
Indices whose values are known (Python ints, NumPy arrays, eager tensors,
constants inside a trace) are checked: an out-of-range one raises
``IndexError`` naming the axis, the index and the size, as NumPy does. An
index that is a traced value is not known when the graph is built, so it
follows JAX's rule instead: a negative index wraps once (``-1`` is the last
element), then it is clamped to ``[0, size - 1]``. A traced index therefore
never reads a neighbouring element, on every backend.
"""
from __future__ import annotations

import numpy as np

from .core import Tensor, Tracer, is_variable
from .primitives import shape_ops as so

# normalised index entries: ("int", value, axis), ("slice", slice), ("adv", index, axis),
# ("new",) and ("ellipsis",); ("adv", ...) indices are NumPy int64 arrays or int64 tracers
_NEW = ("new",)
_ELLIPSIS = ("ellipsis",)


def getitem(x, key):
    """``x[key]`` with NumPy's indexing rules (see the module docstring for out-of-range indices)."""
    from .ops import _in, _unchanged
    x = operand = _in(x)
    entries = _parse(key if isinstance(key, tuple) else (key,))
    if any(e[0] in ("adv", "bool", "mask") for e in entries):
        # next to an array index, an int is a 0-d array index (it takes part in broadcasting and placement)
        entries = [("adv", np.array(e[1], np.int64), None) if e[0] == "int" else e for e in entries]
    x, entries = _insert_bool_axes(x, entries)
    adjacent = _adjacent([i for i, e in enumerate(entries) if e[0] == "adv"])
    entries = _expand_ellipsis(x, entries)
    x = _basic_slice(x, entries)
    x, adv_shape = _gather(x, entries, adjacent)
    out = _final_reshape(x, entries, adv_shape, adjacent)
    return _unchanged(out) if out is operand else out


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------
def _parse(key: tuple) -> list:
    entries = []
    for k in key:
        if k is None:
            entries.append(_NEW)
        elif k is Ellipsis:
            entries.append(_ELLIPSIS)
        elif isinstance(k, slice):
            entries.append(("slice", k))
        elif isinstance(k, (bool, np.bool_)):
            entries.append(("bool", bool(k)))
        elif isinstance(k, (int, np.integer)):
            entries.append(("int", int(k), None))
        else:
            entries.append(_array_entry(k))
    if entries.count(_ELLIPSIS) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    return entries


def _array_entry(k) -> tuple:
    """The entry of an array-like index: a concrete 0-d int, a bool, a boolean mask or an integer array."""
    if is_variable(k):
        k = k.read_value()
    if isinstance(k, Tracer):
        if k.dtype.is_bool:
            k._concrete("boolean mask indexing (its output shape depends on the values)")
        if not k.dtype.is_integer:
            raise IndexError(f"only integer and boolean tensors are valid indices, got dtype {k.dtype.name} "
                             f"(shape {k.aval.shape})")
        return ("adv", k, None)
    if isinstance(k, Tensor):
        arr = k._value
    elif isinstance(k, (np.ndarray, list)):
        arr = np.asarray(k)
        if isinstance(k, list) and arr.size == 0 and arr.dtype.kind == "f":  # x[[]] selects nothing
            arr = arr.astype(np.int64)
    else:
        raise IndexError(f"invalid index {k!r:.60} of type {type(k).__name__}: only integers, slices, ..., "
                         f"newaxis, booleans and integer or boolean tensors are valid indices")
    if arr.dtype.kind == "b":
        return ("bool", bool(arr)) if arr.ndim == 0 else ("mask", arr)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"only integer and boolean arrays are valid indices, got dtype {arr.dtype} "
                         f"(shape {arr.shape})")
    if arr.ndim == 0:
        return ("int", int(arr), None)
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise IndexError(f"index {arr.max()} is out of bounds: it exceeds the size of any axis")
    return ("adv", arr.astype(np.int64, copy=False), None)


def _insert_bool_axes(x, entries) -> tuple:
    """Boolean masks become one integer array per masked axis, and a scalar boolean a new length-1 axis
    indexed by ``[0]`` (``True``) or ``[]`` (``False``), as NumPy treats them. Each entry that consumes
    an axis of ``x`` learns its axis number (for error messages)."""
    nd = x.ndim
    consumed = sum(e[1].ndim if e[0] == "mask" else 1 for e in entries if e[0] in ("int", "slice", "adv", "mask"))
    if consumed > nd:
        raise IndexError(f"too many indices for a tensor of shape {tuple(x.aval.shape)}: {consumed} were indexed")
    shape, out, axis = list(x.aval.shape), [], 0
    aug = []  # the shape of x with the boolean scalars' new axes
    for e in entries:
        if e[0] == "ellipsis":
            skip = nd - consumed
            aug.extend(shape[axis:axis + skip])
            axis += skip
            out.append(e)
        elif e[0] == "bool":
            aug.append(1)
            out.append(("adv", np.zeros((1,) if e[1] else (0,), np.int64), None))
        elif e[0] == "mask":
            _check_mask(e[1], shape, axis)
            aug.extend(shape[axis:axis + e[1].ndim])
            out.extend(("adv", i.astype(np.int64), axis + j) for j, i in enumerate(np.nonzero(e[1])))
            axis += e[1].ndim
        elif e[0] == "new":
            out.append(e)
        else:
            aug.append(shape[axis])
            out.append(e if e[0] == "slice" else (e[0], e[1], axis))
            axis += 1
    aug.extend(shape[axis:])
    if len(aug) != nd:
        x = so.reshape_p.bind(x, shape=tuple(aug))
    return x, out


def _check_mask(mask, shape, axis) -> None:
    for j, m in enumerate(mask.shape):
        if m != shape[axis + j]:
            raise IndexError(f"boolean index did not match indexed array along axis {axis + j}; size of axis is "
                             f"{shape[axis + j]} but size of corresponding boolean axis is {m}")


def _adjacent(positions) -> bool:
    return positions == list(range(positions[0], positions[0] + len(positions))) if positions else True


def _expand_ellipsis(x, entries) -> list:
    consumed = sum(1 for e in entries if e[0] in ("int", "slice", "adv"))
    fill = [("slice", slice(None))] * (x.ndim - consumed)
    if _ELLIPSIS in entries:
        i = entries.index(_ELLIPSIS)
        return entries[:i] + fill + entries[i + 1:]
    return entries + fill


# ---------------------------------------------------------------------------
# basic slicing, then one gather for all the array indices
# ---------------------------------------------------------------------------
def _axis_entries(entries) -> list:
    return [e for e in entries if e[0] in ("int", "slice", "adv")]


def _basic_slice(x, entries):
    """Slices, and ints as length-1 slices (their axes are dropped at the end)."""
    index = []
    for e, n in zip(_axis_entries(entries), x.aval.shape):
        if e[0] == "int":
            i = _checked_int(e[1], e[2], n)
            index.append((i, i + 1, 1))
        elif e[0] == "slice":
            index.append(_slice_triple(e[1], n))
        else:
            index.append((0, n, 1))
    index = tuple(index)
    if any(ix != (0, n, 1) for ix, n in zip(index, x.aval.shape)):
        x = so.slice_p.bind(x, index=index)
    return x


def _slice_triple(s: slice, n: int) -> tuple:
    """``s.indices(n)``, with an empty selection as ``(0, 0, 1)``: for a negative step, ``indices`` can give a
    start of -1 (before the first element), which a slice primitive would read as the last element."""
    start, stop, step = s.indices(n)
    return (start, stop, step) if len(range(start, stop, step)) else (0, 0, 1)


def _checked_int(i: int, axis, n: int) -> int:
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
    return i % n


def _gather(x, entries, adjacent) -> tuple:
    """Gather all array indices at once: their axes are merged into one, indexed by a row-major linear index."""
    ax_entries = _axis_entries(entries)
    axes = [d for d, e in enumerate(ax_entries) if e[0] == "adv"]
    if not axes:
        return x, ()
    shape = tuple(x.aval.shape)
    dims = [shape[d] for d in axes]
    adv_shape = _broadcast_index_shapes([tuple(ax_entries[d][1].shape) if isinstance(ax_entries[d][1], np.ndarray)
                                         else tuple(ax_entries[d][1].aval.shape) for d in axes])
    empty = 0 in adv_shape
    idx = [_in_range(ax_entries[d][1], ax_entries[d][2], n, empty) for d, n in zip(axes, dims)]
    lin = _linear_index(idx, dims, adv_shape)
    rest = [d for d in range(len(shape)) if d not in axes]
    if adjacent:
        pos = axes[0]
        merged = shape[:pos] + (int(np.prod(dims, dtype=np.int64)),) + shape[pos + len(axes):]
    else:
        pos = 0
        x = so.transpose_p.bind(x, perm=tuple(axes + rest))
        merged = (int(np.prod(dims, dtype=np.int64)),) + tuple(shape[d] for d in rest)
    if merged != tuple(x.aval.shape):
        x = so.reshape_p.bind(x, shape=merged)
    if isinstance(lin, np.ndarray):
        if lin.shape == (merged[pos],) and np.array_equal(lin, np.arange(merged[pos])):
            return x, adv_shape  # x[True] and the like select everything
        lin = Tensor(lin)
    return so.gather_p.bind(x, lin, axis=pos), adv_shape


def _in_range(i, axis, n, empty: bool):
    """A concrete index is checked (IndexError, as NumPy); a traced one wraps once, then is clamped (as JAX).
    ``empty``: the indices select nothing (their broadcast shape has a 0), so a traced one may index an empty
    axis."""
    if isinstance(i, np.ndarray):
        bad = (i < -n) | (i >= n)
        if bad.any():
            raise IndexError(f"index {i[bad].flat[0]} is out of bounds for axis {axis} with size {n}")
        return np.where(i < 0, i + n, i)
    if n == 0 and empty:
        return i
    if n == 0:
        raise IndexError(f"index is out of bounds for axis {axis} with size 0 (a traced index cannot select "
                         f"from an empty axis)")
    from .ops import add, cast, clip_by_value, less, where
    i = cast(i, "int64")
    return clip_by_value(where(less(i, 0), add(i, n), i), 0, n - 1)


def _broadcast_index_shapes(shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together with shapes "
                         + " ".join(str(s) for s in shapes)) from None


def _linear_index(idx, dims, adv_shape):
    """The row-major index into the merged axes, broadcast to ``adv_shape`` (NumPy when every index is known)."""
    if all(isinstance(i, np.ndarray) for i in idx):
        lin = np.zeros((), np.int64)
        for i, d in zip(idx, dims):
            lin = lin * d + i
        return np.ascontiguousarray(np.broadcast_to(lin, adv_shape))
    from .ops import add, broadcast_to, multiply
    lin = None
    for i, d in zip(idx, dims):
        i = Tensor(i) if isinstance(i, np.ndarray) else i
        lin = i if lin is None else add(multiply(lin, d), i)
    return broadcast_to(lin, adv_shape)


def _final_reshape(x, entries, adv_shape, adjacent):
    """Drop the int axes, insert the new axes, and place the gathered axes where NumPy puts them."""
    shape, cur, dim, placed = [], list(x.aval.shape), 0, False
    if not adjacent:
        shape.extend(adv_shape)
        dim += len(adv_shape)
    for e in entries:
        if e[0] == "int":
            dim += 1
        elif e[0] == "slice":
            shape.append(cur[dim])
            dim += 1
        elif e[0] == "adv" and adjacent and not placed:
            shape.extend(adv_shape)
            dim += len(adv_shape)
            placed = True
        elif e[0] == "new":
            shape.append(1)
    shape = tuple(shape)
    if shape != tuple(x.aval.shape):
        x = so.reshape_p.bind(x, shape=shape)
    return x
