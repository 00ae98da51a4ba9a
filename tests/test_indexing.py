"""``tensor[key]`` against NumPy, eagerly and traced, with gradients."""
import numpy as np
import pytest

import jaxish as tf

X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)

KEYS = [
    0, -1, (1, 2), (-1, -2, -3), slice(None), slice(1, None), slice(None, None, -1), slice(None, None, 2),
    (slice(None), slice(2, 0, -1)), (Ellipsis, 1), (1, Ellipsis), (None, 0), (0, None, slice(1, 3)),
    (Ellipsis, None), (slice(None), None, Ellipsis, 0), (slice(-2, None), slice(None, None, -2), 3),
    (slice(5, 10),), (slice(3, 1),), np.array([1, 0, 1]), (slice(None), np.array([2, 0])),
    (0, np.array([[0, 1], [2, 2]])), (np.array([0, 1]), np.array([2, 0])), (Ellipsis, np.array([-1, 0])),
    X[..., 0] > 5, X > 10, (slice(None), [True, False, True]),
]


def _id(k):
    return repr(k).replace(" ", "")[:40]


@pytest.mark.parametrize("key", KEYS, ids=_id)
def test_getitem_matches_numpy(key):
    got = tf.constant(X)[key]
    want = X[key]
    assert got.shape == want.shape
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("key", [k for k in KEYS if not (isinstance(k, np.ndarray) and k.dtype == bool)
                                 and not (isinstance(k, tuple) and any(isinstance(i, list) for i in k))],
                         ids=_id)
def test_getitem_traced_and_gradient(key, backend):
    f = tf.trace(lambda x: x[key])
    np.testing.assert_array_equal(f(tf.constant(X)).numpy(), X[key])
    # the gradient scatters ones into the selected positions (accumulating repeats)
    g = tf.grad(lambda x: tf.reduce_sum(x[key]))(tf.constant(X))
    want = np.zeros_like(X)
    np.add.at(want, key, 1.0)
    np.testing.assert_array_equal(g.numpy(), want)


def test_index_with_tensors_and_seed_examples():
    m = tf.constant([[1, 2], [3, 4]], dtype=tf.int8)
    assert repr(m[0, 1]) == "<jaxish.Tensor: shape=(), dtype=int8, numpy=2>"
    assert repr(m[1, :2]) == "<jaxish.Tensor: shape=(2,), dtype=int8, numpy=array([3, 4], dtype=int8)>"
    assert repr(m[tf.newaxis, 1, :2]) == "<jaxish.Tensor: shape=(1, 2), dtype=int8, numpy=array([[3, 4]], dtype=int8)>"
    np.testing.assert_array_equal(m[tf.constant(1)].numpy(), [3, 4])
    np.testing.assert_array_equal(m[tf.constant([1, 0])].numpy(), [[3, 4], [1, 2]])


@pytest.mark.parametrize("key, err", [((0, 0, 0, 0), IndexError), (5, IndexError), ((0, 7), IndexError),
                                      (1.5, IndexError), ("a", IndexError), ((Ellipsis, Ellipsis), IndexError)])
def test_bad_indices(key, err):
    with pytest.raises(err):
        tf.constant(X)[key]


def test_out_of_bounds_gather_raises_on_both_backends(backend):
    f = tf.trace(lambda x, i: tf.gather(x, i))
    with pytest.raises(IndexError):
        f(tf.constant([1.0, 2.0]), tf.constant([0, 5]))


def test_boolean_mask_needs_concrete_values():
    f = tf.trace(lambda x: x[x > 0])
    with pytest.raises(tf.ConcretizationError):
        f(tf.constant([1.0, -1.0]))
