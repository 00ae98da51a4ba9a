"""The op table: every jaxish op with its NumPy reference and how to make its inputs.

One :class:`Op` row per op drives every test in ``test_op_table.py``: the dtype
sweep, the shape / broadcasting / axis cases, the NaN-and-inf cases, eager and
traced (compiled) execution on both backends, and second-order gradient checks.

A row holds

* ``fn``: the jaxish function, called as ``fn(*tensors, **case.params)``;
* ``ref``: the NumPy reference, called the same way on NumPy arrays (floating
  inputs are first widened to float64, so the reference is correctly rounded;
  its result is then cast to the dtype TensorFlow gives, ``out``);
* ``domains``: one input generator per tensor argument (a name from
  :data:`DOMAINS` or a callable ``(shape, dtype, rng) -> ndarray``), e.g.
  positive inputs for ``log``;
* ``dtypes``: the dtypes the op is checked for (those TensorFlow accepts for
  same-dtype inputs); ``rejects``: dtypes for which it must raise TypeError;
* ``cases``: shapes (one per tensor argument) and keyword parameters. The first
  case is the one the dtype sweep and the NaN/inf check use; all cases run at
  ``main_dtype``;
* ``grad``: whether it is differentiable, with ``grad_cases`` and the input
  domains away from kinks (``grad_domains``, ``grad_ok``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import scipy.special

import jaxish as tf

BOOL = ("bool",)
UINT = ("uint8",)
SINTS = ("int8", "int16", "int32", "int64")
INTS = SINTS + UINT
FLOATS = ("float16", "float32", "float64")
NUM = INTS + FLOATS
SIGNED = SINTS + FLOATS
ALL = BOOL + NUM
INDEX = ("int32", "int64")

NAN, INF = float("nan"), float("inf")
#: values each floating input of the NaN/inf check is built from
SPECIALS = (NAN, INF, -INF, 0.0, -0.0, 1.0, -2.5, 0.5)


# ---------------------------------------------------------------------------
# input domains
# ---------------------------------------------------------------------------
# name -> (float range, signed-int range, unsigned-int range); ints are inclusive
_RANGES = {
    "real": ((-3.0, 3.0), (-5, 5), (0, 10)),
    "positive": ((0.1, 4.0), (1, 6), (1, 6)),
    "log1p": ((-0.9, 3.0), (0, 5), (0, 5)),
    "small": ((-1.5, 1.5), (-2, 2), (0, 2)),       # products stay in range
    "base": ((0.2, 3.0), (-3, 3), (0, 3)),         # pow: positive float bases
    "exponent": ((-2.0, 2.0), (0, 3), (0, 3)),     # pow: integer exponents >= 0 (TF rejects negative)
    "low": ((-2.0, -0.5), (-3, -1), (0, 2)),       # clip_by_value bounds: low <= high
    "high": ((0.5, 2.0), (1, 3), (4, 6)),
    "nonneg": ((0.0, 6.0), (0, 10), (0, 10)),
    "large": ((20.0, 40.0), (20, 40), (20, 40)),
}


def _signed_away(lo, hi, ilo, ihi):
    """Values with |x| in [lo, hi] (floats) or [ilo, ihi] (ints), random sign."""
    def gen(shape, dtype, rng):
        dt = np.dtype(dtype)
        if dt.kind == "f":
            mag = rng.uniform(lo, hi, shape)
        else:
            mag = rng.integers(ilo, ihi + 1, shape)
        sign = np.ones(shape) if dt.kind == "u" else rng.choice([-1, 1], shape)
        return np.asarray(mag * sign).astype(dt)
    return gen


DOMAINS: dict = {
    "nonzero": _signed_away(0.5, 3.0, 1, 5),       # divisors
    "away0": _signed_away(0.2, 3.0, 1, 5),         # away from the kink at 0 (abs, relu, sign)
}


def generate(domain, shape, dtype, rng) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` drawn from ``domain``."""
    if callable(domain):
        return np.asarray(domain(shape, dtype, rng))   # always arrays, 0-d included (not NumPy scalars)
    if domain in DOMAINS:
        return np.asarray(DOMAINS[domain](shape, dtype, rng))
    if domain == "cond" or dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    dt = np.dtype(dtype)
    frange, irange, urange = _RANGES[domain]
    if dt.kind == "f":
        return np.asarray(rng.uniform(*frange, size=shape).astype(dt))
    lo, hi = urange if dt.kind == "u" else irange
    return np.asarray(rng.integers(lo, hi + 1, size=shape).astype(dt))


def index(lo, hi, dtype=None):
    """Integer indices in ``[lo, hi)`` (negatives raised to 0 for unsigned dtypes).

    ``dtype=None`` uses the op's dtype (for ops whose swept dtype is the index dtype).
    """
    def gen(shape, op_dtype, rng):
        dt = np.dtype(dtype or op_dtype)
        return rng.integers(max(lo, 0) if dt.kind == "u" else lo, hi, size=shape).astype(dt)
    gen.__name__ = f"index[{lo},{hi})"
    return gen


def cast_domain(target):
    """Inputs every source dtype converts to ``target`` without undefined behaviour
    (TensorFlow leaves float -> unsigned of negatives undefined)."""
    def gen(shape, dtype, rng):
        dt = np.dtype(dtype)
        if dt.kind == "b":
            return rng.random(shape) < 0.5
        if dt.kind == "f":
            lo = 0.0 if target == "uint8" else -6.0
            return rng.uniform(lo, 6.0, shape).astype(dt)   # fractional: casts to int truncate toward 0
        lo, hi = (0, 200) if dt.kind == "u" else (-120, 120)  # int8 -> uint8 wraps, as in TF
        return rng.integers(lo, hi + 1, shape).astype(dt)
    return gen


# ---------------------------------------------------------------------------
# the cpu backend's share (each new dtype / rank / broadcast pattern compiles Numba kernels)
# ---------------------------------------------------------------------------
#: dtypes the traced dtype sweep also runs on the cpu backend: int8 stands for the narrow ints, int32 for
#: the wide ones (float16 graphs run on the interpreter there, at no compile cost)
CPU_DTYPES = ("bool", "int8", "int32", "uint8", "float16", "float32", "float64")
#: for ops that only move data (no scalar arithmetic in the kernels): one per item size class
CPU_MOVE_DTYPES = ("bool", "float64")
#: comparisons: one template for every dtype
CPU_CMP_DTYPES = ("bool", "int8", "uint8", "float16", "float32")


# ---------------------------------------------------------------------------
# the table's types
# ---------------------------------------------------------------------------
def same(dtype, params):
    return dtype


def boolean(dtype, params):
    return "bool"


def true_div(dtype, params):
    """TensorFlow's truediv: int8/int16/uint8 -> float32, int32/int64 -> float64."""
    if dtype in FLOATS:
        return dtype
    return "float64" if dtype in ("int32", "int64") else "float32"


def const(name):
    return lambda dtype, params: name


def param(key, default):
    return lambda dtype, params: str(params.get(key, default))


def _shape_id(shape) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def _param_id(params) -> str:
    out = []
    for k, v in params.items():
        if isinstance(v, (tuple, list)):
            v = "(" + ",".join(map(str, v)) + ")" if isinstance(v, tuple) else "[" + ",".join(map(str, v)) + "]"
        out.append(f"{k}={v}")
    return "-".join(out)


@dataclass(frozen=True)
class Case:
    """Tensor argument shapes and keyword parameters of one call."""

    shapes: tuple
    params: dict = field(default_factory=dict)
    domains: tuple | None = None    # overrides the op's domains (e.g. gather's index range)
    cpu: bool = True                # also traced on the cpu backend (each new case compiles kernels)
    label: str = ""
    dtype: str | None = None        # run at this dtype instead of the op's main dtype

    @property
    def id(self) -> str:
        if self.label:
            return self.label
        s = "_".join(_shape_id(s) for s in self.shapes)
        p = _param_id(self.params)
        s = f"{s}-{p}" if p else s
        return f"{s}-{self.dtype}" if self.dtype else s


@dataclass
class Op:
    name: str
    fn: Callable
    ref: Callable
    dtypes: tuple
    domains: tuple
    cases: tuple
    out: Callable = same
    main_dtype: str = "float32"
    grad: bool = False
    grad_cases: tuple = ()
    grad_domains: tuple | None = None
    grad_ok: Callable | None = None   # predicate on the float64 inputs: away from kinks and ties
    specials: bool = True             # run the NaN/inf check for its floating dtypes
    mag: bool = False                 # results are sums of many terms: tolerance scales with sum(|inputs|)
    rejects: tuple = ()               # dtypes that must raise TypeError
    cpu_dtypes: tuple = CPU_DTYPES    # the dtypes (of ``dtypes``) also traced on the cpu backend
    elementwise: bool = False

    @property
    def arity(self) -> int:
        return len(self.domains)


# ---------------------------------------------------------------------------
# elementwise ops: standard shape cases
# ---------------------------------------------------------------------------
# The first case of each list is the shape of the dtype sweep. The others (at
# float32) cover 0-d, empty and size-1 dimensions and broadcasting; on the cpu
# backend only the ops in CPU_SHAPE_OPS run them all (kernels are generated per
# rank and broadcast pattern, not per op, so a few ops cover the code paths).
UNARY_SHAPES = [((3, 4),), ((),), ((0,),), ((1,),), ((2, 0, 3),), ((1, 1, 5),), ((2, 3, 4),)]
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 4), (3, 1)), ((), (3,)), ((), ()),
                 ((0, 4), (1, 4)), ((4, 1), (1, 5)), ((1,), (1,)), ((2, 3), ())]
WHERE_SHAPES = [((3, 4),) * 3, ((3, 1), (4,), ()), ((), (2, 3), (2, 3)), ((2, 3), (), ()), ((0, 3), (1, 3), (0, 1))]
CLIP_SHAPES = [((3, 4),) * 3, ((3, 4), (), ()), ((2, 3), (3,), (2, 1)), ((), (), ()), ((0, 2), (), ())]

UNARY_GRAD = [((2, 3),), ((),)]
BINARY_GRAD = [((2, 3), (2, 3)), ((2, 3), (3,)), ((), (2,)), ((2, 1, 3), (2, 1))]

#: ops whose shape cases also run on the cpu backend (all cases of non-elementwise ops run there)
CPU_SHAPE_OPS = {"exp", "add", "less", "logical_and", "where"}
#: large enough for the parallel (prange) kernels of the cpu backend (2**18 elements and more)
BIG = (512, 600)


def cpu_subset(cases, keep):
    """``cases`` with only those at the indices in ``keep`` also traced on the cpu backend."""
    return tuple(replace(c, cpu=i in keep) for i, c in enumerate(cases))


def _cases(shape_list, name):
    return tuple(Case(s, cpu=(i == 0 or name in CPU_SHAPE_OPS)) for i, s in enumerate(shape_list))


def unary(name, fn, ref, dtypes, domain="real", grad=True, grad_domain=None, rejects=(), out=same, **kw):
    return Op(name, fn, ref, dtypes, (domain,), _cases(UNARY_SHAPES, name), out=out, grad=grad,
              grad_cases=tuple(Case(s) for s in UNARY_GRAD) if grad else (),
              grad_domains=(grad_domain,) if grad_domain else None, rejects=rejects, elementwise=True, **kw)


def binary(name, fn, ref, dtypes, domains=("real", "real"), grad=True, out=same, rejects=("bool",), extra=(), **kw):
    return Op(name, fn, ref, dtypes, domains, _cases(BINARY_SHAPES, name) + extra, out=out, grad=grad,
              grad_cases=tuple(Case(s) for s in BINARY_GRAD) if grad else (), rejects=rejects,
              elementwise=True, **kw)


def comparison(name, fn, ref, dtypes=NUM):
    return binary(name, fn, ref, dtypes, grad=False, out=boolean, rejects=(), cpu_dtypes=CPU_CMP_DTYPES)


def logical(name, fn, ref):
    return binary(name, fn, ref, BOOL, domains=("cond", "cond"), grad=False, main_dtype="bool",
                  rejects=("int32", "float32"))


def _away_from_ties(*xs, gap=0.1):
    if len(xs) < 2:
        return True
    return bool(np.all(np.abs(np.subtract(xs[0], xs[1])) > gap))


def _mod_ok(x, y):
    q = np.asarray(x / y)
    frac = q - np.floor(q)
    return bool(np.all((frac > 0.05) & (frac < 0.95)))


def _clip_ok(t, lo, hi):
    return bool(np.all(np.abs(t - lo) > 0.1) and np.all(np.abs(t - hi) > 0.1))


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


FLOAT_ONLY = ("bool", "int32")   # float-only math rejects these (TypeError, as TensorFlow does)

ELEMENTWISE = [
    # arithmetic
    binary("add", tf.add, np.add, NUM, extra=(Case((BIG, BIG[1:])),)),
    binary("subtract", tf.subtract, np.subtract, NUM),
    binary("multiply", tf.multiply, np.multiply, NUM),
    binary("divide", tf.divide, np.true_divide, NUM, domains=("real", "nonzero"), out=true_div),
    binary("floordiv", tf.floordiv, np.floor_divide, NUM, domains=("real", "nonzero"), grad=False),
    binary("mod", tf.math.floormod, np.remainder, NUM, domains=("real", "nonzero"), grad_ok=_mod_ok),
    binary("pow", tf.pow, np.power, SIGNED, domains=("base", "exponent")),
    binary("maximum", tf.maximum, np.maximum, NUM, grad_ok=_away_from_ties),
    binary("minimum", tf.minimum, np.minimum, NUM, grad_ok=_away_from_ties),
    unary("negative", tf.negative, np.negative, SIGNED, rejects=("bool",)),
    unary("abs", tf.abs, np.abs, SIGNED, grad_domain="away0", rejects=("bool",)),
    unary("sign", tf.sign, np.sign, SIGNED, grad_domain="away0", rejects=("bool",)),
    unary("square", tf.square, np.square, NUM),
    # float math
    unary("sqrt", tf.sqrt, np.sqrt, FLOATS, domain="positive", rejects=FLOAT_ONLY),
    unary("rsqrt", tf.math.rsqrt, _rsqrt, FLOATS, domain="positive", rejects=FLOAT_ONLY),
    unary("exp", tf.exp, np.exp, FLOATS, rejects=FLOAT_ONLY),
    unary("log", tf.math.log, np.log, FLOATS, domain="positive", rejects=FLOAT_ONLY),
    unary("log1p", tf.math.log1p, np.log1p, FLOATS, domain="log1p", rejects=FLOAT_ONLY),
    unary("expm1", tf.math.expm1, np.expm1, FLOATS, rejects=FLOAT_ONLY),
    unary("sin", tf.sin, np.sin, FLOATS, rejects=FLOAT_ONLY),
    unary("cos", tf.cos, np.cos, FLOATS, rejects=FLOAT_ONLY),
    unary("tanh", tf.tanh, np.tanh, FLOATS, rejects=FLOAT_ONLY),
    unary("sigmoid", tf.sigmoid, scipy.special.expit, FLOATS, rejects=FLOAT_ONLY),
    unary("erf", tf.math.erf, scipy.special.erf, FLOATS, rejects=FLOAT_ONLY),
    unary("softplus", tf.nn.softplus, lambda x: np.logaddexp(0.0, x), FLOATS, rejects=FLOAT_ONLY),
    unary("relu", tf.nn.relu, lambda x: np.maximum(x, np.zeros((), x.dtype)), NUM, grad_domain="away0"),
    # comparisons and logic
    comparison("equal", tf.equal, np.equal, ALL),
    comparison("not_equal", tf.not_equal, np.not_equal, ALL),
    comparison("less", tf.less, np.less),
    comparison("less_equal", tf.less_equal, np.less_equal),
    comparison("greater", tf.greater, np.greater),
    comparison("greater_equal", tf.greater_equal, np.greater_equal),
    logical("logical_and", tf.logical_and, np.logical_and),
    logical("logical_or", tf.logical_or, np.logical_or),
    Op("logical_not", tf.logical_not, np.logical_not, BOOL, ("cond",), _cases(UNARY_SHAPES, "logical_not"),
       main_dtype="bool", rejects=("int32", "float32"), elementwise=True),
    # selection
    Op("where", tf.where, np.where, ALL, ("cond", "real", "real"), _cases(WHERE_SHAPES, "where"), grad=True,
       grad_cases=(Case(((2, 3), (2, 3), (3,))), Case(((2, 1), (), (2, 3)))), elementwise=True),
    Op("clip_by_value", tf.clip_by_value, lambda t, lo, hi: np.minimum(np.maximum(t, lo), hi), NUM,
       ("real", "low", "high"), _cases(CLIP_SHAPES, "clip_by_value"), grad=True,
       grad_cases=(Case(((2, 3), (), ())), Case(((2, 3), (3,), (2, 1)))), grad_ok=_clip_ok, rejects=("bool",),
       elementwise=True),
]


# ---------------------------------------------------------------------------
# cast: one row per target dtype, every source dtype
# ---------------------------------------------------------------------------
def _cast_row(target):
    return Op(f"cast_to_{target}", lambda x, _t=target: tf.cast(x, _t), lambda x, _t=target: x.astype(_t), ALL,
              (cast_domain(target),), (Case(((3, 4),)), Case(((),)), Case(((0, 2),))), out=const(target),
              specials=target in FLOATS + BOOL,
              cpu_dtypes=("bool", "int8", "float32", "float64"), elementwise=True)


CASTS = [_cast_row(t) for t in ALL]


# ---------------------------------------------------------------------------
# Python scalar operands: weakly typed (the tensor's dtype wins), embedded in graphs as literals, where
# the simplification passes rewrite some of them (x ** 2 -> x * x, x * 1 -> x, ...)
# ---------------------------------------------------------------------------
def scalar_row(name, fn, ref, dtypes, domain="real", grad=True, grad_domain=None, out=same, grad_ok=None,
               cpu_dtypes=("float16", "float32")):
    return Op(name, fn, ref, dtypes, (domain,), (Case(((3, 4),)), Case(((),), cpu=False)), out=out, grad=grad,
              grad_cases=(Case(((2, 3),)),) if grad else (), grad_domains=(grad_domain,) if grad_domain else None,
              grad_ok=grad_ok, cpu_dtypes=cpu_dtypes, elementwise=True)


INT_TOO = ("int8", "float16", "float32")    # rows with integer semantics of their own


def _away_from_unit(x):
    return bool(np.all(np.abs(np.abs(x) - 1) > 0.1))


SCALAR_OPERANDS = [
    scalar_row("add_scalar", lambda x: x + 2, lambda x: x + 2, NUM),
    scalar_row("rsub_scalar", lambda x: 1 - x, lambda x: 1 - x, SIGNED),
    scalar_row("mul_scalar", lambda x: x * 3, lambda x: x * 3, NUM),
    scalar_row("mul_one", lambda x: x * 1, lambda x: x * 1, NUM),
    scalar_row("mul_zero", lambda x: 0 * x, lambda x: 0 * x, NUM, grad=False),
    scalar_row("div_scalar", lambda x: x / 2, lambda x: x / 2, NUM, out=true_div, cpu_dtypes=INT_TOO),
    scalar_row("rdiv_scalar", lambda x: 1 / x, lambda x: 1 / x, FLOATS, domain="nonzero"),
    scalar_row("floordiv_scalar", lambda x: x // 3, lambda x: x // 3, NUM, grad=False, cpu_dtypes=INT_TOO),
    scalar_row("mod_scalar", lambda x: x % -3, lambda x: x % -3, SIGNED, grad=False, cpu_dtypes=INT_TOO),
    scalar_row("recip_add_zero", lambda x: 1 / (x + 0.0), lambda x: 1 / (x + 0.0), FLOATS, domain="nonzero"),
    scalar_row("pow_two", lambda x: x ** 2, lambda x: x ** 2, SIGNED, cpu_dtypes=INT_TOO),
    scalar_row("pow_zero", lambda x: x ** 0, lambda x: np.ones_like(x), SIGNED, grad=False, cpu_dtypes=INT_TOO),
    # NumPy's own ``x ** 0.5`` is sqrt (NaN at -inf); TensorFlow and C99 pow give +inf
    scalar_row("pow_half", lambda x: x ** 0.5, lambda x: np.power(x, np.full_like(x, 0.5)), FLOATS,
               domain="positive"),
    scalar_row("pow_minus_one", lambda x: x ** -1, lambda x: np.power(x, np.full_like(x, -1.0)), FLOATS,
               domain="nonzero"),
    scalar_row("rpow_scalar", lambda x: 2.0 ** x, lambda x: np.power(np.full_like(x, 2.0), x), FLOATS),
    scalar_row("maximum_scalar", lambda x: tf.maximum(x, 0), lambda x: np.maximum(x, np.zeros_like(x)), NUM,
               grad_domain="away0"),
    scalar_row("where_scalar", lambda x: tf.where(x > 1, x, 1), lambda x: np.where(x > 1, x, np.ones_like(x)), NUM,
               grad_domain="away0", grad_ok=_away_from_unit),
    scalar_row("clip_scalar", lambda x: tf.clip_by_value(x, -1, 1), lambda x: np.clip(x, -1, 1), SIGNED,
               grad_ok=_away_from_unit),
]


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------
def _ax(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _np_reduce(name, acc=None):
    """``np.<name>`` over ``axis`` (looked up when called, so the fuzzer can run it on ``jax.numpy``)."""
    def ref(x, axis=None, keepdims=False):
        kw = {"dtype": acc(x)} if acc else {}
        return getattr(np, name)(x, axis=_ax(axis), keepdims=keepdims, **kw)
    return ref


def _sum_acc(x):
    return np.int64 if x.dtype.kind in "iu" else None


def _extreme_ref(name, float_init, int_init):
    """``np.max``/``np.min`` with TensorFlow's identities on empty axes (-inf / inf; the dtype's lowest / highest)."""
    def ref(x, axis=None, keepdims=False):
        if x.dtype.kind == "f":
            init = float_init
        elif x.dtype.kind == "b":
            init = int_init == "min"
        else:
            info = np.iinfo(x.dtype)
            init = info.min if int_init == "min" else info.max
        return getattr(np, name)(x, axis=_ax(axis), keepdims=keepdims, initial=init)
    return ref


def _mean_ref(x, axis=None, keepdims=False):
    if x.dtype.kind in "iu":   # TensorFlow: int64 sum (wrapping), division truncated toward zero, 0 if empty
        s = np.sum(x, axis=_ax(axis), keepdims=keepdims, dtype=np.int64)
        n = x.size // max(np.asarray(s).size, 1) if x.size else 0
        if n == 0:
            return np.zeros_like(s)
        return s // n + ((s % n != 0) & (s < 0))   # exact in integers (a float division rounds above 2**53)
    return np.mean(x, axis=_ax(axis), keepdims=keepdims)


def _logsumexp_ref(x, axis=None, keepdims=False):
    if x.size == 0:
        return np.full(np.sum(x, axis=_ax(axis), keepdims=keepdims).shape, -np.inf)
    return scipy.special.logsumexp(x, axis=_ax(axis), keepdims=keepdims)


R = (2, 3, 4)
REDUCE_CASES = (
    Case((R,), {"axis": 1}),
    Case((R,), {"axis": None}),
    Case((R,), {"axis": -1}),
    Case((R,), {"axis": 0}),
    Case((R,), {"axis": (0, 2)}),
    Case((R,), {"axis": (-1, -2)}),
    Case((R,), {"axis": [0, 1]}),
    Case((R,), {"axis": 1, "keepdims": True}),
    Case((R,), {"axis": None, "keepdims": True}),
    Case((R,), {"axis": (0, 2), "keepdims": True}),
    Case(((),), {"axis": None}),
    Case(((1, 3, 1),), {"axis": 0}),
    Case(((0, 3),), {"axis": 0}),
    Case(((0, 3),), {"axis": 1}),
    Case(((0, 3),), {"axis": None}),
    Case((BIG,), {"axis": None}),
    Case((BIG,), {"axis": 0}),
)
#: most reductions share the kernel generator's paths with reduce_sum / reduce_max, which run every case on
#: the cpu backend: the others run a non-trailing axis, all axes, the trailing axis and an empty axis there
REDUCE_CPU = (0, 1, 2, 12)
#: float16 sums of many terms: accumulated wider than float16 (as TensorFlow and NumPy's mean do)
F16_SUM = Case(((10000, 3),), {"axis": 0}, domains=("positive",), dtype="float16")
F16_MEAN = Case(((3, 10000),), {"axis": 1}, domains=("large",), dtype="float16")
REDUCE_GRAD = (Case(((2, 3),), {"axis": 1}), Case(((2, 3),), {"axis": None, "keepdims": True}),
               Case(((2, 3, 2),), {"axis": (0, -1)}))


def _zeros_at(*flat):
    """Small values with exact zeros at the given flat positions (reduce_prod's gradient there)."""
    def gen(shape, dtype, rng):
        x = generate("small", shape, dtype, rng)
        x.reshape(-1)[list(flat)] = 0
        return x
    return gen


PROD_ZERO_GRAD = (Case(((2, 3),), {"axis": 1}, domains=(_zeros_at(0, 4, 5),), label="2x3-axis=1-zeros"),
                  Case(((2, 3),), {"axis": None}, domains=(_zeros_at(2),), label="2x3-axis=None-one-zero"))


def reduction(name, fn, ref, dtypes, domain="real", grad=True, rejects=(), main_dtype="float32", cpu=REDUCE_CPU,
              extra=(), extra_grad=(), **kw):
    cases = (REDUCE_CASES if cpu is None else cpu_subset(REDUCE_CASES, cpu)) + extra
    return Op(name, fn, ref, dtypes, (domain,), cases, grad=grad, grad_cases=REDUCE_GRAD + extra_grad if grad else (),
              mag=True, rejects=rejects, main_dtype=main_dtype, **kw)


REDUCTIONS = [
    reduction("reduce_sum", tf.reduce_sum, _np_reduce("sum", _sum_acc), NUM, rejects=("bool",), cpu=None,
              extra=(F16_SUM,)),
    reduction("reduce_mean", tf.reduce_mean, _mean_ref, NUM, rejects=("bool",), extra=(F16_SUM, F16_MEAN)),
    reduction("reduce_max", tf.reduce_max, _extreme_ref("max", -np.inf, "min"), NUM,
              cpu=(0, 1, 2, 4, 9, 10, 12, 13, 14, 15)),
    reduction("reduce_min", tf.reduce_min, _extreme_ref("min", np.inf, "max"), NUM),
    reduction("reduce_prod", tf.reduce_prod, _np_reduce("prod", _sum_acc), NUM, domain="small", rejects=("bool",),
              extra_grad=PROD_ZERO_GRAD),
    reduction("reduce_all", tf.reduce_all, _np_reduce("all"), BOOL, domain="cond", grad=False,
              rejects=("int32", "float32"), main_dtype="bool"),
    reduction("reduce_any", tf.reduce_any, _np_reduce("any"), BOOL, domain="cond", grad=False,
              rejects=("int32", "float32"), main_dtype="bool"),
    reduction("reduce_logsumexp", tf.reduce_logsumexp, _logsumexp_ref, FLOATS, rejects=FLOAT_ONLY,
              cpu=(0, 2, 12), cpu_dtypes=("float16", "float32")),
]


def _arg_ref(name):
    def ref(x, axis=None, output_type="int64"):
        return getattr(np, name)(x, axis=0 if axis is None else axis).astype(output_type)
    return ref


ARG_CASES = (Case(((3, 4),), {"axis": 1}), Case(((3, 4),), {}), Case(((3, 4),), {"axis": -1}),
             Case(((2, 3, 4),), {"axis": 2}), Case(((2, 3, 4),), {"axis": -3}), Case(((5,),), {"axis": 0}),
             Case(((3, 4),), {"axis": 0, "output_type": "int32"}), Case(((1, 4),), {"axis": 0}),
             Case(((0, 4),), {"axis": 1}))

ARGS = [
    Op("argmax", tf.argmax, _arg_ref("argmax"), ALL, ("real",), ARG_CASES, out=param("output_type", "int64")),
    Op("argmin", tf.argmin, _arg_ref("argmin"), ALL, ("real",), cpu_subset(ARG_CASES, (0, 6, 8)),
       out=param("output_type", "int64")),
]


# ---------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------
def _matmul_ref(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


MATMUL = Op(
    "matmul", tf.matmul, _matmul_ref, INDEX + FLOATS, ("real", "real"),
    cpu_subset((Case(((2, 3), (3, 4))),
     Case(((3, 2), (3, 4)), {"transpose_a": True}),
     Case(((2, 3), (4, 3)), {"transpose_b": True}),
     Case(((3, 2), (4, 3)), {"transpose_a": True, "transpose_b": True}),
     Case(((5, 2, 3), (5, 3, 4))),
     Case(((2, 1, 2, 3), (3, 3, 4))),
     Case(((5, 2, 3), (3, 4))),
     Case(((3, 4), (2, 4, 5))),
     Case(((2, 3, 2), (2, 4, 3)), {"transpose_a": True, "transpose_b": True}),
     Case(((0, 3), (3, 4))),
     Case(((2, 0), (0, 4))),
     Case(((1, 1), (1, 1))),
     Case(((17, 16), (16, 18))),                 # large enough for the BLAS path
     Case(((2, 17, 16), (16, 18))),
     Case(((2, 16, 17), (16, 18)), {"transpose_a": True}),
     Case(((3, 4), (4, 9))),                     # loop matmuls with 8 or more columns (axpy form)
     Case(((2, 4, 3), (4, 9)), {"transpose_a": True})), (0, 1, 2, 3, 4, 5, 6, 9, 10, 12, 14, 15, 16)),
    grad=True, mag=True, rejects=("bool",),
    grad_cases=(Case(((2, 3), (3, 2))), Case(((3, 2), (2, 3)), {"transpose_a": True, "transpose_b": True}),
                Case(((2, 1, 2, 3), (2, 3, 2)))),
)


# ---------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------
def _squeeze_ref(x, axis=None):
    return np.squeeze(x, axis=_ax(axis))


def _one_hot_ref(indices, depth, axis=None, dtype="float32", on_value=1, off_value=0):
    hot = indices[..., None] == np.arange(depth)
    if axis not in (None, -1):
        hot = np.moveaxis(hot, -1, axis)
    return np.where(hot, on_value, off_value).astype(dtype)


def _softmax_ref(x, axis=-1):
    return scipy.special.softmax(x, axis=-1 if axis is None else axis)


def _log_softmax_ref(x, axis=-1):
    axis = -1 if axis is None else axis
    return x - _logsumexp_ref(x, axis=axis, keepdims=True)


SHAPE_OPS = [
    Op("transpose", tf.transpose, lambda x, perm=None: np.transpose(x, perm), ALL, ("real",),
       (Case(((2, 3, 4),), {"perm": (2, 0, 1)}), Case(((2, 3, 4),), {}), Case(((3, 4),), {"perm": [1, 0]}),
        Case(((3,),), {}), Case(((),), {}), Case(((0, 2),), {"perm": (1, 0)}),
        Case(((1, 3, 1),), {"perm": (2, 1, 0)})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2, 3, 2),), {"perm": (2, 0, 1)}),)),
    Op("reshape", tf.reshape, lambda x, shape: np.reshape(x, shape), ALL, ("real",),
       (Case(((2, 3, 4),), {"shape": (4, -1)}), Case(((2, 3, 4),), {"shape": (-1,)}),
        Case(((2, 3, 4),), {"shape": [3, -1, 2]}), Case(((6,),), {"shape": (2, 1, 3)}),
        Case(((1,),), {"shape": ()}), Case(((),), {"shape": (1, 1)}), Case(((0, 3),), {"shape": (-1, 3)}),
        Case(((0, 3),), {"shape": (3, 0)})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2, 3),), {"shape": (3, -1)}),)),
    Op("expand_dims", tf.expand_dims, np.expand_dims, ALL, ("real",),
       (Case(((2, 3),), {"axis": 1}), Case(((2, 3),), {"axis": 0}), Case(((2, 3),), {"axis": -1}),
        Case(((2, 3),), {"axis": -2}), Case(((),), {"axis": 0}), Case(((),), {"axis": -1}),
        Case(((0, 2),), {"axis": 2})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2, 3),), {"axis": -1}),)),
    Op("squeeze", tf.squeeze, _squeeze_ref, ALL, ("real",),
       (Case(((1, 3, 1),), {}), Case(((1, 3, 1),), {"axis": 0}), Case(((1, 3, 1),), {"axis": -1}),
        Case(((1, 3, 1),), {"axis": (0, 2)}), Case(((1,),), {}), Case(((),), {}), Case(((0, 1),), {"axis": 1})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((1, 3, 1),), {"axis": -1}),)),
    Op("concat", lambda *xs, axis: tf.concat(list(xs), axis), lambda *xs, axis: np.concatenate(xs, axis), ALL,
       ("real", "real", "real"),
       (Case(((2, 3), (2, 1), (2, 2)), {"axis": 1}), Case(((2, 3), (1, 3), (3, 3)), {"axis": 0}),
        Case(((2, 3), (2, 1), (2, 0)), {"axis": -1}), Case(((2,), (3,), (1,)), {"axis": 0}),
        Case(((0, 2), (0, 3), (0, 1)), {"axis": 1}), Case(((2, 1, 2), (2, 2, 2), (2, 1, 2)), {"axis": -2})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2, 1), (2, 2), (2, 1)), {"axis": -1}),)),
    Op("stack", lambda *xs, axis=0: tf.stack(list(xs), axis), lambda *xs, axis=0: np.stack(xs, axis), ALL,
       ("real", "real", "real"),
       (Case(((2, 3),) * 3, {"axis": 1}), Case(((2, 3),) * 3, {"axis": 0}), Case(((2, 3),) * 3, {"axis": -1}),
        Case(((2, 3),) * 3, {"axis": 2}), Case(((),) * 3, {"axis": 0}), Case(((0, 2),) * 3, {"axis": 1})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2,),) * 3, {"axis": -1}),)),
    Op("broadcast_to", tf.broadcast_to, np.broadcast_to, ALL, ("real",),
       (Case(((3, 1),), {"shape": (2, 3, 4)}), Case(((),), {"shape": (2, 3)}), Case(((4,),), {"shape": (3, 4)}),
        Case(((1,),), {"shape": (0,)}), Case(((2, 3),), {"shape": (2, 3)}), Case(((1, 3),), {"shape": (1, 3)})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True,
       grad_cases=(Case(((3, 1),), {"shape": (2, 3, 2)}), Case(((),), {"shape": (2,)}))),
    Op("tile", tf.tile, lambda x, multiples: np.tile(x, multiples), ALL, ("real",),
       (Case(((2, 3),), {"multiples": (2, 3)}), Case(((2, 3),), {"multiples": [1, 2]}),
        Case(((2, 3),), {"multiples": (0, 2)}), Case(((1,),), {"multiples": (4,)}), Case(((),), {"multiples": ()}),
        Case(((2, 1, 2),), {"multiples": (1, 3, 1)})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True, grad_cases=(Case(((2, 1),), {"multiples": (2, 3)}),)),
    Op("gather", tf.gather, lambda x, idx, axis=None: np.take(x, idx, axis=0 if axis is None else axis), ALL,
       ("real", index(0, 4, "int32")),
       (Case(((4, 3), (5,)), {}),
        Case(((4, 3), (2, 2)), {"axis": 1}, domains=("real", index(0, 3, "int32"))),
        Case(((4, 3), (3,)), {"axis": -1}, domains=("real", index(0, 3, "int64"))),
        Case(((4, 3), ()), {"axis": 0}),
        Case(((5,), (2, 3)), {}, domains=("real", index(0, 5, "int64"))),
        Case(((4, 3), (0,)), {}),
        Case(((2, 4, 3), (4,)), {"axis": 1})),
       cpu_dtypes=CPU_MOVE_DTYPES, grad=True,
       grad_cases=(Case(((4, 2), (5,)), {}), Case(((2, 4), (2, 2)), {"axis": 1}))),
    Op("one_hot", tf.one_hot, _one_hot_ref, ("uint8", "int8", "int32", "int64"), (index(-1, 5),),
       cpu_subset((Case(((6,),), {"depth": 4}), Case(((2, 3),), {"depth": 4, "axis": 0}),
                   Case(((2, 3),), {"depth": 3}), Case(((2, 3),), {"depth": 4, "axis": 1}), Case(((),), {"depth": 5}),
                   Case(((4,),), {"depth": 4, "dtype": "int32"}),
                   Case(((4,),), {"depth": 4, "dtype": "float64", "on_value": 5.0, "off_value": -1.0}),
                   Case(((0,),), {"depth": 3})), (0, 1, 4, 6, 7)),
       out=param("dtype", "float32"), main_dtype="int32", specials=False, cpu_dtypes=("uint8", "int8", "int32")),
]

SOFTMAX_CASES = (Case(((3, 4),), {}), Case(((3, 4),), {"axis": 0}), Case(((2, 3, 4),), {"axis": 1}),
                 Case(((5,),), {}), Case(((1, 1),), {}), Case(((0, 4),), {}), Case(((2, 3),), {"axis": -1}))
SOFTMAX_GRAD = (Case(((2, 3),), {}), Case(((3, 2),), {"axis": 0}))

NORMALIZERS = [
    Op("softmax", tf.nn.softmax, _softmax_ref, FLOATS, ("real",), cpu_subset(SOFTMAX_CASES, (0, 2, 5)), grad=True,
       grad_cases=SOFTMAX_GRAD, mag=True, rejects=FLOAT_ONLY, cpu_dtypes=("float16", "float32")),
    Op("log_softmax", tf.nn.log_softmax, _log_softmax_ref, FLOATS, ("real",), cpu_subset(SOFTMAX_CASES, (0, 5)),
       grad=True,
       grad_cases=SOFTMAX_GRAD, mag=True, rejects=FLOAT_ONLY, cpu_dtypes=("float16", "float32")),
]


# ---------------------------------------------------------------------------
# control flow: cond, fori_loop (a scan), while_loop, scan
# ---------------------------------------------------------------------------
# The primitives' parameters are graphs (the traced branches and bodies). A row fixes them in its ``fn``, as
# concat's row fixes the list around its tensors, so every test of the table runs them as it runs any op: the
# dtype sweep, the cases, NaN/inf, eager and traced on each backend, vmap, gradients. The bodies use + - * and
# a max only: on the "small" domain no integer result leaves int8/uint8 (the worst case is noted beside each
# body) and the reference is the same loop in NumPy (float64 for floats). ``mag``: a loop's rounding errors
# scale with the magnitudes it runs through.
CF_DTYPES = NUM
SMALL2 = ("small", "small")


def _max_ge(x, y) -> bool:
    mx, my = _extreme_ref("max", -INF, "min")(x), _extreme_ref("max", -INF, "min")(y)
    return bool(mx >= my)


def _cond(x, y):  # max is exact in every dtype, so the branch is the reference's (ints tie: true)
    return tf.cond(tf.reduce_max(x) >= tf.reduce_max(y), lambda a, b: a * b + a, lambda a, b: a - b, x, y)


def _cond_ref(x, y):
    return x * y + x if _max_ge(x, y) else x - y


def _cond_ok(x, y):  # finite differences stay on one branch
    return abs(float(np.max(x)) - float(np.max(y))) > 0.1


def _fori(x, y):  # |c| <= 2*2+2, 6*2+2+1, 15*2+2+2 = 34
    return tf.fori_loop(0, 3, lambda i, c: c * y + x + tf.cast(i, c.dtype), x)


def _fori_ref(x, y):
    c = x
    for i in range(3):
        c = c * y + x + np.asarray(i, x.dtype)
    return c


def _while(x, n):  # a loop whose trip count is a tensor (0 to 4): |c| <= 2, 5, 11, 23, 47
    return tf.while_loop(lambda s: s[0] < n, lambda s: (s[0] + 1, s[1] * x + 1), (tf.zeros_like(n), x))[1]


def _while_ref(x, n):
    c = x
    for _ in range(int(n)):
        c = c * x + np.asarray(1, x.dtype)
    return c


def _scan(c, xs, reverse=False):  # 4 steps: |c| <= 6, 14, 30, 62; |ys + c| <= 96
    c, ys = tf.scan(lambda c, x: (c * x + x, c - x), c, xs, reverse=reverse)
    return ys + c


def _scan_ref(c, xs, reverse=False):
    ys = [None] * len(xs)
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        c, ys[t] = c * xs[t] + xs[t], c - xs[t]
    return (np.stack(ys) if len(xs) else np.zeros(xs.shape, c.dtype)) + c


CONTROL_FLOW = [
    Op("cond", _cond, _cond_ref, CF_DTYPES, SMALL2,
       (Case(((3, 4), (3, 4))), Case(((), ())), Case(((2, 3), (3,))), Case(((0, 3), (3,)))),
       grad=True, grad_cases=(Case(((2, 3), (2, 3))), Case(((), ()))), grad_ok=_cond_ok, mag=True,
       rejects=("bool",)),
    Op("fori_loop", _fori, _fori_ref, CF_DTYPES, SMALL2,
       (Case(((3, 4), (3, 4))), Case(((), ())), Case(((3, 4), (4,))), Case(((0, 3), (3,)))),
       grad=True, grad_cases=(Case(((2, 3), (2, 3))), Case(((3,), ()))), mag=True, rejects=("bool",)),
    Op("while_loop", _while, _while_ref, CF_DTYPES, ("small", index(0, 5, "int32")),
       (Case(((3, 4), ())), Case(((), ())), Case(((0, 3), ()))),
       mag=True, rejects=("bool",)),
    Op("scan", _scan, _scan_ref, CF_DTYPES, SMALL2,
       (Case(((4,), (4, 4))), Case(((), (4,))), Case(((4,), (4, 4)), {"reverse": True}), Case(((2, 3), (3, 2, 3))),
        Case(((4,), (0, 4)))),
       grad=True, grad_cases=(Case(((3,), (2, 3))), Case(((), (3,)), {"reverse": True})), mag=True,
       rejects=("bool",)),
]

OPS: list = ELEMENTWISE + CASTS + SCALAR_OPERANDS + REDUCTIONS + ARGS + [MATMUL] + SHAPE_OPS + NORMALIZERS + \
    CONTROL_FLOW
BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names in the table"
