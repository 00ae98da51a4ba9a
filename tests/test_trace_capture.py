"""A ``@trace``d function called under a GradientTape that watches a tensor the function closes over: the tape
differentiates through the captured tensor (as TensorFlow does for a ``tf.function``'s captures), whether the
function was first traced with or without the tape -- 0-d tensors (inlined as literals) as arrays (constants).
Expected gradients are worked out by hand (d/dx of x * y + y * y is y)."""
import numpy as np
import pytest

import jaxish as tf


@pytest.mark.parametrize("first_without_tape", [True, False])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_tape_differentiates_a_captured_tensor(first_without_tape, shape):
    xv = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape) * 1.5
    x = tf.constant(xv)

    @tf.trace
    def f(y):
        return tf.reduce_sum(x * y + y * y)

    y = tf.constant(np.float32(2.0))
    if first_without_tape:
        np.testing.assert_allclose(f(y).numpy(), np.sum(xv * 2.0 + 4.0), rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = f(y)
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), np.full(shape, 2.0, np.float32))
    with tf.GradientTape() as tape:  # y watched too: both gradients (dz/dy = sum(x) + 2 y * size)
        tape.watch([x, y])
        z = f(y)
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_allclose(gx.numpy(), np.full(shape, 2.0, np.float32))
    np.testing.assert_allclose(gy.numpy(), np.sum(xv) + 4.0 * xv.size, rtol=1e-6)
    with tf.GradientTape() as tape:  # not watched: no gradient, the value unchanged
        z = f(y)
    assert tape.gradient(z, x) is None
    np.testing.assert_allclose(z.numpy(), np.sum(xv * 2.0 + 4.0), rtol=1e-6)


def test_captured_scalar_used_twice_and_nested_tapes():
    x = tf.constant(3.0)

    @tf.trace
    def f(y):
        return x * y + y * x

    y = tf.constant(2.0)
    f(y)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            z = f(y)
        g = inner.gradient(z, x)
    assert float(g) == 4.0
    assert outer.gradient(g, x) is None  # dz/dx = 2y does not depend on x
