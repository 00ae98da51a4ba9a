"""Devices on the GPU path: names, placement, copies, host transfers, soft placement, interop."""
import warnings

import numpy as np
import pytest
from cuda_helpers import CPU, GPU, on_gpu, transfers

import jaxish as tf
from jaxish.core.tensor import DeviceTensor
from jaxish.errors import DevicePlacementError


def test_list_devices_and_availability():
    devs = tf.config.list_devices()
    assert [d.name for d in devs] == [CPU, GPU]
    assert [d.device_type for d in devs] == ["CPU", "GPU"]
    assert tf.config.list_devices("GPU")[0].description
    assert tf.devices.gpu_available() and tf.devices.gpu_unavailable_reason() == ""


@pytest.mark.parametrize("name", ["/gpu:0", "/device:GPU:0", "GPU:0", GPU])
def test_gpu_names(name):
    with tf.device(name):
        x = tf.constant([1.0, 2.0])
    assert x.device == GPU and isinstance(x, DeviceTensor)


def test_gpu_1_falls_back_with_a_reason(soft_placement):
    with pytest.warns(RuntimeWarning, match="GPU 0 only"):
        with tf.device("/gpu:1"):
            x = tf.constant([1.0])
    assert x.device == CPU
    tf.config.set_soft_device_placement(False)
    with pytest.raises(RuntimeError, match="GPU 0 only"):
        tf.device("/gpu:1")


def test_creation_identity_numpy_and_devices():
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with tf.device("/gpu:0"):
        g = tf.identity(x)
        z = tf.zeros((2, 2))
        r = tf.range(5)
    assert x.device == CPU and type(x) is tf.Tensor
    assert g.device == z.device == r.device == GPU
    np.testing.assert_array_equal(g.numpy(), x.numpy())
    assert g.numpy().dtype == np.float32 and g.shape == (2, 3) and g.dtype == tf.float32
    np.testing.assert_array_equal(r.numpy(), np.arange(5))
    with tf.device("/cpu:0"):
        back = tf.identity(g)
    assert back.device == CPU and type(back) is tf.Tensor
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    # without a scope, an op on a GPU tensor stays on the GPU
    assert tf.identity(g).device == GPU and (g + 1).device == GPU
    # host access: numpy, printing, Python scalars
    assert "shape=(2, 3)" in repr(g) and float(tf.reduce_sum(g)) == 15.0
    assert np.asarray(g).sum() == 15.0


def test_data_stays_on_the_device():
    a = on_gpu(np.ones((4, 5), np.float32))
    b = on_gpu(np.full((4, 5), 2.0, np.float32))
    before = transfers()
    c = tf.reduce_sum(tf.exp(a * b + 1.0) - b, axis=1)
    d = tf.matmul(a, tf.transpose(b))
    after = transfers()
    assert after["to_host"] == before["to_host"]  # no host round trip between ops
    assert after["to_device"] - before["to_device"] <= 1  # the weak scalar 1.0, once per process
    e = a * 3.25
    assert transfers()["to_device"] - after["to_device"] == 1
    e = a * 3.25 + e
    assert transfers()["to_device"] - after["to_device"] == 1  # 3.25 is on the device already
    assert c.device == d.device == GPU
    np.testing.assert_allclose(c.numpy(), np.full(4, 5 * (np.exp(3) - 2)), rtol=1e-5)
    np.testing.assert_allclose(d.numpy(), np.full((4, 4), 10.0))


def test_traced_step_has_no_host_transfers():
    w = tf.Variable(on_gpu(np.zeros((3, 1), np.float32)))
    x = on_gpu(np.ones((8, 3), np.float32))
    y = on_gpu(np.ones((8, 1), np.float32))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - x @ w))
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    step(x, y)
    before = transfers()
    loss = step(x, y)
    after = transfers()
    assert after == before
    assert loss.device == GPU and w.device == GPU and type(w._value) is DeviceTensor
    np.testing.assert_allclose(w.numpy(), np.full((3, 1), 0.28, np.float32), rtol=1e-5)


def test_captured_constants_stay_on_the_device():
    """A compiled graph's captured constants: a GPU tensor is used where it is (no copy at all), a host value
    is copied to the device once and reused by every call, and by other executables of the same graph."""
    from jaxish.backends.cuda import runtime
    host = np.arange(6, dtype=np.float32)
    hc = tf.constant(host)
    gc = on_gpu(host)
    z = on_gpu(np.ones(6, np.float32))
    f_host, f_gpu = tf.function(lambda a: a * hc + 1.0), tf.function(lambda a: a * gc + 1.0)
    grad = tf.grad(lambda a: tf.reduce_sum(a * hc * gc))
    f_host(z), f_gpu(z), grad(z)  # (first calls: the literal 1.0 and hc reach the device once)
    before = transfers()
    with runtime.driver_copies() as driver:
        for _ in range(3):
            r1, r2, g = f_host(z), f_gpu(z), grad(z)
    assert transfers() == before and driver == {"to_host": 0, "to_device": 0}
    assert r1.device == r2.device == g.device == GPU
    np.testing.assert_array_equal(r1.numpy(), host + 1)
    np.testing.assert_array_equal(r2.numpy(), host + 1)
    np.testing.assert_array_equal(g.numpy(), host * host)
    fresh = tf.function(lambda a: a - tf.constant(np.full(6, 2.0, np.float32)))
    before = transfers()
    fresh(z), fresh(z), fresh(z)
    assert transfers()["to_device"] - before["to_device"] == 1  # the new constant, once
    assert transfers()["to_host"] == before["to_host"]


def test_transfer_counts_are_numba_cudas():
    """``TRANSFERS`` counts every copy numba-cuda makes between the host and the device (an independent count
    of its own copy functions), in eager code, traced calls, tapes and reads."""
    from jaxish.backends.cuda import runtime
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    before = transfers()
    with runtime.driver_copies() as driver:
        g = on_gpu(a)
        x = tf.exp(g) + tf.constant(np.ones(4, np.float32)) * 2.5
        w = tf.Variable(on_gpu(np.ones((4, 1), np.float32)))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.matmul(x, w))
        dw = tape.gradient(y, w)
        s = float(tf.function(lambda t: tf.reduce_max(t))(x))
        host = dw.numpy()
        print(x)
    after = transfers()
    assert driver == {k: after[k] - before[k] for k in after}, (driver, before, after)
    assert driver["to_host"] >= 3 and driver["to_device"] >= 3
    np.testing.assert_allclose(s, np.exp(11.0) + 2.5, rtol=1e-6)
    np.testing.assert_allclose(host.ravel(), (np.exp(a) + 2.5).sum(0), rtol=1e-5)


def test_mixing_devices(soft_placement):
    g = on_gpu(np.ones(3, np.float32))
    c = tf.constant(np.ones(3, np.float32))
    tf.config.set_soft_device_placement(False)
    with pytest.raises(DevicePlacementError, match=f"{CPU}.*{GPU}"):
        g + c
    assert (g + 2.0).device == GPU            # Python scalars (0-d) are always copied
    assert (g + tf.constant(2.0)).device == GPU
    with tf.device("/gpu:0"):                 # an explicit scope copies its inputs
        assert (g + c).device == GPU
    tf.config.set_soft_device_placement(True)
    s = g + c                                 # soft placement copies the CPU tensor
    assert s.device == GPU
    np.testing.assert_array_equal(s.numpy(), [2, 2, 2])
    f = tf.function(lambda a, b: a * b)
    assert f(g, c).device == GPU
    tf.config.set_soft_device_placement(False)
    with pytest.raises(DevicePlacementError, match=f"{CPU}.*{GPU}"):
        f(g, c)


def test_variables_keep_their_device():
    v = tf.Variable(on_gpu([1.0, 2.0]))
    assert v.device == GPU
    v.assign(tf.constant([3.0, 4.0]))         # a CPU value is copied to the Variable's device
    assert v.device == GPU
    v.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0])
    with tf.device("/gpu:0"):
        u = tf.Variable([4.0])
    assert u.device == GPU


def test_cuda_array_interface():
    g = on_gpu(np.arange(6, dtype=np.float32).reshape(2, 3))
    cai = g.__cuda_array_interface__
    assert tuple(cai["shape"]) == (2, 3) and cai["typestr"] == "<f4" and cai["version"] >= 2
    assert isinstance(cai["data"][0], int)
    assert not hasattr(tf.constant([1.0]), "__cuda_array_interface__")
    from numba import cuda
    view = cuda.as_cuda_array(g) if hasattr(cuda, "as_cuda_array") else None
    if view is not None and not tf.backends.cuda.runtime.simulator():  # pragma: no cover (a real GPU)
        np.testing.assert_array_equal(view.copy_to_host(), g.numpy())


def test_unsupported_ops_fail_or_fall_back(soft_placement):
    """float16 has no CUDA lowering yet: an error naming it without soft placement, a warned CPU run with."""
    x = on_gpu(np.ones(4, np.float16))
    tf.config.set_soft_device_placement(False)
    with pytest.raises(NotImplementedError, match="float16"):
        tf.exp(x)
    with pytest.raises(NotImplementedError, match="float16"):
        tf.function(lambda a: a * 2)(x)
    tf.config.set_soft_device_placement(True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y = tf.exp(x)
        z = tf.function(lambda a: a * 2)(x)
    assert any("float16" in str(m.message) and "CPU" in str(m.message) for m in w)
    assert y.device == GPU and y.dtype == tf.float16 and z.device == GPU
    np.testing.assert_allclose(y.numpy(), np.exp(np.ones(4, np.float16)), rtol=1e-3)
    np.testing.assert_array_equal(z.numpy(), np.full(4, 2, np.float16))


def test_gpu_check_script_runs(capsys):
    """``python -m jaxish.tools.gpu_check`` (small sizes under the simulator): every check passes."""
    from jaxish.tools import gpu_check
    assert gpu_check.main(["--small"]) == 0
    out = capsys.readouterr().out
    assert "| fused elementwise" in out and "| matmul float32" in out and "0 host transfers" in out
