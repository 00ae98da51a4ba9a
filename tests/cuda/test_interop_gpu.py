"""GPU tensors and DLPack: jaxish exports them through __cuda_array_interface__, so __dlpack__ says so; the
optimizer's traced step and the array methods run on the GPU."""
import numpy as np
import pytest

import jaxish as jx


def test_gpu_tensor_dlpack_points_to_the_cuda_array_interface(gpu):
    t = jx.constant([1.0, 2.0, 3.0])
    assert "GPU" in t.device
    assert t.__dlpack_device__() == (2, 0)
    with pytest.raises(BufferError, match="__cuda_array_interface__"):
        t.__dlpack__()
    np.testing.assert_array_equal(t.T.numpy(), [1.0, 2.0, 3.0])
    assert t.sum().item() == 6.0


def test_traced_adam_step_on_the_gpu(gpu):
    v = jx.Variable(np.ones(4, np.float32))
    opt = jx.optimizers.Adam(0.1)

    @jx.trace
    def step(g):
        opt.apply_gradients([(g, v)])

    for _ in range(3):
        step(jx.constant(np.full(4, 0.5, np.float32)))
    assert "GPU" in v.device
    np.testing.assert_allclose(v.numpy(), np.full(4, 1.0 - 0.3), rtol=1e-5)  # Adam moves ~lr per step here
