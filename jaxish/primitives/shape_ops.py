"""Shape primitives: reshape, transpose, broadcast_to, concatenate, strided
slices, gather and their adjoints, and iota.

Backends turn most of these into views or index arithmetic, not copies.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..ir import ShapedArray
from ._batching import front, move_axis, move_to_front, no_operands
from ._rules import broadcast_shapes, unbroadcast


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


# -- reshape ---------------------------------------------------------------
def _reshape_abstract(x, shape):
    if _size(shape) != _size(x.shape):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({_size(x.shape)} elements) "
                         f"into shape {shape}")
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


reshape_p = Primitive("reshape", _reshape_abstract, lambda x, shape: np.reshape(x, shape),
                      lambda g, x, out, shape: (reshape_p.bind(g, shape=tuple(x.aval.shape)),))


# -- transpose -------------------------------------------------------------
def _transpose_abstract(x, perm):
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: perm {list(perm)} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return ShapedArray(tuple(x.shape[p] for p in perm), x.dtype, x.weak_type)


def _transpose_vjp(g, x, out, perm):
    return (transpose_p.bind(g, perm=tuple(int(i) for i in np.argsort(perm))),)


transpose_p = Primitive("transpose", _transpose_abstract, lambda x, perm: np.transpose(x, perm), _transpose_vjp)


# -- broadcast_to ----------------------------------------------------------
def _broadcast_abstract(x, shape):
    if len(shape) < x.ndim or broadcast_shapes("broadcast_to", x.shape, shape) != tuple(shape):
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {tuple(shape)}")
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


# fusible: a fused loop reads the operand with broadcast indexing (an elementwise copy)
broadcast_to_p = Primitive("broadcast_to", _broadcast_abstract, lambda x, shape: np.broadcast_to(x, shape),
                           lambda g, x, out, shape: (unbroadcast(g, x.aval.shape),), scalar="{0}", fusible=True,
                           scalar_keeps_dtype=True)


# -- concatenate -----------------------------------------------------------
def _concat_abstract(*xs, axis):
    base = xs[0]
    for x in xs:
        if x.dtype != base.dtype:
            raise TypeError(f"concat: all inputs must have the same dtype, got "
                            f"{', '.join(x.dtype.name for x in xs)}")
        if x.ndim != base.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, base.shape)) if i != axis):
            raise ValueError(f"concat: shapes {', '.join(str(x.shape) for x in xs)} do not match "
                             f"except along axis {axis}")
    shape = list(base.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return ShapedArray(tuple(shape), base.dtype, all(x.weak_type for x in xs))


def _concat_vjp(g, *args, axis):
    xs, cts, start = args[:-1], [], 0
    for x in xs:
        n = x.aval.shape[axis]
        idx = [(0, d, 1) for d in g.aval.shape]
        idx[axis] = (start, start + n, 1)
        cts.append(slice_p.bind(g, index=tuple(idx)))
        start += n
    return tuple(cts)


concatenate_p = Primitive("concatenate", _concat_abstract, lambda *xs, axis: np.concatenate(xs, axis=axis),
                          _concat_vjp)


# -- strided slice and its adjoint ----------------------------------------
def _slices(index):
    return tuple(slice(a, (b if b >= 0 else None), c) for a, b, c in index)


def slice_length(start, stop, step):
    return len(range(start, stop, step))


def _slice_abstract(x, index):
    if len(index) != x.ndim:
        raise ValueError(f"slice: index of length {len(index)} for a tensor of rank {x.ndim}")
    return ShapedArray(tuple(slice_length(*ix) for ix in index), x.dtype, x.weak_type)


def _slice_vjp(g, x, out, index):
    return (unslice_p.bind(g, shape=tuple(x.aval.shape), index=index),)


slice_p = Primitive("slice", _slice_abstract, lambda x, index: x[_slices(index)], _slice_vjp)


def _unslice_abstract(g, shape, index):
    return ShapedArray(tuple(shape), g.dtype, g.weak_type)


def _unslice_impl(g, shape, index):
    out = np.zeros(shape, g.dtype)
    out[_slices(index)] = g
    return out


unslice_p = Primitive("unslice", _unslice_abstract, _unslice_impl,
                      lambda g, ct, out, shape, index: (slice_p.bind(g, index=index),))


# -- gather along one axis and its adjoint --------------------------------
def _gather_abstract(x, idx, axis):
    if not idx.dtype.is_integer:
        raise TypeError(f"gather: indices must be integers, got {idx.dtype.name}")
    if not 0 <= axis < max(x.ndim, 1) or x.ndim == 0:
        raise ValueError(f"gather: axis {axis} is out of range for params of shape {x.shape}")
    return ShapedArray(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype, x.weak_type)


def _gather_impl(x, idx, axis):
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].ravel()[0]
        raise IndexError(f"gather: index {bad} is out of bounds for axis {axis} with size {n}")
    return np.take(x, idx, axis=axis)


def _gather_vjp(g, x, idx, out, axis):
    return gather_grad_p.bind(g, idx, shape=tuple(x.aval.shape), axis=axis), None


gather_p = Primitive("gather", _gather_abstract, _gather_impl, _gather_vjp)


def _gather_grad_abstract(g, idx, shape, axis):
    return ShapedArray(tuple(shape), g.dtype, g.weak_type)


def _gather_grad_impl(g, idx, shape, axis):
    out = np.zeros(shape, g.dtype)
    n = shape[axis]
    idx = np.where(idx < 0, idx + n, idx)
    moved = np.moveaxis(out, axis, 0)
    gm = np.moveaxis(g.reshape(shape[:axis] + (idx.size,) + shape[axis + 1:]), axis, 0)
    np.add.at(moved, idx.ravel(), gm)
    return out


gather_grad_p = Primitive("gather_grad", _gather_grad_abstract, _gather_grad_impl,
                          lambda ct, g, idx, out, shape, axis: (gather_p.bind(ct, idx, axis=axis), None))


# -- iota ------------------------------------------------------------------
def _iota_abstract(*, n, dtype):
    if dtype.kind not in "iuf":
        raise TypeError(f"iota: dtype must be numeric, got {dtype}")
    return ShapedArray((n,), dtype, False)


iota_p = Primitive("iota", _iota_abstract, lambda *, n, dtype: np.arange(n, dtype=dtype.np), lambda g, out, **p: ())


# -- batching rules (vmap; see _batching.py) ------------------------------
def _reshape_batch(args, dims, size, shape):
    """A batch axis at ``d`` splits the per-example shape into the axes before it and after it; when a prefix
    of the new shape has as many elements as the axes before it, the batch axis can stay between the two parts
    (a reshape, no copy). Otherwise it goes first."""
    x, d = args[0], dims[0]
    shape = tuple(shape)
    if d:
        before = _size(x.aval.shape[:d])
        for j in range(len(shape), -1, -1):
            if _size(shape[:j]) == before:
                return reshape_p.bind(x, shape=shape[:j] + (size,) + shape[j:]), j
    return reshape_p.bind(move_to_front(x, d), shape=(size,) + shape), 0


def _transpose_batch(args, dims, size, perm):
    """One transpose with the batch axis first; a reshape when it only moves axes of length 1 (the order of the
    others kept: no data moves)."""
    x, d = args[0], dims[0]
    full = (d,) + tuple(p if p < d else p + 1 for p in perm)
    shape = tuple(x.aval.shape)
    moved = [p for p in full if shape[p] != 1]
    if moved == sorted(moved):
        return reshape_p.bind(x, shape=tuple(shape[p] for p in full)), 0
    return transpose_p.bind(x, perm=full), 0


def _broadcast_batch(args, dims, size, shape):
    x = front(args[0], dims[0], size, len(shape))
    return broadcast_to_p.bind(x, shape=(size,) + tuple(shape)), 0


def _concat_batch(args, dims, size, axis):
    return concatenate_p.bind(*[front(a, d, size) for a, d in zip(args, dims)], axis=axis + 1), 0


def _slice_batch(args, dims, size, index):
    return slice_p.bind(move_to_front(args[0], dims[0]), index=((0, size, 1),) + tuple(index)), 0


def _unslice_batch(args, dims, size, shape, index):
    g = move_to_front(args[0], dims[0])
    return unslice_p.bind(g, shape=(size,) + tuple(shape), index=((0, size, 1),) + tuple(index)), 0


def _flat_indices(idx, d, size, n):
    """Per-example indices ``idx`` (batch axis ``d``) into an axis of length ``n``, as indices into the
    examples' axes laid end to end (``b * n + i``, negatives wrapped first): shape ``(size, *idx shape)``."""
    from ..core import literal_tensor
    from . import elementwise as ew
    idx = move_to_front(idx, d)
    dt = idx.aval.dtype
    if dt.kind != "u":
        idx = ew.select(ew.lt_p.bind(idx, literal_tensor(0, dt)), ew.add(idx, literal_tensor(n, dt)), idx)
    off = ew.mul(iota_p.bind(n=size, dtype=dt), literal_tensor(n, dt))
    off = reshape_p.bind(off, shape=(size,) + (1,) * (idx.aval.ndim - 1))
    return ew.add(idx, off)


def _gather_batch(args, dims, size, axis):
    (x, idx), (dx, di) = args, dims
    if di is None:
        return gather_p.bind(move_to_front(x, dx), idx, axis=axis + 1), 0
    if dx is None:
        return gather_p.bind(x, idx, axis=axis), axis + di
    # both batched: gather from the examples' axes laid end to end
    x = move_axis(move_to_front(x, dx), axis + 1, 1)             # (B, n, pre, post)
    n, rest = x.aval.shape[1], tuple(x.aval.shape[2:])
    flat = _flat_indices(idx, di, size, n)                        # (B, *is)
    out = gather_p.bind(reshape_p.bind(x, shape=(size * n,) + rest), flat, axis=0)   # (B, *is, pre, post)
    k = flat.aval.ndim - 1
    perm = (0,) + tuple(range(1 + k, 1 + k + axis)) + tuple(range(1, 1 + k)) + \
        tuple(range(1 + k + axis, out.aval.ndim))
    return transpose_p.bind(out, perm=perm), 0


def _gather_grad_batch(args, dims, size, shape, axis):
    (g, idx), (dg, di) = args, dims
    g = front(g, dg, size)
    if di is None:
        return gather_grad_p.bind(g, idx, shape=(size,) + tuple(shape), axis=axis + 1), 0
    n = shape[axis]
    flat = _flat_indices(idx, di, size, n)                        # (B, *is)
    k = flat.aval.ndim - 1
    # g: (B, pre, *is, post) -> (B, *is, pre, post)
    perm = (0,) + tuple(range(1 + axis, 1 + axis + k)) + tuple(range(1, 1 + axis)) + \
        tuple(range(1 + axis + k, g.aval.ndim))
    g = transpose_p.bind(g, perm=perm)
    rest = tuple(shape[:axis]) + tuple(shape[axis + 1:])
    out = gather_grad_p.bind(g, flat, shape=(size * n,) + rest, axis=0)    # (B*n, pre, post)
    out = reshape_p.bind(out, shape=(size, n) + rest)
    return move_axis(out, 1, 1 + axis), 0


reshape_p.batch = _reshape_batch
transpose_p.batch = _transpose_batch
broadcast_to_p.batch = _broadcast_batch
concatenate_p.batch = _concat_batch
slice_p.batch = _slice_batch
unslice_p.batch = _unslice_batch
gather_p.batch = _gather_batch
gather_grad_p.batch = _gather_grad_batch
iota_p.batch = no_operands
