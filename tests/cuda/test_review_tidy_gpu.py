"""Review of the tidy branch, on the GPU: an eager loop whose body draws random numbers, on GPU operands without
soft device placement (its random state and the body's state-advancing constants were made on the CPU, so the
loop raised DevicePlacementError; with soft placement they were copied implicitly)."""
import numpy as np
import pytest
from cuda_helpers import GPU, on_gpu

import jaxish as tf


def _interpreter(f, x):
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        tf.random.set_seed(3)
        return [t.numpy() for t in tf.tree_util.tree_flatten(f(tf.constant(x)))[0]]
    finally:
        tf.config.set_backend(old)


@pytest.mark.parametrize("loop", ["scan", "fori_loop", "while_loop"])
def test_eager_random_loop_on_gpu_operands_without_soft_placement(loop, soft_placement):
    def f(x):
        if loop == "scan":
            return tf.scan(lambda c, e: (c + tf.random.uniform((3,)), c), x, None, length=4)
        if loop == "fori_loop":
            return tf.fori_loop(0, 4, lambda i, c: c + tf.random.uniform((3,)), x)
        return tf.while_loop(lambda c: c[1] < 4, lambda c: (c[0] + tf.random.uniform((3,)), c[1] + 1), (x, 0))
    x = np.zeros(3, np.float32)
    want = _interpreter(f, x)  # eager draws on the CPU: the same bits
    tf.config.set_soft_device_placement(False)
    tf.random.set_seed(3)
    got = tf.tree_util.tree_flatten(f(on_gpu(x)))[0]
    assert got[0].device == GPU
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    assert got[0].numpy().min() > 0.0  # it drew: four uniforms summed per element


def test_traced_function_drawing_random_numbers_on_gpu_operands_without_soft_placement(soft_placement):
    # pre-existing (not from the tidy branch): a traced call's random state input is made on the CPU
    # (tracing._rng_input), so every traced function (and vmap, grad) that draws random numbers raises
    # DevicePlacementError on GPU operands unless soft device placement copies the state implicitly
    tf.config.set_soft_device_placement(False)
    out = tf.function(lambda r: r + tf.random.uniform((3,)))(on_gpu(np.zeros(3, np.float32)))
    assert out.device == GPU
    u = out.numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and len(set(u.tolist())) == 3
