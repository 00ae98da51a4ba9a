"""``jaxish.custom_vjp`` and ``jaxish.custom_jvp``: the rule is used by every transform (grad, tape, jvp, vmap,
second derivatives), traced graphs compile, and values match float64 references."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import jaxish as jx

X = np.array([-1000.0, -30.0, -1.0, 0.0, 0.5, 30.0, 100.0, 1000.0])


def _sigmoid(x):
    return scipy.special.expit(x)


# -- a stable gradient for softplus(x) = log1p(exp(x)), both ways ------------------------------------------------
@jx.custom_vjp
def softplus_vjp(x):
    return jx.log1p(jx.exp(x))


def _sp_fwd(x):
    return softplus_vjp(x), x


def _sp_bwd(x, g):
    return (g * jx.sigmoid(x),)


softplus_vjp.defvjp(_sp_fwd, _sp_bwd)


@jx.custom_jvp
def softplus_jvp(x):
    return jx.log1p(jx.exp(x))


@softplus_jvp.defjvp
def _softplus_jvp_rule(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus_jvp(x), t * jx.sigmoid(x)


# -- a clipped gradient (JAX's example): identity forward, the cotangent clipped to [-1, 1] -----------------------
@jx.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (jx.clip_by_value(g, -1.0, 1.0),))


def _total(f):
    return lambda x: jx.reduce_sum(f(x))


@pytest.mark.parametrize("sp", [softplus_vjp, softplus_jvp], ids=["custom_vjp", "custom_jvp"])
def test_stable_softplus_gradient(sp, backend):
    naive = np.asarray(jx.grad(_total(lambda x: jx.log1p(jx.exp(x))))(X))
    assert np.isnan(naive[-1])                       # the composition's gradient overflows: inf / inf
    want = _sigmoid(X)
    for g in (jx.grad(_total(sp)), jx.trace(jx.grad(_total(sp)))):
        np.testing.assert_allclose(np.asarray(g(X)), want, rtol=1e-14, atol=1e-300)
    # the primal is the function's own
    np.testing.assert_allclose(np.asarray(jx.trace(sp)(X[1:-1])), np.log1p(np.exp(X[1:-1])), rtol=1e-14)


@pytest.mark.parametrize("sp", [softplus_vjp, softplus_jvp], ids=["custom_vjp", "custom_jvp"])
def test_rule_differentiated_again(sp, interp):
    """The second derivative goes through the rule (sigmoid' = s (1 - s)), also in forward mode and batched."""
    want1, s = _sigmoid(X), _sigmoid(X)
    want2 = s * (1 - s)
    d2 = jx.grad(_total(jx.grad(_total(sp))))(X)
    np.testing.assert_allclose(np.asarray(d2), want2, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(jx.jvp(sp, (X,), (np.ones_like(X),))[1]), want1, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jx.hessian(_total(sp))(X[2:6])), np.diag(want2[2:6]), rtol=1e-12)
    per_ex = jx.vmap(jx.grad(_total(sp)))(X.reshape(4, 2))
    np.testing.assert_allclose(np.asarray(per_ex), want1.reshape(4, 2), rtol=1e-14)
    outer = jx.grad(lambda x: jx.reduce_sum(jx.vmap(sp)(x)))(X.reshape(4, 2))
    np.testing.assert_allclose(np.asarray(outer), want1.reshape(4, 2), rtol=1e-14)


def test_clipped_gradient(backend):
    x = np.array([0.1, -2.0, 3.0])

    def f(x):
        return jx.reduce_sum(clip_gradient(x) * np.array([5.0, 0.5, -3.0]))
    np.testing.assert_allclose(np.asarray(f(x)), 0.5 - 1.0 - 9.0)
    for g in (jx.grad(f), jx.trace(jx.grad(f))):
        np.testing.assert_array_equal(np.asarray(g(x)), [1.0, 0.5, -1.0])
    xt = jx.constant(x)
    with jx.GradientTape() as tape:
        tape.watch(xt)
        y = f(xt)
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, xt)), [1.0, 0.5, -1.0])


def test_pytrees_several_args_and_closures(interp):
    w = np.array([[1.0, 2.0], [3.0, 4.0]])

    @jx.custom_vjp
    def f(p, x):
        return {"y": jx.matmul(p["a"], x) * p["b"]}

    def fwd(p, x):
        return f(p, x), (p, x)

    def bwd(res, ct):
        p, x = res
        g = ct["y"]
        return ({"a": jx.matmul(g * p["b"], jx.transpose(x)) * 2.0, "b": None}, jx.matmul(jx.transpose(w), g))
    f.defvjp(fwd, bwd)   # bwd deliberately differs from the true VJP: the rule must be what runs
    p = {"a": np.eye(2), "b": np.float64(3.0)}
    x = np.array([[1.0], [2.0]])
    ga, gx = jx.grad(lambda p, x: jx.reduce_sum(f(p, x)["y"]), argnums=(0, 1))(p, x)
    np.testing.assert_allclose(np.asarray(ga["a"]), 2 * 3.0 * np.ones((2, 1)) @ x.T)
    np.testing.assert_array_equal(np.asarray(ga["b"]), 0.0)
    np.testing.assert_allclose(np.asarray(gx), w.T @ np.ones((2, 1)))


def test_errors(interp):
    @jx.custom_vjp
    def f(x):
        return x * 2

    with pytest.raises(TypeError, match="defvjp"):
        f(np.ones(2))
    f.defvjp(lambda x: x * 2, lambda r, g: (g,))
    with pytest.raises(TypeError, match="pair"):
        f(np.ones(2))
    f.defvjp(lambda x: (x * 2, x), lambda r, g: (g, g))
    with pytest.raises(TypeError, match="one cotangent per argument"):
        f(np.ones(2))
    v = jx.Variable(np.ones(2))

    @jx.custom_jvp
    def h(x):
        return x * v
    h.defjvp(lambda p, t: (h(*p), t[0]))
    with pytest.raises(TypeError, match="Variable"):
        h(np.ones(2))


def test_graph_keeps_the_rule_and_compiles(cpu_backend):
    g = jx.make_graph(jx.grad(_total(softplus_vjp)))(X)
    assert "logistic" in str(g)                     # the rule's sigmoid, not the composition's backward pass
    np.testing.assert_allclose(np.asarray(jx.trace(jx.grad(_total(softplus_vjp)))(X)), _sigmoid(X), rtol=1e-14)


