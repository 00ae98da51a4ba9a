"""Adversarial review of ``vmap``, forward mode and the batched Jacobians: regressions found by comparing
against JAX's semantics (references here are NumPy loops of the unbatched function)."""
from __future__ import annotations

import numpy as np
import pytest

import jaxish as jx


def _rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("a_shape, b_shape, in_axes", [
    ((2, 4, 1), (1, 4, 5), (2, 0)),   # batch of size 1 on a's last axis (the contraction is 4, not 1)
    ((2, 4, 1), (4, 5, 1), (2, 2)),
])
def test_vmap_matmul_size_one_batch_on_last_axis(interp, a_shape, b_shape, in_axes):
    """The outer-product shortcut looked at a's last axis before moving the batch axis first: with a batch of
    size 1 there, a real product was taken for a contraction of length 1 (a broadcasting error)."""
    a, b = _rand(0, *a_shape), _rand(1, *b_shape)
    out = jx.vmap(jx.matmul, in_axes=in_axes)(a, b)
    am, bm = np.moveaxis(a, in_axes[0], 0), np.moveaxis(b, in_axes[1], 0)
    np.testing.assert_allclose(np.asarray(out), np.stack([x @ y for x, y in zip(am, bm)]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("how", ["jvp", "linearize"])
def test_jvp_integer_primal_tangent_must_have_its_shape(interp, how):
    """The tangent of an integer primal is ignored, but (as documented) must have the primal's shape: a tangent
    of the wrong shape was silently accepted (JAX rejects anything but a float0 of that shape)."""
    a, n = _rand(2, 3), np.arange(3, dtype=np.int32)

    def f(a, n):
        return a * jx.cast(n, jx.float32)
    bad = (a, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"tangent 1 has shape \(5,\).*primal 1 .*int32.* shape \(3,\)"):
        if how == "jvp":
            jx.jvp(f, (a, n), bad)
        else:
            jx.linearize(f, a, n)[1](*bad)
    # a tangent of the right shape (any dtype) is accepted and ignored
    _, t = jx.jvp(f, (a, n), (a, np.ones(3, np.int32)))
    np.testing.assert_allclose(np.asarray(t), a * n, rtol=1e-6)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "hessian"])
def test_jacobians_pass_keyword_arguments_through(interp, transform):
    """As in JAX, ``jacfwd(f)(x, b=2.0)`` passes ``b`` to ``f`` (not differentiated); it raised TypeError from
    inside the wrapper."""
    x = _rand(3, 4).astype(np.float64)

    def f(a, b=1.0):
        return jx.reduce_sum(a * a * b) if transform == "hessian" else a * a * b
    got = np.asarray(getattr(jx, transform)(f)(x, b=3.0))
    want = np.diag(6.0 * x) if transform != "hessian" else np.diag(np.full(4, 6.0))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_custom_rules_accept_keyword_arguments(interp):
    """JAX resolves keyword arguments of a custom_vjp/custom_jvp call to positions (defaults filled in); both
    raised TypeError on any keyword argument."""
    @jx.custom_vjp
    def scale(a, k=2.0):
        return a * k

    def fwd(a, k):
        return scale(a, k), k
    scale.defvjp(fwd, lambda k, g: (g * k * 10.0, None))   # a deliberately different rule: it must be used

    @jx.custom_jvp
    def cube(a, k=1.0):
        return a * a * a * k

    @cube.defjvp
    def _(primals, tangents):
        a, k = primals
        return cube(a, k), 3.0 * a * a * k * tangents[0] + a * a * a * tangents[1]
    a = _rand(4, 3).astype(np.float64)
    np.testing.assert_allclose(np.asarray(scale(a, k=3.0)), 3.0 * a)
    np.testing.assert_allclose(np.asarray(jx.grad(lambda x: jx.reduce_sum(scale(x, k=3.0)))(a)), np.full(3, 30.0))
    np.testing.assert_allclose(np.asarray(jx.grad(lambda x: jx.reduce_sum(scale(a=x)))(a)), np.full(3, 20.0))
    np.testing.assert_allclose(np.asarray(jx.vmap(lambda x: cube(x, k=2.0))(a)), 2.0 * a ** 3)
    np.testing.assert_allclose(np.asarray(jx.grad(lambda x: jx.reduce_sum(cube(x, k=2.0)))(a)), 6.0 * a * a)
    with pytest.raises(TypeError, match="custom_vjp scale"):
        scale(a, q=1.0)


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("transform", ["jacfwd", "hessian"])
def test_jacfwd_of_function_assigning_a_variable(interp, transform, traced):
    """``jacrev`` applies a function that assigns a Variable once; ``jacfwd`` (and so ``hessian``) raised
    "vmap: push assigns the Variable(s)" (an internal function, and a vmap the user never called)."""
    a = _rand(5, 4).astype(np.float64)
    v0 = _rand(6, 4).astype(np.float64)
    v = jx.Variable(v0)

    def f(x):
        out = jx.sin(x) * v
        v.assign(v + 1.0)
        return jx.reduce_sum(out) if transform == "hessian" else out
    t = getattr(jx, transform)(f)
    got = np.asarray((jx.trace(t) if traced else t)(a))
    want = np.diag(-np.sin(a) * v0) if transform == "hessian" else np.diag(np.cos(a) * v0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v.numpy(), v0 + 1.0)   # assigned once


def test_vmap_errors_inside_trace_name_the_line_and_function(interp):
    """vmap's own errors (mismatched sizes, out_axes None for a batched output) said neither where vmap was
    called nor, for out_axes, whose output it was."""
    x, y = np.ones((3, 4), np.float32), np.ones((5, 4), np.float32)

    def add_rows(p, q):
        return p + q

    @jx.trace
    def f(a, b):
        return jx.vmap(add_rows)(a, b)
    with pytest.raises(ValueError, match=r"(?s)argument 'p' has size 3.*argument 'q' has size 5.*vmap called "
                                         r"at .*test_transforms_review.py:\d+: \"return jx.vmap\(add_rows\)"):
        f(x, y)

    def double(p):
        return p * 2.0

    @jx.trace
    def g(a):
        return jx.vmap(double, out_axes=None)(a)
    with pytest.raises(ValueError, match=r"(?s)vmap\(double\): output 0 .*out_axes.*None.*vmap called at .*"
                                         r"test_transforms_review.py"):
        g(x)
