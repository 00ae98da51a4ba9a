"""Accuracy of the compiled transcendentals in ulps, and that their loops vectorise.

The CPU backend compiles exp, expm1, log, log1p, tanh, logistic, erf, sin, cos and pow to the branch-free
functions of ``backends/codegen/vecmath.py``. Each runs compiled (``jaxish.trace`` on the cpu backend) on a dense
sweep of its dtype's whole range (every 2**13-th float32 bit pattern, every 2**45-th float64 one, both signs),
random points where the functions bend, and the special values; it is compared with NumPy's result in a wider
type rounded to the dtype: float64 for float32; for float64 the platform's extended ``np.longdouble`` where it
has one (x86), else float64 itself (then NumPy's own error of up to an ulp adds to ours: ``F64_SLACK``). The
error is the distance in representable values (an ulp at every magnitude, subnormals included); NaNs,
infinities and signs of zero must match NumPy exactly.
"""
import re

import numpy as np
import pytest
import scipy.special

import jaxish as tf
from jaxish.backends.codegen.scalar import SCALAR_FUNCTIONS
from jaxish.backends.cpu import codegen
from jaxish.backends.cpu.kernels import cshape, kernel_source
from jaxish.passes import optimize
from jaxish.passes.fusion import FusedGroup, partition

#: maximum error in ulps (float32, float64), as measured on x86-64 with FMA: float32 over all 2**32 inputs
#: (pow: 13M pairs), float64 over 50M points per function (dense bit-pattern sweeps and random points; pow:
#: 13M pairs). Without FMA the measured float64 maxima were the same.
ULP_BOUNDS = {
    "exp": (1, 1),
    "expm1": (1, 2),
    "log": (1, 1),
    "log1p": (1, 1),
    "tanh": (2, 1),       # float32: e / (e + 2), e = expm1(2|x|) (degree-4 p): 2 ulp at 1,348,810 of 2**32 inputs
    "logistic": (2, 2),
    "erf": (1, 1),
    "sin": (1, 1),
    "cos": (1, 1),
    "pow": (1, 1),
}
EXTENDED = np.finfo(np.longdouble).nmant >= 63
F64_SLACK = 0 if EXTENDED else 1

FUNCTIONS = {
    "exp": tf.exp, "expm1": tf.math.expm1, "log": tf.math.log, "log1p": tf.math.log1p, "tanh": tf.tanh,
    "logistic": tf.sigmoid, "erf": tf.math.erf, "sin": tf.sin, "cos": tf.cos,
}
CHUNK = 1 << 17   # below backends.cpu.kernels.PARALLEL_THRESHOLD: one serial kernel, compiled once per dtype


# ---------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------
def _wide(dtype):
    return np.float64 if dtype == np.float32 or not EXTENDED else np.longdouble


def _logistic(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf_extended(x):
    """erf in ``np.longdouble``: 2/sqrt(pi) exp(-x**2) sum 2**n x**(2n+1) / (1 3 5 ... (2n+1)) (no cancellation)."""
    out = np.sign(x)                      # |x| >= 6: erf rounds to +-1 in float64
    idx = np.flatnonzero(np.abs(x) < 6)
    xm = x[idx]
    z2 = 2 * xm * xm
    term, s = xm.copy(), xm.copy()
    n = 0
    while idx.size:
        n += 1
        term = term * z2 / (2 * n + 1)
        s = s + term
        if n % 8 == 0:                    # retire the converged points
            done = np.abs(term) <= np.abs(s) * np.finfo(np.longdouble).eps / 4
            out[idx[done]] = s[done] * np.exp(-z2[done] / 2) * (2 / np.sqrt(np.arccos(np.longdouble(-1))))
            keep = ~done
            idx, term, s, z2 = idx[keep], term[keep], s[keep], z2[keep]
    return out


def reference(name, x):
    wide = _wide(x.dtype)
    with np.errstate(all="ignore"):
        xw = x.astype(wide)
        if name == "erf":
            ref = _erf_extended(xw) if wide == np.longdouble else scipy.special.erf(xw)
        elif name == "logistic":
            ref = _logistic(xw)
        else:
            ref = getattr(np, name)(xw)
        return ref.astype(x.dtype)


# ---------------------------------------------------------------------------
# inputs and the error measure
# ---------------------------------------------------------------------------
def specials(dtype):
    fi = np.finfo(dtype)
    sub = fi.smallest_subnormal
    s = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, fi.max, -fi.max,
                     fi.tiny, -fi.tiny, sub, -sub, 3 * sub, fi.tiny / 2, -fi.tiny / 3, fi.eps, -fi.eps, 1 - fi.epsneg,
                     1 + fi.eps, -1 + fi.epsneg, 88.72283, 88.72284, -87.33655, -103.97208, 709.782712893384,
                     709.7827128933841, -708.3964185322641, -745.1332191019411, 1e30, -1e30, 1e300, 3.14159265,
                     1.5707963267948966, 1e6, 1.6e6, 2 ** 19, 2 ** 20 + 0.5, 2 ** 52 + 1, 2 ** 63, 2 ** 100],
                    np.float64)
    with np.errstate(over="ignore"):
        return s.astype(dtype)


def sweep(dtype):
    """Every 2**13-th float32 / 2**45-th float64 bit pattern (both signs), random points, special values."""
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        x = (np.arange(0, 1 << 32, 1 << 13, dtype=np.uint64) + 2731).astype(np.uint32).view(np.float32)
    else:
        x = ((np.arange(1 << 19, dtype=np.uint64) << np.uint64(45)) + np.uint64(0x2B5E_9F31_A0C7)).view(np.float64)
    rand = [rng.uniform(-1, 1, 50000), rng.uniform(-10, 10, 50000), rng.uniform(-100, 100, 20000),
            rng.choice([-1, 1], 30000) * np.exp2(rng.uniform(-40, 40, 30000))]
    return np.concatenate([x] + [r.astype(dtype) for r in rand] + [specials(dtype)])


def _ordered(a):
    """The float bit patterns as integers in the floats' order (+0 and -0 both 0)."""
    if a.dtype == np.float32:
        i = a.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    i = a.view(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFFFFFFFFFF), i)


def ulp_errors(got, want):
    """Per point: the error in ulps (0 where both are NaN); asserts NaNs, infinities and zero signs match."""
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), "NaN where NumPy has none, or a number where NumPy has NaN"
    a, b = _ordered(np.where(nan, 0, got)), _ordered(np.where(nan, 0, want))
    approx = a.astype(np.float64) - b.astype(np.float64)
    d = np.abs(np.where(np.abs(approx) < 2.0 ** 52, a - b, approx))   # exact where small, no int64 overflow
    inf = np.isinf(want) | np.isinf(got)
    assert np.array_equal(got[inf], want[inf]), "overflow differs from NumPy's"
    zero = (got == 0) & (want == 0)
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), "sign of zero differs from NumPy's"
    return d


def _check(name, dtype, x, got, want):
    d = ulp_errors(got, want)
    bound = ULP_BOUNDS[name][dtype == np.float64] + (F64_SLACK if dtype == np.float64 else 0)
    worst = np.argsort(d)[-3:]
    detail = [(x[..., i].tolist() if x.ndim > 1 else x[i].item(), got[i].item(), want[i].item()) for i in worst]
    assert d.max() <= bound, f"{name} {np.dtype(dtype).name}: {d.max()} ulps > {bound}; worst (x, got, NumPy): {detail}"


def _run_chunked(fn, *arrays):
    """``fn`` traced on the cpu backend, over ``arrays`` in chunks of CHUNK (one kernel, compiled once)."""
    n = arrays[0].size
    pad = -n % CHUNK
    arrays = [np.concatenate([a, np.ones(pad, a.dtype)]) for a in arrays]
    traced = tf.trace(fn)
    parts = []
    for s in range(0, n + pad, CHUNK):
        out = traced(*[tf.constant(a[s:s + CHUNK]) for a in arrays])
        parts.append([o.numpy() for o in out] if isinstance(out, (list, tuple)) else [out.numpy()])
    return [np.concatenate(p)[:n] for p in zip(*parts)]


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_unary_transcendentals_within_their_ulp_bounds(cpu_backend, dtype):
    x = sweep(dtype)
    outs = _run_chunked(lambda t: [f(t) for f in FUNCTIONS.values()], x)
    for name, got in zip(FUNCTIONS, outs):
        assert got.dtype == dtype
        _check(name, dtype, x, got, reference(name, x))


def pow_inputs(dtype):
    rng = np.random.default_rng(1)
    x = sweep(dtype)
    xs = np.concatenate([x[:: x.size // 1500], rng.uniform(0, 3, 400).astype(dtype),
                         -rng.uniform(0, 3, 100).astype(dtype), specials(dtype)])
    big = 2.0 ** (24 if dtype == np.float32 else 53)
    ys = np.concatenate([[0.0, -0.0, np.inf, -np.inf, np.nan, 0.5, -0.5, 1e10, -1e10, big, big + 2, 1e30, -1e30],
                         np.arange(-40, 41), rng.uniform(-50, 50, 60), rng.uniform(-1000, 1000, 20),
                         rng.uniform(-3, 3, 40)]).astype(dtype)
    return np.repeat(xs.astype(dtype), ys.size), np.tile(ys, xs.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_pow_within_its_ulp_bound(cpu_backend, dtype):
    x, y = pow_inputs(dtype)
    (got,) = _run_chunked(tf.pow, x, y)
    with np.errstate(all="ignore"):
        want = np.power(x.astype(_wide(dtype)), y.astype(_wide(dtype))).astype(dtype)
    _check("pow", dtype, np.stack([x, y]), got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_loop_free_kernels_call_the_same_functions(cpu_backend, dtype):
    """0-d kernels call the functions instead of inlining them (``vecmath.CALL_SOURCE``): same bounds."""
    x = np.concatenate([specials(dtype), np.random.default_rng(3).uniform(-20, 20, 30).astype(dtype)])
    traced = tf.trace(lambda t: [f(t) for f in FUNCTIONS.values()] + [tf.pow(t, t)])
    got = np.array([[o.numpy() for o in traced(tf.constant(v))] for v in x]).T
    for name, g in zip(FUNCTIONS, got):
        _check(name, dtype, x, g, reference(name, x))
    with np.errstate(all="ignore"):
        _check("pow", dtype, x, got[-1], np.power(x.astype(_wide(dtype)), x.astype(_wide(dtype))).astype(dtype))


# ---------------------------------------------------------------------------
# vectorisation: the kernels' loops are SIMD code without calls (LLVM IR of freshly compiled kernels)
# ---------------------------------------------------------------------------
def _kernel_ir(fn, x):
    """The LLVM IR of the kernel function of the one fused group of ``fn(x)``, freshly compiled."""
    g = optimize(tf.make_graph(fn)(x), for_execution=True)
    (group,) = [s for s in partition(g) if isinstance(s, FusedGroup)]
    decorator = getattr(codegen, "SCALAR_DECORATOR", '@njit(error_model="numpy")')   # the cpu backend's
    text = ("import math\nimport numpy as np\nfrom numba import njit, prange\n"
            + SCALAR_FUNCTIONS.replace("@scalar_function", decorator)
            + f"\n\n{decorator}\n" + kernel_source(group, parallel=False))
    ns: dict = {}
    exec(compile(text, "<kernel>", "exec"), ns)
    kernel = ns["kernel"]
    n = x.shape[0]
    outs = [np.empty(cshape(v.aval) if v.aval.shape else 1, v.aval.dtype.np) for v in group.outputs]
    kernel((n,), *[x.numpy()] * len(group.inputs), *outs)
    ir = kernel.inspect_llvm(kernel.signatures[0])
    # the kernel's own function (Numba adds Python wrappers around it)
    return next(b for b in re.split(r"\n(?=define )", ir) if b.startswith("define") and
                not re.match(r"define[^@]*@(cfunc\.|_ZN7cpython)", b))


def _assert_simd(body, vector_type, what):
    assert re.search(r"<(\d+) x %s>" % vector_type, body), f"{what}: no <N x {vector_type}> vector code"
    calls = {c for c in re.findall(r"call [^@]*@([\w.$]+)", body) if not c.startswith(("llvm.", "NRT_"))}
    assert not calls, f"{what}: calls {calls} left in the kernel"   # (NRT_: a reduction's buffer, outside loops)


def test_float32_transcendentals_vectorise_in_float32():
    x = tf.ones((64,), tf.float32)
    pure = [tf.exp, tf.math.expm1, tf.math.log, tf.math.log1p, tf.tanh, tf.sigmoid, tf.math.erf]
    body = _kernel_ir(lambda t: [f(t) for f in pure], x)
    _assert_simd(body, "float", "float32 exp, expm1, log, log1p, tanh, logistic, erf")
    assert "double" not in body, "float32 kernel computes in float64"
    # sin, cos and pow compute in float64 on purpose
    body = _kernel_ir(lambda t: [tf.sin(t), tf.cos(t), tf.pow(t, t)], x)
    _assert_simd(body, "float", "float32 sin, cos, pow")


def test_float64_transcendentals_vectorise():
    x = tf.ones((64,), tf.float64)
    body = _kernel_ir(lambda t: [f(t) for f in FUNCTIONS.values()] + [tf.pow(t, t)], x)
    _assert_simd(body, "double", "float64 transcendentals")


def test_float_sum_of_transcendentals_vectorises():
    """A float sum carries its accumulator through the loop; the kernel blocks it (kernels.BLOCK) so that the
    elementwise work vectorises (benchmarks workload 2)."""
    body = _kernel_ir(lambda t: tf.reduce_sum(tf.tanh(0.5 * t + 1) ** 2 + tf.exp(-t * t)), tf.ones((64,), tf.float32))
    _assert_simd(body, "float", "sum(tanh(.5x+1)**2 + exp(-x**2))")
