"""Every op of the table in op_table.py against NumPy: dtypes, shapes, NaN/inf, eager and traced, gradients.

Eager ops run the primitives' NumPy implementations whatever the backend, so
the eager tests take no ``backend``; the traced tests compile through
``jaxish.trace`` on both backends (``backend`` fixture) and must match the
NumPy reference and the eager result within float rounding. On the cpu
backend, where each new dtype/rank/broadcast pattern compiles Numba kernels,
the cases run there are limited (see ``Case.cpu``, ``Op.cpu_dtypes``).

Known library bugs are marked, case by case, in ``KNOWN_BUGS`` (strict xfail).
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from op_table import BY_NAME, FLOATS, OPS, SPECIALS, Case, generate

import jaxish as tf
from jaxish.backends import cpu as cpu_backend
from jaxish.testing import assert_allclose, check_grads

# test id -> reason; each entry marks that single case as a strict xfail. Empty: every bug this suite found
# is fixed (relu(NaN), one_hot under trace, empty-axis max/min/logsumexp, reduce_prod's first and second
# derivatives at zeros, bool divide, cpu float floordiv of inf, constant(NumPy scalar), -inf ** 0.5, signed-zero
# literals, traced x + 0.0 on -0.0, float16 sums and means, cpu integer ** negative, cpu INT_MIN // -1 and
# INT_MIN % -1, TensorFlow's masked d pow / d exponent at negative bases).
KNOWN_BUGS: dict = {}

#: (rtol, atol) against the float64 NumPy reference (the result is correctly rounded there)
REF_TOL = {"float16": (1e-2, 1e-2), "float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14)}
#: (rtol, atol) of traced against eager results: float rounding only
ROUND_TOL = {"float16": (2e-3, 1e-3), "float32": (4e-6, 1e-7), "float64": (1e-13, 1e-15)}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def make_inputs(op, case, dtype, rng, grad=False, shapes=None):
    domains = (op.grad_domains if grad else None) or case.domains or op.domains
    domains = [d if d is not None else o for d, o in zip(domains, case.domains or op.domains)]
    return [generate(d, s, dtype, rng) for d, s in zip(domains, shapes or case.shapes)]


def special_inputs(op, dtype):
    """The first case's inputs with NaN, ±inf, ±0 … in every floating argument.

    Elementwise ops get 8x8 grids so that every pair of special values meets
    (the compiled kernel is the one of the (3, 4) dtype sweep: kernels depend on
    ranks and broadcast patterns, not sizes)."""
    case = op.cases[0]
    rng = _rng("specials", op.name, dtype)
    grid = op.elementwise and all(s == (3, 4) for s in case.shapes)
    arrays = make_inputs(op, case, dtype, rng, shapes=[(8, 8)] * op.arity if grid else None)
    s = np.array(SPECIALS)
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    grids = [i, j, (i + j) % 8]
    out, k = [], 0
    for a in arrays:
        if a.dtype.kind == "f":
            if grid:
                a = s[grids[k]]
                k += 1
            else:
                a = a.copy()
                mask = rng.random(a.shape) < 0.5
                a[mask] = rng.choice(s, size=int(mask.sum()))
            a = a.astype(arrays[0].dtype if arrays[0].dtype.kind == "f" else dtype)
        out.append(a)
    return out


def reference(op, case, arrays, dtype):
    """The NumPy result (computed from float64-widened inputs) cast to TensorFlow's result dtype."""
    ups = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    expected = op.out(dtype, case.params)
    with np.errstate(all="ignore"):
        r = np.asarray(op.ref(*ups, **case.params)).astype(expected)
        scale = 0.0
        if op.mag and np.dtype(expected).kind == "f" and r.size:
            m = np.abs(np.asarray(op.ref(*[np.abs(u) if u.dtype.kind == "f" else u for u in ups],
                                         **case.params), dtype=np.float64))
            m = m[np.isfinite(m)]
            scale = float(m.max()) if m.size else 0.0
    return r, expected, scale


def _tol(table, dtype, scale):
    rtol, atol = table[dtype]
    return rtol, atol + rtol * scale


def check_result(out, ref, expected_dtype, scale, table=REF_TOL, what=""):
    """``out`` is a Tensor of ``expected_dtype`` and ``ref``'s shape, equal within the dtype's tolerance
    (NaN and ±inf in the same places)."""
    assert isinstance(out, tf.Tensor), f"{what}: expected a Tensor, got {type(out).__name__}"
    assert out.dtype == expected_dtype, f"{what}: dtype {out.dtype.name}, expected {expected_dtype}"
    got = out.numpy()
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    if np.dtype(expected_dtype).kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=what)
    else:
        rtol, atol = _tol(table, expected_dtype, scale)
        assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=what)


def run_eager(op, case, arrays, dtype):
    ref, expected, scale = reference(op, case, arrays, dtype)
    out = op.fn(*[tf.constant(a) for a in arrays], **case.params)
    check_result(out, ref, expected, scale, what=f"eager {op.name}")


def run_traced(op, case, arrays, dtype, backend, again=None):
    """Traced (compiled) result vs the NumPy reference, and vs the eager result within float rounding.

    With ``again`` (inputs of the same shapes and dtypes), the traced function is called a second time: a
    cache hit, whose result must be right and must leave the first result untouched.
    """
    ref, expected, scale = reference(op, case, arrays, dtype)
    tensors = [tf.constant(a) for a in arrays]
    params = case.params
    f = tf.trace(lambda *xs: op.fn(*xs, **params))
    fallbacks = cpu_backend.STATS["fallbacks"]
    out = f(*tensors)
    assert cpu_backend.STATS["fallbacks"] == fallbacks, "the cpu backend fell back to the interpreter"
    check_result(out, ref, expected, scale, what=f"traced {op.name} ({backend})")
    if again is not None:
        first = out.numpy().copy()
        ref2, _, scale2 = reference(op, case, again, dtype)
        check_result(f(*[tf.constant(a) for a in again]), ref2, expected, scale2,
                     what=f"second call of traced {op.name} ({backend})")
        np.testing.assert_array_equal(out.numpy(), first, err_msg="a second call changed the first result")
    try:
        eager = op.fn(*tensors, **params)
        check_result(eager, ref, expected, scale)
    except Exception:  # noqa: BLE001 - an eager bug is reported by the eager tests
        return
    if expected in FLOATS:
        rtol, atol = _tol(ROUND_TOL, expected, scale)
        assert_allclose(out, eager, rtol=rtol, atol=atol, err_msg=f"traced ({backend}) vs eager {op.name}")
    else:
        np.testing.assert_array_equal(out.numpy(), eager.numpy())


def _param(test, values, id_):
    reason = KNOWN_BUGS.get(f"{test}[{id_}]")
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(*values, id=id_, marks=marks)


def _has_float_arg(op, dtype):
    return dtype in FLOATS and op.specials


def dtype_params(test, traced=False):
    out = []
    for op in OPS:
        for dt in op.dtypes:
            if not traced:
                out.append(_param(test, (op, dt), f"{op.name}-{dt}"))
                continue
            for b in ("interpreter", "cpu"):
                if b == "cpu" and dt not in op.cpu_dtypes:
                    continue
                out.append(_param(test, (op, dt, b), f"{op.name}-{dt}-{b}"))
    return out


def case_params(test, traced=False):
    out = []
    for op in OPS:
        for case in op.cases:
            if not traced:
                out.append(_param(test, (op, case), f"{op.name}-{case.id}"))
                continue
            for b in ("interpreter", "cpu") if case.cpu else ("interpreter",):
                out.append(_param(test, (op, case, b), f"{op.name}-{case.id}-{b}"))
    return out


def special_params(test, traced=False):
    out = []
    for op in OPS:
        for dt in op.dtypes:
            if not _has_float_arg(op, dt):
                continue
            if not traced:
                out.append(_param(test, (op, dt), f"{op.name}-{dt}"))
                continue
            for b in ("interpreter", "cpu"):
                if b == "cpu" and dt not in op.cpu_dtypes:
                    continue
                out.append(_param(test, (op, dt, b), f"{op.name}-{dt}-{b}"))
    return out


# ---------------------------------------------------------------------------
# values: every dtype (first case), every case (main dtype), NaN/inf
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("op,dtype", dtype_params("test_dtype_eager"))
def test_dtype_eager(op, dtype):
    case = op.cases[0]
    run_eager(op, case, make_inputs(op, case, dtype, _rng(op.name, case.id, dtype)), dtype)


@pytest.mark.parametrize("op,dtype,backend", dtype_params("test_dtype_traced", True), indirect=["backend"])
def test_dtype_traced(op, dtype, backend):
    case = op.cases[0]
    run_traced(op, case, make_inputs(op, case, dtype, _rng(op.name, case.id, dtype)), dtype, backend,
               again=make_inputs(op, case, dtype, _rng("again", op.name, case.id, dtype)))


@pytest.mark.parametrize("op,case", case_params("test_case_eager"))
def test_case_eager(op, case):
    dt = case.dtype or op.main_dtype
    run_eager(op, case, make_inputs(op, case, dt, _rng(op.name, case.id, dt)), dt)


@pytest.mark.parametrize("op,case,backend", case_params("test_case_traced", True), indirect=["backend"])
def test_case_traced(op, case, backend):
    dt = case.dtype or op.main_dtype
    run_traced(op, case, make_inputs(op, case, dt, _rng(op.name, case.id, dt)), dt, backend)


@pytest.mark.parametrize("op,dtype", special_params("test_specials_eager"))
def test_specials_eager(op, dtype):
    run_eager(op, op.cases[0], special_inputs(op, dtype), dtype)


@pytest.mark.parametrize("op,dtype,backend", special_params("test_specials_traced", True), indirect=["backend"])
def test_specials_traced(op, dtype, backend):
    run_traced(op, op.cases[0], special_inputs(op, dtype), dtype, backend)


REJECT_PARAMS = [_param("test_rejects_dtype", (op, dt), f"{op.name}-{dt}") for op in OPS for dt in op.rejects]


@pytest.mark.parametrize("op,dtype", REJECT_PARAMS)
def test_rejects_dtype(op, dtype):
    """Dtypes TensorFlow refuses for the op raise TypeError, eagerly and while tracing."""
    case = op.cases[0]
    rng = _rng(op.name, dtype)
    tensors = [tf.constant(generate("real", s, dtype, rng)) for s in case.shapes]
    with pytest.raises(TypeError):
        op.fn(*tensors, **case.params)
    with pytest.raises(TypeError):
        tf.trace(lambda *xs: op.fn(*xs, **case.params))(*tensors)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------
def grad_inputs(op, case, dtype="float64"):
    """Float64 inputs away from the op's kinks and ties."""
    rng = _rng("grad", op.name, case.id)
    for _ in range(200):
        arrays = make_inputs(op, case, dtype, rng, grad=True)
        floats = [a for a in arrays if a.dtype.kind == "f"]
        if op.grad_ok is None or op.grad_ok(*floats):
            return arrays
    raise AssertionError(f"no inputs for {op.name} away from its kinks")  # pragma: no cover


def split_diff(op, case, arrays):
    """``(f, xs)``: ``f`` takes only the floating arguments ``xs``; the others are closed over."""
    pos = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    fixed = {i: tf.constant(a) for i, a in enumerate(arrays) if i not in pos}
    params = case.params

    def f(*xs):
        it = iter(xs)
        return op.fn(*[fixed[i] if i in fixed else next(it) for i in range(len(arrays))], **params)
    return f, [arrays[i] for i in pos]


#: second-order checks also run on the cpu backend (compiled backward graphs of backward graphs) for these
GRAD_CPU = {("tanh", 0), ("reduce_max", 0)}
GRAD_PARAMS = [_param("test_grad_second_order", (op, case, b), f"{op.name}-{case.id}-{b}")
               for op in OPS if op.grad for k, case in enumerate(op.grad_cases)
               for b in ("interpreter", "cpu") if b == "interpreter" or (op.name, k) in GRAD_CPU]


@pytest.mark.parametrize("op,case,backend", GRAD_PARAMS, indirect=["backend"])
def test_grad_second_order(op, case, backend):
    """First and second derivatives (float64) against central finite differences."""
    f, xs = split_diff(op, case, grad_inputs(op, case))
    check_grads(f, xs, order=2)


# one representative case per family (their compiled backward graphs on the cpu backend)
TAPE_OPS = [("multiply", 1), ("where", 0), ("reduce_max", 0), ("matmul", 0), ("gather", 0), ("softmax", 1)]
TAPE_PARAMS = [_param("test_grad_matches_tape", (BY_NAME[n], BY_NAME[n].grad_cases[k], b),
                      f"{n}-{BY_NAME[n].grad_cases[k].id}-{b}")
               for n, k in TAPE_OPS for b in ("interpreter", "cpu")]


@pytest.mark.parametrize("op,case,backend", TAPE_PARAMS, indirect=["backend"])
def test_grad_matches_tape(op, case, backend):
    """``jaxish.grad`` and ``GradientTape`` agree (float32, a random output cotangent), and match the
    interpreter's float64 gradient."""
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in grad_inputs(op, case)]
    f, xs = split_diff(op, case, arrays)
    xs = [tf.constant(x) for x in xs]
    w = tf.constant(_rng("cotangent", op.name).uniform(0.5, 1.5, tuple(f(*xs).shape)).astype(np.float32))

    def loss(*a):
        return tf.reduce_sum(f(*a) * w)

    g_grad = tf.grad(loss, argnums=tuple(range(len(xs))))(*xs)
    with tf.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        y = loss(*xs)
    g_tape = tape.gradient(y, xs)
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        xs64 = [tf.cast(x, tf.float64) for x in xs]
        w64 = tf.cast(w, tf.float64)
        g64 = tf.grad(lambda *a: tf.reduce_sum(f(*a) * w64), argnums=tuple(range(len(xs))))(*xs64)
    finally:
        tf.config.set_backend(old)
    for k, (a, b, c) in enumerate(zip(g_grad, g_tape, g64)):
        assert a.dtype == tf.float32 and b.dtype == tf.float32, f"gradient {k}: dtypes {a.dtype}, {b.dtype}"
        assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"grad vs GradientTape, argument {k}")
        assert_allclose(a, c.numpy().astype(np.float32), rtol=1e-4, atol=1e-5,
                        err_msg=f"float32 ({backend}) vs float64 gradient, argument {k}")


# ---------------------------------------------------------------------------
# targeted checks the table cannot express
# ---------------------------------------------------------------------------
def _xfail(name):
    reason = KNOWN_BUGS.get(name)
    return pytest.mark.xfail(reason=reason, strict=True) if reason else (lambda f: f)


@_xfail("test_reduce_prod_grad_with_zero")
def test_reduce_prod_grad_with_zero():
    """d prod(x) / dx_i is the product of the other elements, also where x has zeros (TensorFlow)."""
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        x = tf.constant([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0]], dtype=tf.float64)
        g = tf.grad(lambda x: tf.reduce_sum(tf.reduce_prod(x, axis=1)))(x)
    finally:
        tf.config.set_backend(old)
    np.testing.assert_array_equal(g.numpy(), [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("backend", ["interpreter", "cpu"], indirect=True)
def test_cast_gradient_dtype(backend):
    """The gradient through float64 -> float32 -> float64 casts has the source's dtype."""
    x = tf.constant(np.array([1.0, 2.0, 3.0]))
    g = tf.grad(lambda x: tf.reduce_sum(tf.cast(tf.square(tf.cast(x, tf.float32)), tf.float64)))(x)
    assert g.dtype == tf.float64
    assert_allclose(g, 2 * x.numpy())


@pytest.mark.parametrize("backend", ["interpreter", "cpu"], indirect=True)
def test_gather_out_of_range_raises(backend):
    """TensorFlow (on the CPU) rejects out-of-range gather indices rather than reading garbage."""
    x = tf.constant(np.arange(12.0).reshape(4, 3))
    idx = tf.constant(np.array([0, 4], np.int32))
    with pytest.raises((IndexError, ValueError)):
        tf.gather(x, idx)
    with pytest.raises((IndexError, ValueError)):
        tf.trace(lambda x, i: tf.gather(x, i))(x, idx)


@_xfail("test_numpy_scalar_inputs")
@pytest.mark.parametrize("value", [np.float32(2.5), np.int64(-3), np.bool_(True)], ids=["float32", "int64", "bool"])
def test_numpy_scalar_inputs(value):
    """0-d inputs given as NumPy scalars (what NumPy returns for 0-d results) behave as 0-d arrays."""
    t = tf.constant(value)
    assert t.dtype == tf.as_dtype(value.dtype)
    np.testing.assert_array_equal(t.numpy(), np.asarray(value))
    np.testing.assert_array_equal(tf.equal(t, t).numpy(), np.asarray(True))


@_xfail("test_signed_zero_python_scalars")
def test_signed_zero_python_scalars():
    """``x * 0.0`` is +0 and ``x * -0.0`` is -0 for positive x (so 1/that is +inf and -inf), whichever comes first."""
    x = tf.constant(np.array([1.0, 2.0], np.float32))
    pos, neg = x * 0.0, x * -0.0
    assert not np.signbit(pos.numpy()).any(), "x * 0.0 gave -0.0"
    assert np.signbit(neg.numpy()).all(), "x * -0.0 gave +0.0"


@_xfail("test_pow_gradient_wrt_exponent_at_negative_base")
def test_pow_gradient_wrt_exponent_at_negative_base():
    """TensorFlow's pow gradient w.r.t. the exponent is 0 where the base is <= 0 (log(x) is masked)."""
    x = tf.constant(np.array([-2.0, 0.0, 3.0]))
    y = tf.constant(np.array([2.0, 2.0, 2.0]))
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        gx, gy = tf.grad(lambda x, y: tf.reduce_sum(tf.pow(x, y)), argnums=(0, 1))(x, y)
    finally:
        tf.config.set_backend(old)
    np.testing.assert_allclose(gx.numpy(), [-4.0, 0.0, 6.0])
    np.testing.assert_allclose(gy.numpy(), [0.0, 0.0, 9.0 * np.log(3.0)])


@pytest.mark.parametrize("backend", [_param("test_int_pow_negative_exponent_raises", (b,), b)
                                     for b in ("interpreter", "cpu")], indirect=True)
def test_int_pow_negative_exponent_raises(backend):
    """Integers to negative integer powers are an error (TensorFlow: InvalidArgumentError), eager and traced."""
    x = tf.constant(np.array([2, 3, 1, -1], np.int32))
    e = tf.constant(np.array([-1, -2, -3, -3], np.int32))
    with pytest.raises(ValueError):
        tf.pow(x, e)
    with pytest.raises(ValueError):
        tf.trace(tf.pow)(x, e)


_INT_MIN_SCRIPT = """
import numpy as np, jaxish as tf
tf.config.set_backend("cpu")
x = tf.constant(np.array([np.iinfo(np.int32).min, 7, -7], np.int32))
y = tf.constant(np.array([-1, -1, 2], np.int32))
with np.errstate(all="ignore"):
    expected = np.{np_fn}(x.numpy(), y.numpy())
eager = tf.{fn}(x, y).numpy()
traced = tf.trace(tf.{fn})(x, y).numpy()
print("eager", eager.tolist(), "traced", traced.tolist(), "numpy", expected.tolist())
assert eager.tolist() == expected.tolist() and traced.tolist() == expected.tolist()
"""


@pytest.mark.parametrize("op", [_param("test_int_min_by_minus_one_on_cpu", (op,), op) for op in ("floordiv", "mod")])
def test_int_min_by_minus_one_on_cpu(op):
    """INT_MIN // -1 and INT_MIN % -1 (NumPy: INT_MIN and 0), compiled on the cpu backend, in a subprocess
    (a hardware division trap would kill the test run)."""
    import subprocess
    import sys
    fn, np_fn = {"floordiv": ("floordiv", "floor_divide"), "mod": ("math.floormod", "remainder")}[op]
    r = subprocess.run([sys.executable, "-c", _INT_MIN_SCRIPT.format(fn=fn, np_fn=np_fn)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"exit status {r.returncode}: {r.stdout[-300:]} {r.stderr[-600:]}"


def test_table_covers_every_required_op():
    required = {"add", "subtract", "multiply", "divide", "floordiv", "mod", "negative", "abs", "sign", "pow",
                "square", "sqrt", "rsqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu",
                "softplus", "erf", "maximum", "minimum", "clip_by_value", "where", "equal", "not_equal", "less",
                "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_not",
                "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_all", "reduce_any",
                "reduce_logsumexp", "argmax", "argmin", "matmul", "transpose", "reshape", "expand_dims", "squeeze",
                "concat", "stack", "broadcast_to", "tile", "gather", "one_hot", "softmax", "log_softmax"}
    assert required <= set(BY_NAME)
    assert any(n.startswith("cast_to_") for n in BY_NAME)
    for op in OPS:
        assert op.cases and all(len(c.shapes) == op.arity for c in op.cases + op.grad_cases), op.name
        assert isinstance(op.cases[0], Case)
