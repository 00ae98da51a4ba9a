"""Random programs for differential fuzzing: their representation, two interpreters and a Hypothesis strategy.

A :class:`Program` is plain data whose ``repr`` is valid Python, so that a shrunk failing example can be pasted
into a regression list. It holds the arguments (dtype, shape, values), the Variables (dtype, shape, initial
values) and a list of steps in SSA form: step ``i`` computes value ``i`` (``None`` for an assignment). A step is
``(op, argument value ids, params)`` where ``op`` is a row name of ``tests/op_table.py`` or one of

* ``arg`` (``{"n": k}``: argument ``k``), ``read`` / ``assign`` / ``assign_add`` / ``assign_sub``
  (``{"var": k}``: Variable ``k``), ``random_uniform`` / ``random_normal`` (``{"shape", "dtype"}``),
* ``getitem`` (``{"key": spec}``, see :func:`index_key`) and the domain adapter ``squash`` (``{"lo", "hi"}``: a
  smooth map of floats into ``(lo, hi)``, ``lo + floormod(x, hi - lo + 1)`` for integers).

:func:`to_jaxish` turns a program into a function over jaxish tensors (to run eagerly, under ``@trace`` on either
backend, under ``grad`` or a ``GradientTape``); :func:`run_numpy` evaluates it with the op table's NumPy
references, each op on float64-widened inputs rounded to the op's result dtype (as the op table's own tests do),
optionally perturbing every inexact result by a few rounding errors (the spread of such runs is the tolerance of an
inexact result). :func:`programs` is the Hypothesis strategy: it evaluates each step while it builds the program, so
it knows every shape, dtype and value, and wraps an operand in ``squash`` when its values leave the domain the op
table gives for the op (``log`` of positive values, integer divisors that are not 0, float -> int casts in range).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.special
from hypothesis import strategies as st
from op_table import _RANGES, BY_NAME, SPECIALS, generate

import jaxish as tf

FLOATS = ("float16", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")
NUMERIC = INTS + FLOATS
RANDOM = ("random_uniform", "random_normal")
ASSIGN = ("assign", "assign_add", "assign_sub")


@dataclass(frozen=True)
class Program:
    """A random program (see the module docstring)."""

    args: tuple                 # ((dtype, shape, nested list of values), ...)
    steps: tuple                # ((op, (value ids), {params}), ...)
    outputs: tuple              # value ids
    variables: tuple = ()       # ((dtype, shape, nested list of initial values), ...)
    seed: int = 0               # jaxish.random.set_seed before each run
    weights_seed: int = 0       # the weights of the scalar loss of gradient checks

    def arrays(self, variant: int = 0) -> tuple:
        """(argument arrays, Variable initial arrays); ``variant=1``: floating arguments halved (a second call
        with other values of the same signature; halving keeps every value in the domain it was built for)."""
        args = [np.array(v, dtype=dt).reshape(s) for dt, s, v in self.args]
        if variant:
            args = [a * a.dtype.type(0.5) if a.dtype.kind == "f" else a for a in args]
        return args, [np.array(v, dtype=dt).reshape(s) for dt, s, v in self.variables]

    def to_float64(self) -> Program:
        """The same program with every floating dtype widened to float64 (for finite differences)."""
        def f(dt):
            return "float64" if dt in FLOATS else dt
        steps = []
        for op, ids, params in self.steps:
            if op.startswith("cast_to_") and op[8:] in FLOATS:
                op = "cast_to_float64"
            if params.get("dtype") in FLOATS:
                params = {**params, "dtype": "float64"}
            steps.append((op, ids, params))
        return replace(self, args=tuple((f(d), s, v) for d, s, v in self.args), steps=tuple(steps),
                       variables=tuple((f(d), s, v) for d, s, v in self.variables))

    @property
    def uses_random(self) -> bool:
        return any(op in RANDOM for op, _, _ in self.steps)

    def arg_ids(self) -> list:
        """The value id of each argument."""
        ids = {p["n"]: i for i, (op, _, p) in enumerate(self.steps) if op == "arg"}
        return [ids[k] for k in range(len(self.args))]

    def text(self) -> str:
        """A readable listing (for failure messages)."""
        lines = [f"arg{k}: {dt}{list(s)}" for k, (dt, s, _) in enumerate(self.args)]
        lines += [f"var{k}: {dt}{list(s)}" for k, (dt, s, _) in enumerate(self.variables)]
        for i, (op, ids, params) in enumerate(self.steps):
            lines.append(f"v{i} = {op}({', '.join(f'v{j}' for j in ids)}{', ' if ids and params else ''}"
                         f"{', '.join(f'{k}={v!r}' for k, v in params.items())})")
        lines.append(f"return {', '.join(f'v{i}' for i in self.outputs)}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# indexing and the domain adapter
# ---------------------------------------------------------------------------
def index_key(spec, as_tensors=False) -> tuple:
    """A key from its spec: ("i", n) int, ("s", a, b, c) slice, ("n",) newaxis, ("e",) ellipsis,
    ("a", nested list, dtype) integer array, ("b", nested list) boolean mask, ("t", j) the getitem step's
    index argument j."""
    out = []
    for k in spec:
        if k[0] == "i":
            out.append(k[1])
        elif k[0] == "s":
            out.append(slice(*k[1:]))
        elif k[0] == "n":
            out.append(None)
        elif k[0] == "e":
            out.append(Ellipsis)
        elif k[0] == "t":
            out.append(None)   # filled in by _getitem
        else:
            arr = np.array(k[1], dtype=k[2] if k[0] == "a" else bool)
            out.append(tf.constant(arr) if as_tensors else arr)
    return tuple(out)


def _squash_tf(x, lo, hi):
    if x.dtype.is_floating:
        return lo + (hi - lo) * tf.sigmoid(x)
    return lo + tf.math.floormod(x, hi - lo + 1)


def _squash_np(x, lo, hi):
    if x.dtype.kind == "f":
        return lo + (hi - lo) * scipy.special.expit(x)
    return lo + np.remainder(x, x.dtype.type(hi - lo + 1))


def _traced_indices(x, tensors, key):
    """(key entry position, index array, size of the axis it indexes) of each traced index ("t") of ``key``."""
    axis = 0
    for pos, s in enumerate(key):
        if s[0] == "t":
            yield pos, tensors[s[1]], x.shape[axis]
        axis += 0 if s[0] in ("n", "e") else len(np.shape(s[1])) if s[0] == "b" else 1


def _getitem(x, *tensors, key, as_tensors, clamp=None):
    """``x[key]``; key entries ("t", j) are the index arrays ``tensors[j]`` (traced arguments). On arrays (the
    references; ``clamp=False``: not here, JAX's indexing does it), a traced index follows jaxish's documented rule
    for traced indices (JAX's): a negative index wraps once, then it is clamped to ``[0, size - 1]``."""
    out = list(index_key(key, as_tensors))
    for pos, e, d in _traced_indices(x, tensors, key):
        out[pos] = e if as_tensors or clamp is False else (e + (e < 0) * e.dtype.type(d)).clip(0, d - 1).astype(e.dtype)
    return x[tuple(out)]


def index_out_of_range(program) -> bool:
    """Whether a traced index of ``program`` is out of range: clamped under ``@trace``, an IndexError eagerly
    (where its value is known)."""
    args, var_init = program.arrays()
    draws = [np.zeros(p["shape"], p["dtype"]) for op, _, p in program.steps if op in RANDOM]
    found = []

    def op_fn(op, xs, params):
        if op == "getitem":
            found.extend(np.any((e < -d) | (e >= d)) for _, e, d in _traced_indices(xs[0], xs[1:], params["key"]))
        return numpy_op(op, xs, params)
    run_numpy(program, args, var_init, draws, op_fn=op_fn)
    return any(found)


#: ops that are not op table rows: (jaxish implementation, NumPy implementation)
EXTRA = {
    "getitem": (lambda *xs, key: _getitem(*xs, key=key, as_tensors=True),
                lambda *xs, key: _getitem(*xs, key=key, as_tensors=False)),
    "squash": (_squash_tf, _squash_np),
    "finite": (lambda x: tf.where(tf.math.is_finite(x), x, 0.0), lambda x: np.where(np.isfinite(x), x, 0.0)),
    "scalar": (lambda x, **p: _scalar_op(x, **p, to_tensor=True), lambda x, **p: _scalar_op(x, **p, to_tensor=False)),
}


# ---------------------------------------------------------------------------
# the jaxish interpreter
# ---------------------------------------------------------------------------
def to_jaxish(program: Program, variables: list, hook=None):
    """The program as a function of its argument tensors, returning ``(outputs, random draws)``.

    ``variables`` are the jaxish Variables the program reads and assigns (one set per run); ``hook(i, value)``
    is called with each value computed (a tape watches an intermediate source through it).
    """
    def fn(*args):
        vals, draws = [], []
        for op, ids, params in program.steps:
            xs = [vals[i] for i in ids]
            if op == "arg":
                r = args[params["n"]]
            elif op in RANDOM:
                draw = tf.random.uniform if op == "random_uniform" else tf.random.normal
                r = draw(params["shape"], dtype=params["dtype"])
                draws.append(r)
            elif op == "read":
                r = variables[params["var"]].read_value()
            elif op in ASSIGN:
                getattr(variables[params["var"]], op)(xs[0])
                r = None
            elif op in EXTRA:
                r = EXTRA[op][0](*xs, **params)
            else:
                r = BY_NAME[op].fn(*xs, **params)
            if hook is not None:
                hook(len(vals), r)
            vals.append(r)
        return tuple(vals[i] for i in program.outputs), tuple(draws)
    return fn


# ---------------------------------------------------------------------------
# the NumPy interpreter
# ---------------------------------------------------------------------------
#: ops whose result is exactly determined by their inputs: correctly rounded IEEE operations, data movement,
#: comparisons, integer arithmetic
EXACT_OPS = {
    "add", "subtract", "multiply", "divide", "floordiv", "mod", "maximum", "minimum", "negative", "abs", "sign",
    "square", "sqrt", "relu", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not", "where", "clip_by_value", "add_scalar", "rsub_scalar",
    "mul_scalar", "mul_one", "mul_zero", "div_scalar", "rdiv_scalar", "floordiv_scalar", "mod_scalar",
    "recip_add_zero", "pow_two", "pow_zero", "pow_minus_one", "maximum_scalar", "where_scalar", "clip_scalar",
    "reduce_max", "reduce_min", "reduce_all", "reduce_any", "argmax", "argmin", "transpose", "reshape",
    "expand_dims", "squeeze", "concat", "stack", "broadcast_to", "tile", "gather", "one_hot", "getitem", "finite",
} | {f"cast_to_{t}" for t in ("bool",) + NUMERIC}
#: exact on integers only (sums and products of integers wrap identically whatever the order)
EXACT_ON_INTS = {"reduce_sum", "reduce_prod", "matmul", "reduce_mean", "squash", "pow"}


@dataclass
class NumpyRun:
    """One NumPy evaluation: outputs, final Variable values, and which of them are exactly determined."""

    outputs: list
    variables: list
    exact_outputs: list
    exact_variables: list
    reads: dict          # step index -> the value read
    values: list         # every step's value


def promote_types(a: str, b: str) -> str:
    """JAX's ``promote_types`` on the fuzzed dtypes (written out; ``jax.numpy.promote_types`` agrees): bool below
    every number, any integer below any float, the wider of two floats or of two signed integers, and uint8 with a
    signed integer the signed one if wider than 8 bits, else int16."""
    if a == b or b == "bool":
        return a
    if a == "bool":
        return b
    fa, fb = a in FLOATS, b in FLOATS
    if fa != fb:
        return a if fa else b
    if fa or ("uint8" not in (a, b)):
        return max(a, b, key=lambda t: np.dtype(t).itemsize)
    signed = b if a == "uint8" else a
    return "int16" if signed == "int8" else signed


def weak_type(dtype: str, value) -> str:
    """The dtype of a tensor of ``dtype`` combined with the Python scalar ``value`` (weakly typed: the tensor's
    dtype wins in its kind; a float with an integer or bool tensor gives float32, an int with a bool tensor int32,
    jaxish's defaults)."""
    if isinstance(value, float) and dtype not in FLOATS:
        return "float32"
    return "int32" if dtype == "bool" else dtype


#: binary rows that promote mixed operand dtypes (JAX's rule: convert both to the promoted dtype, then the op)
PROMOTING = {"add", "subtract", "multiply", "divide", "floordiv", "mod", "pow", "maximum", "minimum", "equal",
             "not_equal", "less", "less_equal", "greater", "greater_equal"}


def promoted(op, xs) -> list:
    """The operands of a step converted as JAX's promotion does (mixed dtypes of a binary row; a weak scalar)."""
    if op == "scalar":
        return xs
    if op in PROMOTING and xs[0].dtype != xs[1].dtype:
        t = promote_types(xs[0].dtype.name, xs[1].dtype.name)
        return [x.astype(t) for x in xs]
    return xs


def _scalar_op(x, op, value, left, to_tensor):
    """``op(value, x)`` (``left``) or ``op(x, value)`` with the Python scalar ``value`` (weakly typed)."""
    if to_tensor:
        fn = BY_NAME[op].fn
        return fn(value, x) if left else fn(x, value)
    t = np.dtype(weak_type(x.dtype.name, value))
    xs = [x.astype(t), np.asarray(value).astype(t)]
    return numpy_op(op, xs[::-1] if left else xs, {})


def numpy_op(op, xs, params) -> np.ndarray:
    """One step on NumPy arrays: the op table's reference on float64-widened inputs, cast to the result dtype."""
    xs = promoted(op, xs)
    with np.errstate(all="ignore"):
        if op in EXTRA:
            r = np.asarray(EXTRA[op][1](*xs, **params))
            return r.astype(xs[0].dtype) if op in ("squash", "finite") else r
        row = BY_NAME[op]
        ups = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs]
        dtype = xs[-1].dtype.name if row.name == "where" else xs[0].dtype.name
        r = np.asarray(row.ref(*ups, **params)).astype(row.out(dtype, params))
        if op in REDUCTION_OPS:   # scipy's logsumexp gives (1,) for keepdims on 0-d inputs
            r = r.reshape(np.sum(np.zeros(xs[0].shape), axis=_axis(params.get("axis")),
                                 keepdims=params.get("keepdims", False)).shape)
        return r


REDUCTION_OPS = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_all", "reduce_any",
                 "reduce_logsumexp")


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _noise_scale(op, xs, params, r):
    """The magnitude of ``r``, or for the op table's ``mag`` ops (sums) that of the sum of |terms|."""
    mag = np.abs(r.astype(np.float64))
    if op == "squash":   # lo + (hi - lo) * sigmoid(x): rounding errors of the size of the bounds
        return np.maximum(mag, abs(params["lo"]) + abs(params["hi"]))
    if op in ("log_softmax", "reduce_logsumexp"):   # x - max(x) - log(sum(exp(...))): errors of the size of x
        finite = np.abs(xs[0][np.isfinite(xs[0])])
        return np.maximum(mag, 1 + float(np.max(finite, initial=0.0)))
    if op in BY_NAME and BY_NAME[op].mag:
        m = np.abs(numpy_op(op, [np.abs(x) if x.dtype.kind == "f" else x for x in xs], params).astype(np.float64))
        if m.shape == mag.shape:
            mag = np.maximum(mag, m)
    return mag


def run_numpy(program: Program, args: list, var_init: list, draws=(), noise=None, perturb=None,
              reads=None, op_fn=numpy_op, xp=np) -> NumpyRun:
    """Evaluate ``program`` with NumPy.

    ``draws``: the random values of the jaxish run to compare with (random draws are not reproduced here).
    ``noise``: a Generator: perturb every inexact floating result by a few rounding errors (a float: by that many,
    all in the same direction).
    ``perturb`` / ``reads``: finite differences. ``perturb`` maps ``("arg", k)`` to an array added to argument
    ``k``, ``("var", k)`` to one added to every read of Variable ``k`` and ``("step", i)`` to one added to
    value ``i``; ``reads`` are the values the reads had
    in the unperturbed run: as in TensorFlow an assignment is not differentiated, and the gradient with respect to
    a Variable is the sum over its reads.
    ``op_fn`` / ``xp``: another implementation of the steps and its array module (JAX, see ``fuzz.jax_ref``).
    """
    perturb = perturb or {}
    vals, exact = [], []
    state = [xp.asarray(v) for v in var_init]
    state_exact = [True] * len(state)
    draws = list(draws)
    got_reads = {}
    for s, (op, ids, params) in enumerate(program.steps):
        xs = [vals[i] for i in ids]
        ex = all(exact[i] for i in ids)
        if op == "arg":
            r = xp.asarray(args[params["n"]])
            if ("arg", params["n"]) in perturb:
                r = r + perturb[("arg", params["n"])]
        elif op in RANDOM:
            r, ex = xp.asarray(draws.pop(0)), False
        elif op == "read":
            k = params["var"]
            r, ex = (state[k] if reads is None else reads[s]), state_exact[k]
            got_reads[s] = r
            if ("var", k) in perturb:
                r = r + perturb[("var", k)]
        elif op in ASSIGN:
            k = params["var"]
            with np.errstate(all="ignore"):
                new = xs[0] if op == "assign" else state[k] + xs[0] if op == "assign_add" else state[k] - xs[0]
            state[k], state_exact[k] = xp.asarray(new).astype(state[k].dtype), state_exact[k] and ex
            r, ex = None, False
        else:
            r = op_fn(op, xs, params)
            base = params["op"] if op == "scalar" else op
            ex = ex and (base in EXACT_OPS or (base in EXACT_ON_INTS and r.dtype.kind in "biu"))
            if noise is not None and not ex and r.dtype.kind == "f":
                with np.errstate(all="ignore"):
                    eps = np.finfo(r.dtype).eps * _noise_scale(op, xs, params, r)
                    u = noise if isinstance(noise, float) else noise.uniform(-2, 2, r.shape)
                    r = (r + eps * u).astype(r.dtype)
            if ("step", s) in perturb:
                r = r + perturb[("step", s)]
        vals.append(r)
        exact.append(ex)
    return NumpyRun([vals[i] for i in program.outputs], state, [exact[i] for i in program.outputs],
                    state_exact, got_reads, vals)


# ---------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------
#: dimension sizes: few distinct ones, so that programs share compiled kernels; 0 now and then
DIMS = st.sampled_from([2, 3, 1, 4, 2, 3, 0])


def _int_specials(dtype):
    info = np.iinfo(dtype)
    return [info.min, info.max, 0, -1 if info.min else 1, info.min + 1 if info.min else info.max - 1]


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


class Skip(Exception):
    """The op draw does not fit (the NumPy reference rejects it): leave it out."""


class Builder:
    """Builds a program step by step, evaluating each step on concrete values (see the module docstring)."""

    def __init__(self, draw, float_dtype: str, grad: bool):
        self.draw = draw
        self.float_dtype = float_dtype
        self.grad = grad
        self.rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        self.args, self.variables, self.steps = [], [], []
        self.values = []        # (array or None, derived from a random draw)
        self.var_values = []
        self.specials = not grad and draw(st.integers(0, 2)) == 0   # NaN, inf, -0.0, integer extremes in args

    # -- values --
    def step(self, op, ids, params, value, rand=False) -> int:
        self.steps.append((op, tuple(ids), params))
        self.values.append((value, rand))
        return len(self.values) - 1

    def apply(self, op, ids, params=None) -> int:
        params = params or {}
        try:
            value = numpy_op(op, [self.values[i][0] for i in ids], params)
        except (ValueError, IndexError, TypeError) as e:   # a case the NumPy reference does not cover
            raise Skip(f"{op}: {e}") from e
        return self.step(op, ids, params, value, any(self.values[i][1] for i in ids))

    def new_arg(self, dtype, shape, values=None) -> int:
        shape = tuple(shape)
        arr = generate("cond" if dtype == "bool" else "real", shape, dtype, self.rng) if values is None else values
        arr = np.asarray(arr).astype(dtype).reshape(shape)
        if values is None and dtype == "int64" and not self.grad and self.draw(st.integers(0, 3)) == 0:
            # beyond float64's exact integers (int64 means, casts, comparisons with floats)
            arr = np.asarray(self.rng.integers(2**53, 2**62, shape) * self.rng.choice([-1, 1], shape)).astype(dtype)
        if values is None and self.specials and arr.size and dtype != "bool" and self.draw(st.integers(0, 3)) == 0:
            arr = arr.copy()
            mask = self.rng.random(shape) < 0.4
            pool = SPECIALS if dtype in FLOATS else _int_specials(dtype)
            arr[mask] = self.rng.choice(np.asarray(pool, dtype=dtype), size=int(mask.sum()))
        self.args.append((dtype, shape, arr.tolist()))
        return self.step("arg", (), {"n": len(self.args) - 1}, arr)

    def shape(self, i) -> tuple:
        return self.values[i][0].shape

    def dtype(self, i) -> str:
        return self.values[i][0].dtype.name

    def live(self, pred=lambda i: True) -> list:
        return [i for i, (v, _) in enumerate(self.values) if v is not None and pred(i)]

    def draw_shape(self, min_rank=0, max_rank=3) -> tuple:
        return tuple(self.draw(DIMS) for _ in range(self.draw(st.integers(min_rank, max_rank))))

    def pick(self, ids):
        return self.draw(st.sampled_from(ids))

    def operand(self, dtypes, min_rank=0, nonempty=False) -> int:
        """An existing value of one of ``dtypes``, a cast of another value, or a new argument."""
        def ok(i):
            return len(self.shape(i)) >= min_rank and (not nonempty or self.values[i][0].size > 0)
        dtypes = sorted(dtypes)
        cands = self.live(lambda i: ok(i) and self.dtype(i) in dtypes)
        if cands and self.draw(st.integers(0, 4)) > 0:
            return self.pick(cands)
        others = self.live(ok)
        if others and not self.grad and self.draw(st.booleans()):
            return self.cast(self.pick(others), self.pick(dtypes))
        dtype = self.float_dtype if self.float_dtype in dtypes else self.pick(dtypes)
        shape = self.draw_shape(min_rank)
        return self.new_arg(dtype, tuple(max(d, 1) for d in shape) if nonempty else shape)

    def cast(self, i, target) -> int:
        if self.dtype(i) == target:
            return i
        if self.dtype(i) in FLOATS and target not in FLOATS + ("bool",):   # float -> int of NaN or out of range: UB
            if not np.all(np.isfinite(self.values[i][0])):
                i = self.apply("finite", [i])
            i = self.into(i, (0.0, 6.0) if target == "uint8" else (-6.0, 6.0), force=True)
        return self.apply(f"cast_to_{target}", [i])

    def into(self, i, bounds, force=False) -> int:
        """Value ``i``, wrapped in ``squash`` if its values leave ``bounds`` (or are derived from random draws)."""
        v, rand = self.values[i]
        if v.dtype.kind == "b":
            return i
        lo, hi = bounds
        if v.dtype.kind in "iu":   # hi - lo + 1 must fit the dtype
            info = np.iinfo(v.dtype)
            lo, hi = max(int(np.ceil(lo)), info.min // 2 + 1, 0 if v.dtype.kind == "u" else info.min), \
                min(int(np.floor(hi)), info.max // 2)
        with np.errstate(invalid="ignore"):
            inside = v.size == 0 or bool(np.all(v >= lo) and np.all(v <= hi))
        if inside and not rand and not force:
            return i
        return self.apply("squash", [i], {"lo": float(lo) if v.dtype.kind == "f" else lo,
                                          "hi": float(hi) if v.dtype.kind == "f" else hi})

    def in_domain(self, i, domain) -> int:
        """Value ``i`` mapped into an op table domain."""
        if callable(domain) or domain == "cond":
            return i
        kind = self.values[i][0].dtype.kind
        if domain in ("nonzero", "away0"):      # divisors: positive, away from 0
            return self.into(i, (0.5, 3.0) if kind == "f" else (1, 5))
        if domain == "real":                    # only bound magnitudes (exp of large values overflows)
            frange, irange, urange = (-8.0, 8.0), (-100, 100), (0, 100)
        else:
            frange, irange, urange = _RANGES[domain]
        return self.into(i, frange if kind == "f" else urange if kind == "u" else irange)

    def partner(self, i, dtype) -> int:
        """A value of ``dtype`` whose shape broadcasts with value ``i``'s."""
        shape = self.shape(i)
        cands = self.live(lambda j: self.dtype(j) == dtype and _broadcastable(shape, self.shape(j)))
        if cands and self.draw(st.integers(0, 2)) > 0:
            return self.pick(cands)
        new = [1 if self.draw(st.integers(0, 3)) == 0 else d for d in shape[self.draw(st.integers(0, len(shape))):]]
        if self.draw(st.integers(0, 5)) == 0:
            new = [self.draw(st.integers(1, 3))] + new
        return self.new_arg(dtype, tuple(new))

    def dtypes_for(self, op) -> list:
        dts = set(op.dtypes)
        if self.grad:
            dts &= {self.float_dtype}
        return sorted(dts)


# -- one generator per op family: each appends steps (returns nothing useful) --
ELEMENTWISE = [op for op in BY_NAME.values() if op.elementwise and not op.name.startswith("cast_to_")]
REDUCTIONS = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_all", "reduce_any",
              "reduce_logsumexp"]
COMPARISONS = ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]

#: op name -> reason: ops the generator leaves out
EXCLUDED: dict = {}

#: bugs the generator steers clear of (so that the suite is green until they are fixed): name -> description.
#: Each has a strict-xfail reproducer in tests/test_fuzz_regressions.py; delete the entry when it is fixed.
KNOWN: dict = {}


def gen_elementwise(b: Builder, arity: int):
    ops = [op for op in ELEMENTWISE if op.arity == arity and op.name not in EXCLUDED and (not b.grad or op.grad)]
    op = b.pick(ops)
    dts = b.dtypes_for(op)
    if not dts:
        return
    dtype = b.pick(dts)
    if op.name == "where":
        x = b.operand({dtype})
        y = b.partner(x, dtype)
        if b.draw(st.booleans()):
            c = b.apply(b.pick(COMPARISONS), [x, y])
        else:
            c = b.partner(x, "bool")
        b.apply("where", [c, x, y])
        return
    ids = [b.operand({dtype})]
    # mixed dtypes (promoted as JAX does) in a quarter of the binary draws
    other = b.pick(dts) if op.name in PROMOTING and not b.grad and b.draw(st.integers(0, 3)) == 0 else dtype
    ids += [b.partner(ids[0], other) for _ in range(op.arity - 1)]
    if b.draw(st.booleans()):
        ids = ids[::-1]
    ids = [b.in_domain(i, d) for i, d in zip(ids, op.domains)]
    if op.name == "clip_by_value":
        lo, hi = b.values[ids[1]][0], b.values[ids[2]][0]
        if not _broadcastable(lo.shape, hi.shape) or not np.all(lo <= hi) or b.values[ids[1]][1] \
                or b.values[ids[2]][1]:
            return
    b.apply(op.name, ids)


SCALAR_OPS = ["add", "subtract", "multiply", "divide", "floordiv", "mod", "maximum", "minimum", "less", "equal",
              "greater_equal"]


def gen_scalar(b: Builder):
    """A binary op with a Python scalar operand (weakly typed), on either side."""
    op = b.pick(SCALAR_OPS if not b.grad else [o for o in SCALAR_OPS if BY_NAME[o].grad])
    left = b.draw(st.booleans())
    divisor = op in ("divide", "floordiv", "mod")
    x = b.operand([b.float_dtype] if b.grad else [t for t in NUMERIC + ("bool",) if t in BY_NAME[op].dtypes
                                                     or (t == "bool" and not (divisor and left))])
    if divisor and left:
        x = b.in_domain(x, "nonzero")
    values = [2, 3, 1] if divisor else [2, 0, 1, 3, -1, -2] if b.dtype(x) != "uint8" else [2, 0, 1, 3]
    values += [0.5, 2.5, -1.5, 1e-3, 70000.0] if not (divisor and not left) else [0.5, 2.5]
    b.apply("scalar", [x], {"op": op, "value": b.pick(values), "left": left})


def gen_cast(b: Builder):
    i = b.operand(NUMERIC + ("bool",))
    b.cast(i, b.pick(FLOATS if b.grad else INTS + FLOATS + ("bool",)))


def _axes(b: Builder, rank):
    if rank == 0 or b.draw(st.integers(0, 3)) == 0:
        return None
    if b.draw(st.booleans()):
        return b.draw(st.integers(-rank, rank - 1))
    axes = b.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    return tuple(a - rank if b.draw(st.booleans()) else a for a in axes)


def gen_reduction(b: Builder):
    op = BY_NAME[b.pick([r for r in REDUCTIONS if r not in EXCLUDED])]
    dts = b.dtypes_for(op)
    if (b.grad and not op.grad) or not dts:
        return
    x = b.in_domain(b.operand(dts), op.domains[0])
    params = {"axis": _axes(b, len(b.shape(x)))}
    if b.draw(st.booleans()):
        params["keepdims"] = True
    b.apply(op.name, [x], params)


def gen_arg(b: Builder):
    if b.grad:
        return
    name = b.pick(["argmax", "argmin"])
    x = b.operand(BY_NAME[name].dtypes, min_rank=1, nonempty=True)
    r = len(b.shape(x))
    params = {"axis": b.draw(st.integers(-r, r - 1))}
    if b.draw(st.booleans()):
        params["output_type"] = b.pick(["int32", "int64"])
    b.apply(name, [x], params)


def gen_matmul(b: Builder):
    a = b.operand(b.dtypes_for(BY_NAME["matmul"]), min_rank=2)
    dtype, sa = b.dtype(a), b.shape(a)
    ta, tb = b.draw(st.booleans()), b.draw(st.booleans())
    k, m = (sa[-2] if ta else sa[-1]), b.draw(DIMS)
    batch = sa[:-2][b.draw(st.integers(0, len(sa) - 2)):]
    batch = tuple(1 if b.draw(st.integers(0, 3)) == 0 else d for d in batch)
    sb = batch + ((m, k) if tb else (k, m))
    cands = b.live(lambda j: b.dtype(j) == dtype and b.shape(j) == sb)
    y = b.pick(cands) if cands and b.draw(st.booleans()) else b.new_arg(dtype, sb)
    if dtype not in FLOATS:
        a, y = b.into(a, (-5, 5)), b.into(y, (-5, 5))
    params = {name: True for name, on in (("transpose_a", ta), ("transpose_b", tb)) if on}
    b.apply("matmul", [a, y], params)


def _factor(b: Builder, n) -> tuple:
    """A random shape of ``n`` elements."""
    if n == 0:
        return (0, b.draw(st.integers(1, 3)))
    dims = []
    for p in (2, 3, 2, 5, 7):
        while n % p == 0 and b.draw(st.booleans()):
            dims.append(p)
            n //= p
    dims.append(n)
    if b.draw(st.booleans()):
        dims.insert(b.draw(st.integers(0, len(dims))), 1)
    if b.draw(st.booleans()):
        dims[b.draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


def gen_shape_op(b: Builder):
    draw = b.draw
    names = ["transpose", "reshape", "expand_dims", "squeeze", "concat", "stack", "broadcast_to", "tile", "gather"]
    name = b.pick([n for n in names + ([] if b.grad else ["one_hot"]) if n not in EXCLUDED])
    if name == "one_hot":
        x = b.into(b.operand({"int8", "int32", "int64", "uint8"}), (-1, 4))
        params = {"depth": draw(st.integers(1, 4))}
        if draw(st.booleans()):
            params["axis"] = draw(st.integers(-1, len(b.shape(x))))
        if draw(st.booleans()):
            params["dtype"] = b.pick(["int32", "float32", "float64", "bool"])
        b.apply(name, [x], params)
        return
    x = b.operand(b.dtypes_for(BY_NAME[name]))
    shape = b.shape(x)
    r = len(shape)
    if name == "transpose":
        b.apply(name, [x], {"perm": tuple(draw(st.permutations(range(r))))} if draw(st.booleans()) else {})
    elif name == "reshape":
        b.apply(name, [x], {"shape": _factor(b, int(np.prod(shape)))})
    elif name == "expand_dims":
        b.apply(name, [x], {"axis": draw(st.integers(-r - 1, r))})
    elif name == "squeeze":
        ones = [a for a, d in enumerate(shape) if d == 1]
        params = {}
        if ones and draw(st.booleans()):
            axes = draw(st.lists(st.sampled_from(ones), min_size=1, unique=True))
            params["axis"] = tuple(a - r if draw(st.booleans()) else a for a in axes)
        b.apply(name, [x], params)
    elif name in ("concat", "stack"):
        if name == "concat" and r == 0:
            return
        axis = draw(st.integers(-r, r - 1)) if name == "concat" else draw(st.integers(-r - 1, r))
        ids = [x]
        for _ in range(draw(st.integers(0, 2))):
            s = list(shape)
            if name == "concat":
                s[axis % r] = draw(DIMS)
            ids.append(x if draw(st.booleans()) else b.new_arg(b.dtype(x), tuple(s)))
        b.apply(name, ids, {"axis": axis})
    elif name == "broadcast_to":
        lead = tuple(draw(DIMS) for _ in range(draw(st.integers(0, 1))))
        b.apply(name, [x], {"shape": lead + tuple(draw(st.integers(1, 3)) if d == 1 else d for d in shape)})
    elif name == "tile":
        b.apply(name, [x], {"multiples": tuple(b.pick([1, 1, 2, 3]) for _ in range(r))})
    elif r and 0 not in shape:   # gather: an index argument with values in range
        axis = draw(st.integers(-r, r - 1))
        ishape = b.draw_shape(0, 2)
        idx = b.rng.integers(0, shape[axis], ishape)
        i = b.new_arg(b.pick(["int32", "int64"]), ishape, idx)
        b.apply("gather", [x, i], {"axis": axis} if axis or draw(st.booleans()) else {})


def gen_softmax(b: Builder):
    dts = b.dtypes_for(BY_NAME["softmax"])
    if dts:
        x = b.operand(dts, min_rank=1, nonempty=True)
        r = len(b.shape(x))
        params = {"axis": b.draw(st.integers(-r, r - 1))} if b.draw(st.booleans()) else {}
        b.apply(b.pick(["softmax", "log_softmax"]), [x], params)


def _basic_key(b: Builder, shape) -> list:
    key = []
    for d in shape:
        c = b.draw(st.integers(0, 3))
        if c == 0 and d > 0:
            key.append(("i", b.draw(st.integers(-d, d - 1))))
        elif c == 1:
            bound = st.none() | st.integers(-d - 1, d + 1)
            start, stop, step = b.draw(bound), b.draw(bound), b.pick([None, 1, 2, -1, -2, 3])
            key.append(("s", start, stop, step))
        else:
            key.append(("s", None, None, None))
        if b.draw(st.integers(0, 6)) == 0:
            key.append(("n",))
    if b.draw(st.integers(0, 3)) == 0:   # drop trailing entries, or replace them by an ellipsis
        key = key[:b.draw(st.integers(0, len(key)))] + ([("e",)] if b.draw(st.booleans()) else [])
    return key


def gen_getitem(b: Builder):
    x = b.operand([b.float_dtype] if b.grad else NUMERIC + ("bool",), min_rank=1)
    shape = b.shape(x)
    ids = [x]
    kind = b.pick(["basic", "basic", "array", "mask"])
    if kind == "basic":
        key = _basic_key(b, shape)
    else:
        # one group of advanced indices at axes [a, a + m); before it full slices or ints (an int before a
        # slice separates the advanced indices: NumPy puts their axes first, x[0, :, [0, 1]])
        a = b.draw(st.integers(0, len(shape) - 1))
        dims = shape[a:a + b.draw(st.integers(1, min(2, len(shape) - a)))]
        key = [("i", b.draw(st.integers(-d, d - 1))) if d > 0 and b.draw(st.integers(0, 2)) == 0
               else ("s", None, None, None) for d in shape[:a]]
        if kind == "mask":
            key.append(("b", (b.rng.random(dims) < 0.5).tolist()))
        else:
            ishape = b.draw_shape(1, 2)
            if 0 in dims:
                return
            dt = b.pick(["int32", "int64"])
            for d in dims:
                idx = b.rng.integers(-d, d, ishape)
                if b.draw(st.booleans()):   # a traced index argument, now and then out of range (clamped)
                    if b.draw(st.integers(0, 2)) == 0:
                        idx = b.rng.integers(-3 * d - 2, 3 * d + 2, ishape)
                    ids.append(b.new_arg(dt, ishape, idx))
                    key.append(("t", len(ids) - 2))
                else:
                    key.append(("a", idx.tolist(), dt))
        if b.draw(st.booleans()):
            key.append(("e",))
    b.apply("getitem", ids, {"key": tuple(tuple(k) for k in key)})


def gen_random(b: Builder):
    shape = b.draw_shape(0, 2)
    dtype = b.float_dtype if b.grad else b.pick(["float32", "float64", b.float_dtype])
    op = b.pick(RANDOM)
    placeholder = b.rng.random(shape) if op == "random_uniform" else b.rng.standard_normal(shape)
    b.step(op, (), {"shape": shape, "dtype": dtype}, np.asarray(placeholder).astype(dtype), rand=True)


def gen_variable(b: Builder):
    if b.variables and b.draw(st.integers(0, 2)) > 0:
        k = b.draw(st.integers(0, len(b.variables) - 1))
        dtype, shape, _ = b.variables[k]
        if b.draw(st.booleans()):   # assign
            src = b.live(lambda j: b.dtype(j) == dtype and b.shape(j) == shape)
            i = b.pick(src) if src and b.draw(st.booleans()) else b.new_arg(dtype, shape)
            how = b.pick(ASSIGN)
            old, x = b.var_values[k], b.values[i][0]
            with np.errstate(all="ignore"):
                new = x if how == "assign" else old + x if how == "assign_add" else old - x
            b.var_values[k] = np.asarray(new).astype(dtype)
            b.step(how, (i,), {"var": k}, None)
            return
    else:
        dtype = b.float_dtype if b.grad else b.pick([b.float_dtype, "int32", "float32"])
        shape = b.draw_shape(0, 2)
        init = generate("real", shape, dtype, b.rng)
        b.variables.append((dtype, shape, init.tolist()))
        b.var_values.append(init)
        k = len(b.variables) - 1
    b.step("read", (), {"var": k}, b.var_values[k])


FAMILIES = {
    "unary": lambda b: gen_elementwise(b, 1),
    "binary": lambda b: gen_elementwise(b, 2),
    "ternary": lambda b: gen_elementwise(b, 3),
    "cast": gen_cast,
    "scalar": gen_scalar,
    "reduction": gen_reduction,
    "arg": gen_arg,
    "matmul": gen_matmul,
    "shape": gen_shape_op,
    "softmax": gen_softmax,
    "getitem": gen_getitem,
    "random": gen_random,
    "variable": gen_variable,
}


@st.composite
def programs(draw, grad: bool = False, max_steps: int = 6, families: tuple = tuple(FAMILIES)) -> Program:
    """A random program of 1 to ``max_steps`` op draws (each adds its arguments and domain adapters too);
    float-only and differentiable with ``grad``."""
    float_dtype = draw(st.sampled_from(["float32", "float32", "float64"] + ([] if grad else ["float16"])))
    b = Builder(draw, float_dtype, grad)
    for _ in range(draw(st.integers(1, max_steps))):
        try:
            FAMILIES[draw(st.sampled_from(families))](b)
        except Skip:
            pass
    if not any(op == "arg" for op, _, _ in b.steps):
        b.new_arg(float_dtype, b.draw_shape())
    live = b.live(lambda i: b.steps[i][0] != "arg" and (not grad or b.dtype(i) in FLOATS))
    if not live:
        live = [b.apply("square", [b.operand([float_dtype])])]
    outputs = sorted({live[-1]} | set(draw(st.lists(st.sampled_from(live), max_size=2))))
    return Program(tuple(b.args), tuple(b.steps), tuple(outputs), tuple(b.variables),
                   seed=draw(st.integers(0, 1000)), weights_seed=draw(st.integers(0, 1000)))
