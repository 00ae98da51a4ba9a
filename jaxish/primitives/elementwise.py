"""Elementwise primitives: unary math, binary arithmetic, comparisons, select, convert.

Each declares its shape/dtype rule, NumPy reference, VJP rule and the scalar
expression (``scalar``) shared by the CPU and CUDA code generators. Scalar
templates use ``{0}``, ``{1}`` … for the operands (always plain names) and
``{dt}`` for the constructor of the output dtype (e.g. ``np.float32``).
``keeps_dtype`` marks templates whose result has the float dtype of their
operands (``Primitive.scalar_keeps_dtype``: no dtype constructor needed).
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Primitive, literal_tensor
from ..core.primitive import VARIABLE
from ..dtypes import bool_
from ..ir import ShapedArray
from ._batching import elementwise_batch
from ._rules import broadcast_shapes, check_kinds, same_dtype, unbroadcast

_FLOAT, _NUM, _INT, _BOOLINT = "f", "iuf", "iu", "biu"


def _lit(value, like):
    return literal_tensor(value, like.dtype)


# ---------------------------------------------------------------------------
# unary
# ---------------------------------------------------------------------------
def unary(name, impl, scalar, vjp=None, kinds=_NUM, what="a numeric", keeps_dtype=True):
    def abstract(x):
        check_kinds(name, x, kinds, what)
        return ShapedArray(x.shape, x.dtype, x.weak_type)
    return _elementwise(Primitive(name, abstract, impl, vjp, "elementwise", scalar, scalar_keeps_dtype=keeps_dtype))


def _elementwise(p: Primitive) -> Primitive:
    """``p`` with the generic elementwise batching rule (``_batching.elementwise_batch``)."""
    p.batch = elementwise_batch(p)
    return p


def _f(what="a floating-point"):
    return dict(kinds=_FLOAT, what=what)


neg_p = unary("neg", np.negative, "-{0}", lambda g, x, out: (neg(g),))
abs_p = unary("abs", np.abs, "abs({0})", lambda g, x, out: (mul(g, sign(x)),))


def _sign_scalar(args, avals, out):
    a = args[0]
    if out.dtype.kind == "u":  # Numba's np.sign reads an unsigned value >= 2**(bits-1) as negative
        return f"({a} != 0)"
    if out.dtype.is_floating:  # + 0 turns np.sign's -0.0 into +0.0, as NumPy's sign gives; NaN stays NaN
        return f"np.sign({a}) + {{dt}}(0)"
    return f"(int({a} > 0) - int({a} < 0))"  # int(): Python (the CUDA simulator) does not subtract NumPy bools


sign_p = unary("sign", np.sign, _sign_scalar, lambda g, x, out: (None,))


def _vec(name, fallback):
    """The scalar template of a transcendental: a call of the backend's vectorisable ``_{name}_f32`` or
    ``_{name}_f64`` (CPU: ``backends/codegen/vecmath.py``, in every module's ``SCALAR_FUNCTIONS``), ``fallback``
    for other dtypes (float16 graphs run on the interpreter)."""
    def tmpl(args, avals, out):
        if out.dtype.name in ("float32", "float64"):
            return f"_{name}_f{out.dtype.name[5:]}(" + ", ".join("{%d}" % k for k in range(len(args))) + ")"
        return fallback
    return tmpl


exp_p = unary("exp", np.exp, _vec("exp", "np.exp({0})"), lambda g, x, out: (mul(g, out),), **_f())
log_p = unary("log", np.log, _vec("log", "np.log({0})"), lambda g, x, out: (div(g, x),), **_f())
log1p_p = unary("log1p", np.log1p, _vec("log1p", "np.log1p({0})"), lambda g, x, out: (div(g, add(x, _lit(1, x))),),
                **_f())
expm1_p = unary("expm1", np.expm1, _vec("expm1", "np.expm1({0})"),
                lambda g, x, out: (mul(g, add(out, _lit(1, out))),), **_f())
sin_p = unary("sin", np.sin, _vec("sin", "np.sin({0})"), lambda g, x, out: (mul(g, cos(x)),), **_f())
cos_p = unary("cos", np.cos, _vec("cos", "np.cos({0})"), lambda g, x, out: (neg(mul(g, sin(x))),), **_f())
tanh_p = unary("tanh", np.tanh, _vec("tanh", "np.tanh({0})"),
               lambda g, x, out: (mul(g, sub(_lit(1, out), mul(out, out))),), **_f())
sqrt_p = unary("sqrt", np.sqrt, "np.sqrt({0})", lambda g, x, out: (div(mul(g, _lit(0.5, g)), out),), **_f())


def _rsqrt(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1 / np.sqrt(x)).astype(x.dtype)


rsqrt_p = unary("rsqrt", _rsqrt, "{dt}(1) / np.sqrt({0})",
                lambda g, x, out: (mul(mul(g, _lit(-0.5, g)), div(out, x)),), **_f())


def _erf(x):
    return _scipy_erf()(x).astype(x.dtype)


def _scipy_erf():
    """SciPy's ``erf`` ufunc, imported on first use: ``scipy.special`` takes 0.2 s to import, most of
    ``import jaxish``, and only the NumPy reference of ``erf`` needs it."""
    from scipy.special import erf
    return erf


erf_p = unary("erf", _erf, _vec("erf", "{dt}(math.erf({0}))"),
              lambda g, x, out: (mul(g, mul(_lit(2 / math.sqrt(math.pi), x), exp(neg(mul(x, x))))),), **_f())


def _logistic(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


logistic_p = unary("logistic", _logistic,
                   _vec("logistic",
                        "({dt}(1) / ({dt}(1) + np.exp(-{0})) if {0} >= 0 else np.exp({0}) / ({dt}(1) + np.exp({0})))"),
                   lambda g, x, out: (mul(g, mul(out, sub(_lit(1, out), out))),), **_f())
floor_p = unary("floor", np.floor, "np.floor({0})", lambda g, x, out: (None,), **_f())
copy_p = unary("copy", np.copy, "{0}", lambda g, x, out: (g,), kinds="biuf", what="any")
stop_gradient_p = unary("stop_gradient", lambda x: x, "{0}", lambda g, x, out: (None,), kinds="biuf",
                        what="any")
# A read of a Variable after the traced function assigned it: ``index`` is the Variable's position among the
# graph's assigned Variables (core.GraphTrace.read_variable). The identity everywhere (data flow, dropped before
# execution); tracing.call_traced evaluates it as an assignment and a read of the Variable under a tape.
read_after_assign_p = _elementwise(Primitive("read_after_assign", lambda x, index: x, lambda x, index: x,
                                             lambda g, x, out, index: (g,), "elementwise", "{0}",
                                             effects=frozenset({VARIABLE})))


def _not_scalar(args, avals, out):
    return f"(not {args[0]})" if out.dtype.is_bool else f"~{args[0]}"


not_p = unary("not", np.invert, _not_scalar, lambda g, x, out: (None,), kinds=_BOOLINT,
              what="a boolean or integer", keeps_dtype=False)


# ---------------------------------------------------------------------------
# binary
# ---------------------------------------------------------------------------
def binary(name, impl, scalar, vjp=None, kinds=_NUM, what="numeric", out_bool=False, keeps_dtype=True):
    def abstract(x, y):
        dt = same_dtype(name, x, y)
        check_kinds(name, x, kinds, what)
        shape = broadcast_shapes(name, x.shape, y.shape)
        if out_bool:
            return ShapedArray(shape, bool_, False)
        return ShapedArray(shape, dt, x.weak_type and y.weak_type)
    return _elementwise(Primitive(name, abstract, impl, vjp, "elementwise", scalar, scalar_keeps_dtype=keeps_dtype))


def _ub(g, x):
    return unbroadcast(g, x.aval.shape)


add_p = binary("add", np.add, "{0} + {1}", lambda g, x, y, out: (_ub(g, x), _ub(g, y)))
sub_p = binary("sub", np.subtract, "{0} - {1}", lambda g, x, y, out: (_ub(g, x), _ub(neg(g), y)))
mul_p = binary("mul", np.multiply, "{0} * {1}", lambda g, x, y, out: (_ub(mul(g, y), x), _ub(mul(g, x), y)))
div_p = binary("div", np.true_divide, "{0} / {1}",
               lambda g, x, y, out: (_ub(div(g, y), x), _ub(neg(div(mul(g, out), y)), y)), kinds=_FLOAT,
               what="floating-point")
def _floordiv_scalar(args, avals, out):
    return f"_floordiv_{'f' if out.dtype.is_floating else 'i'}({args[0]}, {args[1]})"


floordiv_p = binary("floordiv", np.floor_divide, _floordiv_scalar, lambda g, x, y, out: (None, None),
                    keeps_dtype=False)
def _mod_scalar(args, avals, out):
    return f"_mod_{'f' if out.dtype.is_floating else 'i'}({args[0]}, {args[1]})"


mod_p = binary("mod", np.remainder, _mod_scalar,
               lambda g, x, y, out: (_ub(g, x), _ub(neg(mul(g, floordiv(x, y))), y)), keeps_dtype=False)


def _pow_vjp(g, x, y, out):
    if not x.dtype.is_floating:
        return None, None
    gx = mul(g, mul(y, pow_(x, sub(y, _lit(1, y)))))
    safe_x = select(gt(x, _lit(0, x)), x, _lit(1, x))  # as TensorFlow: no log(x) term where x <= 0
    gy = mul(g, mul(log(safe_x), out))
    return _ub(gx, x), _ub(gy, y)


def _pow_impl(x, y):
    if x.dtype.kind in "iu" and np.any(y < 0):
        raise ValueError("pow: integers to negative integer powers are not allowed")
    # NumPy's power with a scalar exponent takes a sqrt/square fast path whose results differ from
    # C pow (and TensorFlow/JAX) at -0 and -inf; 1-element arrays keep the general loop
    shape = np.broadcast_shapes(np.shape(x), np.shape(y))
    if y.size == 1 and x.dtype.kind == "f" and y.reshape(-1)[0] == 2:
        # x * x: correctly rounded (C pow may be 1 ulp off) and what simplify makes of pow(x, 2) in graphs,
        # so eager and compiled agree; equal to C pow at -0, inf and NaN
        r = np.multiply(x, x)
        return r.reshape(shape) if np.shape(r) == shape else np.broadcast_to(r, shape).copy()
    if y.size == 1:  # a full-size exponent array keeps NumPy on its general (C pow) loop
        full = shape or (1,)
        x, y = np.broadcast_to(x, full), np.full(full, y.reshape(-1)[0], y.dtype)
    return np.power(x, y).reshape(shape)


def _pow_scalar(args, avals, out):
    if out.dtype.is_floating:
        return _vec("pow", "np.power({0}, {1})")(args, avals, out)
    return f"_pow_i(np.int64({args[0]}), np.int64({args[1]}))"  # wraps like NumPy's (mod 2**bits)


pow_p = binary("pow", _pow_impl, _pow_scalar, _pow_vjp)


def _minmax_vjp(cmp):
    def vjp(g, x, y, out):
        half = _lit(0.5, g)
        wx = add(convert(cmp(x, y), g.dtype), mul(half, convert(eq(x, y), g.dtype)))
        wy = sub(_lit(1, g), wx)
        return _ub(mul(g, wx), x), _ub(mul(g, wy), y)
    return vjp


max_p = binary("max", np.maximum, "({0} if ({0} > {1} or {0} != {0}) else {1})", _minmax_vjp(lambda a, b: gt(a, b)))
min_p = binary("min", np.minimum, "({0} if ({0} < {1} or {0} != {0}) else {1})", _minmax_vjp(lambda a, b: lt(a, b)))


def _cmp(name, impl, op):
    return binary(name, impl, "{0} %s {1}" % op, lambda g, x, y, out: (None, None), kinds="biuf", what="any",
                  out_bool=True, keeps_dtype=False)


eq_p = _cmp("eq", np.equal, "==")
ne_p = _cmp("ne", np.not_equal, "!=")
lt_p = _cmp("lt", np.less, "<")
le_p = _cmp("le", np.less_equal, "<=")
gt_p = _cmp("gt", np.greater, ">")
ge_p = _cmp("ge", np.greater_equal, ">=")
and_p = binary("and", np.bitwise_and, "{0} & {1}", lambda g, x, y, out: (None, None), kinds=_BOOLINT,
               what="boolean or integer", keeps_dtype=False)
or_p = binary("or", np.bitwise_or, "{0} | {1}", lambda g, x, y, out: (None, None), kinds=_BOOLINT,
              what="boolean or integer", keeps_dtype=False)
xor_p = binary("xor", np.bitwise_xor, "{0} ^ {1}", lambda g, x, y, out: (None, None), kinds=_BOOLINT,
               what="boolean or integer", keeps_dtype=False)


# ---------------------------------------------------------------------------
# select and convert
# ---------------------------------------------------------------------------
def _select_abstract(p, a, b):
    if not p.dtype.is_bool:
        raise TypeError(f"select: the condition must be bool, got {p.dtype.name}")
    dt = same_dtype("select", a, b)
    return ShapedArray(broadcast_shapes("select", p.shape, a.shape, b.shape), dt, a.weak_type and b.weak_type)


def _select_vjp(g, p, a, b, out):
    z = _lit(0, g)
    return None, _ub(select(p, g, z), a), _ub(select(p, z, g), b)


select_p = _elementwise(Primitive("select", _select_abstract, np.where, _select_vjp, "elementwise",
                                  "({1} if {0} else {2})", scalar_keeps_dtype=True))


def _convert_abstract(x, dtype, weak_type=False):
    return ShapedArray(x.shape, dtype, weak_type)


def _convert_impl(x, dtype, weak_type=False):
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype.np)


def _convert_scalar(args, avals, out):
    if out.dtype.is_bool:
        return f"({args[0]} != 0)"
    return f"{{dt}}({args[0]})"


def _convert_vjp(g, x, out, dtype, weak_type=False):
    if x.dtype.is_floating and dtype.is_floating:
        return (convert(g, x.dtype),)
    return (None,)


convert_p = _elementwise(Primitive("convert", _convert_abstract, _convert_impl, _convert_vjp, "elementwise",
                                   _convert_scalar))


# ---------------------------------------------------------------------------
# thin binders used by VJP rules and the front end (operands already promoted)
# ---------------------------------------------------------------------------
def neg(x): return neg_p.bind(x)
def sign(x): return sign_p.bind(x)
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def add(x, y): return add_p.bind(x, y)
def sub(x, y): return sub_p.bind(x, y)
def mul(x, y): return mul_p.bind(x, y)
def div(x, y): return div_p.bind(x, y)
def floordiv(x, y): return floordiv_p.bind(x, y)
def pow_(x, y): return pow_p.bind(x, y)
def eq(x, y): return eq_p.bind(x, y)
def gt(x, y): return gt_p.bind(x, y)
def lt(x, y): return lt_p.bind(x, y)
def select(p, a, b): return select_p.bind(p, a, b)


def convert(x, dtype, weak_type=False):
    if x.dtype is dtype and x.aval.weak_type == weak_type:
        return x
    return convert_p.bind(x, dtype=dtype, weak_type=weak_type)
