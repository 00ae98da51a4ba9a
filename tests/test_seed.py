"""Chapter 1 of the seed (tensors, operations, variables, autodiff, linear regression),
run as written with ``import jaxish as tf``.

Eager random draws after ``set_seed`` are TensorFlow's own (``jaxish/tf_random.py``); their values are
asserted in ``tests/test_tf_parity.py``, here only their shapes, dtypes and ranges.
"""
import re
import warnings
from pprint import pprint

import numpy as np
import pytest

import jaxish
import jaxish as tf

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


@pytest.fixture
def seeded():
    tf.random.set_seed(42)
    yield


@pytest.fixture
def soft_placement():
    old = jaxish.config.get_soft_device_placement()
    yield
    jaxish.config.set_soft_device_placement(old)


# ---------------------------------------------------------------------------
# 0. setup
# ---------------------------------------------------------------------------
def test_setup_version_and_seed():
    assert isinstance(tf.__version__, str) and tf.__version__
    tf.random.set_seed(42)
    a = tf.random.uniform((3, 2))
    tf.random.set_seed(42)
    b = tf.random.uniform((3, 2))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------------------
# 1. Tensors
# ---------------------------------------------------------------------------
def test_constants_shapes_dtypes_and_values():
    scalar = tf.constant(1, dtype=tf.int8)
    vector = tf.constant([1, 2, 3], dtype=tf.float32)
    matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
    assert scalar.shape == () and scalar.dtype == tf.int8
    assert vector.shape == (3,) and vector.dtype == tf.float32
    assert matrix.shape == (2, 2) and matrix.dtype == tf.float32
    assert scalar.numpy() == 1 and scalar.numpy().dtype == np.int8
    np.testing.assert_array_equal(vector.numpy(), np.array([1, 2, 3], np.float32))
    assert vector.numpy().dtype == np.float32
    np.testing.assert_array_equal(matrix.numpy(), np.array([[1, 2], [3, 4]], np.float32))
    assert matrix.numpy().dtype == np.float32


def test_tensor_reprs_match_the_seed_form(capsys):
    scalar = tf.constant(1, dtype=tf.int8)
    vector = tf.constant([1, 2, 3], dtype=tf.float32)
    matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
    assert repr(scalar) == "<jaxish.Tensor: shape=(), dtype=int8, numpy=1>"
    assert repr(vector) == "<jaxish.Tensor: shape=(3,), dtype=float32, numpy=array([1., 2., 3.], dtype=float32)>"
    assert repr(matrix) == ("<jaxish.Tensor: shape=(2, 2), dtype=float32, numpy=\n"
                            "array([[1., 2.],\n"
                            "       [3., 4.]], dtype=float32)>")
    pprint([scalar, vector, matrix])
    out = capsys.readouterr().out
    assert "<jaxish.Tensor: shape=(), dtype=int8, numpy=1>" in out
    assert "numpy=array([1., 2., 3.], dtype=float32)>" in out
    assert "array([[1., 2.],\n       [3., 4.]], dtype=float32)>" in out


def test_scalar_reprs_float_and_bool():
    assert repr(tf.constant(5.0)) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=5.0>"
    assert repr(tf.constant(True)) == "<jaxish.Tensor: shape=(), dtype=bool, numpy=True>"


def test_shape_print_and_tf_shape(capsys):
    matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
    print(matrix.shape)
    assert capsys.readouterr().out == "(2, 2)\n"
    s = tf.shape(matrix)
    assert s.dtype == tf.int32 and s.shape == (2,)
    np.testing.assert_array_equal(s.numpy(), [2, 2])
    assert repr(s) == "<jaxish.Tensor: shape=(2,), dtype=int32, numpy=array([2, 2], dtype=int32)>"
    assert isinstance(id(matrix), int)


def test_cast_makes_a_new_tensor():
    matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
    old_id = id(matrix)
    matrix = tf.cast(matrix, dtype=tf.int8)
    assert id(matrix) != old_id
    assert matrix.dtype == tf.int8 and matrix.shape == (2, 2)
    np.testing.assert_array_equal(matrix.numpy(), np.array([[1, 2], [3, 4]], np.int8))
    assert repr(matrix) == ("<jaxish.Tensor: shape=(2, 2), dtype=int8, numpy=\n"
                            "array([[1, 2],\n"
                            "       [3, 4]], dtype=int8)>")


def test_special_tensors(seeded):
    o = tf.zeros((2, 2))
    x = tf.random.uniform((3, 2))
    assert o.dtype == tf.float32 and o.shape == (2, 2)
    np.testing.assert_array_equal(o.numpy(), np.zeros((2, 2), np.float32))
    assert repr(o) == ("<jaxish.Tensor: shape=(2, 2), dtype=float32, numpy=\n"
                       "array([[0., 0.],\n"
                       "       [0., 0.]], dtype=float32)>")
    assert x.dtype == tf.float32 and x.shape == (3, 2)
    assert np.all((x.numpy() >= 0) & (x.numpy() < 1))
    one = tf.ones_like(o)
    assert one.dtype == tf.float32 and one.shape == (2, 2)
    np.testing.assert_array_equal(one.numpy(), np.ones((2, 2), np.float32))
    z = tf.zeros_like(x)
    assert z.dtype == tf.float32 and z.shape == (3, 2) and not np.any(z.numpy())


def test_numpy_method_returns_ndarray(seeded, capsys):
    x = tf.random.uniform((3, 2))
    x_numpy = x.numpy()
    print(type(x_numpy))
    assert capsys.readouterr().out == "<class 'numpy.ndarray'>\n"
    assert x_numpy.shape == (3, 2) and x_numpy.dtype == np.float32


def test_device_placement_cpu_and_gpu_fallback(seeded, monkeypatch, soft_placement):
    # the fallback warning is issued once per device name per process: forget earlier ones
    monkeypatch.setattr(jaxish.devices, "_warned", set())
    x = tf.random.uniform((3, 2))
    with tf.device('/cpu:0'):
        x_cpu = tf.identity(x)
    with pytest.warns(RuntimeWarning, match="GPU"):
        with tf.device('/gpu:0'):
            x_gpu = tf.identity(x)
    assert x_cpu.device == CPU
    assert x_gpu.device == CPU  # no GPU: soft placement puts it on the CPU
    assert x.device == CPU
    np.testing.assert_array_equal(x_cpu.numpy(), x.numpy())
    np.testing.assert_array_equal(x_gpu.numpy(), x.numpy())


def test_gpu_without_soft_placement_is_an_error(soft_placement):
    jaxish.config.set_soft_device_placement(False)
    with pytest.raises(RuntimeError, match="GPU"):
        with tf.device('/gpu:0'):
            pass
    jaxish.config.set_soft_device_placement(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tf.device('/gpu:0'):
            y = tf.identity(tf.constant([1.0]))
    assert y.device == CPU


# ---------------------------------------------------------------------------
# 2. Operations
# ---------------------------------------------------------------------------
def test_operator_overloads_equal_the_named_ops(seeded):
    x = tf.random.uniform((3, 2))
    e = tf.random.uniform((3, 2), dtype=x.dtype)
    r = tf.math.reduce_all(x.__add__(e) == tf.add(x, e))
    assert repr(r) == "<jaxish.Tensor: shape=(), dtype=bool, numpy=True>"
    r = tf.math.reduce_all(x.__mul__(e) == tf.multiply(x, e))
    assert repr(r) == "<jaxish.Tensor: shape=(), dtype=bool, numpy=True>"
    r = tf.math.reduce_all(x.__matmul__(tf.transpose(e)) == tf.linalg.matmul(x, e, transpose_b=True))
    assert repr(r) == "<jaxish.Tensor: shape=(), dtype=bool, numpy=True>"
    np.testing.assert_allclose((x @ tf.transpose(e)).numpy(), x.numpy() @ e.numpy().T, rtol=1e-6)


def test_indexing():
    matrix = tf.cast(tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32), dtype=tf.int8)
    a = matrix[0, 1]
    assert repr(a) == "<jaxish.Tensor: shape=(), dtype=int8, numpy=2>"
    b = matrix[1, :2]
    assert repr(b) == "<jaxish.Tensor: shape=(2,), dtype=int8, numpy=array([3, 4], dtype=int8)>"
    c = matrix[tf.newaxis, 1, :2]
    assert repr(c) == "<jaxish.Tensor: shape=(1, 2), dtype=int8, numpy=array([[3, 4]], dtype=int8)>"


# ---------------------------------------------------------------------------
# 3. Variables
# ---------------------------------------------------------------------------
VAR_REPR = re.compile(r"<jaxish\.Variable 'Variable:0' shape=\(3, 2\) dtype=float32, numpy=\narray\(\[\[.*\]\], "
                      r"dtype=float32\)>", re.S)


def test_variables(seeded):
    x = tf.random.uniform((3, 2))
    v = tf.Variable(x)
    assert VAR_REPR.fullmatch(repr(v)), repr(v)
    assert v.name == "Variable:0" and v.shape == (3, 2) and v.dtype == tf.float32
    np.testing.assert_array_equal(v.numpy(), x.numpy())

    sq = tf.square(v)
    assert isinstance(sq, tf.Tensor) and not isinstance(sq, tf.Variable)
    assert repr(sq).startswith("<jaxish.Tensor: shape=(3, 2), dtype=float32, numpy=\narray([[")
    np.testing.assert_allclose(sq.numpy(), x.numpy() ** 2, rtol=1e-6)

    v.assign(tf.square(v))
    assert VAR_REPR.fullmatch(repr(v))
    np.testing.assert_allclose(v.numpy(), x.numpy() ** 2, rtol=1e-6)

    v.assign_sub(1 * tf.ones_like(v, dtype=v.dtype))
    assert VAR_REPR.fullmatch(repr(v))
    np.testing.assert_allclose(v.numpy(), x.numpy() ** 2 - 1, rtol=1e-6)
    assert v.dtype == tf.float32


def test_variable_repr_exact_values():
    v = tf.Variable(np.array([[0.5, 1.0], [1.5, 2.0], [2.5, 3.0]], np.float32))
    assert repr(v) == ("<jaxish.Variable 'Variable:0' shape=(3, 2) dtype=float32, numpy=\n"
                       "array([[0.5, 1. ],\n"
                       "       [1.5, 2. ],\n"
                       "       [2.5, 3. ]], dtype=float32)>")


# ---------------------------------------------------------------------------
# 4. Automatic differentiation
# ---------------------------------------------------------------------------
def f(a, b, power=2, d=3):
    return tf.pow(a, power) + d * b


def _ab():
    a = tf.Variable([4], dtype=tf.float32)
    b = tf.Variable([5], dtype=tf.float32)
    return a, b


def test_tape_gradient_of_variables(backend):
    a, b = _ab()
    with tf.GradientTape(watch_accessed_variables=True) as tape:
        c = f(a, b)
    ga, gb = tape.gradient(target=c, sources=[a, b])
    assert repr(ga) == "<jaxish.Tensor: shape=(1,), dtype=float32, numpy=array([8.], dtype=float32)>"
    assert repr(gb) == "<jaxish.Tensor: shape=(1,), dtype=float32, numpy=array([3.], dtype=float32)>"


def test_tape_watch_constant(backend):
    a, b = _ab()
    d = tf.constant(3, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(d)
        c = f(a, b, d=d)
    g = tape.gradient(target=c, sources=[d])
    assert isinstance(g, list) and len(g) == 1
    assert repr(g[0]) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=5.0>"


def test_non_persistent_tape_can_be_used_once(backend):
    a, b = _ab()
    with tf.GradientTape() as tape:
        c = f(a, b)
    (ga,) = tape.gradient(c, [a])
    np.testing.assert_array_equal(ga.numpy(), [8.0])
    with pytest.raises(RuntimeError) as ei:
        tape.gradient(c, [b])
    assert str(ei.value) == "GradientTape.gradient can only be called once on non-persistent tapes."


def test_persistent_tape(backend):
    a, b = _ab()
    with tf.GradientTape(persistent=True) as tape:
        c = f(a, b)
    (ga,) = tape.gradient(c, [a])
    (gb,) = tape.gradient(c, [b])
    assert repr(ga) == "<jaxish.Tensor: shape=(1,), dtype=float32, numpy=array([8.], dtype=float32)>"
    assert repr(gb) == "<jaxish.Tensor: shape=(1,), dtype=float32, numpy=array([3.], dtype=float32)>"
    del tape


# ---------------------------------------------------------------------------
# 5. Linear regression
# ---------------------------------------------------------------------------
def _data():
    tf.random.set_seed(42)
    true_weights = tf.constant(list(range(5)), dtype=tf.float32)[:, tf.newaxis]
    x = tf.constant(tf.random.uniform((32, 5)), dtype=tf.float32)
    y = tf.constant(x @ true_weights, dtype=tf.float32)
    weights = tf.Variable(tf.random.uniform((5, 1)), dtype=tf.float32)
    return true_weights, x, y, weights


LOSS_LINE = re.compile(r"mean squared loss at iteration +(\d+) is (\d+\.\d{4})")


def test_linear_regression_eager(backend, capsys):
    true_weights, x, y, weights = _data()
    assert true_weights.shape == (5, 1) and true_weights.dtype == tf.float32
    assert x.shape == (32, 5) and y.shape == (32, 1) and weights.shape == (5, 1)
    for iteration in range(1001):
        with tf.GradientTape() as tape:
            y_hat = tf.linalg.matmul(x, weights)
            loss = tf.reduce_mean(tf.square(y - y_hat))
        if not (iteration % 100):
            print('mean squared loss at iteration {:4d} is {:5.4f}'.format(iteration, loss))
        gradients = tape.gradient(loss, weights)
        weights.assign_add(-0.05 * gradients)
    pprint(weights)
    out = capsys.readouterr().out
    lines = [m for m in LOSS_LINE.finditer(out)]
    assert [int(m.group(1)) for m in lines] == list(range(0, 1001, 100))
    assert "mean squared loss at iteration    0 is " in out
    assert "mean squared loss at iteration 1000 is 0.0000" in out
    losses = [float(m.group(2)) for m in lines]
    assert losses[0] > 1.0
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert out.rstrip().endswith("dtype=float32)>")
    assert "<jaxish.Variable 'Variable:0' shape=(5, 1) dtype=float32, numpy=" in out
    assert weights.dtype == tf.float32 and weights.shape == (5, 1)
    np.testing.assert_allclose(weights.numpy()[:, 0], [0, 1, 2, 3, 4], atol=1e-2)


def test_linear_regression_traced_step_matches_eager(backend):
    _, x, y, w_eager = _data()
    w_traced = tf.Variable(w_eager.numpy())

    @tf.trace
    def train_step(x, y):
        with tf.GradientTape() as tape:
            y_hat = tf.linalg.matmul(x, w_traced)
            loss = tf.reduce_mean(tf.square(y - y_hat))
        gradients = tape.gradient(loss, w_traced)
        w_traced.assign_add(-0.05 * gradients)
        return loss

    eager_losses, traced_losses = [], []
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w_eager)))
        w_eager.assign_add(-0.05 * tape.gradient(loss, w_eager))
        eager_losses.append(float(loss))
        traced_losses.append(float(train_step(x, y)))
    info = train_step.cache_info()
    assert info.traces == 1 and info.hits == 299
    np.testing.assert_allclose(traced_losses, eager_losses, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_traced.numpy(), w_eager.numpy(), rtol=1e-4, atol=1e-5)
    assert w_traced.dtype == tf.float32


def test_linear_regression_traced_converges(backend):
    _, x, y, weights = _data()

    @tf.trace
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, weights)))
        weights.assign_add(-0.05 * tape.gradient(loss, weights))
        return loss

    for _ in range(1001):
        loss = train_step(x, y)
    assert '{:5.4f}'.format(loss) == "0.0000"
    np.testing.assert_allclose(weights.numpy()[:, 0], [0, 1, 2, 3, 4], atol=1e-2)
