"""A Variable keeps its device when a traced function assigns it on another device (README "Mixing devices")."""
import numpy as np
from cuda_helpers import CPU, GPU, on_gpu

import jaxish as jx


def test_gpu_variable_stays_on_the_gpu_when_a_traced_step_runs_on_the_cpu():
    with jx.device("/gpu:0"):
        v = jx.Variable(np.zeros(3, np.float32))

    @jx.trace
    def step(x):
        v.assign_add(x)
        return jx.reduce_sum(v.read_value())
    x = jx.constant(np.ones(3, np.float32))
    with jx.device("/cpu:0"):
        for _ in range(2):  # (after a first run on the CPU, calls take the compiled CPU entry's fast path)
            assert step(x).device == CPU
            assert v.device == GPU
    for _ in range(2):  # then without a scope
        step(x)
        assert v.device == GPU
    np.testing.assert_array_equal(v.numpy(), [4.0, 4.0, 4.0])


def test_cpu_variable_stays_on_the_cpu_when_a_traced_step_runs_on_the_gpu():
    w = jx.Variable(np.zeros(3, np.float32))

    @jx.trace
    def update(a):
        w.assign_add(a)
    update(on_gpu(np.ones(3, np.float32)))
    assert w.device == CPU and type(w.read_value()) is jx.Tensor
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0, 1.0])
