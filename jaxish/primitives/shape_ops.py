"""Shape primitives: reshape, transpose, broadcast_to, concatenate, strided
slices, gather and their adjoints, and iota.

Backends turn most of these into views or index arithmetic, not copies.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..ir import ShapedArray
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
