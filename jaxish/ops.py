"""The front-end operations, with TensorFlow's names.

Each function promotes its operands (JAX's lattice, weak Python scalars),
checks arguments, and composes primitives. Nothing here knows about Numba,
tapes or traces: every primitive call goes through ``bind``.
"""
from __future__ import annotations

import builtins
import functools
import math

import numpy as np

from . import dtypes as _dt
from .core import STATE, Tensor, Tracer, VariableBase, is_variable, literal_tensor, read_variable, to_tensor_arg
from .core.convert import holds_tensor
from .core.trace import bind_binary, bind_unary
from .errors import INVALID_ARGUMENT_TYPES, invalid_argument
from .primitives import elementwise as ew
from .primitives import linalg as la
from .primitives import reductions as rd
from .primitives import shape_ops as so
from .primitives._rules import normalize_axis

_PY_SCALARS = (builtins.bool, int, float)


# ---------------------------------------------------------------------------
# promotion
# ---------------------------------------------------------------------------
def _is_py_scalar(x) -> bool:
    """A Python bool, int or float (weakly typed); NumPy scalars are not (``np.float64`` subclasses ``float``,
    but keeps its dtype, as in NumPy 2, JAX and TensorFlow)."""
    return isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic)


def _typed(x) -> tuple:
    if isinstance(x, Tensor) or is_variable(x):
        return x.dtype, x.aval.weak_type
    if isinstance(x, np.generic):
        return _dt.as_dtype(x.dtype), False
    if isinstance(x, builtins.bool):
        return _dt.bool_, False
    if isinstance(x, int):
        return _dt.int32, True
    if isinstance(x, float):
        return _dt.float32, True
    t = to_tensor_arg(x)
    return t.dtype, t.aval.weak_type


def _in(x, name: str = "convert_to_tensor"):
    """An op operand: Variables stay Variables (so ``bind`` and tapes see the read); other values are
    converted, and a value that cannot be converted raises an error naming the op ``name``."""
    if isinstance(x, Tensor) or is_variable(x):
        return x
    if isinstance(x, (builtins.bool, int, float, np.generic)):
        return to_tensor_arg(x)
    from .creation import tensor_from_value
    return tensor_from_value(x, name)


def op_error(e: Exception, opname: str) -> Exception:
    """``e``, a TypeError/ValueError/IndexError raised inside the public op ``opname`` (by a primitive such as
    ``sub`` or an inner op such as ``constant``), reworded to start with ``opname:``; other errors as they are."""
    if type(e) not in (TypeError, ValueError, IndexError) and type(e) not in INVALID_ARGUMENT_TYPES:
        return e
    cls = _eager_class(type(e))
    msg = str(e)
    head, sep, rest = msg.partition(": ")
    if head == opname and cls is type(e):
        return e
    if sep and head.replace(".", "_").isidentifier():
        msg = rest
    return cls(f"{opname}: {msg}")


def _eager_class(cls: type) -> type:
    """``cls``, or eagerly (no trace active) the InvalidArgumentError that subclasses it, as TensorFlow's eager
    ops raise InvalidArgumentError where its graph construction raises ValueError or TypeError."""
    return invalid_argument(cls) if STATE.main is None else cls


def _named(opname: str):
    """Decorator: errors raised inside the composite op name ``opname`` (see :func:`op_error`)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (TypeError, ValueError, IndexError) as e:
                raise op_error(e, opname) from None
        return wrapper
    return deco


def dtype_arg(name: str, dtype) -> _dt.DType:
    """A ``dtype`` argument of op ``name`` as a DType; a TypeError names the op."""
    try:
        return _dt.as_dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{name}: {e}") from None


def axis_arg(name: str, axis) -> int:
    """An ``axis`` argument as a Python int: a TypeError names the op for anything but an integer."""
    if isinstance(axis, Tensor) and axis.ndim == 0 and axis.dtype.is_integer:
        if isinstance(axis, Tracer):
            axis._concrete(f"{name} with a traced axis")
        return int(axis._value)
    if isinstance(axis, (builtins.bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r:.60} of type {type(axis).__name__}")
    return int(axis)


def _normalized_axis(name: str, axis, ndim: int) -> int:
    return normalize_axis(name, axis_arg(name, axis), ndim)


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
        elif tx is Tensor and isinstance(y, VariableBase) or ty is Tensor and isinstance(x, VariableBase):
            # a Variable is strong: with a strong tensor of its dtype both stay as they are
            a, b = x.aval, y.aval
            if a.dtype is b.dtype and not a.weak_type and not b.weak_type:
                return [x, y]
    if len(xs) == 2:
        xs = _adopt_tensor_dtype(name, *xs)
    xs = [x if isinstance(x, Tensor) or _is_py_scalar(x) else _in(x, name) for x in xs]
    dt, weak = _dt.result_type(*[_typed(x) for x in xs])
    out = []
    for x in xs:
        if _is_py_scalar(x):
            out.append(_scalar_literal(name, x, dt))
        else:  # a weak result is weak in every operand (JAX: an int32 tensor times 2.5 is a weak float32)
            out.append(ew.convert(x, dt, x.aval.weak_type or weak))
    return out


def _adopt_tensor_dtype(name: str, x, y) -> tuple:
    """``(x, y)`` with a NumPy array or scalar, or a (nested) list, beside a tensor or Variable converted to that
    tensor's dtype, as TensorFlow converts an operator's non-tensor operand (``f32 + np.float64 array`` is
    float32, ``f16 * [1.0, 2.0]`` float16). Only conversions that keep the kind of value (integers to an
    integer or float dtype, floats to a float dtype); anything else is promoted as usual."""
    for t, o, tensor_first in ((x, y, True), (y, x, False)):
        if not (isinstance(t, Tensor) or is_variable(t)) or not isinstance(o, (np.ndarray, np.generic, list, tuple)):
            continue
        aval = t.aval
        if isinstance(o, (list, tuple)) and holds_tensor(o):
            # stacked in the tensor's dtype (TensorFlow's auto-packing: differentiable)
            from .creation import _packed
            c = _packed(o, None if aval.weak_type else aval.dtype, name)
            return (t, c) if tensor_first else (c, t)
        if aval.weak_type:
            return x, y
        dt = aval.dtype
        if isinstance(o, (list, tuple)):
            from .creation import _to_array
            kind = _to_array(o, None, name).dtype.kind
        else:
            kind = o.dtype.kind
        if dt.kind == "b" or not (kind in "iu" or kind == "f" and dt.kind == "f"):
            return x, y
        if isinstance(o, (np.ndarray, np.generic)):
            c = _np_as(o, dt)
        else:  # (its errors name this op, as _in's do)
            from .creation import _to_array
            from .devices import place
            c = place(_to_array(o, dt, name))
        return (t, c) if tensor_first else (c, t)
    return x, y


def _np_as(value, dt):
    from .devices import place
    with np.errstate(all="ignore"):
        return place(np.array(value, dtype=dt.np))


_LITERALS: dict = {}


def _fast_literal(value, t):
    """The weak literal for a Python scalar combined with a strong tensor of the same kind, or None."""
    a = t._aval
    if a is None:
        a = t.aval
    dt = a.dtype
    kind = dt.kind
    if a.weak_type or kind == "b" or (type(value) is float and kind != "f"):
        return None
    # the type: 1 and 1.0 are equal keys; the sign of a zero: 0.0 and -0.0 are too
    key = (value, type(value), dt) if value else (value, type(value), dt, math.copysign(1.0, value))
    lit = _LITERALS.get(key)
    if lit is None:
        if dt.is_integer and not dt.min <= value <= dt.max:
            return None
        lit = literal_tensor(value, dt)
        if len(_LITERALS) < 1024:
            _LITERALS[key] = lit
    return lit


def _count_literal(n: int, dt):
    """The weak float literal ``n`` (NaN for 0) of dtype ``dt``: a Tensor made once per value."""
    key = (n, dt.name)  # (a DType hashes in Python)
    lit = _COUNTS.get(key)
    if lit is None:
        lit = literal_tensor(float(n) if n else float("nan"), dt)
        if len(_COUNTS) < 1024:
            _COUNTS[key] = lit
    return lit


_COUNTS: dict = {}


def _scalar_literal(name, x, dt):
    if dt.is_integer and isinstance(x, float) and not x.is_integer():
        raise TypeError(f"{name}: cannot convert the Python float {x!r} to {dt.name}")
    if dt.is_integer and not dt.min <= x <= dt.max:
        raise ValueError(f"{name}: the Python scalar {x!r} does not fit in {dt.name}")
    return literal_tensor(x, dt) if not isinstance(x, builtins.bool) or dt.is_bool else literal_tensor(int(x), dt)


def _unchanged(x):
    """The result of an op that changes nothing (reshape to the same shape, identity transpose, ...).

    ``x`` itself where nothing can tell the difference; under a tape a tensor of its own (a recorded copy),
    as in TensorFlow, so that watching the result does not watch ``x``; a Variable's value for a Variable.
    """
    if STATE.tapes:
        return ew.copy_p.bind(x)
    if is_variable(x):
        return read_variable(x)
    return x


def _float_input(name, x):
    x = _in(x, name)
    if not x.dtype.is_floating:
        raise _eager_class(TypeError)(f"{name}: expected a floating-point tensor, got dtype {x.dtype.name} "
                        f"(cast it with jaxish.cast(x, jaxish.float32))")
    return x


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------
def _binary(prim, opname):
    def op(x, y, name=None):
        if type(x) is Tensor and type(y) is Tensor and x._aval is not None and y._aval is not None \
                and x._aval.dtype is y._aval.dtype and x._aval.weak_type == y._aval.weak_type:
            a, b = x, y  # promote's first case, inline
        else:
            a, b = promote(opname, x, y)
        try:
            return bind_binary(prim, a, b)
        except (TypeError, ValueError) as e:
            raise op_error(e, opname) from None

    def reflected(y, x):
        """``op(x, y)`` called as ``y.__rop__(x)``: a Python scalar with a Tensor (``0.5 * t``) first."""
        if (type(x) is float or type(x) is int) and type(y) is Tensor:
            lit = _fast_literal(x, y)  # promote's case for them
            if lit is not None:
                try:
                    return bind_binary(prim, lit, y)
                except (TypeError, ValueError) as e:
                    raise op_error(e, opname) from None
        return op(x, y)
    op.__name__ = opname
    op.__doc__ = f"Elementwise ``{opname}`` with broadcasting and dtype promotion."
    op.reflected = reflected
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


@_named("divide")
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


@_named("pow")
def pow(x, y, name=None):  # noqa: A001 - TensorFlow's name
    """``x ** y`` elementwise."""
    a, b = promote("pow", x, y)
    return ew.pow_p.bind(a, b)


def _logical(prim, opname):
    def op(x, y, name=None):
        a, b = promote(opname, x, y)
        if not a.dtype.is_bool:
            raise TypeError(f"{opname}: expected bool tensors, got dtype {a.dtype.name} (shapes {a.aval.shape} "
                            f"and {b.aval.shape})")
        try:
            return prim.bind(a, b)
        except (TypeError, ValueError) as e:
            raise op_error(e, opname) from None
    op.__name__ = opname
    return op


logical_and = _logical(ew.and_p, "logical_and")
logical_or = _logical(ew.or_p, "logical_or")
logical_xor = _logical(ew.xor_p, "logical_xor")


@_named("logical_not")
def logical_not(x, name=None):
    x = _in(x, "logical_not")
    if not x.dtype.is_bool:
        raise TypeError(f"logical_not: expected a bool tensor, got dtype {x.dtype.name} (shape {x.aval.shape})")
    return ew.not_p.bind(x)


def invert(x, name=None):
    x = _in(x, "invert")
    if x.dtype.is_floating:
        raise TypeError(f"invert: expected a bool or integer tensor, got dtype {x.dtype.name} (shape {x.aval.shape})")
    return _bind_as("invert", ew.not_p, x)


def _bind_as(opname, prim, *args, **params):
    try:
        return prim.bind(*args, **params)
    except (TypeError, ValueError) as e:
        raise op_error(e, opname) from None


def _unary(prim, opname, float_only=True):
    def op(x, name=None):
        x = _float_input(opname, x) if float_only else _in(x, opname)
        try:
            return prim.bind(x)
        except (TypeError, ValueError) as e:
            raise op_error(e, opname) from None
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


@_named("ceil")
def ceil(x, name=None):
    """The smallest integer value not below ``x`` (``-floor(-x)``), elementwise; float tensors."""
    return negative(floor(negative(_float_input("ceil", x))))


@_named("round")
def round(x, name=None):  # noqa: A001 - TensorFlow's name
    """``x`` rounded to the nearest integer value, halves to even (as ``tf.round``: 0.5 -> 0, 1.5 -> 2);
    integer tensors unchanged."""
    x = _in(x, "round")
    if x.dtype.is_bool:
        raise _eager_class(TypeError)(f"round: expected a numeric tensor, got dtype bool (shape {x.aval.shape})")
    if not x.dtype.is_floating:
        return _unchanged(x)
    x = stop_gradient(x)  # (a step function: its gradient is 0)
    r = floor(x)
    d = subtract(x, r)
    out = where(greater(d, 0.5), add(r, 1), where(less(d, 0.5), r, add(r, mod(r, 2))))
    out = where(equal(out, 0), multiply(x, 0), out)  # a zero keeps x's sign (tf.round(-0.4) is -0.0)
    # from 2**nmant up every float is an integer (and +-inf has no fraction, its ``x - floor(x)`` is NaN)
    return where(greater_equal(abs(x), float(2 ** np.finfo(x.dtype.np).nmant)), x, out)


def square(x, name=None):
    """``x * x`` elementwise."""
    try:  # (the errors of _named("square"), without its wrapper's call)
        if type(x) is not Tensor:
            x = _in(x, "square")
        return bind_binary(ew.mul_p, x, x)
    except (TypeError, ValueError, IndexError) as e:
        raise op_error(e, "square") from None


@_named("relu")
def relu(x, name=None):
    """``max(x, 0)`` (NaN stays NaN); its gradient is 1 where ``x > 0`` and 0 elsewhere, at 0 and at NaN too
    (TensorFlow's, JAX's and PyTorch's)."""
    x = _in(x, "relu")
    if x.dtype.is_bool:
        raise TypeError(f"relu: expected a numeric tensor, got dtype bool (shape {x.aval.shape})")
    zero = literal_tensor(0, x.dtype)
    if not x.dtype.is_floating or len(STATE.stack) == 1:
        # (eagerly with no tape nothing differentiates the result: one select, the same values, NaN included)
        return ew.select_p.bind(ew.le_p.bind(x, zero), zero, x)
    # the NaN inputs keep their value through a branch without a gradient
    rest = ew.select_p.bind(ew.le_p.bind(x, zero), zero, ew.stop_gradient_p.bind(x))
    return ew.select_p.bind(ew.gt_p.bind(x, zero), x, rest)


@_named("softplus")
def softplus(x, name=None):
    """``log(1 + exp(x))``, computed stably: ``x + log1p(exp(-x))`` where ``x > 0``, else ``log1p(exp(x))``.

    The same values as ``max(x, 0) + log1p(exp(-|x|))``, but each branch is smooth, so every derivative is
    right at 0 too (the kinks of ``max`` and ``abs`` at 0 cancel in the value, not in the second derivative:
    it was 0 there instead of 1/4). Each branch sees a clamped input (0 where the other is chosen), so the
    branch not taken has no overflow to turn its zero cotangent into NaN.
    """
    x = _float_input("softplus", x)
    if len(STATE.stack) == 1:  # eagerly with no tape nothing differentiates it: the same values in fewer ops
        return add(maximum(x, 0), log1p(exp(negative(abs(x)))))
    zero = literal_tensor(0, x.dtype)
    pos = ew.gt_p.bind(x, zero)
    xp = ew.select_p.bind(pos, x, zero)
    xn = ew.select_p.bind(pos, zero, x)
    return ew.select_p.bind(pos, add(xp, log1p(exp(negative(xp)))), log1p(exp(xn)))


@_named("stop_gradient")
def stop_gradient(x, name=None):
    """The identity whose gradient is zero."""
    return ew.stop_gradient_p.bind(_in(x, "stop_gradient"))


@_named("where")
def where(condition, x=None, y=None, name=None):
    """Select from ``x`` where ``condition`` else ``y`` (broadcasting).

    With only ``condition``, returns the int64 coordinates of its true
    elements, shape ``[n, rank]`` (eager only).
    """
    c = _in(condition, "where")
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


@_named("clip_by_value")
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clip ``t`` to ``[clip_value_min, clip_value_max]``."""
    return minimum(maximum(t, clip_value_min), clip_value_max)


def cast(x, dtype, name=None) -> Tensor:
    """Convert ``x`` to ``dtype`` (floats to ints truncate toward zero)."""
    dtype = dtype_arg("cast", dtype)
    x = _in(x, "cast")
    if x.dtype is dtype:
        return _unchanged(x)
    return _bind_as("cast", ew.convert_p, x, dtype=dtype, weak_type=False)


@_named("identity")
def identity(x, name=None) -> Tensor:
    """A copy of ``x`` placed on the current device (the scope's, else ``x``'s)."""
    x = _in(x, "identity")
    return ew.copy_p.bind(x)


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------
def _axes(name, x, axis) -> tuple:
    nd = x.ndim
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, Tensor) and axis.ndim == 1:
        if isinstance(axis, Tracer):
            axis._concrete(f"{name} with a traced axis")
        if not axis.dtype.is_integer:
            raise TypeError(f"{name}: axis must be integers, got a tensor of dtype {axis.dtype.name}")
        axis = axis._value.tolist()
    if isinstance(axis, (list, tuple)):
        axes = [_normalized_axis(name, a, nd) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name}: duplicate axes in {list(axis)} for a tensor of rank {nd}")
        return tuple(sorted(axes))
    return (_normalized_axis(name, axis, nd),)


def _keep(x, axes, out, keepdims):
    if not keepdims:
        return out
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.aval.shape))
    return so.reshape_p.bind(out, shape=shape)


def _reducer(prim, opname, kinds):
    def op(input_tensor, axis=None, keepdims=False, name=None):
        x = _in(input_tensor, opname)
        if x.dtype.kind not in kinds:
            raise _eager_class(TypeError)(f"{opname}: unsupported dtype {x.dtype.name} (shape {x.aval.shape})")
        try:
            axes = _axes(opname, x, axis)
            out = prim.bind(x, axes=axes) if axes else _unchanged(x)
        except (TypeError, ValueError) as e:
            raise op_error(e, opname) from None
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
    try:  # (the errors of _named("reduce_mean"), without its wrapper's call)
        if axis is None and not keepdims and type(input_tensor) is Tensor:
            a = input_tensor._aval
            m = _FULL_MEANS.get(id(a))
            if m is not None and m[0] is a:  # a float Tensor's mean of every element, its checks passed before
                return bind_binary(ew.div_p, bind_unary(rd.reduce_sum_p, input_tensor, {"axes": m[1]}), m[2])
        return _reduce_mean(input_tensor, axis, keepdims)
    except (TypeError, ValueError, IndexError) as e:
        raise op_error(e, "reduce_mean") from None


@_named("reduce_variance")
def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """The variance over ``axis`` (the mean of squared deviations from the mean, as ``tf.math.reduce_variance``);
    float tensors."""
    x = _float_input("reduce_variance", input_tensor)
    deviations = subtract(x, reduce_mean(x, axis=axis, keepdims=True))
    return reduce_mean(square(deviations), axis=axis, keepdims=keepdims)


@_named("reduce_std")
def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """The standard deviation over ``axis`` (``sqrt`` of :func:`reduce_variance`); float tensors."""
    return sqrt(reduce_variance(input_tensor, axis=axis, keepdims=keepdims))


@_named("divide_no_nan")
def divide_no_nan(x, y, name=None):
    """``x / y``, and 0 where ``y`` is 0 (its gradient too: the division runs on a safe denominator)."""
    a, b = promote("divide_no_nan", x, y)
    if not a.dtype.is_floating:
        raise TypeError(f"divide_no_nan: expected floating-point tensors, got dtype {a.dtype.name}")
    zero = equal(b, 0)
    return where(zero, 0, divide(a, where(zero, 1, b)))


@_named("norm")
def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):  # noqa: A002 - TensorFlow's name
    """The vector norm over ``axis`` (every element when None): ``ord`` 'euclidean' (or 2, 'fro'), 1 or
    ``np.inf``; float tensors. With ``axis`` a pair of axes, the matrix norm over them (as ``tf.norm``):
    'euclidean' or 'fro' (Frobenius), 1 (the largest column sum of ``|x|``) or ``np.inf`` (the largest row
    sum); the spectral norm (``ord=2``) needs singular values, which jaxish does not have (ValueError)."""
    x = _float_input("norm", tensor)
    keep = bool(keepdims)
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        return _matrix_norm(x, ord, axis, keep)
    if ord in ("euclidean", "fro", 2, 2.0):
        return sqrt(reduce_sum(square(x), axis=axis, keepdims=keep))
    if ord in (1, 1.0):
        return reduce_sum(abs(x), axis=axis, keepdims=keep)
    if ord == np.inf:
        return reduce_max(abs(x), axis=axis, keepdims=keep)
    raise ValueError(f"norm: ord must be 'euclidean', 'fro', 1, 2 or np.inf, got {ord!r}")


def _matrix_norm(x, ord, axis, keep: bool):  # noqa: A002 - TensorFlow's name
    """:func:`norm` over the pair of axes ``axis`` (rows, columns)."""
    rows, cols = (_normalized_axis("norm", a, x.aval.ndim) for a in axis)
    if rows == cols:
        raise ValueError(f"norm: a matrix norm needs two different axes, got axis={tuple(axis)} for a tensor of "
                         f"shape {x.aval.shape}")
    if ord in ("euclidean", "fro"):
        return sqrt(reduce_sum(square(x), axis=(rows, cols), keepdims=keep))
    if ord in (1, 1.0, np.inf):
        inner, outer = (rows, cols) if ord != np.inf else (cols, rows)  # 1: sum down each column, max across
        out = reduce_max(reduce_sum(abs(x), axis=inner, keepdims=True), axis=outer, keepdims=True)
        return out if keep else squeeze(out, axis=sorted((rows, cols)))
    raise ValueError(f"norm: a matrix norm's ord must be 'euclidean', 'fro', 1 or np.inf (the spectral norm, "
                     f"ord=2, is not supported), got {ord!r}")


# id(aval) -> (aval, axes, count literal): what reduce_mean computed for the mean of every element of a float
# Tensor with that aval (the entry keeps the aval alive, so the id names it); emptied at 256 entries
_FULL_MEANS: dict = {}


def _reduce_mean(input_tensor, axis, keepdims):
    x = _in(input_tensor, "reduce_mean")
    axes = _axes("reduce_mean", x, axis)
    shape = x.aval.shape
    n = math.prod(shape) if axis is None else math.prod([shape[a] for a in axes])
    dt = x.dtype
    if dt is _dt.float16:  # float16 means are computed in float32 (the sum would overflow)
        return cast(reduce_mean(cast(x, _dt.float32), axes, keepdims), _dt.float16)
    if dt.kind == "f":  # reduce_sum(x, axes, keepdims), its checks passed
        lit = _count_literal(n, dt)
        if axis is None and axes and not keepdims and type(x) is Tensor and x._aval is not None:
            if len(_FULL_MEANS) >= 256:
                _FULL_MEANS.clear()
            _FULL_MEANS[id(x._aval)] = (x._aval, axes, lit)
        s = _keep(x, axes, bind_unary(rd.reduce_sum_p, x, {"axes": axes}) if axes else _unchanged(x), keepdims)
        return bind_binary(ew.div_p, s, lit)
    if x.dtype.kind not in "iu":
        raise TypeError(f"reduce_mean: unsupported dtype {x.dtype.name} (shape {x.aval.shape})")
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


@_named("reduce_logsumexp")
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
        x = _in(input, opname)
        ax = _normalized_axis(opname, 0 if axis is None else axis, x.ndim)
        return _bind_as(opname, prim, x, axis=ax, index_dtype=dtype_arg(opname, output_type))
    op.__name__ = opname
    return op


argmax = _arg(rd.argmax_p, "argmax")
argmin = _arg(rd.argmin_p, "argmin")


# ---------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """Matrix product ``a @ b`` (batched, with broadcast batch dimensions)."""
    try:  # (the errors of _named("matmul"), without its wrapper's call)
        if not (transpose_a or transpose_b):  # two strong operands (Tensors or Variables) of one dtype, rank >= 2
            va = a if type(a) is Tensor else a._value if isinstance(a, VariableBase) else None
            vb = b if type(b) is Tensor else b._value if isinstance(b, VariableBase) else None
            if va is not None and vb is not None:
                sa, sb = va.aval, vb.aval
                if sa.dtype is sb.dtype and not sa.weak_type and not sb.weak_type and len(sa.shape) > 1 \
                        and len(sb.shape) > 1:
                    return bind_binary(la.matmul_p, a, b)  # promote and the rank checks have nothing to do
        return _matmul(a, b, transpose_a, transpose_b)
    except (TypeError, ValueError, IndexError) as e:
        raise op_error(e, "matmul") from None


def _matmul(a, b, transpose_a, transpose_b):
    a, b = promote("matmul", a, b)
    ra, rb = len(a.aval.shape), len(b.aval.shape)
    if ra == 0 or rb == 0:
        raise ValueError(f"matmul: operands must not be scalars, got shapes {a.aval.shape} and {b.aval.shape}")
    va, vb = ra == 1, rb == 1
    if va:
        a = reshape(a, (1, -1))
    if vb:
        b = reshape(b, (-1, 1))
    if transpose_a:
        a = linalg_transpose(a)
    if transpose_b:
        b = linalg_transpose(b)
    out = bind_binary(la.matmul_p, a, b)
    if va or vb:
        rows = () if va else (out.aval.shape[-2],)
        cols = () if vb else (out.aval.shape[-1],)
        shape = out.aval.shape[:-2] + rows + cols
        out = reshape(out, shape)
    return out


@_named("matrix_transpose")
def linalg_transpose(a, name=None):
    """Swap the last two axes of ``a`` (rank >= 2)."""
    a = _in(a, "matrix_transpose")
    if a.ndim < 2:
        raise ValueError(f"matrix_transpose: expected a tensor of rank >= 2, got shape {a.aval.shape}")
    perm = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
    return so.transpose_p.bind(a, perm=perm)


# ---------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------
def int_list(name: str, v, what: str = "shape") -> list:
    """A shape-like argument (an int, a sequence of ints or an integer tensor) as a list of Python ints."""
    if isinstance(v, Tensor):
        if isinstance(v, Tracer):
            v._concrete(f"{name} with a traced {what}")
        if not (v.dtype.is_integer and v.ndim <= 1):
            raise TypeError(f"{name}: {what} must be integers, got a tensor of dtype {v.dtype.name} and shape "
                            f"{v.aval.shape}")
        v = v._value.tolist()
    if _is_int(v):
        return [int(v)]
    try:
        items = list(v)
    except TypeError:
        raise TypeError(f"{name}: {what} must be a list of ints, got {v!r:.60} of type {type(v).__name__}") from None
    if not all(_is_int(d) for d in items):
        raise TypeError(f"{name}: {what} must be a list of ints, got {v!r:.60}")
    return [int(d) for d in items]


def _is_int(v) -> bool:
    if isinstance(v, Tensor) and not isinstance(v, Tracer):
        return v.ndim == 0 and v.dtype.is_integer
    return isinstance(v, (int, np.integer)) and not isinstance(v, (builtins.bool, np.bool_))


@_named("reshape")
def reshape(tensor, shape, name=None):
    """Reshape to ``shape`` (one dimension may be ``-1``)."""
    x = _in(tensor, "reshape")
    shape = int_list("reshape", shape)
    if any(d < -1 for d in shape) or shape.count(-1) > 1:
        raise ValueError(f"reshape: invalid shape {shape} for a tensor of shape {x.aval.shape}: dimensions must be "
                         f"non-negative, except one that may be -1")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        total = x.aval.size
        if known == 0 or total % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.aval.shape} into shape {shape}")
        shape[shape.index(-1)] = total // known
    shape = tuple(shape)
    if shape == x.aval.shape:
        return _unchanged(x)
    return so.reshape_p.bind(x, shape=shape)


@_named("transpose")
def transpose(a, perm=None, conjugate=False, name=None):
    """Permute the axes of ``a`` (reversed when ``perm`` is None)."""
    x = _in(a, "transpose")
    perm = tuple(reversed(range(x.ndim))) if perm is None else _perm(x, int_list("transpose", perm, "perm"))
    if perm == tuple(range(x.ndim)):
        return _unchanged(x)
    return so.transpose_p.bind(x, perm=perm)


def _perm(x, perm: list) -> tuple:
    nd = x.ndim
    if len(perm) != nd or any(not -nd <= p < nd for p in perm) or len({p % nd for p in perm}) != nd:
        raise ValueError(f"transpose: perm {perm} is not a permutation of the {nd} axes of shape {x.aval.shape}")
    return tuple(p % nd for p in perm)


@_named("expand_dims")
def expand_dims(input, axis, name=None):  # noqa: A002
    """Insert a length-1 axis at ``axis``."""
    x = _in(input, "expand_dims")
    ax = axis_arg("expand_dims", axis)
    if not -x.ndim - 1 <= ax <= x.ndim:
        raise ValueError(f"expand_dims: axis {ax} is out of range for a tensor of rank {x.ndim}")
    ax = ax % (x.ndim + 1)
    shape = list(x.aval.shape)
    shape.insert(ax, 1)
    return so.reshape_p.bind(x, shape=tuple(shape))


@_named("squeeze")
def squeeze(input, axis=None, name=None):  # noqa: A002
    """Remove length-1 axes (all of them, or those in ``axis``)."""
    x = _in(input, "squeeze")
    shape = x.aval.shape
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _axes("squeeze", x, axis)
        for a in axes:
            if shape[a] != 1:
                raise ValueError(f"squeeze: cannot squeeze axis {a} of size {shape[a]} (shape {shape})")
    new = tuple(d for i, d in enumerate(shape) if i not in axes)
    return so.reshape_p.bind(x, shape=new) if new != shape else _unchanged(x)


@_named("broadcast_to")
def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcast ``input`` to ``shape`` (NumPy rules)."""
    x = _in(input, "broadcast_to")
    shape = tuple(int_list("broadcast_to", shape))
    if any(d < 0 for d in shape):
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.aval.shape} to {shape}: negative dimension")
    if shape == x.aval.shape:
        return _unchanged(x)
    return so.broadcast_to_p.bind(x, shape=shape)


@_named("concat")
def concat(values, axis, name=None):
    """Join tensors along an existing ``axis``."""
    xs = _tensor_list("concat", values)
    if any(x.ndim == 0 for x in xs):
        raise ValueError(f"concat: cannot concatenate scalars (shapes {', '.join(str(x.aval.shape) for x in xs)}); "
                         f"use stack")
    ax = _normalized_axis("concat", axis, xs[0].ndim)
    if len(xs) == 1:
        return _unchanged(xs[0])
    return so.concatenate_p.bind(*xs, axis=ax)


@_named("stack")
def stack(values, axis=0, name=None):
    """Join tensors along a new ``axis``."""
    xs = _tensor_list("stack", values)
    _same_shapes("stack", xs)
    nd = xs[0].ndim + 1
    ax = axis_arg("stack", axis)
    if not -nd <= ax < nd:
        raise ValueError(f"stack: axis {ax} is out of range for stacking tensors of shape {xs[0].aval.shape} "
                         f"(the result has rank {nd})")
    return concat([expand_dims(x, ax % nd) for x in xs], ax % nd)


def _tensor_list(name: str, values) -> list:
    """A non-empty list of operands, promoted to their common dtype."""
    if isinstance(values, Tensor) or is_variable(values):
        raise TypeError(f"{name}: expected a list of tensors, got a single Tensor of shape {values.aval.shape}")
    if not hasattr(values, "__iter__") or isinstance(values, str):
        raise TypeError(f"{name}: expected a list of tensors, got {values!r:.60} of type {type(values).__name__}")
    xs = list(values)
    if not xs:
        raise ValueError(f"{name}: expected a non-empty list of tensors, got an empty one")
    return promote(name, *xs)


def _same_shapes(name: str, xs) -> None:
    if len({x.aval.shape for x in xs}) != 1:
        raise ValueError(f"{name}: all inputs must have the same shape, got "
                         f"{', '.join(str(x.aval.shape) for x in xs)}")


@_named("unstack")
def unstack(value, num=None, axis=0, name=None):
    """The slices of ``value`` along ``axis``, as a list (``num``, if given, must be their number)."""
    x = _in(value, "unstack")
    if x.ndim == 0:
        raise ValueError("unstack: cannot unstack a scalar (shape ())")
    ax = _normalized_axis("unstack", axis, x.ndim)
    n = x.aval.shape[ax]
    if num is not None and axis_arg("unstack", num) != n:
        raise ValueError(f"unstack: num={num} does not match the size {n} of axis {ax} of shape {x.aval.shape}")
    return [gather(x, i, axis=ax) for i in range(n)]


@_named("tile")
def tile(input, multiples, name=None):  # noqa: A002
    """Repeat ``input`` ``multiples[i]`` times along axis ``i``."""
    x = _in(input, "tile")
    m = int_list("tile", multiples, "multiples")
    if len(m) != x.ndim or any(k < 0 for k in m):
        raise ValueError(f"tile: multiples {m} must have one non-negative entry per axis of shape {x.aval.shape}")
    inter = tuple(v for d, k in zip(x.aval.shape, m) for v in (1, d))
    full = tuple(v for d, k in zip(x.aval.shape, m) for v in (k, d))
    y = broadcast_to(reshape(x, inter), full)
    return reshape(y, tuple(d * k for d, k in zip(x.aval.shape, m)))


@_named("gather")
def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Gather slices of ``params`` along ``axis`` at integer ``indices``."""
    if batch_dims:
        raise NotImplementedError("gather: batch_dims is not supported yet")
    x = _in(params, "gather")
    idx = _in(indices, "gather")
    if not idx.dtype.is_integer:
        raise TypeError(f"gather: indices must be an integer tensor, got dtype {idx.dtype.name} "
                        f"(shape {idx.aval.shape})")
    if x.ndim == 0:
        raise ValueError("gather: params must have rank >= 1, got a scalar (shape ())")
    ax = _normalized_axis("gather", 0 if axis is None else axis, x.ndim)
    return so.gather_p.bind(x, idx, axis=ax)


@_named("one_hot")
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot encoding of integer ``indices`` with ``depth`` classes."""
    idx = _in(indices, "one_hot")
    if not idx.dtype.is_integer:
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype.name} (shape {idx.aval.shape})")
    depth = _one_hot_depth(depth)
    on, off = _one_hot_values(on_value, off_value, None if dtype is None else dtype_arg("one_hot", dtype))
    ax = -1 if axis is None else axis_arg("one_hot", axis)
    if not -1 <= ax <= idx.ndim:
        raise ValueError(f"one_hot: axis must be -1 or in [0, {idx.ndim}] for indices of shape {idx.aval.shape}, "
                         f"got {ax}")
    pos = idx.ndim if ax == -1 else ax
    classes = so.iota_p.bind(n=depth, dtype=idx.dtype)
    cshape = [1] * (idx.ndim + 1)
    cshape[pos] = depth
    hot = ew.eq_p.bind(expand_dims(idx, pos), reshape(classes, cshape))
    return ew.select_p.bind(hot, on, off)


def _one_hot_values(on_value, off_value, dtype) -> tuple:
    """``on_value`` and ``off_value`` as TensorFlow converts them: their dtype is ``dtype`` when given (a value
    of another dtype is a TypeError), else that of ``on_value`` or ``off_value`` (a Python int is int32, a float
    float32), else float32; the two must match."""
    given = {k: _one_hot_value(k, v, dtype) for k, v in (("on_value", on_value), ("off_value", off_value))
             if v is not None}
    dts = {k: v.dtype for k, v in given.items()}
    for k, dt in dts.items():
        if dtype is not None and dt is not dtype:
            raise TypeError(f"one_hot: dtype {dt.name} of {k} does not match the dtype argument {dtype.name}")
    if len(set(dts.values())) > 1:
        raise TypeError(f"one_hot: dtype {dts['on_value'].name} of on_value does not match dtype "
                        f"{dts['off_value'].name} of off_value")
    dt = dtype or next(iter(dts.values()), _dt.float32)
    on = ew.convert(given.get("on_value", literal_tensor(1, dt)), dt)
    off = ew.convert(given.get("off_value", literal_tensor(0, dt)), dt)
    if on.ndim or off.ndim:
        raise ValueError(f"one_hot: on_value and off_value must be scalars, got shapes {on.aval.shape} and "
                         f"{off.aval.shape}")
    return on, off


def _one_hot_value(what: str, v, dtype):
    """A Python scalar takes ``dtype`` when it converts exactly (TensorFlow's dtype hint); others keep theirs."""
    if dtype is not None and isinstance(v, _PY_SCALARS) and not isinstance(v, builtins.bool):
        fits = dtype.is_floating or (dtype.is_integer and isinstance(v, int) and dtype.min <= v <= dtype.max)
        if fits:
            return literal_tensor(v, dtype)
    return _in(v, "one_hot")


def _one_hot_depth(depth) -> int:
    if not _is_int(depth):
        raise TypeError(f"one_hot: depth must be an integer, got {depth!r:.60} of type {type(depth).__name__}")
    depth = int(depth)
    if depth < 0:
        raise ValueError(f"one_hot: depth must be non-negative, got {depth}")
    return depth


@_named("softmax")
def softmax(logits, axis=None, name=None):
    """``exp(x) / sum(exp(x))`` along ``axis`` (default -1), stably."""
    x = _float_input("softmax", logits)
    ax = -1 if axis is None else _normalized_axis("softmax", axis, x.ndim)
    e = exp(subtract(x, stop_gradient(reduce_max(x, ax, keepdims=True))))
    return divide(e, reduce_sum(e, ax, keepdims=True))


@_named("log_softmax")
def log_softmax(logits, axis=None, name=None):
    """``x - logsumexp(x)`` along ``axis`` (default -1), computed as ``(x - max) - log(sum(exp(x - max)))``: the
    large terms cancel before the small one is added, so the result keeps its precision when the logits are large
    (``x - logsumexp(x)`` would round ``logsumexp`` to the logits' magnitude first)."""
    x = _float_input("log_softmax", logits)
    ax = -1 if axis is None else _normalized_axis("log_softmax", axis, x.ndim)
    m = stop_gradient(reduce_max(x, ax, keepdims=True))
    m = where(ew.eq_p.bind(abs(m), literal_tensor(float("inf"), x.dtype)), literal_tensor(0.0, x.dtype), m)
    shifted = subtract(x, m)
    return subtract(shifted, log(reduce_sum(exp(shifted), ax, keepdims=True)))


def shape(input, out_type=_dt.int32, name=None):  # noqa: A002
    """The shape of ``input`` as an int32 (or ``out_type``) tensor."""
    x = _in(input, "shape")
    return Tensor(np.asarray(x.aval.shape, dtype=_index_type("shape", out_type).np))


def size(input, out_type=_dt.int32, name=None):  # noqa: A002
    """The number of elements of ``input`` as an int32 (or ``out_type``) tensor."""
    x = _in(input, "size")
    return Tensor(np.asarray(x.aval.size, dtype=_index_type("size", out_type).np))


def _index_type(name, out_type) -> _dt.DType:
    dt = dtype_arg(name, out_type)
    if dt not in (_dt.int32, _dt.int64):
        raise TypeError(f"{name}: out_type must be int32 or int64, got {dt.name}")
    return dt


def rank(input, name=None):  # noqa: A002
    """The rank of ``input`` as an int32 tensor."""
    return Tensor(np.asarray(_in(input, "rank").ndim, dtype=np.int32))


@_named("add_n")
def add_n(inputs, name=None):
    """The elementwise sum of a non-empty list of tensors of one shape."""
    xs = _tensor_list("add_n", inputs)
    _same_shapes("add_n", xs)
    out = xs[0] if len(xs) > 1 else _unchanged(xs[0])
    for x in xs[1:]:
        out = add(out, x)
    return out


@_named("is_finite")
def is_finite(x):
    x = _float_input("is_finite", x)
    return ew.lt_p.bind(abs(x), literal_tensor(math.inf, x.dtype))


