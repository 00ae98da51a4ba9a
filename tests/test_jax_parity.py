"""Differences from JAX found by a differential review of the JAX-style API, pinned with their fixes.

Every expected value is what JAX 0.10.2 gives (written down here: CI has no JAX) or an analytic float64
reference; none is computed by jaxish. Each test runs eagerly and under ``jaxish.trace``, on both backends.
"""
from __future__ import annotations

import numpy as np
import pytest

import jaxish as jx

MODES = ["eager", "traced"]


def _run(mode, fn, *args):
    return (jx.trace(fn) if mode == "traced" else fn)(*args)


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---------------------------------------------------------------------------
# relu: value max(x, 0) with NaN kept; gradient [x > 0] (0 at 0, -0.0 and NaN: JAX, TensorFlow and PyTorch)
# ---------------------------------------------------------------------------
RELU_X = [np.nan, -0.0, 0.0, -1.0, 2.0, np.inf, -np.inf]
RELU_VALUE = [np.nan, 0.0, 0.0, 0.0, 2.0, np.inf, 0.0]
RELU_GRAD = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]     # jax.vmap(jax.grad(jax.nn.relu))(x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_value_and_gradient_at_nan_zero_and_infinities(backend, mode, dtype):
    x = jx.constant(np.array(RELU_X, dtype))
    value = _run(mode, jx.nn.relu, x)
    grad = _run(mode, jx.vmap(jx.grad(jx.nn.relu)), x)
    assert value.dtype == grad.dtype == jx.as_dtype(dtype)
    np.testing.assert_array_equal(_np(value), np.array(RELU_VALUE, dtype))
    np.testing.assert_array_equal(_np(grad), np.array(RELU_GRAD, dtype))


def test_relu_second_derivative_and_integers(backend):
    x = np.array([1.5, -1.0, 0.0, np.nan])
    # d2/dx2 relu(x)**3 = 6 relu(x) where x > 0, else 0 (NaN included: the NaN branch carries no gradient)
    h = jx.vmap(jx.grad(jx.grad(lambda v: jx.nn.relu(v) ** 3)))(jx.constant(x))
    np.testing.assert_array_equal(_np(h), [9.0, 0.0, 0.0, 0.0])
    out = jx.nn.relu(jx.constant(np.array([-3, 0, 4], np.int32)))
    assert out.dtype == jx.int32
    np.testing.assert_array_equal(_np(out), [0, 0, 4])


# ---------------------------------------------------------------------------
# hessian of a non-scalar function: shape out + in + in (jax.hessian = jacfwd(jacrev(f)) for any output)
# ---------------------------------------------------------------------------
def _cube_times_sum_hessian(a):
    """d2 f_i / da_j da_k of f_i = a_i**3 * sum(a)."""
    n, s = a.size, a.sum()
    h = np.zeros((n, n, n))
    for i in range(n):
        h[i, i, i] += 6 * a[i] * s
        h[i, i, :] += 3 * a[i] ** 2
        h[i, :, i] += 3 * a[i] ** 2
    return h


@pytest.mark.parametrize("mode", MODES)
def test_hessian_of_a_vector_valued_function(backend, mode):
    a = np.array([0.5, -1.25, 2.0])
    h = _run(mode, jx.hessian(lambda v: v ** 3 * jx.reduce_sum(v)), jx.constant(a))
    assert tuple(h.shape) == (3, 3, 3) and h.dtype == jx.float64
    np.testing.assert_allclose(_np(h), _cube_times_sum_hessian(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_of_a_matrix_valued_function_and_pytree_outputs(backend, mode):
    w = np.array([[0.3, -1.0, 2.0], [1.5, 0.25, -0.75]])

    def f(m):
        return {"gram": jx.matmul(m, jx.transpose(m)), "total": [jx.reduce_sum(m ** 3)]}
    h = _run(mode, jx.hessian(f), jx.constant(w))
    # d2 (W W^T)_ij / dW_ab dW_cd = [i=a][j=c][b=d] + [i=c][j=a][b=d]
    eye2, eye3 = np.eye(2), np.eye(3)
    gram = (np.einsum("ia,jc,bd->ijabcd", eye2, eye2, eye3) + np.einsum("ic,ja,bd->ijabcd", eye2, eye2, eye3))
    np.testing.assert_allclose(_np(h["gram"]), gram, rtol=0, atol=1e-12)
    total = np.zeros((2, 3, 2, 3))
    for a in range(2):
        for b in range(3):
            total[a, b, a, b] = 6 * w[a, b]
    np.testing.assert_allclose(_np(h["total"][0]), total, rtol=1e-12, atol=1e-12)


def test_hessian_of_a_scalar_function_keeps_its_shape_and_argnums(backend):
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    h = jx.hessian(lambda a, b: jx.reduce_sum(a * a * b), argnums=(0, 1))(jx.constant(x), jx.constant(y))
    np.testing.assert_allclose(_np(h[0][0]), np.diag(2 * y), atol=0)
    np.testing.assert_allclose(_np(h[0][1]), np.diag(2 * x), atol=0)
    np.testing.assert_allclose(_np(h[1][1]), np.zeros((2, 2)), atol=0)


# ---------------------------------------------------------------------------
# has_aux on jacrev, jacfwd, hessian, jvp and vjp (JAX's signatures and result layouts)
# ---------------------------------------------------------------------------
X3 = np.array([0.5, -1.0, 2.0])


def _with_aux(v):
    return jx.sin(v) * v, {"twice": v * 2.0, "n": jx.cast(v > 0, jx.int32)}


def _sin_times_x_jacobian(x):
    return np.diag(np.cos(x) * x + np.sin(x))


def _check_aux(aux):
    np.testing.assert_allclose(_np(aux["twice"]), 2 * X3, rtol=0, atol=0)
    assert aux["n"].dtype == jx.int32
    np.testing.assert_array_equal(_np(aux["n"]), [1, 0, 1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("which", ["jacrev", "jacfwd"])
def test_jacobians_with_has_aux(backend, mode, which):
    jac, aux = _run(mode, getattr(jx, which)(_with_aux, has_aux=True), jx.constant(X3))
    np.testing.assert_allclose(_np(jac), _sin_times_x_jacobian(X3), rtol=1e-12, atol=1e-12)
    _check_aux(aux)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_with_has_aux(backend, mode):
    h, aux = _run(mode, jx.hessian(lambda v: (jx.reduce_sum(v ** 4), {"twice": v * 2.0, "n": jx.cast(v > 0, jx.int32)}),
                                   has_aux=True), jx.constant(X3))
    np.testing.assert_allclose(_np(h), np.diag(12 * X3 ** 2), rtol=1e-12, atol=1e-12)
    _check_aux(aux)


@pytest.mark.parametrize("mode", MODES)
def test_jvp_and_vjp_with_has_aux(backend, mode):
    t = np.array([1.0, 0.5, -2.0])
    out, tangent, aux = _run(mode, lambda x, v: jx.jvp(_with_aux, (x,), (v,), has_aux=True),
                             jx.constant(X3), jx.constant(t))
    np.testing.assert_allclose(_np(out), np.sin(X3) * X3, rtol=1e-15)
    np.testing.assert_allclose(_np(tangent), (np.cos(X3) * X3 + np.sin(X3)) * t, rtol=1e-12)
    _check_aux(aux)

    def via_vjp(x, ct):
        out, pullback, aux = jx.vjp(_with_aux, x, has_aux=True)
        return out, pullback(ct), aux
    out, (ct_x,), aux = _run(mode, via_vjp, jx.constant(X3), jx.constant(t))
    np.testing.assert_allclose(_np(out), np.sin(X3) * X3, rtol=1e-15)
    np.testing.assert_allclose(_np(ct_x), (np.cos(X3) * X3 + np.sin(X3)) * t, rtol=1e-12)
    _check_aux(aux)


def test_has_aux_requires_a_pair():
    for transform in (jx.jacrev, jx.jacfwd, jx.hessian):
        with pytest.raises(TypeError, match="has_aux"):
            transform(lambda v: jx.reduce_sum(v), has_aux=True)(jx.constant(X3))
    with pytest.raises(TypeError, match="has_aux"):
        jx.jvp(lambda v: v, (jx.constant(X3),), (jx.constant(X3),), has_aux=True)
    with pytest.raises(TypeError, match="has_aux"):
        jx.vjp(lambda v: (v, v, v), jx.constant(X3), has_aux=True)


# ---------------------------------------------------------------------------
# weak types: the gradient of a Python scalar, and a tensor promoted to a Python scalar's kind, stay weak
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_a_python_scalar_is_weakly_typed(backend, mode):
    half = jx.constant(np.array([1.0, 2.0], np.float16))
    # jax: grad(lambda x: x * x)(3.0) is a weak float32 6.0, so times a float16 array it stays float16
    g = _run(mode, lambda h: jx.grad(lambda x: x * x)(3.0) * h, half)
    assert g.dtype == jx.float16
    np.testing.assert_array_equal(_np(g), np.array([6.0, 12.0], np.float16))
    (v, gs) = jx.value_and_grad(lambda x, y: x * y, argnums=(0, 1))(2.0, jx.constant(np.float32(5.0)))
    assert (gs[0] * half).dtype == jx.float16      # the Python scalar's gradient: weak
    assert (gs[1] * half).dtype == jx.float32      # the float32 tensor's: strong
    _, pullback = jx.vjp(lambda x: x * 4.0, 1.5)
    assert (pullback(1.0)[0] * half).dtype == jx.float16


@pytest.mark.parametrize("mode", MODES)
def test_integer_and_bool_tensors_promoted_by_python_scalars_are_weak(backend, mode):
    i = jx.constant(np.array([2, 3], np.int32))
    b = jx.constant(np.array([True, False]))
    half = jx.constant(np.array([1, 2], np.float16))
    i8 = jx.constant(np.array([1, 1], np.int8))
    # jax: int32 array * 2.5 is a weak float32; bool array + 1 a weak int32
    out = _run(mode, lambda a, h: (a * 2.5) * h, i, half)
    assert out.dtype == jx.float16
    np.testing.assert_array_equal(_np(out), np.array([5.0, 15.0], np.float16))
    out = _run(mode, lambda a, c: (a + 1) + c, b, i8)
    assert out.dtype == jx.int8
    np.testing.assert_array_equal(_np(out), np.array([3, 2], np.int8))
    # with a strong operand of the result's kind the result is strong, as before
    assert _run(mode, lambda a: a + 1, i).dtype == jx.int32
    assert (_run(mode, lambda a: a + 1, i) + i8).dtype == jx.int32


# ---------------------------------------------------------------------------
# softplus is smooth: its second derivative at 0 is sigmoid'(0) = 1/4 (jax.nn.softplus; it was 0)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_derivatives_at_zero_and_far_out(backend, mode, dtype):
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 0.75, -3.0, 40.0, -40.0, 1000.0, -1000.0, np.inf, -np.inf], dtype)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        s, sn = 1 / (1 + np.exp(-x64)), 1 / (1 + np.exp(x64))      # sigmoid(x), sigmoid(-x) = 1 - sigmoid(x)
    d1 = _run(mode, jx.vmap(jx.grad(jx.nn.softplus)), jx.constant(x))
    d2 = _run(mode, jx.vmap(jx.grad(jx.grad(jx.nn.softplus))), jx.constant(x))
    d3 = _run(mode, jx.vmap(jx.grad(jx.grad(jx.grad(jx.nn.softplus)))), jx.constant(x))
    tol = dict(rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    np.testing.assert_allclose(_np(d1), s, **tol)
    np.testing.assert_allclose(_np(d2), s * sn, **tol)
    np.testing.assert_allclose(_np(d3), s * sn * (sn - s), **tol)
    assert _np(d2)[0] == _np(d2)[1] == 0.25       # jax: grad(grad(jax.nn.softplus))(0.0) == 0.25
    with np.errstate(over="ignore"):
        value = np.log1p(np.exp(x64))
    out = _run(mode, jx.nn.softplus, jx.constant(x))
    np.testing.assert_allclose(_np(out)[:-4], value[:-4], rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(_np(out)[-4:], np.array([1000.0, 0.0, np.inf, 0.0], dtype))


# ---------------------------------------------------------------------------
# a Python float beyond a narrower float's range rounds to +-inf without a NumPy warning (as in JAX)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_python_float_overflowing_the_tensor_dtype_is_silent_inf(backend, mode):
    import warnings
    x = jx.constant(np.array([1.0, -2.0], np.float32))
    h = jx.constant(np.array([1.0], np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = _run(mode, lambda a: a * 1e40, x)
        neg = _run(mode, lambda a: a + (-1e300), x)
        half = _run(mode, lambda a: a * 70000.0, h)
    assert big.dtype == neg.dtype == jx.float32 and half.dtype == jx.float16
    np.testing.assert_array_equal(_np(big), [np.inf, -np.inf])
    np.testing.assert_array_equal(_np(neg), [-np.inf, -np.inf])
    np.testing.assert_array_equal(_np(half), np.array([np.inf], np.float16))


# ---------------------------------------------------------------------------
# control flow: fori_loop's index is weakly typed for Python-int bounds; scan accepts unroll
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_fori_loop_index_is_weak_for_python_bounds(mode, backend):
    x8 = jx.constant(np.int8(5))
    # jax.lax.fori_loop(0, 3, lambda i, c: c + i, jnp.int8(5)) -> int8 8 (the index is a weak int32)
    r = _run(mode, lambda x: jx.fori_loop(0, 3, lambda i, c: c + i, x), x8)
    assert r.dtype == jx.int8 and int(r) == 8
    # from a Python int: a weak int32 carry (jax: weak_type=True), so it adds to an int8 tensor as int8
    c = jx.fori_loop(0, 3, lambda i, c: c + i, 0)
    assert c.dtype == jx.int32 and c.aval.weak_type and int(c) == 3
    assert (c + x8).dtype == jx.int8
    # tensor bounds: the index has their dtype, strongly typed: int8 + int16 is int16, not the carry's dtype
    # (JAX raises TypeError too: "body_fun output and input must have identical types")
    with pytest.raises(TypeError, match="int16"):
        jx.fori_loop(jx.constant(np.int16(0)), jx.constant(np.int16(3)), lambda i, c: c + i, x8)
    # jax.grad(lambda x: lax.fori_loop(0, 4, lambda i, c: c * x + i, x))(2.0) == 86.0
    assert float(jx.grad(lambda x: jx.fori_loop(0, 4, lambda i, c: c * x + i, x))(jx.constant(2.0))) == 86.0


def test_scan_accepts_unroll():
    xs = jx.constant([1.0, 2.0, 3.0])
    for unroll in (1, 2, 5, True, False):
        c, ys = jx.scan(lambda c, x: (c + x, c), 0.0, xs, unroll=unroll)
        assert float(c) == 6.0 and _np(ys).tolist() == [0.0, 1.0, 3.0]
    with pytest.raises(TypeError, match="unroll"):
        jx.scan(lambda c, x: (c + x, c), 0.0, xs, unroll=0)
