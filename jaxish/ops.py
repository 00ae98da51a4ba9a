"""The front-end operations, with TensorFlow's names.

Each function promotes its operands (JAX's lattice, weak Python scalars),
checks arguments, and composes primitives. Nothing here knows about Numba,
tapes or traces: every primitive call goes through ``bind``.
"""
from __future__ import annotations

import builtins
import math
from typing import Sequence

import numpy as np

from . import dtypes as _dt
from .core import Tensor, Tracer, literal_tensor, to_tensor_arg
from .primitives import elementwise as ew
from .primitives import linalg as la
from .primitives import reductions as rd
from .primitives import shape_ops as so
from .primitives._rules import broadcast_shapes, normalize_axis

_PY_SCALARS = (builtins.bool, int, float)


# ---------------------------------------------------------------------------
# promotion
# ---------------------------------------------------------------------------
def _typed(x) -> tuple:
    if isinstance(x, Tensor) or getattr(x, "_is_variable", False):
        return x.dtype, x.aval.weak_type
    if isinstance(x, builtins.bool):
        return _dt.bool_, False
    if isinstance(x, int):
        return _dt.int32, True
    if isinstance(x, float):
        return _dt.float32, True
    t = to_tensor_arg(x)
    return t.dtype, t.aval.weak_type


def _in(x):
    """An op operand: Variables stay Variables (so ``bind`` and tapes see the read)."""
    return x if getattr(x, "_is_variable", False) else to_tensor_arg(x)


def promote(name: str, *xs) -> list:
    """Convert operands to their common dtype (Python scalars stay weak)."""
    if len(xs) == 2:  # fast paths for the common binary cases
        x, y = xs
        tx, ty = type(x), type(y)
        if tx is Tensor and ty is Tensor:
            a, b = x.aval, y.aval
            if a.dtype is b.dtype and a.weak_type == b.weak_type:
                return [x, y]
        elif tx is Tensor and (ty is float or ty is int):
            lit = _fast_literal(y, x)
            if lit is not None:
                return [x, lit]
        elif ty is Tensor and (tx is float or tx is int):
            lit = _fast_literal(x, y)
            if lit is not None:
                return [lit, y]
    xs = [x if isinstance(x, (Tensor,) + _PY_SCALARS) else _in(x) for x in xs]
    dt, _ = _dt.result_type(*[_typed(x) for x in xs])
    out = []
    for x in xs:
        if isinstance(x, _PY_SCALARS):
            out.append(_scalar_literal(name, x, dt))
        else:
            out.append(ew.convert(x, dt, x.aval.weak_type))
    return out


_LITERALS: dict = {}


def _fast_literal(value, t):
    """The weak literal for a Python scalar combined with a strong tensor of the same kind, or None."""
    a = t.aval
    dt = a.dtype
    if a.weak_type or dt.is_bool or (type(value) is float and not dt.is_floating):
        return None
    key = (type(value), value, dt, math.copysign(1.0, value))  # 0.0 and -0.0 compare equal
    lit = _LITERALS.get(key)
    if lit is None:
        if dt.is_integer and not dt.min <= value <= dt.max:
            return None
        lit = literal_tensor(value, dt)
        if len(_LITERALS) < 1024:
            _LITERALS[key] = lit
    return lit


def _scalar_literal(name, x, dt):
    if dt.is_integer and isinstance(x, float) and not x.is_integer():
        raise TypeError(f"{name}: cannot convert the Python float {x!r} to {dt.name}")
    if dt.is_integer and not dt.min <= x <= dt.max:
        raise ValueError(f"{name}: the Python scalar {x!r} does not fit in {dt.name}")
    return literal_tensor(x, dt) if not isinstance(x, builtins.bool) or dt.is_bool else literal_tensor(int(x), dt)


def _float_input(name, x):
    x = _in(x)
    if not x.dtype.is_floating:
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype.name} "
                        f"(cast it with jaxish.cast(x, jaxish.float32))")
    return x


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------
def _binary(prim, opname):
    def op(x, y, name=None):
        a, b = promote(opname, x, y)
        return prim.bind(a, b)
    op.__name__ = opname
    op.__doc__ = f"Elementwise ``{opname}`` with broadcasting and dtype promotion."
    return op


add = _binary(ew.add_p, "add")
subtract = _binary(ew.sub_p, "subtract")
multiply = _binary(ew.mul_p, "multiply")
floordiv = _binary(ew.floordiv_p, "floordiv")
mod = _binary(ew.mod_p, "mod")
maximum = _binary(ew.max_p, "maximum")
minimum = _binary(ew.min_p, "minimum")
equal = _binary(ew.eq_p, "equal")
not_equal = _binary(ew.ne_p, "not_equal")
less = _binary(ew.lt_p, "less")
less_equal = _binary(ew.le_p, "less_equal")
greater = _binary(ew.gt_p, "greater")
greater_equal = _binary(ew.ge_p, "greater_equal")
bitwise_and = _binary(ew.and_p, "bitwise_and")
bitwise_or = _binary(ew.or_p, "bitwise_or")
bitwise_xor = _binary(ew.xor_p, "bitwise_xor")
floor_div = floordiv
truncatemod = mod


def divide(x, y, name=None):
    """True division; integer operands give float32 (8/16-bit) or float64 (32/64-bit), as in TensorFlow."""
    a, b = promote("divide", x, y)
    if a.dtype.is_bool:
        raise TypeError("divide: boolean operands are not supported")
    if not a.dtype.is_floating:
        fdt = _dt.float64 if a.dtype.itemsize >= 4 else _dt.float32
        a, b = ew.convert(a, fdt), ew.convert(b, fdt)
    return ew.div_p.bind(a, b)


truediv = divide
realdiv = divide


def pow(x, y, name=None):  # noqa: A001 - TensorFlow's name
    """``x ** y`` elementwise."""
    a, b = promote("pow", x, y)
    return ew.pow_p.bind(a, b)


def _logical(prim, opname):
    def op(x, y, name=None):
        a, b = promote(opname, x, y)
        if not a.dtype.is_bool:
            raise TypeError(f"{opname}: expected bool tensors, got {a.dtype.name}")
        return prim.bind(a, b)
    op.__name__ = opname
    return op


logical_and = _logical(ew.and_p, "logical_and")
logical_or = _logical(ew.or_p, "logical_or")
logical_xor = _logical(ew.xor_p, "logical_xor")


def logical_not(x, name=None):
    x = _in(x)
    if not x.dtype.is_bool:
        raise TypeError(f"logical_not: expected a bool tensor, got {x.dtype.name}")
    return ew.not_p.bind(x)


def invert(x, name=None):
    return ew.not_p.bind(_in(x))


def _unary(prim, opname, float_only=True):
    def op(x, name=None):
        x = _float_input(opname, x) if float_only else _in(x)
        return prim.bind(x)
    op.__name__ = opname
    op.__doc__ = f"Elementwise ``{opname}``."
    return op


negative = _unary(ew.neg_p, "negative", False)
abs = _unary(ew.abs_p, "abs", False)  # noqa: A001
sign = _unary(ew.sign_p, "sign", False)
exp = _unary(ew.exp_p, "exp")
log = _unary(ew.log_p, "log")
log1p = _unary(ew.log1p_p, "log1p")
expm1 = _unary(ew.expm1_p, "expm1")
sin = _unary(ew.sin_p, "sin")
cos = _unary(ew.cos_p, "cos")
tanh = _unary(ew.tanh_p, "tanh")
sqrt = _unary(ew.sqrt_p, "sqrt")
rsqrt = _unary(ew.rsqrt_p, "rsqrt")
erf = _unary(ew.erf_p, "erf")
sigmoid = _unary(ew.logistic_p, "sigmoid")
floor = _unary(ew.floor_p, "floor")
neg = negative


def square(x, name=None):
    """``x * x`` elementwise."""
    x = _in(x)
    return ew.mul_p.bind(x, x)


def relu(x, name=None):
    """``max(x, 0)`` (NaN stays NaN); its gradient at 0 is 0."""
    x = _in(x)
    zero = literal_tensor(0, x.dtype)
    return ew.select_p.bind(ew.le_p.bind(x, zero), zero, x)


def softplus(x, name=None):
    """``log(1 + exp(x))``, computed stably as ``max(x, 0) + log1p(exp(-|x|))``."""
    x = _float_input("softplus", x)
    return add(maximum(x, 0), log1p(exp(negative(abs(x)))))


def stop_gradient(x, name=None):
    """The identity whose gradient is zero."""
    return ew.stop_gradient_p.bind(_in(x))


def where(condition, x=None, y=None, name=None):
    """Select from ``x`` where ``condition`` else ``y`` (broadcasting).

    With only ``condition``, returns the int64 coordinates of its true
    elements, shape ``[n, rank]`` (eager only).
    """
    c = _in(condition)
    if not c.dtype.is_bool:
        raise TypeError(f"where: condition must be bool, got {c.dtype.name}")
    if x is None and y is None:
        if isinstance(c, Tracer):
            c._concrete("where(condition) with one argument (its output shape depends on the values)")
        return Tensor(np.argwhere(c._value).astype(np.int64))
    if x is None or y is None:
        raise ValueError("where: x and y must both be given, or neither")
    a, b = promote("where", x, y)
    return ew.select_p.bind(c, a, b)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clip ``t`` to ``[clip_value_min, clip_value_max]``."""
    return minimum(maximum(t, clip_value_min), clip_value_max)


def cast(x, dtype, name=None) -> Tensor:
    """Convert ``x`` to ``dtype`` (floats to ints truncate toward zero)."""
    dtype = _dt.as_dtype(dtype)
    x = _in(x)
    if x.dtype is dtype:
        return x
    return ew.convert_p.bind(x, dtype=dtype, weak_type=False)


def identity(x, name=None) -> Tensor:
    """A copy of ``x`` placed on the current device."""
    from .devices import resolve_current
    x = _in(x)
    out = ew.copy_p.bind(x)
    if not isinstance(out, Tracer):
        out._device = resolve_current()
    return out


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------
def _axes(name, x, axis) -> tuple:
    nd = x.ndim
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    if isinstance(axis, (list, tuple)):
        axes = [normalize_axis(name, int(a), nd) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name}: duplicate axes in {axis}")
        return tuple(sorted(axes))
    return (normalize_axis(name, int(axis), nd),)


def _keep(x, axes, out, keepdims):
    if not keepdims:
        return out
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.aval.shape))
    return so.reshape_p.bind(out, shape=shape)


def _reducer(prim, opname, kinds):
    def op(input_tensor, axis=None, keepdims=False, name=None):
        x = _in(input_tensor)
        if x.dtype.kind not in kinds:
            raise TypeError(f"{opname}: unsupported dtype {x.dtype.name} (shape {x.aval.shape})")
        axes = _axes(opname, x, axis)
        out = prim.bind(x, axes=axes) if axes else x
        return _keep(x, axes, out, keepdims)
    op.__name__ = opname
    op.__doc__ = f"``{opname}`` over ``axis`` (int, tuple, negative or None for all) with ``keepdims``."
    return op


reduce_sum = _reducer(rd.reduce_sum_p, "reduce_sum", "iuf")
reduce_max = _reducer(rd.reduce_max_p, "reduce_max", "biuf")
reduce_min = _reducer(rd.reduce_min_p, "reduce_min", "biuf")
reduce_prod = _reducer(rd.reduce_prod_p, "reduce_prod", "iuf")
reduce_all = _reducer(rd.reduce_and_p, "reduce_all", "b")
reduce_any = _reducer(rd.reduce_or_p, "reduce_any", "b")


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean over ``axis``; integer tensors give an integer mean truncated toward zero (exact, as in TensorFlow).

    The mean of no elements is NaN for floating dtypes and 0 for integer ones, as in TensorFlow.
    """
    x = _in(input_tensor)
    axes = _axes("reduce_mean", x, axis)
    n = int(np.prod([x.aval.shape[a] for a in axes], dtype=np.int64))
    if x.dtype is _dt.float16:  # float16 means are computed in float32 (the sum would overflow)
        return cast(reduce_mean(cast(x, _dt.float32), axes, keepdims), _dt.float16)
    if x.dtype.is_floating:
        s = reduce_sum(x, axes, keepdims)
        return ew.div_p.bind(s, literal_tensor(float(n) if n else float("nan"), x.dtype))
    if x.dtype.kind not in "iu":
        raise TypeError(f"reduce_mean: unsupported dtype {x.dtype.name}")
    return _integer_mean(x, axes, keepdims, n)


def _integer_mean(x, axes, keepdims, n):
    """TensorFlow's integer mean: the int64 sum divided by the count, truncated toward zero, in x's dtype.

    Exact (no float64 on the way); the mean of no elements is 0, TensorFlow's value for integer means.
    """
    s = reduce_sum(cast(x, _dt.int64), axes, keepdims)
    if n == 0:
        return cast(s, x.dtype)  # zeros
    # trunc(s / n) = floor((s + n - 1) / n) for s < 0 (no overflow: s + n - 1 < n), floor(s / n) otherwise
    lit = lambda v: literal_tensor(v, _dt.int64)  # noqa: E731
    s = ew.select(ew.lt(s, lit(0)), ew.add(s, lit(n - 1)), s)
    return cast(ew.floordiv(s, lit(n)), x.dtype)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    """``log(sum(exp(x)))`` over ``axis``, computed stably."""
    x = _float_input("reduce_logsumexp", input_tensor)
    axes = _axes("reduce_logsumexp", x, axis)
    m = stop_gradient(reduce_max(x, axes, keepdims=True))
    m = where(ew.eq_p.bind(abs(m), literal_tensor(float("inf"), x.dtype)), literal_tensor(0.0, x.dtype), m)
    s = log(reduce_sum(exp(subtract(x, m)), axes, keepdims=True))
    out = add(s, m)
    return out if keepdims else squeeze(out, axes) if axes else out


def _arg(prim, opname):
    def op(input, axis=None, output_type=_dt.int64, name=None):  # noqa: A002
        x = _in(input)
        ax = normalize_axis(opname, 0 if axis is None else int(axis), x.ndim)
        return prim.bind(x, axis=ax, index_dtype=_dt.as_dtype(output_type))
    op.__name__ = opname
    return op


argmax = _arg(rd.argmax_p, "argmax")
argmin = _arg(rd.argmin_p, "argmin")


# ---------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """Matrix product ``a @ b`` (batched, with broadcast batch dimensions)."""
    a, b = promote("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must not be scalars, got shapes {a.aval.shape} and {b.aval.shape}")
    va, vb = a.ndim == 1, b.ndim == 1
    if va:
        a = reshape(a, (1, -1))
    if vb:
        b = reshape(b, (-1, 1))
    if transpose_a:
        a = linalg_transpose(a)
    if transpose_b:
        b = linalg_transpose(b)
    out = la.matmul_p.bind(a, b)
    if va or vb:
        rows = () if va else (out.aval.shape[-2],)
        cols = () if vb else (out.aval.shape[-1],)
        shape = out.aval.shape[:-2] + rows + cols
        out = reshape(out, shape)
    return out


def linalg_transpose(a, name=None):
    a = _in(a)
    perm = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
    return so.transpose_p.bind(a, perm=perm)


# ---------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------
def _int_list(name, v) -> list:
    if isinstance(v, Tensor):
        if isinstance(v, Tracer):
            v._concrete(f"{name} with a traced shape")
        v = v._value.tolist()
    if isinstance(v, (int, np.integer)):
        return [int(v)]
    try:
        return [int(d) for d in v]
    except TypeError:
        raise TypeError(f"{name}: expected a list of ints, got {v!r}") from None


def reshape(tensor, shape, name=None):
    """Reshape to ``shape`` (one dimension may be ``-1``)."""
    x = _in(tensor)
    shape = _int_list("reshape", shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        total = x.aval.size
        if known == 0 or total % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.aval.shape} into shape {shape}")
        shape[shape.index(-1)] = total // known
    shape = tuple(shape)
    if shape == x.aval.shape:
        return x
    return so.reshape_p.bind(x, shape=shape)


def transpose(a, perm=None, conjugate=False, name=None):
    """Permute the axes of ``a`` (reversed when ``perm`` is None)."""
    x = _in(a)
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(_int_list("transpose", perm))
    perm = tuple(p % x.ndim if x.ndim else p for p in perm)
    if perm == tuple(range(x.ndim)):
        return x
    return so.transpose_p.bind(x, perm=perm)


def expand_dims(input, axis, name=None):  # noqa: A002
    """Insert a length-1 axis at ``axis``."""
    x = _in(input)
    ax = int(axis)
    if not -x.ndim - 1 <= ax <= x.ndim:
        raise ValueError(f"expand_dims: axis {ax} is out of range for a tensor of rank {x.ndim}")
    ax = ax % (x.ndim + 1)
    shape = list(x.aval.shape)
    shape.insert(ax, 1)
    return so.reshape_p.bind(x, shape=tuple(shape))


def squeeze(input, axis=None, name=None):  # noqa: A002
    """Remove length-1 axes (all of them, or those in ``axis``)."""
    x = _in(input)
    shape = x.aval.shape
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _axes("squeeze", x, axis)
        for a in axes:
            if shape[a] != 1:
                raise ValueError(f"squeeze: cannot squeeze axis {a} of size {shape[a]} (shape {shape})")
    new = tuple(d for i, d in enumerate(shape) if i not in axes)
    return so.reshape_p.bind(x, shape=new) if new != shape else x


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcast ``input`` to ``shape`` (NumPy rules)."""
    x = _in(input)
    shape = tuple(_int_list("broadcast_to", shape))
    if shape == x.aval.shape:
        return x
    return so.broadcast_to_p.bind(x, shape=shape)


def concat(values, axis, name=None):
    """Join tensors along an existing ``axis``."""
    xs = list(values)
    if not xs:
        raise ValueError("concat: expected a non-empty list of tensors")
    xs = promote("concat", *xs)
    ax = normalize_axis("concat", int(axis), xs[0].ndim)
    if len(xs) == 1:
        return xs[0]
    return so.concatenate_p.bind(*xs, axis=ax)


def stack(values, axis=0, name=None):
    """Join tensors along a new ``axis``."""
    xs = promote("stack", *list(values))
    shapes = {x.aval.shape for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all inputs must have the same shape, got {', '.join(str(x.aval.shape) for x in xs)}")
    nd = xs[0].ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of range for rank {nd}")
    return concat([expand_dims(x, axis % nd) for x in xs], axis % nd)


def unstack(value, axis=0):
    x = _in(value)
    ax = normalize_axis("unstack", axis, x.ndim)
    return [gather(x, i, axis=ax) for i in range(x.aval.shape[ax])]


def tile(input, multiples, name=None):  # noqa: A002
    """Repeat ``input`` ``multiples[i]`` times along axis ``i``."""
    x = _in(input)
    m = _int_list("tile", multiples)
    if len(m) != x.ndim:
        raise ValueError(f"tile: multiples {m} must have one entry per axis of shape {x.aval.shape}")
    inter = tuple(v for d, k in zip(x.aval.shape, m) for v in (1, d))
    full = tuple(v for d, k in zip(x.aval.shape, m) for v in (k, d))
    y = broadcast_to(reshape(x, inter), full)
    return reshape(y, tuple(d * k for d, k in zip(x.aval.shape, m)))


def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Gather slices of ``params`` along ``axis`` at integer ``indices``."""
    if batch_dims:
        raise NotImplementedError("gather: batch_dims is not supported yet")
    x = _in(params)
    idx = _in(indices)
    if not idx.dtype.is_integer:
        raise TypeError(f"gather: indices must be an integer tensor, got {idx.dtype.name}")
    ax = normalize_axis("gather", 0 if axis is None else int(axis), x.ndim) if x.ndim else 0
    return so.gather_p.bind(x, idx, axis=ax)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot encoding of integer ``indices`` with ``depth`` classes."""
    idx = _in(indices)
    if not idx.dtype.is_integer:
        raise TypeError(f"one_hot: indices must be integers, got {idx.dtype.name}")
    dt = _dt.as_dtype(dtype) if dtype is not None else (
        _in(on_value).dtype if isinstance(on_value, Tensor) else _dt.float32)
    on = cast(1 if on_value is None else on_value, dt)
    off = cast(0 if off_value is None else off_value, dt)
    ax = -1 if axis is None else int(axis)
    pos = idx.ndim if ax == -1 else ax
    classes = so.iota_p.bind(n=int(depth), dtype=idx.dtype)
    cshape = [1] * (idx.ndim + 1)
    cshape[pos] = int(depth)
    hot = ew.eq_p.bind(expand_dims(idx, pos), reshape(classes, cshape))
    return ew.select_p.bind(hot, on, off)


def softmax(logits, axis=None, name=None):
    """``exp(x) / sum(exp(x))`` along ``axis`` (default -1), stably."""
    x = _float_input("softmax", logits)
    ax = -1 if axis is None else axis
    e = exp(subtract(x, stop_gradient(reduce_max(x, ax, keepdims=True))))
    return divide(e, reduce_sum(e, ax, keepdims=True))


def log_softmax(logits, axis=None, name=None):
    """``x - logsumexp(x)`` along ``axis`` (default -1)."""
    x = _float_input("log_softmax", logits)
    ax = -1 if axis is None else axis
    return subtract(x, reduce_logsumexp(x, ax, keepdims=True))


def shape(input, out_type=_dt.int32, name=None):  # noqa: A002
    """The shape of ``input`` as an int32 tensor."""
    x = _in(input)
    return Tensor(np.asarray(x.aval.shape, dtype=_dt.as_dtype(out_type).np))


def size(input, out_type=_dt.int32, name=None):  # noqa: A002
    x = _in(input)
    return Tensor(np.asarray(x.aval.size, dtype=_dt.as_dtype(out_type).np))


def rank(input, name=None):  # noqa: A002
    return Tensor(np.asarray(_in(input).ndim, dtype=np.int32))


def add_n(inputs):
    out = inputs[0]
    for x in inputs[1:]:
        out = add(out, x)
    return out


def is_finite(x):
    x = _float_input("is_finite", x)
    return ew.lt_p.bind(abs(x), literal_tensor(math.inf, x.dtype))


def broadcast_shape_of(*shapes: Sequence[int]) -> tuple:
    return broadcast_shapes("broadcast", *shapes)


