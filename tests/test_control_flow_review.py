"""Regression tests from an adversarial review of control flow (cond, fori_loop, while_loop, scan).

Each test failed before its fix. References are NumPy loops (JAX's semantics are quoted where they decide).
"""
import numpy as np
import pytest

import jaxish as tf

X3 = np.array([0.5, -1.25, 2.0], np.float32)


def run(mode, f, *args):
    return f(*args) if mode == "eager" else tf.trace(f)(*args)


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_weak_init_promoted_to_the_body_dtype(backend, mode):
    # JAX promotes a weakly typed init to the type the body returns (lax.fori_loop(0, 3, f, 0) with a float
    # body is a float32 loop); this raised "body_fun's result is float32[] but init_val is ~int32[]"
    w = np.float32(0.75)

    def f(x):
        a = tf.fori_loop(0, 3, lambda i, c: c + x[0] * w, 0)
        b, _ = tf.scan(lambda c, e: (c + e, None), 0, x)
        c = tf.while_loop(lambda c: c < 2.0, lambda c: c + x[2], 0)
        d = tf.fori_loop(0, 2, lambda i, c: c + tf.constant(np.float64(0.25)), 1.0)   # weak f32 -> float64
        return a, b, c, d
    a, b, c, d = run(mode, f, X3)
    assert [t.dtype for t in (a, b, c)] == [tf.float32] * 3 and d.dtype == tf.float64
    assert not any(t.aval.weak_type for t in (a, b, c, d))
    np.testing.assert_allclose([float(a), float(b), float(c), float(d)],
                               [3 * X3[0] * w, X3.sum(), 2.0, 1.5], rtol=1e-6)


@pytest.mark.parametrize("call, op, what, n", [
    (lambda x: tf.cond(True, lambda a, b: a, lambda a, b: b, x), "cond", "false_fun", 1),
    (lambda x: tf.cond(True, lambda a: a, lambda a: a, x, x), "cond", "false_fun", 2),
    (lambda x: tf.scan(lambda c: (c, None), x, None, length=2), "scan", "f", 2),
    (lambda x: tf.fori_loop(0, 3, lambda c: c, x), "fori_loop", "body_fun", 2),
    (lambda x: tf.while_loop(lambda: True, lambda c: c, x), "while_loop", "cond_fun", 1),
])
def test_operand_count_mismatch_names_the_op_and_the_users_line(call, op, what, n):
    # was Python's bare "<lambda>() takes 1 positional argument but 2 were given", naming neither
    with pytest.raises(TypeError) as info:
        call(X3)
    msg = str(info.value)
    assert msg.startswith(f"{op}: {what} ") and f"with {n} argument(s)" in msg, msg
    assert "test_control_flow_review.py" in msg, msg


def test_grad_through_while_loop_error_names_the_users_line():
    def loss(x):
        return tf.reduce_sum(tf.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))[1])
    for g in (tf.grad(loss), tf.trace(tf.grad(loss))):
        with pytest.raises(ValueError, match="while_loop") as info:
            g(X3)
        assert "fori_loop" in str(info.value) and "test_control_flow_review.py" in str(info.value), info.value


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_fori_loop_bounds_of_different_dtypes_are_an_error(mode):
    # an int8 lower with an int32 upper of 300 ran 44 iterations under @trace (the upper bound was converted to
    # int8 and wrapped) and gave an int8 i that wrapped eagerly; JAX raises "lower and upper arguments to
    # fori_loop must have equal types"
    def f(lo, hi):
        return tf.fori_loop(lo, hi, lambda i, c: c + 1, 0)
    with pytest.raises(TypeError, match="fori_loop: lower and upper must have the same dtype, got int8 and int32"):
        run(mode, f, tf.constant(np.int8(0)), tf.constant(np.int32(300)))


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_fori_loop_python_bound_outside_the_index_dtype_is_an_error(mode):
    # with an int8 lower, upper=300 wrapped to 44 under @trace (44 iterations, no error)
    def f(lo):
        return tf.fori_loop(lo, 300, lambda i, c: c + 1, 0)
    with pytest.raises(TypeError, match="the bound .* does not fit in the index dtype int8"):
        run(mode, f, tf.constant(np.int8(0)))
    # with bounds known when tracing, the indices are what must fit (0..127 is an int8 loop); with a traced bound
    # the loop compares i with the upper bound, which must fit too
    hi = 128 if mode == "eager" else 127
    out = run(mode, lambda lo: tf.fori_loop(lo, hi, lambda i, c: c + tf.cast(i, tf.int32), 0), tf.constant(np.int8(0)))
    assert int(out) == sum(range(hi))


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_grad_through_a_while_loop_that_does_not_depend_on_the_input(backend, mode):
    # the loop runs on constants only, so no derivative flows through it (JAX: grad gives 8.0 per element);
    # the backward pass called while's VJP rule anyway and raised "differentiation through while_loop"
    def loss(x, n):
        return tf.reduce_sum(x) * tf.fori_loop(0, n, lambda i, c: c * 2.0, 1.0)   # traced n: a while_loop
    g = tf.grad(loss) if mode == "eager" else tf.trace(tf.grad(loss))
    np.testing.assert_allclose(np.asarray(g(X3, np.int32(3))), np.full(3, 8.0))
    xv = tf.constant(X3)
    with tf.GradientTape() as tape:
        tape.watch(xv)
        out = tf.reduce_sum(xv) * tf.while_loop(lambda c: c < 5.0, lambda c: c * 2.0, 1.0)
    np.testing.assert_allclose(np.asarray(tape.gradient(out, xv)), np.full(3, 8.0))


def test_long_fori_loop_does_not_allocate_its_indices():
    # fori_loop(0, n) with static bounds scanned an iota of all n indices: memory grew with the trip count
    # (fori_loop(0, 10**9, ...) using i allocated 4 GB of indices; JAX's loop carries i)
    n = (1 << 20) + 5
    g = tf.make_graph(lambda x: tf.fori_loop(0, n, lambda i, c: c + tf.cast(i % 3, tf.float32), x))(np.float32(0))
    big = [o.aval for node in g.nodes for o in node.outvars if o.aval.shape and o.aval.shape[0] >= n]
    assert not big, big


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_fori_loop_carrying_its_index_values_and_grad(backend, mode, monkeypatch):
    # the counter-carrying form of a long fori_loop (forced here for a short loop): values and gradient
    import jaxish.control_flow as cf
    monkeypatch.setattr(cf, "_IOTA_MAX", 2)

    def f(a):
        return tf.fori_loop(2, 7, lambda i, c: c * a + tf.cast(i, tf.float32), a)
    c = 0.7
    for i in range(2, 7):
        c = c * 0.7 + i
    out = run(mode, f, np.float32(0.7))
    np.testing.assert_allclose(float(out), c, rtol=1e-6)
    g = run(mode, tf.grad(f), np.float32(0.7))
    eps = 1e-6
    fd = 0.0
    for s in (1, -1):
        c = 0.7 + s * eps
        a = c
        for i in range(2, 7):
            c = c * a + i
        fd += s * c / (2 * eps)
    np.testing.assert_allclose(float(g), fd, rtol=1e-4)


def test_tape_sees_a_watched_scalar_the_bodies_close_over(backend):
    # a 0-d tensor closed over by a body was inlined as a literal: the tape did not see the dependence and
    # gave None for it (grad, which traces it, was right); found by the op table's rows on the GPU
    x = tf.constant(np.array([0.5, -1.0, 0.3]))
    y = tf.constant(0.7, tf.float64)

    def f(x, y):
        a = tf.fori_loop(0, 3, lambda i, c: c * y + x, x)
        b, ys = tf.scan(lambda c, e: (c * y + e, c * y), x, tf.ones((2, 3), tf.float64))
        c = tf.cond(tf.reduce_max(x) > 0, lambda v: v * y, lambda v: v, x)
        return tf.reduce_sum(a) + tf.reduce_sum(b) + tf.reduce_sum(ys) + tf.reduce_sum(c)
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        loss = f(x, y)
    gx, gy = tape.gradient(loss, [x, y])
    want = tf.grad(f, argnums=(0, 1))(x, y)

    def ref(x, y):  # the same in NumPy, for finite differences in y
        a = x
        for _ in range(3):
            a = a * y + x
        b, s = x, 0.0
        for _ in range(2):
            s += np.sum(b * y)
            b = b * y + 1
        return a.sum() + b.sum() + s + (x * y).sum()
    eps = 1e-6
    np.testing.assert_allclose(gy.numpy(), (ref(x.numpy(), 0.7 + eps) - ref(x.numpy(), 0.7 - eps)) / (2 * eps),
                               rtol=1e-6)
    np.testing.assert_allclose(gy.numpy(), want[1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), want[0].numpy(), rtol=1e-12)


def test_tape_through_while_closing_over_a_watched_scalar_says_why():
    # before: None (a silently zero gradient); now the while loop's dependence is seen, and it has no reverse mode
    x = tf.constant(np.array([1.0, 2.0]))
    y = tf.constant(1.5, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = tf.while_loop(lambda c: tf.reduce_sum(c) < 10.0, lambda c: c * y, x)
        loss = tf.reduce_sum(out)
    with pytest.raises(ValueError, match="while_loop"):
        tape.gradient(loss, y)
