"""A BLAS matmul whose only use is an update ``w - c*(a @ b)`` runs as one GEMM with beta = 1 (cpu backend,
``backends/cpu/gemm_update.py``): which graphs are fused, and that results match a float64 NumPy reference
within a GEMM's rounding, NaN, infinities and signed zeros included."""
import ast

import numpy as np
import pytest

import jaxish as tf
from jaxish.backends.cpu import blas, codegen
from jaxish.passes import optimize

pytestmark = pytest.mark.skipif(not blas.AVAILABLE, reason="NumPy's OpenBLAS is not loadable here")

FORMS = {
    "w - c*p": (lambda w, p: w - 0.25 * p, lambda w, p: w - 0.25 * p),
    "w - p*c": (lambda w, p: w - p * 0.25, lambda w, p: w - 0.25 * p),
    "w + c*p": (lambda w, p: w + 0.25 * p, lambda w, p: w + 0.25 * p),
    "c*p + w": (lambda w, p: 0.25 * p + w, lambda w, p: w + 0.25 * p),
    "w - p": (lambda w, p: w - p, lambda w, p: w - p),
    "w + p": (lambda w, p: w + p, lambda w, p: w + p),
    "p + w": (lambda w, p: p + w, lambda w, p: w + p),
}


def _source(fn, *args) -> str:
    return codegen.generate(optimize(tf.make_graph(fn)(*args), for_execution=True)).entry_source


def _gemm_calls(src: str) -> list:
    """``(alpha, beta, C)`` of each BLAS call of an entry's source, as source text."""
    calls = []
    for line in src.splitlines():
        if "gemm(" in line:
            args = ast.parse(line.strip()).body[0].value.args
            calls.append((ast.unparse(args[6]), ast.unparse(args[11]), ast.unparse(args[12])))
    return calls


def _data(dtype, m=40, k=30, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((k, m)).astype(dtype), rng.standard_normal((k, n)).astype(dtype),
            rng.standard_normal((m, n)).astype(dtype))


def _assert_gemm_close(got, ref, a, b, scale=1.0):
    """``got`` within the componentwise bound of a float GEMM update: k roundings of ``|scale| * |a.T| @ |b|``
    (the product's summation, in any order) and two of the result (the scale, the update)."""
    eps = np.finfo(got.dtype).eps
    k = a.shape[0]
    bound = k * eps * abs(scale) * (np.abs(a.T.astype(np.float64)) @ np.abs(b.astype(np.float64))) \
        + 2 * eps * np.abs(ref)
    err = np.abs(got.astype(np.float64) - ref)
    assert (err <= bound).all(), f"max error / bound {np.max(err / np.maximum(bound, 1e-300))}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_update_forms_are_one_gemm_and_match_numpy(cpu_backend, dtype, form):
    """Each form becomes one BLAS call with beta = 1 into the result (the transposed ``a`` read as it lies),
    without a separate loop over the product; the values match float64 NumPy within the product's rounding."""
    fn, ref_fn = FORMS[form]
    a, b, w = _data(dtype)

    def f(a, b, w):
        return fn(w, tf.matmul(tf.transpose(a), b))
    ta, tb, tw = tf.constant(a), tf.constant(b), tf.constant(w)
    src = _source(f, ta, tb, tw)
    ctor = "np.float32" if dtype == np.float32 else "np.float64"
    scale = {"w - c*p": "-X(0.25)", "w - p*c": "-X(0.25)", "w - p": "X(-1.0)"}.get(form, "X(1.0)" if "c" not in form
                                                                                   else "X(0.25)")
    if dtype == np.float64:   # (a float64 literal is spelled without its constructor)
        scale = scale.replace("X(0.25)", "0.25")
    assert _gemm_calls(src) == [(scale.replace("X", ctor), f"{ctor}(1.0)", "d0.ctypes.data")]
    assert "_sgemm(101, 112, 111," in src or "_dgemm(101, 112, 111," in src   # a.T as it lies
    assert "kernel" not in src   # no loop over the product (the copy of w is the only loop)
    got = tf.trace(f)(ta, tb, tw).numpy()
    ref = ref_fn(w.astype(np.float64), a.T.astype(np.float64) @ b.astype(np.float64))
    assert got.dtype == dtype
    _assert_gemm_close(got, ref, a, b, 0.25 if "c" in form else 1.0)


def test_not_fused_when_the_product_has_another_use_or_the_scale_is_zero(cpu_backend):
    a, b, w = _data(np.float32)
    ta, tb, tw = tf.constant(a), tf.constant(b), tf.constant(w)
    twice = _source(lambda a, b, w: (w - 0.5 * tf.matmul(tf.transpose(a), b), tf.matmul(tf.transpose(a), b)),
                    ta, tb, tw)
    assert [beta for _, beta, _ in _gemm_calls(twice)] == ["np.float32(0.0)"]   # one product (CSE), kept
    zero = _source(lambda a, b, w: w - 0.0 * tf.matmul(tf.transpose(a), b), ta, tb, tw)
    assert [beta for _, beta, _ in _gemm_calls(zero)] == ["np.float32(0.0)"]   # into a temporary, then the loop
    # alpha = 0 would let BLAS skip the product: the NaN of 0 * (a @ b) must still come through
    a_nan = a.copy()
    a_nan[3, 5] = np.nan
    got = tf.trace(lambda a, b, w: w - 0.0 * tf.matmul(tf.transpose(a), b))(tf.constant(a_nan), tb, tw).numpy()
    assert np.isnan(got[5]).all() and not np.isnan(np.delete(got, 5, axis=0)).any()


def test_nan_inf_and_signed_zeros_come_through_as_unfused(cpu_backend):
    """NaN and infinities of ``w`` and of the product propagate; ``-0.0 - c*0`` stays ``-0.0`` and
    ``-0.0 + 0`` is ``+0.0``, as in the unfused float arithmetic."""
    a, b, w = _data(np.float32)
    w[0, 0], w[1, 1], w[2, 2] = np.nan, np.inf, -np.inf
    a[4, 7] = np.inf   # row 7 of the product: +-inf, or NaN where b's column has zeros of both signs
    f = tf.trace(lambda a, b, w: w - 0.5 * tf.matmul(tf.transpose(a), b))
    got = f(tf.constant(a), tf.constant(b), tf.constant(w)).numpy()
    with np.errstate(invalid="ignore", over="ignore"):
        ref = (w.astype(np.float64) - 0.5 * (a.T.astype(np.float64) @ b.astype(np.float64))).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
    zeros = np.zeros_like(a)
    neg = np.full_like(w, -0.0)
    sub = f(tf.constant(zeros), tf.constant(b), tf.constant(neg)).numpy()
    assert (sub == 0).all() and np.signbit(sub).all()
    add = tf.trace(lambda a, b, w: w + tf.matmul(tf.transpose(a), b))(tf.constant(zeros), tf.constant(b),
                                                                       tf.constant(neg)).numpy()
    assert (add == 0).all() and not np.signbit(add).any()


def test_transposed_w_and_sgd_on_variables(cpu_backend):
    """``w`` read through a transposed view is copied as it lies; an SGD step on a Variable (the MLP's update)
    leaves the old value untouched and assigns the fused result, step after step."""
    a, b, w = _data(np.float32, m=20, n=40)
    got = tf.trace(lambda a, b, w: tf.transpose(w) - 0.1 * tf.matmul(tf.transpose(a), b))(
        tf.constant(a), tf.constant(b), tf.constant(np.ascontiguousarray(w.T))).numpy()
    _assert_gemm_close(got, w - 0.1 * (a.T.astype(np.float64) @ b), a, b, 0.1)
    v = tf.Variable(w)
    ta, tb = tf.constant(a), tf.constant(b)

    @tf.trace
    def step(a, b):
        v.assign_sub(0.1 * tf.matmul(tf.transpose(a), b))
    ref = w.astype(np.float64)
    olds = []
    for _ in range(3):
        olds.append((v.value(), v.numpy().copy()))
        step(ta, tb)
        ref = ref - 0.1 * (a.T.astype(np.float64) @ b)
    _assert_gemm_close(v.numpy(), ref, a, b, 3 * 0.1)   # three steps: three times the bound of one
    for held, copy in olds:
        np.testing.assert_array_equal(held.numpy(), copy)


@pytest.mark.parametrize("loop", ["fori_loop", "while_loop"])
def test_update_carried_through_a_loop(cpu_backend, loop):
    """Gradient descent on least squares inside a compiled loop: the carried ``w`` is the update's ``w`` and the
    next iteration's operand; each iteration's result is a new buffer, so nothing reads a half-updated ``w``."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 24)).astype(np.float32)
    y = rng.standard_normal((64, 16)).astype(np.float32)
    w0 = (rng.standard_normal((24, 16)) * 0.1).astype(np.float32)

    def body(w):
        return w - 0.01 * tf.matmul(tf.transpose(x), tf.matmul(x, w) - y)

    def f(w):
        if loop == "fori_loop":
            return tf.fori_loop(0, 5, lambda i, w: body(w), w)
        return tf.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, body(c[1])), (tf.constant(0), w))[1]
    src = _source(f, tf.constant(w0))
    assert any(beta == "np.float32(1.0)" for _, beta, _ in _gemm_calls(src))   # fused inside the loop body
    got = tf.trace(f)(tf.constant(w0)).numpy()
    ref = w0.astype(np.float64)
    for _ in range(5):
        ref = ref - 0.01 * (x.T.astype(np.float64) @ (x.astype(np.float64) @ ref - y))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
