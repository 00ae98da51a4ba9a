"""Reductions over axes (the reduced axes are dropped) and argmax/argmin.

Accumulators, the same on every backend: floating sums and products
accumulate in float64 and round once to the input's dtype (more accurate than
TensorFlow's float32 accumulator for float32, and the compiled kernels and
the NumPy reference then agree: exactly for products and sums taken in the
same order, within 1 ulp of the output otherwise, since NumPy sums pairwise
and a kernel in order or in chunks); integer sums and products accumulate in
int64 and wrap to the input's dtype.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..dtypes import int32, int64
from ..ir import ShapedArray
from . import elementwise as ew
from . import shape_ops as so
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


def _np_reduce(fn, initial=None):
    def impl(x, axes):
        if initial is not None and x.size == 0:  # like TensorFlow: the identity of max/min, not an error
            init = initial(x.dtype)
            return np.asarray(fn(x, axis=axes, initial=init)).astype(x.dtype, copy=False)
        if x.dtype.kind == "f" and fn in (np.sum, np.prod):  # float64 accumulator (see the module docstring)
            return np.asarray(fn(x, axis=axes, dtype=np.float64)).astype(x.dtype)
        return np.asarray(fn(x, axis=axes)).astype(x.dtype, copy=False)
    return impl


def _lowest(dt):
    return -np.inf if dt.kind == "f" else (False if dt.kind == "b" else np.iinfo(dt).min)


def _highest(dt):
    return np.inf if dt.kind == "f" else (True if dt.kind == "b" else np.iinfo(dt).max)


# ``init`` and ``combine`` drive the code generators (accumulator start and update)
reduce_sum_p = Primitive("reduce_sum", _reduce_abstract("reduce_sum", "iuf"), _np_reduce(np.sum), _sum_vjp, "reduce",
                         scalar=("0", "{acc} + {0}"))
reduce_max_p = Primitive("reduce_max", _reduce_abstract("reduce_max", "biuf"), _np_reduce(np.max, _lowest),
                         _extremum_vjp, "reduce", scalar=("-inf", "({0} if ({0} > {acc} or {0} != {0}) else {acc})"))
reduce_min_p = Primitive("reduce_min", _reduce_abstract("reduce_min", "biuf"), _np_reduce(np.min, _highest),
                         _extremum_vjp, "reduce", scalar=("inf", "({0} if ({0} < {acc} or {0} != {0}) else {acc})"))
reduce_prod_p = Primitive("reduce_prod", _reduce_abstract("reduce_prod", "iuf"), _np_reduce(np.prod), _prod_vjp,
                          "reduce", scalar=("1", "{acc} * {0}"))
reduce_and_p = Primitive("reduce_and", _reduce_abstract("reduce_and", "b"), _np_reduce(np.all),
                         lambda g, x, out, axes: (None,), "reduce", scalar=("True", "{acc} and {0}"))
reduce_or_p = Primitive("reduce_or", _reduce_abstract("reduce_or", "b"), _np_reduce(np.any),
                        lambda g, x, out, axes: (None,), "reduce", scalar=("False", "{acc} or {0}"))


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


def reduce_sum(x, axes):
    return reduce_sum_p.bind(x, axes=tuple(axes)) if axes else x


