"""Autodiff: ``grad``/``value_and_grad``/``jacobian``/``hessian`` and TensorFlow's
``GradientTape`` semantics, checked against hand-computed values and central
finite differences in float64."""
import warnings

import numpy as np
import pytest

import jaxish
import jaxish as tf


def f64(*v):
    return tf.constant(np.array(v, np.float64))


def fd_grad(fn, x, eps=1e-6):
    """Central differences of scalar ``fn`` (NumPy in, float out) at ``x``."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (fn(xp) - fn(xm)) / (2 * eps)
    return g


def fd_jacobian(fn, x, eps=1e-6):
    """Central-difference Jacobian, shape ``out.shape + x.shape``."""
    x = np.array(x, np.float64)
    out = np.asarray(fn(x))
    J = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        J[(Ellipsis,) + i] = (np.asarray(fn(xp)) - np.asarray(fn(xm))) / (2 * eps)
    return J


X = np.array([0.3, -1.2, 2.0])
Y = np.array([1.0, 2.0, 3.0])


def _smooth(x):
    return tf.reduce_sum(tf.sin(x) * tf.exp(x) + x ** 3 / (1.0 + x * x))


def _smooth_np(x):
    return float(np.sum(np.sin(x) * np.exp(x) + x ** 3 / (1.0 + x * x)))


# ---------------------------------------------------------------------------
# grad and value_and_grad
# ---------------------------------------------------------------------------
def test_grad_matches_analytic_and_finite_differences(backend):
    g = jaxish.grad(_smooth)(f64(*X))
    assert g.dtype == tf.float64 and g.shape == (3,)
    rational = (3 * X ** 2 * (1 + X ** 2) - 2 * X ** 4) / (1 + X ** 2) ** 2
    analytic = np.cos(X) * np.exp(X) + np.sin(X) * np.exp(X) + rational
    np.testing.assert_allclose(g.numpy(), analytic, rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), fd_grad(_smooth_np, X), rtol=1e-7, atol=1e-8)


def test_value_and_grad(backend):
    value, g = jaxish.value_and_grad(_smooth)(f64(*X))
    assert value.shape == () and value.dtype == tf.float64
    np.testing.assert_allclose(float(value), _smooth_np(X), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), fd_grad(_smooth_np, X), rtol=1e-7, atol=1e-8)


def test_grad_float32_keeps_dtype():
    g = jaxish.grad(lambda x: tf.reduce_sum(x * x))(tf.constant([1.0, 2.0]))
    assert g.dtype == tf.float32
    np.testing.assert_array_equal(g.numpy(), [2, 4])
    g = jaxish.grad(lambda a: a * a * a)(2.0)  # a Python float differentiates as float32
    assert g.dtype == tf.float32 and float(g) == 12.0


def _g2(x, y):
    return tf.reduce_sum(x * y ** 2)


def test_argnums_int_tuple_and_negative(backend):
    x, y = f64(*X), f64(*Y)
    np.testing.assert_allclose(jaxish.grad(_g2)(x, y).numpy(), Y ** 2)
    np.testing.assert_allclose(jaxish.grad(_g2, argnums=1)(x, y).numpy(), 2 * X * Y)
    np.testing.assert_allclose(jaxish.grad(_g2, argnums=-1)(x, y).numpy(), 2 * X * Y)
    gx, gy = jaxish.grad(_g2, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx.numpy(), Y ** 2)
    np.testing.assert_allclose(gy.numpy(), 2 * X * Y)
    (only,) = jaxish.grad(_g2, argnums=(1,))(x, y)
    np.testing.assert_allclose(only.numpy(), 2 * X * Y)
    v, (gx, gy) = jaxish.value_and_grad(_g2, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(float(v), np.sum(X * Y ** 2))
    with pytest.raises(ValueError, match="argnums"):
        jaxish.grad(_g2, argnums=2)(x, y)


def test_has_aux(backend):
    def f(x):
        return tf.reduce_sum(x ** 2), {"double": x * 2.0, "n": 3}

    g, aux = jaxish.grad(f, has_aux=True)(f64(*X))
    np.testing.assert_allclose(g.numpy(), 2 * X)
    np.testing.assert_allclose(aux["double"].numpy(), 2 * X)
    (value, aux), g = jaxish.value_and_grad(f, has_aux=True)(f64(*X))
    np.testing.assert_allclose(float(value), np.sum(X ** 2))
    np.testing.assert_allclose(aux["double"].numpy(), 2 * X)
    np.testing.assert_allclose(g.numpy(), 2 * X)


def test_higher_order_grads(backend):
    d1 = jaxish.grad(lambda x: x ** 4)
    d2 = jaxish.grad(d1)
    d3 = jaxish.grad(d2)
    x = tf.constant(1.5, dtype=tf.float64)
    np.testing.assert_allclose(float(d1(x)), 4 * 1.5 ** 3)
    np.testing.assert_allclose(float(d2(x)), 12 * 1.5 ** 2)
    np.testing.assert_allclose(float(d3(x)), 24 * 1.5)
    np.testing.assert_allclose(float(jaxish.grad(d3)(x)), 24.0)


def test_grad_of_grad_of_vector_function():
    df = jaxish.grad(lambda x: tf.reduce_sum(tf.sin(x) * x))
    ddf = jaxish.grad(lambda x: tf.reduce_sum(df(x)))
    # d/dx_i [cos(x_i) x_i + sin(x_i)] = 2 cos(x_i) - x_i sin(x_i)
    np.testing.assert_allclose(ddf(f64(*X)).numpy(), 2 * np.cos(X) - X * np.sin(X), rtol=1e-12)


def test_grad_type_errors():
    x = f64(*X)
    with pytest.raises(TypeError, match="scalar") as ei:
        jaxish.grad(lambda x: x * 2.0)(x)
    assert "(3,)" in str(ei.value)
    with pytest.raises(TypeError, match="floating") as ei:
        jaxish.grad(lambda x: tf.cast(tf.reduce_sum(x), tf.int32))(x)
    assert "int32" in str(ei.value)
    with pytest.raises(TypeError, match="floating") as ei:
        jaxish.grad(lambda x: tf.reduce_sum(tf.cast(x, tf.float32)))(tf.constant([1, 2]))
    assert "int32" in str(ei.value)
    with pytest.raises(TypeError, match="floating"):
        jaxish.grad(lambda x: x * 2.0)(3)  # a Python int
    with pytest.raises(TypeError, match="has_aux"):
        jaxish.grad(lambda x: (tf.reduce_sum(x), tf.reduce_sum(x)))(x)


def test_stop_gradient(backend):
    g = jaxish.grad(lambda x: tf.reduce_sum(x * tf.stop_gradient(x)))(f64(*X))
    np.testing.assert_allclose(g.numpy(), X)
    g = jaxish.grad(lambda x: tf.reduce_sum(tf.stop_gradient(x * x)))(f64(*X))
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))


def _mlp_loss(p, x):
    return tf.reduce_sum(tf.tanh(x @ p["w"] + p["b"]) ** 2)


def test_pytree_params(backend):
    W = np.array([[1.0, 2.0], [3.0, 4.0]]) * 0.1
    B = np.array([0.5, -0.5])
    xs = np.array([[0.1, 0.2], [-0.3, 0.4]])
    params = {"w": tf.constant(W), "b": tf.constant(B)}
    g = jaxish.grad(_mlp_loss)(params, tf.constant(xs))
    assert isinstance(g, dict) and set(g) == {"w", "b"}
    assert g["w"].shape == (2, 2) and g["b"].shape == (2,)

    def np_loss(w, b):
        return float(np.sum(np.tanh(xs @ w + b) ** 2))

    np.testing.assert_allclose(g["w"].numpy(), fd_grad(lambda w: np_loss(w, B), W), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g["b"].numpy(), fd_grad(lambda b: np_loss(W, b), B), rtol=1e-7, atol=1e-9)

    nested = jaxish.grad(lambda p: tf.reduce_sum(p[0] * p[1]["a"][0]))((f64(*X), {"a": [f64(*Y)]}))
    assert isinstance(nested, tuple) and isinstance(nested[1], dict) and isinstance(nested[1]["a"], list)
    np.testing.assert_allclose(nested[0].numpy(), Y)
    np.testing.assert_allclose(nested[1]["a"][0].numpy(), X)


def test_grad_reads_variables_as_constants(backend):
    v = tf.Variable(2.0, dtype=tf.float64)
    f = jaxish.grad(lambda x: x * x * v)
    np.testing.assert_allclose(float(f(tf.constant(3.0, tf.float64))), 12.0)
    v.assign(5.0)
    np.testing.assert_allclose(float(f(tf.constant(3.0, tf.float64))), 30.0)


def test_grad_with_random_ops():
    value, g = jaxish.value_and_grad(lambda x: tf.reduce_sum(x * tf.random.uniform((3,))))(tf.ones((3,)))
    # d/dx sum(x * u) = u, and at x = 1 the value is sum(u)
    np.testing.assert_allclose(float(value), float(np.sum(g.numpy())), rtol=1e-6)


def test_grad_of_function_assigning_a_variable():
    v = tf.Variable(2.0, dtype=tf.float64)

    def f(x):
        v.assign_add(x)
        return x * 2.0

    g = jaxish.grad(f)(tf.constant(3.0, tf.float64))
    assert float(g) == 2.0
    assert float(v.numpy()) == 5.0  # the assignment is written back once
    value, g = jaxish.value_and_grad(f)(tf.constant(1.0, tf.float64))
    assert float(value) == 2.0 and float(g) == 2.0
    assert float(v.numpy()) == 6.0


# ---------------------------------------------------------------------------
# jacobian and hessian
# ---------------------------------------------------------------------------
def test_jacobian(backend):
    J = jaxish.jacobian(lambda x: tf.sin(x) * x[0])(f64(*X))
    assert J.shape == (3, 3) and J.dtype == tf.float64
    np.testing.assert_allclose(J.numpy(), fd_jacobian(lambda x: np.sin(x) * x[0], X), rtol=1e-7, atol=1e-9)

    M = np.array([[1.0, 2.0], [3.0, 4.0]])
    J = jaxish.jacobian(lambda m: tf.matmul(m, m))(tf.constant(M))
    assert J.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(J.numpy(), fd_jacobian(lambda m: m @ m, M), rtol=1e-7, atol=1e-8)

    Jx, Jy = jaxish.jacobian(lambda x, y: x * y, argnums=(0, 1))(f64(*X), f64(*Y))
    np.testing.assert_allclose(Jx.numpy(), np.diag(Y))
    np.testing.assert_allclose(Jy.numpy(), np.diag(X))

    Js = jaxish.jacobian(lambda x: tf.reduce_sum(x * x))(f64(*X))  # scalar output: the gradient
    assert Js.shape == (3,)
    np.testing.assert_allclose(Js.numpy(), 2 * X)


def test_hessian(backend):
    H = jaxish.hessian(lambda x: tf.reduce_sum(x ** 3) * x[1])(f64(*X))
    s = np.sum(X ** 3)
    expected = np.diag(6 * X * X[1])
    expected[:, 1] += 3 * X ** 2
    expected[1, :] += 3 * X ** 2
    assert s  # the sum enters the gradient only, not the Hessian
    np.testing.assert_allclose(H.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(H.numpy(), H.numpy().T)

    Hs = jaxish.hessian(_smooth)(f64(*X))
    gnp = jaxish.grad(_smooth)
    num = fd_jacobian(lambda x: gnp(tf.constant(x)).numpy(), X)
    np.testing.assert_allclose(Hs.numpy(), num, rtol=1e-6, atol=1e-7)

    Hy = jaxish.hessian(lambda x, y: tf.reduce_sum(x * y ** 3), argnums=1)(f64(*X), f64(*Y))
    np.testing.assert_allclose(Hy.numpy(), np.diag(6 * X * Y))


def test_jacobian_of_unconnected_input_keeps_dtype():
    J = jaxish.jacobian(lambda x, y: x * 2.0, argnums=1)(f64(*X), f64(*Y))
    np.testing.assert_array_equal(J.numpy(), np.zeros((3, 3)))
    assert J.dtype == tf.float64


def test_zero_grad_is_strongly_typed():
    g = jaxish.grad(lambda x, y: tf.reduce_sum(x), argnums=1)(f64(*X), f64(*Y))
    assert g.dtype == tf.float64
    connected = jaxish.grad(lambda x, y: tf.reduce_sum(x * y), argnums=1)(f64(*X), f64(*Y))
    ones32 = tf.ones((3,), tf.float32)
    assert (connected + ones32).dtype == (g + ones32).dtype


def test_jacobian_with_pytree_argument_before_argnums():
    J = jaxish.jacobian(lambda p, x: x * p["a"], argnums=1)({"a": f64(*Y), "b": f64(*X)}, f64(*X))
    np.testing.assert_allclose(J.numpy(), np.diag(Y))


# ---------------------------------------------------------------------------
# GradientTape
# ---------------------------------------------------------------------------
def test_tape_watch_accessed_variables_false(backend):
    a = tf.Variable(2.0)
    b = tf.Variable(3.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * a * b
    ga = tape.gradient(y, a)
    assert float(ga) == 12.0
    assert tape.watched_variables() == (a,)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        y = a * a * b
    assert tape.gradient(y, [a, b]) == [None, None]


def _unwatched_watch_accessed_false():
    a, b = tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * a * b
    return tape, y, a, b, 12.0


def _unwatched_mixed_with_tensor():
    x, a = tf.constant(3.0), tf.Variable(2.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = x * a
    return tape, y, x, a, 2.0


def _unwatched_non_trainable():
    a, frozen = tf.Variable(2.0), tf.Variable(1.0, trainable=False)
    with tf.GradientTape() as tape:
        y = a * 3.0 * frozen
    return tape, y, a, frozen, 3.0


@pytest.mark.parametrize("setup", [_unwatched_watch_accessed_false, _unwatched_mixed_with_tensor,
                                   _unwatched_non_trainable])
def test_tape_unwatched_variable_gets_no_gradient(setup):
    tape, y, watched, unwatched, expected = setup()
    g_watched, g_unwatched = tape.gradient(y, [watched, unwatched])
    assert float(g_watched) == expected
    assert g_unwatched is None


def test_tape_watch_nested_structures(backend):
    x = tf.constant(1.5)
    z = tf.constant(2.5)
    a = tf.Variable(2.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch({"x": x, "rest": [z, (a,)]})
        y = x * z * a
    g = tape.gradient(y, {"x": x, "rest": [z, (a,)]})
    assert set(g) == {"x", "rest"} and isinstance(g["rest"], list) and isinstance(g["rest"][1], tuple)
    assert float(g["x"]) == 5.0
    assert float(g["rest"][0]) == 3.0
    assert float(g["rest"][1][0]) == 3.75


def test_tape_watch_integer_tensor_gives_none():
    i = tf.constant(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tf.GradientTape() as tape:
            tape.watch(i)
            y = tf.cast(i, tf.float32) * 2.0
    assert tape.gradient(y, i) is None


def test_tape_int_target_gives_none():
    a = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = tf.cast(a * 3.0, tf.int32)
    assert tape.gradient(y, [a]) == [None]


def test_tape_persistent(backend):
    x = tf.constant(1.5, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        w = y * x
    np.testing.assert_allclose(float(tape.gradient(y, x)), 3.0)
    np.testing.assert_allclose(float(tape.gradient(w, x)), 3 * 1.5 ** 2)
    np.testing.assert_allclose(float(tape.gradient(w, x)), 3 * 1.5 ** 2)
    del tape


def test_tape_gradient_structures_and_unconnected(backend):
    a = tf.Variable(2.0)
    b = tf.Variable(3.0)
    c = tf.Variable(4.0)
    with tf.GradientTape(persistent=True) as tape:
        y = a * b
    g = tape.gradient(y, {"a": a, "nest": [b, (a, c)]})
    assert float(g["a"]) == 3.0 and float(g["nest"][0]) == 2.0 and float(g["nest"][1][0]) == 3.0
    assert g["nest"][1][1] is None
    g = tape.gradient(y, [a, c], unconnected_gradients="zero")
    assert float(g[0]) == 3.0
    assert g[1] is not None and float(g[1]) == 0.0 and g[1].dtype == tf.float32
    g = tape.gradient(y, (c,), unconnected_gradients="none")
    assert g == (None,)
    assert float(tape.gradient(y, a)) == 3.0  # a single source gives a single gradient
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, [a], unconnected_gradients="sometimes")


def test_tape_output_gradients(backend):
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        y = v ** 2
        y1 = v * 2.0
        y2 = v * 3.0
    g = tape.gradient(y, v, output_gradients=tf.constant([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(g.numpy(), [2, 40, 600])
    g = tape.gradient([y1, y2], v, output_gradients=[tf.constant([1.0, 1.0, 1.0]), tf.constant([0.0, 1.0, 0.0])])
    np.testing.assert_allclose(g.numpy(), [2, 5, 2])


def test_tape_list_targets_are_summed_and_nonscalar_seeded_with_ones(backend):
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        y1 = v ** 2
        y2 = tf.reduce_sum(v * 3.0)
    np.testing.assert_allclose(tape.gradient(y1, v).numpy(), [2, 4, 6])        # seeded with ones
    np.testing.assert_allclose(tape.gradient([y1, y2], v).numpy(), [5, 7, 9])  # summed
    np.testing.assert_allclose(tape.gradient({"p": y1, "q": y2}, v).numpy(), [5, 7, 9])


def test_tape_stop_recording(backend):
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y1 = v ** 2
        with tape.stop_recording():
            y2 = v * 5.0
        y3 = y1 + y2
    np.testing.assert_allclose(tape.gradient(y3, v).numpy(), [2, 4, 6])


def test_tape_reset(backend):
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y1 = v ** 2
        tape.reset()
        y2 = v * 5.0
        y3 = y1 + y2
    np.testing.assert_allclose(tape.gradient(y3, v).numpy(), [5, 5, 5])
    with tf.GradientTape() as tape:
        y1 = v ** 2
        tape.reset()
    assert tape.gradient(y1, v) is None


def test_tape_watched_variables():
    a = tf.Variable(2.0)
    b = tf.Variable([1.0, 2.0])
    frozen = tf.Variable(1.0, trainable=False)
    with tf.GradientTape() as tape:
        y = a * b * frozen
    watched = tape.watched_variables()
    assert len(watched) == 2 and watched[0] is a and watched[1] is b
    with tf.GradientTape() as tape:
        tape.watch(frozen)
        y = frozen * 2.0
    assert float(tape.gradient(y, frozen)) == 2.0


def test_nested_tapes_second_derivative(backend):
    x = tf.constant(2.0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = x ** 3
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == 12.0      # 3x^2
    assert float(d2y) == 12.0     # 6x

    xs = tf.constant([0.5, -1.0, 3.0], dtype=tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(xs)
        with tf.GradientTape() as inner:
            inner.watch(xs)
            y = tf.reduce_sum(xs ** 3)
        dy = inner.gradient(y, xs)
    np.testing.assert_allclose(outer.gradient(dy, xs).numpy(), 6 * xs.numpy())


def test_nested_tapes_second_derivative_of_variable():
    w = tf.Variable(3.0)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = w ** 3
        dy = inner.gradient(y, w)
    assert float(dy) == 27.0
    d2 = outer.gradient(dy, w)
    assert d2 is not None and float(d2) == 18.0


def test_tape_jacobian(backend):
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.sin(x) * x[0]
    J = tape.jacobian(y, x)
    assert J.shape == (3, 3)
    np.testing.assert_allclose(J.numpy(), fd_jacobian(lambda t: np.sin(t) * t[0], x.numpy()), rtol=1e-4, atol=1e-4)

    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y = v * tf.reduce_sum(v)
    J = tape.jacobian(y, v)
    expected = np.diag([6.0, 6.0, 6.0]) + np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(J.numpy(), expected)


def test_gradient_wrt_intermediate_tensor(backend):
    x = tf.constant(1.5, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = tf.sin(y)
    np.testing.assert_allclose(float(tape.gradient(z, y)), np.cos(2.25))
    np.testing.assert_allclose(float(tape.gradient(z, x)), np.cos(2.25) * 3.0)
    # as in TensorFlow, a source does not stop the backward pass: x gets its total derivative
    gy, gx = tape.gradient(z, [y, x])
    np.testing.assert_allclose(float(gy), np.cos(2.25))
    np.testing.assert_allclose(float(gx), np.cos(2.25) * 3.0)


def test_tape_variable_read_twice_sums_gradients():
    a = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = a * 2.0
        a.assign(5.0)
        z = y + a * 3.0
    assert float(tape.gradient(z, a)) == 5.0


def test_tape_float64_matches_finite_differences(backend):
    x = f64(*X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _smooth(x)
    g = tape.gradient(y, x)
    assert g.dtype == tf.float64
    np.testing.assert_allclose(g.numpy(), fd_grad(_smooth_np, X), rtol=1e-7, atol=1e-8)


def test_tape_type_errors():
    x = tf.constant(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        with pytest.raises(TypeError, match="watch"):
            tape.watch(3.0)
    with pytest.raises(TypeError, match="sources"):
        tape.gradient(y, [1.0])


def test_tape_gradient_of_variable_wrt_itself():
    v = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        pass
    g = tape.gradient(v, v)
    assert g is not None
    np.testing.assert_array_equal(g.numpy(), [1, 1])


def test_tape_jacobian_after_gradient_on_non_persistent_tape():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2, 4])
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.jacobian(y, x)
