"""Regression tests from the adversarial review of indexing and the shape ops (issue 7), each against NumPy,
TensorFlow's documented semantics or finite differences."""
import numpy as np
import pytest

import jaxish as tf

# -- slices whose negative step starts before the first element select nothing --------------------------
EMPTY_NEGATIVE_STEP = [
    ((4,), np.s_[-6::-1]),
    ((4,), np.s_[..., -6::-2]),
    ((2, 4), np.s_[-4::-2, np.array([True, False, False, True])]),
    ((4, 4, 3, 4), np.s_[-6::-2, 6:]),
    ((4, 1, 1, 3), np.s_[4::-2, -2:-3:-2]),
]


@pytest.mark.parametrize("shape, key", EMPTY_NEGATIVE_STEP, ids=repr)
def test_negative_step_slice_before_start_is_empty(shape, key):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    got = tf.constant(x)[key]
    assert got.shape == x[key].shape
    np.testing.assert_array_equal(got.numpy(), x[key])
    np.testing.assert_array_equal(tf.Variable(x)[key].numpy(), x[key])


def test_negative_step_slice_before_start_traced_and_gradient(backend):
    x = np.arange(4.0)
    np.testing.assert_array_equal(tf.trace(lambda t: t[-6::-1])(tf.constant(x)).numpy(), x[-6::-1])
    g = tf.grad(lambda t: tf.reduce_sum(t[-6::-1]) + tf.reduce_sum(t[::-1] * t))(tf.constant(x))
    np.testing.assert_array_equal(g.numpy(), 2 * x[::-1])  # d sum(t[::-1] * t) = 2 t[::-1]


def test_empty_float_numpy_array_is_not_an_index():
    """NumPy accepts ``x[[]]`` (an empty list) but not an empty float64 array."""
    x = np.zeros((2, 3), np.float32)
    assert tf.constant(x)[[]].shape == x[[]].shape
    with pytest.raises(IndexError, match="float64"):
        tf.constant(x)[np.array([], dtype=np.float64)]
