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
