"""Scalar-expression lowering of elementwise primitives and reductions.

Shared by every code generator: it only produces Python expressions over
scalars (``np.exp(t3)``, ``t1 + t2``) that both ``numba.njit`` and
``numba.cuda.jit`` compile. Every result is wrapped in its dtype's
constructor, because Numba widens narrow integers and Python literals.
"""
from __future__ import annotations

import re

import numpy as np

from ...dtypes import DType
from ...ir import Literal
from . import vecmath

# Scalar functions that templates may call (``_floordiv_f``, ``_exp_f32``), as plain Python: each backend
# compiles them with its own decorator in place of ``@scalar_function``. The transcendentals (``_exp_f32``,
# ``_log_f64``, ..., ``_pow_f32``: vecmath.SOURCE, branch-free so that loops calling them vectorise) come from
# vecmath.library, compiled once per process like ``_vecmath_probe``; one statement per function templates call,
# so that a generator emitting only the statements a module needs finds them by name.
SCALAR_FUNCTIONS = '''
@scalar_function
def _floordiv_f(a, b):
    # NumPy's float floor_divide (npy_divmod), including its inf/NaN results
    if b == 0:
        return a / b
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0:
        if (b < 0) != (mod < 0):
            div -= 1.0
    if div != 0:
        fd = np.floor(div)
        if div - fd > 0.5:
            fd += 1.0
        return fd
    return np.copysign(0.0, a / b)


@scalar_function
def _floordiv_i(a, b):
    # NumPy's integer floor_divide: x // 0 is 0, and MIN // -1 wraps (the hardware would trap)
    if b == 0:
        return a - a
    if b == -1:
        return -a
    return np.floor_divide(a, b)


@scalar_function
def _mod_f(a, b):
    # NumPy's float remainder (npy_divmod): the sign of the divisor, also for a zero result
    mod = np.fmod(a, b)
    if b == 0:
        return mod
    if mod != 0:
        if (b < 0) != (mod < 0):
            mod += b
    else:
        mod = np.copysign(0.0, b)
    return mod


@scalar_function
def _mod_i(a, b):
    if b == 0 or b == -1:
        return a - a
    return np.remainder(a, b)


@scalar_function
def _pow_i(a, b):
    # int64 square-and-multiply, wrapping as NumPy's (Numba's np.power goes through float64 near 2**63)
    if b < 0:
        raise ValueError("pow: integers to negative integer powers are not allowed")
    r = np.int64(1)
    while b != 0:
        if b & 1:
            r *= a
        a *= a
        b >>= 1
    return r


from jaxish.backends.codegen.vecmath import library as _vecmath_library


@scalar_function
def _vecmath_probe():
    return 0


_vecmath = _vecmath_library(_vecmath_probe)   # vecmath %s
''' % vecmath.DIGEST + "".join(f'{n} = _vecmath["{n}"]\n' for n in vecmath.ENTRY_POINTS)


def dtype_ctor(dtype: DType) -> str:
    return "np.bool_" if dtype.is_bool else f"np.{dtype.name}"


def literal_expr(lit: Literal) -> str:
    v = lit.val.item()
    dt = lit.aval.dtype
    if dt.is_bool:
        return "True" if v else "False"
    if dt.is_floating:
        if np.isnan(v):
            text = "np.nan"
        elif np.isinf(v):
            text = f"{'-' if v < 0 else ''}np.inf"
        else:
            text = repr(float(v))
        return text if dt.name == "float64" else f"{dtype_ctor(dt)}({text})"  # Numba types a float as float64
    return f"{dtype_ctor(dt)}({int(v)})"


_VECMATH_CALL = re.compile(r"\b(_(?:%s)_f(?:32|64))\(" % "|".join(vecmath.FUNCTIONS))


def elementwise_expr(node, args: list, inline: bool = True) -> str:
    """The scalar expression computing ``node`` from operand names ``args``; with ``inline=False``, transcendentals
    call the library's functions that are not inlined (``vecmath.CALL_SOURCE``: for code with no loop)."""
    prim = node.prim
    out = node.outvars[0].aval
    tmpl = prim.scalar
    if callable(tmpl):
        tmpl = tmpl(args, [a.aval for a in node.invars], out)
    expr = tmpl.format(*args, dt=dtype_ctor(out.dtype))
    if not inline:
        expr = _VECMATH_CALL.sub(r"\1_call(", expr)
    # a template that keeps the float dtype of its operands (Numba keeps float32 + float32 in float32) needs no
    # dtype constructor: each constructor is a call Numba must type and lower, most of the compile time of chains
    if out.dtype.is_floating and prim.scalar_keeps_dtype and \
            all(a.aval.dtype is out.dtype or a.aval.dtype.is_bool for a in node.invars):
        return expr
    return f"{dtype_ctor(out.dtype)}({expr})"


def accumulator_dtype(prim, dtype: DType) -> str:
    """The constructor of the dtype reduction ``prim`` accumulates an input of ``dtype`` in
    (``ReduceSpec.accumulator``: wider than its output for sums and products)."""
    return dtype_ctor(prim.reduce.accumulator_dtype(dtype))


def reduction_init(prim, dtype: DType) -> str:
    """The accumulator's start value (``ReduceSpec.init``) as an expression of the accumulator's dtype."""
    spec = prim.reduce
    value = spec.initial(dtype)
    acc = spec.accumulator_dtype(dtype)
    if acc.is_bool:
        return "True" if value else "False"
    if acc.is_floating and np.isinf(value):
        return f"{dtype_ctor(acc)}({'-' if value < 0 else ''}np.inf)"
    return f"{dtype_ctor(acc)}({value})"


def reduction_update(prim, dtype: DType, acc: str, value: str) -> str:
    """``acc`` combined with ``value`` (``ReduceSpec.combine``), in the accumulator's dtype."""
    return f"{accumulator_dtype(prim, dtype)}({prim.reduce.combine.format(value, acc=acc)})"
