"""Reductions over axes (the reduced axes are dropped) and argmax/argmin.

Accumulators, the same on every backend: floating sums and products
accumulate in float64 and round once to the input's dtype (more accurate than
TensorFlow's float32 accumulator for float32, and the compiled kernels and
the NumPy reference then agree: exactly for products and sums taken in the
same order, within 1 ulp of the output otherwise, since NumPy sums pairwise
and a kernel in order or in chunks); integer sums and products accumulate in
int64 and wrap to the input's dtype. Each reduction's ``ReduceSpec`` states
its identity, update and accumulator dtype once, for the NumPy reference and
the code generators alike.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..core.primitive import ReduceSpec
from ..dtypes import ALL_DTYPES, DType, float64, from_numpy, int32, int64
from ..ir import ShapedArray
from . import elementwise as ew
from . import shape_ops as so
from ._batching import axis_batch, reduce_batch
from ._rules import check_kinds


def _reduce_abstract(name, kinds):
    def abstract(x, axes):
        check_kinds(name, x, kinds, "a numeric" if kinds != "b" else "a boolean")
        for a in axes:
            if not 0 <= a < x.ndim:
                raise ValueError(f"{name}: axis {a} is out of range for shape {x.shape}")
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return ShapedArray(shape, x.dtype, x.weak_type)
    return abstract


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _expand_back(g, x, axes):
    """Reshape a reduced cotangent to keepdims form and broadcast it to x."""
    g = so.reshape_p.bind(g, shape=_kept_shape(x.aval.shape, axes))
    return so.broadcast_to_p.bind(g, shape=tuple(x.aval.shape))


def _sum_vjp(g, x, out, axes):
    return (_expand_back(g, x, axes),)


def _extremum_vjp(g, x, out, axes):
    outb = _expand_back(out, x, axes)
    mask = ew.convert(ew.eq(x, outb), g.dtype)
    counts = _expand_back(reduce_sum_p.bind(mask, axes=axes), x, axes)
    return (ew.div(ew.mul(_expand_back(g, x, axes), mask), counts),)


def _prod_vjp(g, x, out, axes):
    """d prod / dx_i = product of the other elements, written to stay exact (and differentiable) at zeros.

    With P = product of the non-zero elements and Z = product of the zero elements (1 if none):
    a non-zero x_i gets P / x_i * Z; a zero x_i gets P times the product of the other zeros.
    """
    from ..core import literal_tensor
    zero, one = literal_tensor(0, x.dtype), literal_tensor(1, x.dtype)
    is_zero = ew.eq(x, zero)
    n_zero = _expand_back(reduce_sum_p.bind(ew.convert(is_zero, x.dtype), axes=axes), x, axes)
    safe = ew.select(is_zero, one, x)
    p_nonzero = _expand_back(reduce_prod_p.bind(safe, axes=axes), x, axes)
    z_all = _expand_back(reduce_prod_p.bind(ew.select(is_zero, x, one), axes=axes), x, axes)
    # the product of the *other* zeros, for a zero x_i: 1 if it is alone; the other one (written as
    # sum(zeros) - x_i, so that second derivatives are right) if there are two; else 0
    two = literal_tensor(2, x.dtype)
    zero_sum = _expand_back(reduce_sum_p.bind(ew.select(is_zero, x, zero), axes=axes), x, axes)
    z_excl = ew.select(ew.eq(n_zero, one), one, ew.select(ew.eq(n_zero, two), ew.sub(zero_sum, x), zero))
    others = ew.mul(ew.div(p_nonzero, safe), ew.select(is_zero, z_excl, z_all))
    return (ew.mul(_expand_back(g, x, axes), others),)


def _wide(dt: DType) -> DType:
    """The accumulator of sums and products (see the module docstring): float64 or int64."""
    return float64 if dt.is_floating else (int64 if dt.is_integer else dt)


def _lowest(dt: DType):
    return -np.inf if dt.is_floating else (False if dt.is_bool else int(np.iinfo(dt.np).min))


def _highest(dt: DType):
    return np.inf if dt.is_floating else (True if dt.is_bool else int(np.iinfo(dt.np).max))


def _np_reduce(fn, spec: ReduceSpec, identity_if_empty: bool = False):
    """The NumPy reference of a reduction, with the same identity and float accumulator as ``spec``.

    ``fn`` is a ufunc's ``reduce`` (``np.add.reduce``, not ``np.sum``: the same computation without
    ``np.sum``'s Python wrapper, which costs more than the sum of a small array)."""
    # NumPy dtype -> the wider float accumulator; integers need none: NumPy's own int64/uint64 sum wraps the same
    wider = {d.np: spec.accumulator_dtype(d).np for d in ALL_DTYPES
             if d.is_floating and spec.accumulator_dtype(d) is not d}

    def impl(x, axes):
        if identity_if_empty and x.size == 0:  # like TensorFlow: the identity of max/min, not an error
            init = spec.initial(from_numpy(x.dtype))
            return np.asarray(fn(x, axis=axes, initial=init)).astype(x.dtype, copy=False)
        acc = wider.get(x.dtype)
        if acc is not None:
            return np.array(fn(x, axis=axes, dtype=acc), dtype=x.dtype)  # (a NumPy scalar for a full reduction)
        return np.asarray(fn(x, axis=axes)).astype(x.dtype, copy=False)
    return impl


def _reduction(name, kinds, fn, vjp, spec, identity_if_empty=False):
    p = Primitive(name, _reduce_abstract(name, kinds), _np_reduce(fn, spec, identity_if_empty), vjp, "reduce",
                  reduce=spec)
    p.batch = reduce_batch(p)
    return p


def _no_vjp(g, x, out, axes):
    return (None,)


_SUM = ReduceSpec(0, "{acc} + {0}", _wide)
_PROD = ReduceSpec(1, "{acc} * {0}", _wide)
_MAX = ReduceSpec(_lowest, "({0} if ({0} > {acc} or {0} != {0}) else {acc})")
_MIN = ReduceSpec(_highest, "({0} if ({0} < {acc} or {0} != {0}) else {acc})")

reduce_sum_p = _reduction("reduce_sum", "iuf", np.add.reduce, _sum_vjp, _SUM)
reduce_max_p = _reduction("reduce_max", "biuf", np.maximum.reduce, _extremum_vjp, _MAX, identity_if_empty=True)
reduce_min_p = _reduction("reduce_min", "biuf", np.minimum.reduce, _extremum_vjp, _MIN, identity_if_empty=True)
reduce_prod_p = _reduction("reduce_prod", "iuf", np.multiply.reduce, _prod_vjp, _PROD)
reduce_and_p = _reduction("reduce_and", "b", np.logical_and.reduce, _no_vjp, ReduceSpec(True, "{acc} and {0}"))
reduce_or_p = _reduction("reduce_or", "b", np.logical_or.reduce, _no_vjp, ReduceSpec(False, "{acc} or {0}"))


def _arg_abstract(name):
    def abstract(x, axis, index_dtype):
        check_kinds(name, x, "biuf", "a numeric")
        if x.ndim == 0 or not 0 <= axis < x.ndim:
            raise ValueError(f"{name}: axis {axis} is out of range for shape {x.shape}")
        if x.shape[axis] == 0:
            raise ValueError(f"{name}: cannot take {name} of an empty axis (shape {x.shape})")
        if index_dtype not in (int32, int64):
            raise TypeError(f"{name}: output_type must be int32 or int64, got {index_dtype}")
        return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i != axis), index_dtype, False)
    return abstract


def _arg_impl(fn):
    def impl(x, axis, index_dtype):
        return fn(x, axis=axis).astype(index_dtype.np)
    return impl


argmax_p = Primitive("argmax", _arg_abstract("argmax"), _arg_impl(np.argmax), lambda g, x, out, **p: (None,))
argmin_p = Primitive("argmin", _arg_abstract("argmin"), _arg_impl(np.argmin), lambda g, x, out, **p: (None,))
argmax_p.batch = axis_batch(argmax_p)
argmin_p.batch = axis_batch(argmin_p)


