"""Chapter 1 of the seed with its GPU lines, on the GPU (``import jaxish as tf``).

The chapter's device section runs as written and prints the chapter's device
names; the other sections run with their tensors and Variables on the GPU
and give the chapter's values (the linear regression runs fewer iterations
under the simulator and is compared with the same iterations on the CPU).
"""
import numpy as np
import pytest
from cuda_helpers import CPU, GPU, transfers

import jaxish as tf
from jaxish.backends.cuda.runtime import driver_copies, simulator


def _tensors_section(device):
    """Section 1 (Tensors) as the chapter writes it, in a ``device`` scope; returns what it prints and the
    tensors it made."""
    import io
    from pprint import pprint
    out = io.StringIO()
    tf.random.set_seed(42)
    with tf.device(device):
        scalar = tf.constant(1, dtype=tf.int8)
        vector = tf.constant([1, 2, 3], dtype=tf.float32)
        matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
        pprint([scalar, vector, matrix], stream=out)
        print(matrix.shape, file=out)
        pprint(tf.shape(matrix), stream=out)
        matrix = tf.cast(matrix, dtype=tf.int8)
        pprint(matrix, stream=out)
        o = tf.zeros((2, 2))
        x = tf.random.uniform((3, 2))
        pprint(o, stream=out)
        pprint(x, stream=out)
        pprint(tf.ones_like(o), stream=out)
        x_numpy = x.numpy()
        print(type(x_numpy), file=out)
    return out.getvalue(), [scalar, vector, matrix, o, x, tf.ones_like(o)]  # (ones_like: made on o's device)


def test_tensors_section_on_the_gpu():
    """Section 1 in a GPU scope prints what it prints on the CPU (the seed's values), its tensors on the GPU."""
    text_gpu, ts_gpu = _tensors_section('/gpu:0')
    text_cpu, ts_cpu = _tensors_section('/cpu:0')
    assert text_gpu == text_cpu
    for line in ("shape=(), dtype=int8, numpy=1>", "(2, 2)\n", "shape=(2,), dtype=int32, numpy=array([2, 2], "
                 "dtype=int32)>", "dtype=int8, numpy=\narray([[1, 2],\n       [3, 4]], dtype=int8)>", "<class "
                 "'numpy.ndarray'>"):
        assert line in text_gpu, line
    assert all(t.device == GPU for t in ts_gpu) and all(t.device == CPU for t in ts_cpu)


def test_device_section(capsys):
    tf.random.set_seed(42)
    x = tf.random.uniform((3, 2))
    with tf.device('/cpu:0'):
        x_cpu = tf.identity(x)
    with tf.device('/gpu:0'):
        x_gpu = tf.identity(x)
    print(x_cpu.device)
    print(x_gpu.device)
    assert capsys.readouterr().out == f"{CPU}\n{GPU}\n"
    np.testing.assert_array_equal(x_gpu.numpy(), x.numpy())


def test_operations_on_the_gpu():
    with tf.device('/gpu:0'):
        tf.random.set_seed(42)
        x = tf.random.uniform((3, 2))
        e = tf.random.uniform((3, 2), dtype=x.dtype)
        checks = [tf.math.reduce_all(x.__add__(e) == tf.add(x, e)),
                  tf.math.reduce_all(x.__mul__(e) == tf.multiply(x, e)),
                  tf.math.reduce_all(x.__matmul__(tf.transpose(e)) == tf.linalg.matmul(x, e, transpose_b=True))]
        matrix = tf.cast(tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32), dtype=tf.int8)
    for c in checks:
        assert c.device == GPU and bool(c)
    assert matrix[0, 1].numpy() == 2 and matrix[0, 1].device == GPU
    np.testing.assert_array_equal(matrix[1, :2].numpy(), [3, 4])
    np.testing.assert_array_equal(matrix[tf.newaxis, 1, :2].numpy(), [[3, 4]])


def test_variables_on_the_gpu():
    tf.random.set_seed(42)
    with tf.device('/gpu:0'):
        x = tf.random.uniform((3, 2))
        v = tf.Variable(x)
    sq = tf.square(v)
    assert v.device == GPU and sq.device == GPU
    v.assign(tf.square(v))
    ones = tf.ones_like(v, dtype=v.dtype)
    assert ones.device == GPU  # made on v's device (as TensorFlow places the op with its input)
    v.assign_sub(1 * ones)
    assert v.device == GPU
    np.testing.assert_allclose(v.numpy(), x.numpy() ** 2 - 1, rtol=1e-6)
    assert "tf.Variable" not in repr(v) and "shape=(3, 2)" in repr(v)


def test_autodiff_on_the_gpu():
    with tf.device('/gpu:0'):
        a = tf.Variable([4], dtype=tf.float32)
        b = tf.Variable([5], dtype=tf.float32)
        d = tf.constant(3, dtype=tf.float32)

    def f(a, b, power=2, d=3):
        return tf.pow(a, power) + d * b

    with tf.GradientTape(watch_accessed_variables=True) as tape:
        c = f(a, b)
    ga, gb = tape.gradient(target=c, sources=[a, b])
    assert ga.device == gb.device == GPU
    assert ga.numpy().tolist() == [8.0] and gb.numpy().tolist() == [3.0]
    with tf.GradientTape() as tape:
        tape.watch(d)
        c = f(a, b, d=d)
    [gd] = tape.gradient(target=c, sources=[d])
    assert gd.device == GPU and gd.numpy() == 5.0
    with tf.GradientTape(persistent=True) as tape:
        c = f(a, b)
    assert tape.gradient(c, [a])[0].numpy().tolist() == [8.0]
    assert tape.gradient(c, [b])[0].numpy().tolist() == [3.0]
    del tape
    with tf.GradientTape() as tape:
        c = f(a, b)
    tape.gradient(c, [a])
    with pytest.raises(RuntimeError):
        tape.gradient(c, [b])


ITERATIONS = 12 if simulator() else 1001


def _regression(device):
    """The chapter's linear regression (eager tape loop, then the traced step) with its data on ``device``."""
    tf.random.set_seed(42)
    with tf.device(device):
        true_weights = tf.constant(list(range(5)), dtype=tf.float32)[:, tf.newaxis]
        x = tf.constant(tf.random.uniform((32, 5)), dtype=tf.float32)
        y = tf.constant(x @ true_weights, dtype=tf.float32)
        weights = tf.Variable(tf.random.uniform((5, 1)), dtype=tf.float32)
        traced_weights = tf.Variable(weights.read_value())
    losses = []
    for iteration in range(ITERATIONS):
        with tf.GradientTape() as tape:
            y_hat = tf.linalg.matmul(x, weights)
            loss = tf.reduce_mean(tf.square(y - y_hat))
        if not (iteration % 5):
            losses.append(float(loss))
        gradients = tape.gradient(loss, weights)
        weights.assign_add(-0.05 * gradients)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, traced_weights)))
        traced_weights.assign_add(-0.05 * tape.gradient(loss, traced_weights))
        return loss

    train_step(x, y)
    before = transfers()
    with driver_copies() as driver:
        for _ in range(ITERATIONS - 1):
            loss = train_step(x, y)
    per_step = {k: (transfers()[k] - before[k]) / max(1, ITERATIONS - 1) for k in before}
    if device != '/cpu:0':
        assert driver == {"to_host": 0, "to_device": 0}  # numba-cuda's own count: no copy at all
    return weights, traced_weights, losses, loss, per_step


def test_linear_regression_on_the_gpu():
    w_gpu, tw_gpu, losses_gpu, loss_gpu, per_step = _regression('/gpu:0')
    w_cpu, tw_cpu, losses_cpu, loss_cpu, _ = _regression('/cpu:0')
    assert w_gpu.device == tw_gpu.device == loss_gpu.device == GPU and w_cpu.device == CPU
    assert per_step == {"to_host": 0, "to_device": 0}  # the traced training step never touches the host
    np.testing.assert_allclose(losses_gpu, losses_cpu, rtol=1e-5)
    np.testing.assert_allclose(w_gpu.numpy(), w_cpu.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tw_gpu.numpy(), w_gpu.numpy(), rtol=1e-5, atol=1e-6)
    assert losses_gpu[-1] < losses_gpu[0] / 4
    if ITERATIONS == 1001:  # pragma: no cover (a real GPU: the chapter's result)
        np.testing.assert_allclose(w_gpu.numpy().ravel(), [0, 1, 2, 3, 4], atol=2e-2)
