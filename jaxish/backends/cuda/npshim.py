"""``np`` as generated CUDA modules see it: NumPy, with the scalar functions numba-cuda lacks.

The scalar templates of the primitives (``primitives/*.py``, shared with the
CPU generator) call NumPy's scalar functions (``np.exp(t0)``). numba-cuda
compiles only some NumPy ufuncs in kernels (``numba.cuda.ufuncs.ufunc_db``:
trigonometry, ``log``, comparisons, bitwise, ``maximum``/``minimum``, …; not
``exp``, ``sqrt``, ``floor``, ``fmod``, ``copysign``, …). Generated CUDA
modules therefore import ``np`` from here: a module with NumPy's attributes
where each missing function is the same operation written with ``math``
(which numba-cuda compiles to libdevice, keeping float32 in float32). No op's
math is restated: these are NumPy's own scalar functions for another target.

Under Numba's CUDA simulator kernels run as Python, so ``np`` is NumPy itself, but for ``power``.
"""
from __future__ import annotations

import math
import types

import numpy

#: The NumPy functions this module provides for the CUDA target (tests/cuda/test_ptx.py compiles each).
SHIMMED = ("exp", "expm1", "log1p", "sqrt", "floor", "ceil", "trunc", "fmod", "copysign", "isinf", "isfinite",
           "power", "sign", "floor_divide", "remainder", "absolute", "abs")


def _build():
    from numba.core import types as nbtypes
    from numba.cuda.extending import overload, register_jitable

    mod = types.ModuleType("jaxish_cuda_np")
    mod.__dict__.update({k: getattr(numpy, k) for k in dir(numpy) if not k.startswith("__")})

    def jitable(fn):
        mod.__dict__[fn.__name__] = register_jitable(fn)

    @jitable
    def exp(x):
        return math.exp(x)

    @jitable
    def expm1(x):
        return math.expm1(x)

    @jitable
    def log1p(x):
        return math.log1p(x)

    @jitable
    def sqrt(x):
        return math.sqrt(x)

    @jitable
    def floor(x):
        return math.floor(x)

    @jitable
    def ceil(x):
        return math.ceil(x)

    @jitable
    def trunc(x):
        return math.trunc(x)

    @jitable
    def fmod(x, y):
        return math.fmod(x, y)

    @jitable
    def copysign(x, y):
        return math.copysign(x, y)

    @jitable
    def isinf(x):
        return math.isinf(x)

    @jitable
    def isfinite(x):
        return math.isfinite(x)

    @jitable
    def power(x, y):
        return math.pow(x, y)

    @jitable
    def floor_divide(x, y):  # integers (the templates' float floor division is _floordiv_f)
        return x // y

    @jitable
    def remainder(x, y):  # integers: Python's % has NumPy's sign rule
        return x % y

    @jitable
    def absolute(x):
        return abs(x)

    mod.abs = mod.absolute

    def sign(x):  # the Python object the overload below attaches to
        return numpy.sign(x)

    @overload(sign, target="cuda")
    def _sign(x):
        if isinstance(x, nbtypes.Float):
            one = x.cast_python_value(1)

            def impl(x):  # NaN, -0.0 and +0.0 are their own sign, as NumPy's
                if x > 0:
                    return one
                if x < 0:
                    return -one
                return x
            return impl
        if isinstance(x, nbtypes.Integer):
            def impl_int(x):
                return (x > 0) - (x < 0)
            return impl_int

    mod.sign = sign
    return mod


_MODULE: list = []


def _build_simulated():
    """NumPy for kernels the simulator runs as Python, with C's ``pow`` (what libdevice and Numba's CPU code
    compute): NumPy's scalar ``power`` takes a sqrt fast path (``-inf ** 0.5`` is NaN there, inf in C)."""
    mod = types.ModuleType("jaxish_cuda_np_simulated")
    mod.__dict__.update({k: getattr(numpy, k) for k in dir(numpy) if not k.startswith("__")})

    def power(x, y):
        with numpy.errstate(all="ignore"):  # a GPU does not warn
            return numpy.power(numpy.full(1, x), numpy.full(1, y))[0]
    mod.power = power
    return mod


def np_module():
    """The ``np`` of generated CUDA modules (under the simulator: NumPy, with C's ``pow``)."""
    from .runtime import simulator
    if not _MODULE:
        _MODULE.append(_build_simulated() if simulator() else _build())
    return _MODULE[0]
