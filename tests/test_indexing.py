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


@pytest.mark.parametrize("idx, axis, bad", [([0, 5], 0, 5), ([[1], [-4]], 0, -4), ([3, 0, 1], 1, 3)])
def test_out_of_bounds_gather_raises_on_both_backends(backend, idx, axis, bad):
    """``gather`` follows TensorFlow on the CPU: out-of-range indices raise, eagerly and traced."""
    x = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])[:, :3 - axis]
    size = x.shape[axis]
    message = f"gather: index {bad} is out of bounds for axis {axis} with size {size}"
    with pytest.raises(IndexError, match=message):
        tf.gather(x, tf.constant(idx), axis=axis)
    with pytest.raises(IndexError, match=message):
        tf.trace(lambda x, i: tf.gather(x, i, axis=axis))(x, tf.constant(idx))


def test_boolean_mask_needs_concrete_values():
    f = tf.trace(lambda x: x[x > 0])
    with pytest.raises(tf.ConcretizationError):
        f(tf.constant([1.0, -1.0]))


# -- NumPy's rules for mixed indices (issue 7, item 3) ---------------------------------------------------
# each key as written in source, so a failure shows the expression
NUMPY_EXPRESSIONS = [
    "0, :, [0, 1]", ":, 0, [0, 1]", "[0, 1], :, 0", "0, [0, 1], :", "..., [0, 1], 0", "[0, 1], 1:, [0, 1]",
    "[0, 1], None, [0, 1]", "0, None, [0, 1]", "[0], ..., [0]", ":, [0], ..., [0]", "0, ..., [0, 1]",
    "np.array(0), :, [0, 1]", "[[0, 1], [1, 0]], :, [[3], [2]]", "[[0, 1]], [[2], [0]]", "None, [1], None, [2]",
    "::-1, [2, 0]", "1:, [2, 0], ::2", "[1, -1], [-3, 2], [0, -1]", "-1, [0, 2], -2",
    "True", "False", "np.bool_(True)", "np.bool_(False)", "True, True", "True, [0, 1]", "[0, 1], True",
    "0, True, [0, 1]", "0, [0, 1], True", ":, True, [0, 1]", ":, [0, 1], True", "[[0]], :, True",
    "True, 1, ::-1", "None, False", "[], :, 0", "[True, False]", "[True, False], [0, 2, 1]",
    "0, X[0] > 4", "X[..., 0] > 5", "..., [True, False, True, False]", "1, [False, True, True]", "X > 10",
    "..., None", "1, -1", "None, ..., None",
]
_ISOLATED = {"np": np, "X": X}


def _key(expr):
    return eval(f"np.index_exp[{expr}]", _ISOLATED)  # noqa: S307 - test expressions written above


@pytest.mark.parametrize("expr", NUMPY_EXPRESSIONS)
def test_index_expression_matches_numpy_eager(expr):
    key = _key(expr)
    want = X[key]
    got = tf.constant(X)[key]
    assert got.shape == want.shape, expr
    np.testing.assert_array_equal(got.numpy(), want, err_msg=expr)


@pytest.mark.parametrize("expr", NUMPY_EXPRESSIONS)
def test_index_expression_matches_numpy_traced(expr, backend):
    key = _key(expr)
    want = X[key]
    got = tf.trace(lambda x: x[key])(tf.constant(X))
    assert got.shape == want.shape, expr
    np.testing.assert_array_equal(got.numpy(), want, err_msg=expr)


@pytest.mark.parametrize("expr", ["0, :, [0, 1]", "[0, 1], None, [0, 1]", "[[0, 1]], [[2], [0]]",
                                  ":, True, [0, 1]", "[1, 1], :, [3, 3]"])
def test_separated_array_indices_gradient(expr, backend):
    key = _key(expr)
    g = tf.grad(lambda x: tf.reduce_sum(tf.trace(lambda y: y[key] * 2.0)(x)))(tf.constant(X))
    want = np.zeros_like(X)
    np.add.at(want, key, 2.0)
    np.testing.assert_array_equal(g.numpy(), want)


@pytest.mark.parametrize("key, message", [
    (np.array([True]), "boolean index did not match indexed array along axis 0; size of axis is 2 but size of "
                       "corresponding boolean axis is 1"),
    ((slice(None), [True, False]), "along axis 1; size of axis is 3 but size of corresponding boolean axis is 2"),
    (X[0] > 100, "along axis 0; size of axis is 2 but size of corresponding boolean axis is 3"),
    ((False, [0, 1]), "shape mismatch: indexing arrays could not be broadcast together with shapes (0,) (2,)"),
    (([0, 1], [0, 1, 2]), "could not be broadcast together with shapes (2,) (3,)"),
])
def test_bad_masks_and_shapes_raise_like_numpy(key, message):
    with pytest.raises(IndexError) as np_err:
        X[key]
    with pytest.raises(IndexError) as err:
        tf.constant(X)[key]
    assert message in str(err.value)
    assert message.split(";")[0].split(" (")[0] in str(np_err.value)


# -- out-of-range indices (issue 7, item 2) ---------------------------------------------------------------
A = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("key, axis, index, size", [
    ((0, 5), 1, 5, 4), ((1, -6), 1, -6, 4), ((3, 0), 0, 3, 3), ((-4,), 0, -4, 3),
    ((np.array([0]), np.array([5])), 1, 5, 4), ((np.array([1, 2]), np.array([-5, 0])), 1, -5, 4),
    ((np.array([0, 3]), 1), 0, 3, 3), ((slice(None), [0, 4]), 1, 4, 4), ((0, [1, -5]), 1, -5, 4),
    ((tf.constant([0]), tf.constant([4])), 1, 4, 4),
])
def test_out_of_range_index_raises_eagerly(key, axis, index, size):
    with pytest.raises(IndexError) as np_err:
        A[tuple(np.asarray(k) if isinstance(k, tf.Tensor) else k for k in key)]
    with pytest.raises(IndexError, match=f"index {index} is out of bounds for axis {axis} with size {size}"):
        tf.constant(A)[key]
    assert f"index {index} is out of bounds for axis {axis} with size {size}" in str(np_err.value)


def test_out_of_range_constant_index_raises_while_tracing():
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 4"):
        tf.trace(lambda a: a[0, np.array([5])])(tf.constant(A))


def _clamped(i, n):
    """The documented rule for traced indices (JAX's): wrap a negative index once, then clamp to [0, n-1]."""
    i = np.asarray(i)
    return np.clip(np.where(i < 0, i + n, i), 0, n - 1)


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64, tf.int8, tf.uint8])
def test_traced_out_of_range_indices_are_clamped_per_axis(backend, dtype):
    rng = np.random.default_rng(0)
    lo = 0 if dtype == tf.uint8 else -9
    i, j = rng.integers(lo, 9, size=20), rng.integers(lo, 9, size=20)
    f = tf.trace(lambda a, i, j: a[i, j])
    got = f(tf.constant(A), tf.constant(i, dtype), tf.constant(j, dtype)).numpy()
    np.testing.assert_array_equal(got, A[_clamped(i, 3), _clamped(j, 4)])
    # never a neighbour: a[0, 5] is a[0, 3], not a[1, 1]
    assert f(tf.constant(A), tf.constant([0], dtype), tf.constant([5], dtype)).numpy()[0] == A[0, 3]


def test_traced_scalar_and_mixed_indices_are_clamped(backend):
    f = tf.trace(lambda a, i, j: (a[i], a[i, 1:], a[:, j], a[1, j], a[i, j]))
    for i in (-7, -4, -3, -1, 0, 2, 3, 50):
        for j in (-9, -5, -4, 0, 3, 4, 11):
            ci, cj = int(_clamped(i, 3)), int(_clamped(j, 4))
            outs = f(tf.constant(A), tf.constant(i), tf.constant(j))
            for got, want in zip(outs, (A[ci], A[ci, 1:], A[:, cj], A[1, cj], A[ci, cj])):
                np.testing.assert_array_equal(got.numpy(), want)


def test_traced_clamped_index_gradient_goes_to_the_clamped_element(backend):
    def loss(a, j):
        return tf.reduce_sum(a[tf.constant([0, 2]), j])
    g = tf.trace(tf.grad(loss))(tf.constant(A), tf.constant([7, -9]))
    want = np.zeros_like(A)
    want[0, 3] = want[2, 0] = 1.0
    np.testing.assert_array_equal(g.numpy(), want)


def test_traced_index_into_an_empty_axis_raises():
    with pytest.raises(IndexError, match="size 0"):
        tf.trace(lambda a, i: a[i])(tf.zeros((0, 2)), tf.constant([0]))
