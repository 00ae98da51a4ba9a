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


# -- one_hot: on_value/off_value dtypes as TensorFlow converts them ----------------------------------------
@pytest.mark.parametrize("kwargs, dtype", [
    ({}, "float32"),
    ({"on_value": 5, "off_value": -1}, "int32"),  # TF: the dtype of on_value/off_value when dtype is absent
    ({"off_value": -1}, "int32"),
    ({"on_value": 5.0}, "float32"),
    ({"on_value": 5, "dtype": "float64"}, "float64"),
    ({"on_value": True, "off_value": False}, "bool"),
    ({"on_value": np.float64(2.0)}, "float64"),
])
def test_one_hot_dtype_follows_tensorflow(kwargs, dtype):
    on, off = kwargs.get("on_value", 1), kwargs.get("off_value", 0)
    want = np.where(np.arange(3) == np.array([0, 2, 5])[:, None], on, off).astype(dtype)
    got = tf.one_hot([0, 2, 5], 3, **kwargs)
    assert got.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("kwargs, words", [
    ({"on_value": 2.5, "dtype": tf.int32}, ("on_value", "float32", "int32")),
    ({"on_value": 2.0, "dtype": tf.int32}, ("on_value", "float32", "int32")),
    ({"on_value": 1.0, "off_value": 0}, ("on_value", "off_value", "float32", "int32")),
    ({"off_value": tf.constant(0.0, tf.float64), "dtype": tf.float32}, ("off_value", "float64", "float32")),
])
def test_one_hot_mismatched_value_dtypes_raise(kwargs, words):
    with pytest.raises(TypeError, match="one_hot") as e:
        tf.one_hot([0, 2], 3, **kwargs)
    for w in words:
        assert w in str(e.value)


def test_one_hot_values_must_be_scalars():
    with pytest.raises(ValueError, match=r"one_hot: .*scalars.*\(2,\)"):
        tf.one_hot([0, 2], 3, on_value=[1.0, 2.0])


# -- traced indices that select nothing may index an empty axis (NumPy/JAX give an empty result) ---------
@pytest.mark.parametrize("shape, key, idx", [
    ((0, 2), lambda a, i: a[i], np.zeros((0,), np.int32)),
    ((3, 0), lambda a, i: a[:, i], np.zeros((2, 0), np.int32)),
    ((0, 2), lambda a, i: a[i, [[]]], np.array([1], np.int32)),  # broadcast shape (1, 0)
])
def test_traced_empty_index_on_empty_axis(backend, shape, key, idx):
    x = np.zeros(shape, np.float32)
    want = key(x, idx)
    got = tf.trace(key)(tf.constant(x), tf.constant(idx))
    assert got.shape == want.shape
    g = tf.grad(lambda a: tf.reduce_sum(tf.trace(key)(a, tf.constant(idx))))(tf.constant(x))
    assert g.shape == shape


def test_traced_nonempty_index_on_empty_axis_raises():
    with pytest.raises(IndexError, match="axis 0 with size 0"):
        tf.trace(lambda a, i: a[i])(tf.zeros((0, 2)), tf.constant([0]))


def test_uint64_index_beyond_int64_names_its_value():
    with pytest.raises(IndexError, match="index 9223372036854775808 is out of bounds"):
        tf.constant(np.zeros(3))[np.array([2**63], np.uint64)]


# -- creation: no silent wrap-around, TensorFlow's dtype inference for range ------------------------------
@pytest.mark.parametrize("make, exc, words", [
    (lambda: tf.constant(1e10, dtype=tf.int32), ValueError, ("int32", "1e+10")),
    (lambda: tf.constant([1.0, -3e9], dtype=tf.int32), ValueError, ("int32",)),
    (lambda: tf.constant(float("nan"), dtype=tf.int32), TypeError, ("nan", "int32")),
    (lambda: tf.range(2**31 - 2, 2**31 + 2, dtype=tf.int32), ValueError, ("range", "int32")),
    (lambda: tf.range(0.5, 3, dtype=tf.int32), TypeError, ("range", "0.5", "int32")),
    (lambda: tf.range(3, dtype=tf.bool), TypeError, ("range", "bool")),
])
def test_creation_out_of_range_values_raise(make, exc, words):
    with pytest.raises(exc) as e:
        make()
    for w in words:
        assert w in str(e.value).replace("10000000000.0", "1e+10")


def test_range_of_a_traced_bound_needs_a_concrete_value():
    with pytest.raises(tf.ConcretizationError, match="range"):
        tf.trace(lambda n: tf.range(n))(tf.constant(3))


@pytest.mark.parametrize("args, dtype", [
    ((3,), "int32"),
    ((2**31, 2**31 + 2), "int64"),  # was int32, wrapped to negative values
    ((tf.constant(3, tf.int64),), "int64"),
    ((tf.constant(3.0, tf.float64),), "float64"),
    ((np.int64(3),), "int64"),
    ((1, 2.5), "float32"),
    ((0, tf.constant(2, tf.int64), 0.5), "float32"),
])
def test_range_dtype_is_the_widest_argument_dtype(args, dtype):
    vals = [a.numpy().item() if isinstance(a, tf.Tensor) else a for a in args]
    got = tf.range(*args)
    assert got.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), np.arange(*vals).astype(dtype))


# -- Variable(shape=...) is checked against the initial value (TensorFlow), not ignored --------------------
@pytest.mark.parametrize("shape", [(3,), [None], tf.TensorShape([3])])
def test_variable_shape_argument_compatible(shape):
    v = tf.Variable([1.0, 2.0, 3.0], shape=shape)
    assert v.shape == (3,)
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("shape, exc", [((2,), ValueError), ((), ValueError), ([None, 2], ValueError),
                                        ("ab", TypeError), (3, TypeError), ((1.5,), TypeError)])
def test_variable_shape_argument_incompatible_raises(shape, exc):
    with pytest.raises(exc, match="Variable: .*shape"):
        tf.Variable([1.0, 2.0, 3.0], shape=shape)
