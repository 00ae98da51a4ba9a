"""Regressions found by the adversarial review of session 5's changes (round, ...).

References are NumPy's values (``np.round`` rounds halves to even, as ``tf.round``) or written literally.
"""
import numpy as np
import pytest

import jaxish as tf


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_keeps_infinities_and_the_sign_of_zero(mode, dtype):
    # tf.round(inf) is inf (x - floor(x) is NaN there: it was NaN), tf.round(-0.4) is -0.0 (it was +0.0);
    # values at and above 2**nmant are integers already and come back unchanged
    big = float(2 ** np.finfo(dtype).nmant)
    xs = np.array([np.inf, -np.inf, np.nan, -0.5, -0.4, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, 0.7, -1.2,
                   big + 2, -(big + 2), big - 0.5, big / 2 + 0.5], dtype)
    f = tf.round if mode == "eager" else tf.trace(tf.round)
    got = np.asarray(f(tf.constant(xs)))
    ref = np.round(xs)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(ref))


def test_round_has_a_zero_gradient_everywhere():
    # a step function: 0 everywhere, also where the input is large or infinite
    x = tf.constant(np.array([0.3, 2.5, -1.5, 2.0 ** 30, np.inf], np.float32))
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(tf.round(x))
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), np.zeros(5, np.float32))
