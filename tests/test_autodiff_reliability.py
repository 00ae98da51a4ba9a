"""Regression tests for issue 7's autodiff items, against hand-derived formulas,
float64 finite differences and TensorFlow's / JAX's documented semantics:

1. tape sources that are intermediates of other sources (TF keeps back-propagating);
5. ``jacobian``/``vjp``: one random draw, Variable assignments kept, pytree outputs;
7. wrong-shape/dtype ``output_gradients`` and ``vjp`` cotangents raise clear errors;
14. ``grad``/``vjp`` of functions of Variables.
"""
import numpy as np
import pytest
from test_autodiff import fd_jacobian  # the one finite-difference Jacobian of the autodiff tests

import jaxish as tf
from jaxish import random as jrandom


def f64(*v):
    return tf.constant(np.array(v, np.float64))


# ---------------------------------------------------------------------------
# 1. GradientTape.gradient with sources that depend on each other (TensorFlow semantics)
# ---------------------------------------------------------------------------
def _chain(second):
    """x = 3 watched, y = x*x, z = second(x, y), recorded on a persistent tape."""
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = second(x, y)
    return tape, x, y, z


def test_tape_intermediate_source_keeps_backpropagating(backend):
    tape, x, y, z = _chain(lambda x, y: y * y)
    gx, gy = tape.gradient(z, [x, y])
    assert (float(gx), float(gy)) == (108.0, 18.0)  # dz/dx = 4x^3, dz/dy = 2y
    tape, x, y, z = _chain(lambda x, y: y * x)
    gx, gy = tape.gradient(z, [x, y])
    assert (float(gx), float(gy)) == (27.0, 3.0)    # dz/dx = 3x^2, dz/dy = x
    assert [float(g) for g in tape.gradient(z, [y, x])] == [3.0, 27.0]  # order does not matter


def test_tape_source_that_is_a_target_gets_its_seed(backend):
    tape, x, y, z = _chain(lambda x, y: y * y)
    assert float(tape.gradient(y, y)) == 1.0
    assert float(tape.gradient(x, x)) == 1.0
    # d(y + z)/dy = 1 + 2y = 19, d(y + z)/dx = 19 * 2x = 114
    assert [float(g) for g in tape.gradient([y, z], [x, y])] == [114.0, 19.0]
    c = tf.constant([1.0, 2.0])  # not watched: TensorFlow seeds a source that is a target with ones
    np.testing.assert_array_equal(tape.gradient(c, c).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(tape.gradient(c, c, output_gradients=tf.constant([2.0, 5.0])).numpy(), [2, 5])


def test_tape_source_listed_twice_and_nested_sources(backend):
    tape, x, y, z = _chain(lambda x, y: y * y)
    assert [float(g) for g in tape.gradient(z, [y, y, x, x])] == [18.0, 18.0, 108.0, 108.0]
    g = tape.gradient(z, {"a": x, "b": [y, (x,)], "c": ()})
    assert set(g) == {"a", "b", "c"} and isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    assert (float(g["a"]), float(g["b"][0]), float(g["b"][1][0]), g["c"]) == (108.0, 18.0, 108.0, ())


def test_tape_variable_and_intermediate_sources_match_finite_differences(backend):
    v0 = np.array([0.4, -1.1, 2.0])
    v = tf.Variable(v0)
    with tf.GradientTape(persistent=True) as tape:
        y = tf.exp(v) * v
        z = tf.reduce_sum(tf.sin(y) * v)
    gv, gy = tape.gradient(z, [v, y])
    assert not getattr(gv, "_is_variable", False) and gv.dtype == tf.float64
    y0 = np.exp(v0) * v0
    np.testing.assert_allclose(gy.numpy(), np.cos(y0) * v0, rtol=1e-12)  # dz/dy, hand-derived
    fd = fd_jacobian(lambda t: np.sum(np.sin(np.exp(t) * t) * t), v0)
    np.testing.assert_allclose(gv.numpy(), fd, rtol=1e-7, atol=1e-9)     # total derivative
    # a persistent tape answers the single-source questions consistently
    np.testing.assert_allclose(tape.gradient(z, v).numpy(), gv.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(z, y).numpy(), gy.numpy(), rtol=1e-12)


def test_tape_intermediate_source_with_output_gradients(backend):
    x0 = np.array([0.5, 1.5, -0.7])
    w = np.array([1.0, -2.0, 0.25])
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = tf.sin(y)
    gx, gy = tape.gradient(z, [x, y], output_gradients=tf.constant(w))
    np.testing.assert_allclose(gy.numpy(), w * np.cos(x0 ** 2), rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), w * np.cos(x0 ** 2) * 2 * x0, rtol=1e-12)


def test_nested_tapes_through_intermediate_sources(backend):
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = x * x
            z = y * y
        gx, gy = inner.gradient(z, [x, y])
    assert (float(gx), float(gy)) == (108.0, 18.0)
    assert float(outer.gradient(gx, x)) == 108.0  # d(4x^3)/dx = 12x^2
    assert float(outer.gradient(gy, x)) == 12.0   # d(2x^2)/dx = 4x


def test_tape_intermediate_source_inside_trace(backend):
    @tf.trace
    def both(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
            z = y * x
        return tape.gradient(z, [x, y])
    gx, gy = both(tf.constant(3.0))
    assert (float(gx), float(gy)) == (27.0, 3.0)


# ---------------------------------------------------------------------------
# 5. jacobian and vjp: one application of the function
# ---------------------------------------------------------------------------
def _noisy(x):
    return x * jrandom.uniform((4,), dtype=tf.float64)


X4 = np.array([1.0, 2.0, -3.0, 0.5])


def test_jacobian_draws_random_numbers_once(backend):
    jrandom.set_seed(11)
    y = tf.trace(_noisy)(tf.constant(X4))   # what a call draws
    after_call = jrandom.uniform((3,)).numpy()
    jrandom.set_seed(11)
    J = tf.jacobian(_noisy)(tf.constant(X4))
    after_jacobian = jrandom.uniform((3,)).numpy()
    r = y.numpy() / X4
    np.testing.assert_array_equal(J.numpy(), np.diag(r))           # every row saw the same draw
    np.testing.assert_array_equal(after_jacobian, after_call)      # and it advanced the generator once


def test_jacobian_of_dropout_is_consistent_with_the_forward(backend):
    def dropout(x):
        keep = jrandom.uniform((6,), dtype=tf.float64) < 0.5
        return tf.where(keep, x * 2.0, tf.zeros_like(x))
    x0 = np.arange(1.0, 7.0)
    jrandom.set_seed(5)
    y = tf.trace(dropout)(tf.constant(x0)).numpy()
    jrandom.set_seed(5)
    J = tf.jacobian(dropout)(tf.constant(x0)).numpy()
    np.testing.assert_array_equal(J, np.diag(np.where(y != 0, 2.0, 0.0)))


def test_jacobian_keeps_variable_assignments_once(backend):
    w = tf.Variable(np.array([1.0, 2.0, 3.0]))
    calls = tf.Variable(0.0, dtype=tf.float64)

    def f(x):
        w.assign(w * 2.0)
        calls.assign_add(1.0)
        return w * x
    J = tf.jacobian(f)(f64(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(J.numpy(), np.diag([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(w.numpy(), [2.0, 4.0, 6.0])
    assert float(calls) == 1.0


def test_vjp_keeps_assignments_and_uses_the_values_at_the_call(backend):
    v = tf.Variable(np.array([1.0, -2.0]))

    def f(x):
        y = v * x
        v.assign(v + 10.0)
        return y
    out, vjp_fn = tf.vjp(f, f64(3.0, 4.0))
    np.testing.assert_array_equal(out.numpy(), [3.0, -8.0])
    np.testing.assert_array_equal(v.numpy(), [11.0, 8.0])        # assigned once, by vjp
    (g,) = vjp_fn(f64(1.0, 1.0))
    np.testing.assert_array_equal(g.numpy(), [1.0, -2.0])        # d(v0 * x)/dx with v's value at the call
    (g2,) = vjp_fn(f64(2.0, 0.5))
    np.testing.assert_array_equal(g2.numpy(), [2.0, -1.0])
    np.testing.assert_array_equal(v.numpy(), [11.0, 8.0])        # vjp_fn assigns nothing


def test_vjp_of_random_function(backend):
    jrandom.set_seed(2)
    y = tf.trace(_noisy)(tf.constant(X4)).numpy()
    jrandom.set_seed(2)
    out, vjp_fn = tf.vjp(_noisy, tf.constant(X4))
    np.testing.assert_array_equal(out.numpy(), y)
    ct = np.array([1.0, 2.0, 3.0, 4.0])
    (g,) = vjp_fn(tf.constant(ct))
    np.testing.assert_array_equal(g.numpy(), ct * y / X4)        # same random numbers as the primal
    np.testing.assert_array_equal(vjp_fn(tf.constant(ct))[0].numpy(), g.numpy())


def test_vjp_pytree_primals_and_outputs(backend):
    x0, y0 = np.array([0.3, -1.0]), np.array([2.0, 0.5])

    def f(p, y):
        return {"a": p["x"] * y, "b": (tf.sin(p["x"]), y * y)}
    out, vjp_fn = tf.vjp(f, {"x": tf.constant(x0)}, tf.constant(y0))
    assert set(out) == {"a", "b"} and isinstance(out["b"], tuple)
    np.testing.assert_allclose(out["b"][0].numpy(), np.sin(x0))
    ca, cs, cq = np.array([1.0, 2.0]), np.array([-1.0, 3.0]), np.array([0.5, 4.0])
    gp, gy = vjp_fn({"a": tf.constant(ca), "b": (tf.constant(cs), tf.constant(cq))})
    assert set(gp) == {"x"}
    np.testing.assert_allclose(gp["x"].numpy(), ca * y0 + cs * np.cos(x0), rtol=1e-12)
    np.testing.assert_allclose(gy.numpy(), ca * x0 + cq * 2 * y0, rtol=1e-12)
    with pytest.raises(TypeError, match="vjp_fn: the cotangent has structure"):
        vjp_fn((tf.constant(ca), tf.constant(cs)))


def test_jacobian_pytree_output_keeps_structure(backend):
    x0 = np.array([0.2, -0.9, 1.4])

    def f(x):
        return {"s": tf.reduce_sum(x * x), "v": (x * 2.0, tf.sin(x))}
    J = tf.jacobian(f)(tf.constant(x0))
    assert set(J) == {"s", "v"} and isinstance(J["v"], tuple)
    np.testing.assert_allclose(J["s"].numpy(), fd_jacobian(lambda t: np.sum(t * t), x0), rtol=1e-7)
    np.testing.assert_allclose(J["v"][0].numpy(), 2 * np.eye(3))
    np.testing.assert_allclose(J["v"][1].numpy(), fd_jacobian(np.sin, x0), rtol=1e-7, atol=1e-10)


def test_jacobian_pytree_output_and_several_argnums(backend):
    x0, y0 = np.array([0.5, 1.5]), np.array([2.0, -1.0, 0.25])

    def f(p, y):
        return [p["x"] * tf.reduce_sum(y), tf.reduce_sum(p["x"]) * y]
    J = tf.jacobian(f, argnums=(0, 1))({"x": tf.constant(x0)}, tf.constant(y0))
    assert isinstance(J, list) and len(J) == 2
    (jpx, jy) = J[0]
    assert jpx["x"].shape == (2, 2) and jy.shape == (2, 3)
    np.testing.assert_allclose(jpx["x"].numpy(), fd_jacobian(lambda t: t * np.sum(y0), x0), rtol=1e-7)
    np.testing.assert_allclose(jy.numpy(), fd_jacobian(lambda t: x0 * np.sum(t), y0), rtol=1e-7)
    (jpx, jy) = J[1]
    assert jpx["x"].shape == (3, 2) and jy.shape == (3, 3)
    np.testing.assert_allclose(jpx["x"].numpy(), fd_jacobian(lambda t: np.sum(t) * y0, x0), rtol=1e-7)
    np.testing.assert_allclose(jy.numpy(), np.sum(x0) * np.eye(3), rtol=1e-12)


# ---------------------------------------------------------------------------
# 7. cotangents of the wrong shape or dtype
# ---------------------------------------------------------------------------
def _taped(shape, dtype=np.float32):
    x = tf.constant(np.ones(shape, dtype))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 2.0
    return tape, x, y


@pytest.mark.parametrize("target_shape, seed_shape", [((3, 1), (2, 2)), ((64, 1), (1, 1)), ((3,), (1,)),
                                                      ((), (1,)), ((2, 3), (3, 2))])
def test_tape_output_gradients_wrong_shape_raises(backend, target_shape, seed_shape):
    tape, x, y = _taped(target_shape)
    seed = tf.constant(np.ones(seed_shape, np.float32))
    with pytest.raises(ValueError, match=r"GradientTape.gradient: output_gradients\[0\] has shape "
                                         + re_shape(seed_shape) + r".*target 0 has shape " + re_shape(target_shape)):
        tape.gradient(y, x, output_gradients=seed)
    with pytest.raises(ValueError, match="not broadcast"):
        tape.gradient([y, y], x, output_gradients=[None, seed])


def re_shape(shape):
    return tuple(shape).__repr__().replace("(", r"\(").replace(")", r"\)")


def test_tape_output_gradients_dtype_and_conversion(backend):
    tape, x, y = _taped((3,))
    with pytest.raises(TypeError, match="output_gradients.*dtype float64.*target 0 has dtype float32"):
        tape.gradient(y, x, output_gradients=tf.constant(np.ones(3)))
    with pytest.raises(TypeError, match="dtype int64.*float32"):
        tape.gradient(y, x, output_gradients=np.ones(3, np.int64))
    with pytest.raises(TypeError, match="must be a tensor, an array or a number, got str"):
        tape.gradient(y, x, output_gradients="abc")
    with pytest.raises(TypeError, match="must be a tensor, an array or a number, got list"):
        tape.gradient(y, x, output_gradients=[[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="2 entries but there are 3 targets"):
        tape.gradient([y, y, y], x, output_gradients=[None, None])
    g = tape.gradient(y, x, output_gradients=[1.0, -2.0, 0.5])  # Python values take the target's dtype
    assert g.dtype == tf.float32
    np.testing.assert_array_equal(g.numpy(), [2.0, -4.0, 1.0])
    g = tape.gradient([y, y], x, output_gradients=[None, tf.constant([1.0, 2.0, 3.0])])  # None: ones
    np.testing.assert_array_equal(g.numpy(), [4.0, 6.0, 8.0])


def test_vjp_cotangent_wrong_shape_or_dtype_raises(backend):
    def f(x):
        return x * 2.0
    out, vjp_fn = tf.vjp(f, tf.constant(np.ones((64, 1), np.float32)))
    with pytest.raises(ValueError, match=r"vjp_fn: the cotangent of output 0 has shape \(1, 1\), but output 0 of "
                                         r"f has shape \(64, 1\)"):
        vjp_fn(tf.constant(np.ones((1, 1), np.float32)))
    with pytest.raises(ValueError, match=r"has shape \(2, 2\).*\(64, 1\)"):
        vjp_fn(np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="dtype float64, but output 0 of f has dtype float32"):
        vjp_fn(np.ones((64, 1)))
    (g,) = vjp_fn(np.full((64, 1), 3.0, np.float32))
    np.testing.assert_array_equal(g.numpy(), np.full((64, 1), 6.0, np.float32))
    _, vjp_s = tf.vjp(lambda x: tf.reduce_sum(x * x), f64(1.0, 2.0))
    np.testing.assert_array_equal(vjp_s(0.5)[0].numpy(), [1.0, 2.0])  # a Python number is converted


# ---------------------------------------------------------------------------
# 14. grad / vjp w.r.t. Variables: differentiated w.r.t. their current value
# ---------------------------------------------------------------------------
def test_grad_of_variable_argument(backend):
    v0 = np.array([0.5, -1.0, 2.0])
    v = tf.Variable(v0)
    g = tf.grad(lambda v: tf.reduce_sum(v * v * v))(v)
    assert type(g) is tf.Tensor and g.dtype == tf.float64 and g.shape == (3,)
    np.testing.assert_allclose(g.numpy(), 3 * v0 ** 2, rtol=1e-12)
    val, g = tf.value_and_grad(lambda v: tf.reduce_sum(tf.sin(v)))(v)
    np.testing.assert_allclose(float(val), np.sum(np.sin(v0)), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), np.cos(v0), rtol=1e-12)


def test_grad_of_dict_of_variables_matches_finite_differences(backend):
    w0, b0, x0 = np.array([0.3, -0.7, 1.1]), 0.25, np.array([1.0, 2.0, -0.5])
    params = {"w": tf.Variable(w0), "b": tf.Variable(b0, dtype=tf.float64), "c": f64(2.0)}

    def loss(p, x):
        return tf.reduce_sum(tf.tanh(p["w"] * x + p["b"]) * p["c"])
    g = tf.grad(loss)(params, tf.constant(x0))
    assert set(g) == {"w", "b", "c"} and all(type(t) is tf.Tensor for t in g.values())
    assert g["b"].shape == () and g["w"].shape == (3,)

    def np_loss(w, b, c):
        return np.sum(np.tanh(w * x0 + b) * c)
    np.testing.assert_allclose(g["w"].numpy(), fd_jacobian(lambda t: np_loss(t, b0, 2.0), w0), rtol=1e-7)
    np.testing.assert_allclose(float(g["b"]), fd_jacobian(lambda t: np_loss(w0, t, 2.0), b0), rtol=1e-7)
    np.testing.assert_allclose(g["c"].numpy(), [np_loss(w0, b0, 1.0)], rtol=1e-12)  # c has shape (1,)


def test_grad_variable_edge_cases(backend):
    v = tf.Variable(np.array([1.0, 2.0]))
    unread = tf.Variable(np.array([[1.0, 2.0]]))
    g = tf.grad(lambda p, x: tf.reduce_sum(p[0] * x), argnums=0)((v, unread), f64(3.0, 4.0))
    np.testing.assert_array_equal(g[0].numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(g[1].numpy(), np.zeros((1, 2)))  # not read: zero, with its shape
    # a Variable outside argnums stays an implicit input, not differentiated
    np.testing.assert_array_equal(tf.grad(lambda v, x: tf.reduce_sum(v * x), argnums=1)(v, f64(3.0, 4.0)).numpy(),
                                  [1.0, 2.0])
    with pytest.raises(TypeError, match="grad requires real-valued.*argument 0 has dtype int32"):
        tf.grad(lambda i: tf.reduce_sum(tf.cast(i, tf.float32)))(tf.Variable([1, 2]))

    def assigns(v):  # the gradient is w.r.t. the value at the call; the assignment is kept
        y = tf.reduce_sum(v * v)
        v.assign(v * 3.0)
        return y
    np.testing.assert_array_equal(tf.grad(assigns)(v).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [3.0, 6.0])


def test_vjp_hessian_and_traced_grad_of_variable(backend):
    v0 = np.array([0.5, -1.5])
    v = tf.Variable(v0)
    out, vjp_fn = tf.vjp(lambda v: v * v, v)
    np.testing.assert_array_equal(out.numpy(), v0 ** 2)
    (g,) = vjp_fn(f64(1.0, 1.0))
    assert type(g) is tf.Tensor
    np.testing.assert_array_equal(g.numpy(), 2 * v0)
    np.testing.assert_allclose(tf.hessian(lambda v: tf.reduce_sum(v ** 3))(v).numpy(), np.diag(6 * v0), rtol=1e-12)
    step = tf.trace(lambda v: tf.grad(lambda u: tf.reduce_sum(tf.exp(u)))(v))
    np.testing.assert_allclose(step(v).numpy(), np.exp(v0), rtol=1e-12)


def test_outer_tape_sees_variables_through_grad_vjp_and_jacobian(backend):
    v0, x0 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    v, x = tf.Variable(v0), tf.constant(x0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        gx = tf.grad(lambda x: tf.reduce_sum(x * x * v))(x)   # 2 x v
        gv = tf.grad(lambda w: tf.reduce_sum(w * w * x))(v)   # 2 v x
        _, vjp_fn = tf.vjp(lambda x: x * v, x)
        (cx,) = vjp_fn(f64(1.0, 1.0))                         # v
        J = tf.jacobian(lambda x: x * v)(x)                    # diag(v)
        sums = [tf.reduce_sum(gx), tf.reduce_sum(gv), tf.reduce_sum(cx * cx), tf.reduce_sum(J)]
    np.testing.assert_array_equal(gx.numpy(), 2 * x0 * v0)
    np.testing.assert_array_equal(gv.numpy(), 2 * x0 * v0)
    np.testing.assert_array_equal(J.numpy(), np.diag(v0))
    expected = [2 * x0, 2 * x0, 2 * v0, [1.0, 1.0]]  # d/dv of sum(2xv), sum(2vx), sum(v*v), sum(diag(v))
    for s, e in zip(sums, expected):
        np.testing.assert_array_equal(tape.gradient(s, v).numpy(), e)
