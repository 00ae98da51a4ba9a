"""Tensors, dtypes and promotion, operators, creation, variables, devices, bad input."""
import itertools
import warnings

import numpy as np
import pytest

import jaxish as tf
from jaxish import dtypes

NAMES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"]


# ---- dtypes and promotion -----------------------------------------------------
def test_dtype_objects_print_like_tensorflow():
    assert str(tf.float32) == "float32" and repr(tf.int8) == "int8"
    assert tf.as_dtype("float64") is tf.float64 and tf.as_dtype(np.int16) is tf.int16
    assert tf.float32 == np.float32 and tf.float32 != tf.float64
    with pytest.raises(TypeError, match="valid dtypes"):
        tf.as_dtype("complex64")


@pytest.mark.parametrize("a,b,want", [
    ("int8", "uint8", "int16"), ("int32", "float16", "float16"), ("bool", "int8", "int8"),
    ("uint8", "float32", "float32"), ("int64", "float32", "float32"), ("float16", "float64", "float64"),
])
def test_promotion_spot_checks(a, b, want):
    x = tf.zeros((2,), a) + tf.zeros((2,), b)
    assert x.dtype.name == want


def test_promotion_lattice_matches_jax():
    jnp = pytest.importorskip("jax.numpy")
    for a, b in itertools.product(NAMES, NAMES):
        got = dtypes.result_type((tf.as_dtype(a), False), (tf.as_dtype(b), False))[0].name
        assert got == jnp.promote_types(a, b).name, (a, b)


@pytest.mark.parametrize("name", NAMES[1:])
def test_python_scalars_are_weak(name):
    x = tf.ones((3,), name)
    assert (x * 2).dtype.name == name
    assert (2 + x).dtype.name == name
    want = name if name.startswith("float") else "float32"
    assert (x * 0.5).dtype.name == want
    assert (-0.05 * tf.ones((2,), tf.float16)).dtype == tf.float16


def test_defaults_for_python_and_numpy_values():
    assert tf.constant(1.5).dtype == tf.float32
    assert tf.constant(3).dtype == tf.int32
    assert tf.constant(True).dtype == tf.bool
    assert tf.constant(2**40).dtype == tf.int64
    assert tf.constant(np.ones(2)).dtype == tf.float64
    assert tf.constant(np.ones(2, np.int16)).dtype == tf.int16
    assert tf.constant(np.ones(2), dtype=tf.float16).dtype == tf.float16


# ---- the Tensor object ----------------------------------------------------------
def test_tensor_protocols():
    t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and str(t.shape) == "(2, 2)" and t.ndim == 2 and len(t) == 2
    assert [r.numpy().tolist() for r in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(t).dtype == np.float32
    s = tf.constant([2.5])
    assert bool(s) and "{:5.2f}".format(tf.constant(3.14159)) == " 3.14"
    # float() and int() of a one-element tensor of rank 1: NumPy's (and so TensorFlow's) TypeError
    assert float(s[0]) == 2.5 and int(s[0]) == 2
    with pytest.raises(TypeError):
        float(s)
    assert [10, 20, 30][tf.constant(1)] == 20
    with pytest.raises(TypeError):
        float(t)
    with pytest.raises(TypeError):
        hash(t)
    d = {t.ref(): "x"}
    assert d[t.ref()] == "x" and t.ref().deref() is t
    a = t.numpy()
    a[0, 0] = 5.0  # a copy, as in TensorFlow: the tensor is immutable
    assert t.numpy()[0, 0] == 1.0


def test_reprs():
    assert repr(tf.constant(1, dtype=tf.int8)) == "<jaxish.Tensor: shape=(), dtype=int8, numpy=1>"
    assert repr(tf.constant(5.0)) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=5.0>"
    assert repr(tf.constant([1.0, 2.0, 3.0])) == \
        "<jaxish.Tensor: shape=(3,), dtype=float32, numpy=array([1., 2., 3.], dtype=float32)>"
    assert repr(tf.constant([[1.0, 2.0], [3.0, 4.0]])) == (
        "<jaxish.Tensor: shape=(2, 2), dtype=float32, numpy=\narray([[1., 2.],\n       [3., 4.]], dtype=float32)>")
    big = repr(tf.zeros((100, 100)))
    assert "..." in big and len(big) < 1000
    v = tf.Variable([[1.0, 2.0]])
    assert repr(v).startswith("<jaxish.Variable 'Variable:0' shape=(1, 2) dtype=float32, numpy=")
    assert tf.Variable(1.0, name="w").name == "w:0"


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">="])
def test_operators_and_reflected_forms(op):
    a = np.array([[1.5, 2.0, -3.0]], np.float32)
    b = np.array([[2.0], [0.5]], np.float32)
    f = eval(f"lambda x, y: x {op} y")
    want = f(a, b)
    for x, y in [(tf.constant(a), tf.constant(b)), (tf.constant(a), b), (a, tf.constant(b))]:
        got = f(x, y)
        assert isinstance(got, tf.Tensor)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(f(tf.constant(a), 2.0)), f(a, np.float32(2.0)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(f(2.0, tf.constant(a))), f(np.float32(2.0), a), rtol=1e-6)


def test_unary_bool_and_matmul_operators():
    p = tf.constant([True, False, True])
    q = tf.constant([True, True, False])
    assert (p & q).numpy().tolist() == [True, False, False]
    assert (p | q).numpy().tolist() == [True, True, True]
    assert (p ^ q).numpy().tolist() == [False, True, True]
    assert (~p).numpy().tolist() == [False, True, False]
    x = tf.constant([[1.0, -2.0]])
    assert (-x).numpy().tolist() == [[-1.0, 2.0]] and abs(x).numpy().tolist() == [[1.0, 2.0]]
    np.testing.assert_array_equal((x @ tf.transpose(x)).numpy(), [[5.0]])
    assert (tf.constant([6, 7]) & 3).numpy().tolist() == [2, 3]


# ---- creation ----------------------------------------------------------------------
def test_creation_functions():
    np.testing.assert_array_equal(tf.fill((2, 3), 7).numpy(), np.full((2, 3), 7, np.int32))
    np.testing.assert_array_equal(tf.eye(3).numpy(), np.eye(3, dtype=np.float32))
    assert tf.eye(2, 3, batch_shape=[4]).shape == (4, 2, 3)
    np.testing.assert_array_equal(tf.range(5).numpy(), np.arange(5, dtype=np.int32))
    np.testing.assert_allclose(tf.range(1.0, 2.0, 0.25).numpy(), np.arange(1.0, 2.0, 0.25, dtype=np.float32))
    np.testing.assert_allclose(tf.linspace(0.0, 1.0, 5).numpy(), np.linspace(0, 1, 5, dtype=np.float32))
    assert tf.zeros_like(tf.ones((2,), tf.int8)).dtype == tf.int8
    assert tf.ones_like(tf.ones((2,)), dtype=tf.float64).dtype == tf.float64
    assert tf.constant(0, shape=(2, 3)).numpy().tolist() == [[0] * 3] * 2
    assert tf.constant([1, 2, 3, 4], shape=(2, 2)).shape == (2, 2)
    assert tf.size(tf.ones((2, 3))).numpy() == 6 and tf.rank(tf.ones((2, 3))).numpy() == 2
    s = tf.shape(tf.ones((2, 3)))
    assert s.dtype == tf.int32 and s.numpy().tolist() == [2, 3]
    t = tf.constant([1.7, -1.7])
    assert tf.cast(t, tf.int32).numpy().tolist() == [1, -1]
    assert tf.convert_to_tensor([1.0]).dtype == tf.float32


@pytest.mark.parametrize("value, err", [
    ([[1, 2], [3]], ValueError), ("text", TypeError), (None, TypeError), (np.array([object()]), TypeError),
    ({"a": 1}, TypeError),
])
def test_bad_values_are_clear_errors(value, err):
    with pytest.raises(err, match="constant"):
        tf.constant(value)


def test_bad_dtypes_axes_and_shapes():
    with pytest.raises(TypeError, match="int8"):
        tf.constant(1.5, dtype=tf.int8)
    with pytest.raises(ValueError, match="out of range"):
        tf.constant(300, dtype=tf.int8)
    with pytest.raises(ValueError, match=r"reduce_sum.*axis 3.*rank 2"):
        tf.reduce_sum(tf.ones((2, 2)), axis=3)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        tf.ones((2, 3)) * tf.ones((4, 3))
    with pytest.raises(ValueError, match="reshape"):
        tf.reshape(tf.ones((2, 3)), (4, 2))
    with pytest.raises(TypeError, match="exp"):
        tf.exp(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="float32"):
        tf.ones((2,)) & 1
    with pytest.raises(TypeError, match="bool"):
        tf.logical_and(tf.ones((2,), tf.int32), tf.ones((2,), tf.int32))


# ---- variables -----------------------------------------------------------------------
def test_variable_semantics():
    v = tf.Variable([[1.0, 2.0]])
    assert isinstance(v * 2, tf.Tensor) and not isinstance(v * 2, tf.Variable)
    assert v.assign([[3.0, 4.0]]) is v and v.numpy().tolist() == [[3.0, 4.0]]
    v.assign_add(tf.ones((1, 2)))
    v.assign_sub([[1.0, 1.0]])
    assert v.read_value().numpy().tolist() == [[3.0, 4.0]]
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        v.assign(tf.ones((3,)))
    with pytest.raises(TypeError, match="float64"):
        v.assign(tf.ones((1, 2), tf.float64))
    with pytest.raises(TypeError, match="float64"):
        v.assign_add(tf.ones((1, 2), tf.float64))
    held = [v.read_value()]
    for _ in range(3):  # the second update on takes assign_add's shortcut (the result has the value's aval)
        v.assign_add([[0.5, 1.0]])
        held.append(v.read_value())
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        v.assign_add(tf.ones((3, 2)))   # broadcasts to a new shape
    with pytest.raises(ValueError, match=r"shape \(3, 1\)"):
        v.assign_sub(tf.ones((3, 1)))   # no broadcasting, as TensorFlow's AssignSubVariableOp
    assert [h.numpy().tolist() for h in held] == [[[3.0, 4.0]], [[3.5, 5.0]], [[4.0, 6.0]], [[4.5, 7.0]]]
    assert v.numpy().tolist() == [[4.5, 7.0]] and v.read_value()._weak is False
    assert tf.Variable(1.0, trainable=False).trainable is False
    assert tf.Variable(lambda: tf.zeros((2,))).shape == (2,)
    assert tf.Variable(3, dtype=tf.float64).dtype == tf.float64


# ---- devices ----------------------------------------------------------------------------
def test_devices():
    x = tf.constant([1.0])
    with tf.device("/cpu:0"):
        assert tf.identity(x).device == "/job:localhost/replica:0/task:0/device:CPU:0"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with tf.device("/device:GPU:0"):
            y = tf.identity(x)
    assert y.device.endswith("device:CPU:0")
    for bad in ["/tpu:0", "gpu", "/cpu:1", ""]:
        with pytest.raises(ValueError, match="valid devices|only one CPU"):
            tf.device(bad)
    tf.config.set_soft_device_placement(False)
    try:
        with pytest.raises(RuntimeError, match="no GPU"):
            tf.device("/gpu:0")
    finally:
        tf.config.set_soft_device_placement(True)


def test_backend_config():
    old = tf.config.backend
    tf.config.backend = "interpreter"
    assert tf.config.get_backend() == "interpreter"
    tf.config.backend = old
    with pytest.raises(ValueError, match="cpu"):
        tf.config.backend = "tpu"
