"""``__cuda_array_interface__`` of GPU tensors describes exactly the tensor: shape (0-d included), dtype."""
import numpy as np
import pytest
from cuda_helpers import on_gpu

import jaxish as jx


@pytest.mark.parametrize("make", [
    lambda: on_gpu(np.float64(3.0)),                                # a 0-d constant created on the GPU
    lambda: on_gpu(np.array(True)),
    lambda: on_gpu(np.float32(2.0)) + 1.0,                          # a 0-d result
    lambda: jx.identity(on_gpu([1.0, 2.0]))[0],
])
def test_interface_of_0d_gpu_tensors(make):
    t = make()
    cai = t.__cuda_array_interface__
    assert tuple(cai["shape"]) == () == t.shape
    assert np.dtype(cai["typestr"]) == t.numpy().dtype
    assert cai["data"][1] is False  # (PyTorch rejects a read-only flag; tensors are still never written)


def test_identity_of_a_cpu_scalar_onto_the_gpu_keeps_its_shape():
    c = jx.constant(np.int32(7))
    with jx.device("/gpu:0"):
        t = jx.identity(c)
    assert tuple(t.__cuda_array_interface__["shape"]) == ()
    assert t.numpy().shape == () and t.numpy() == 7


def test_interface_of_2d_and_empty_gpu_tensors():
    for value, dtype in (([[1, 2, 3], [4, 5, 6]], np.int32), (np.zeros((0, 3)), np.float32)):
        t = on_gpu(np.asarray(value, dtype))
        cai = t.__cuda_array_interface__
        assert tuple(cai["shape"]) == t.shape and np.dtype(cai["typestr"]) == dtype
        assert cai["strides"] is None or tuple(cai["strides"]) == np.zeros(t.shape, dtype).strides
