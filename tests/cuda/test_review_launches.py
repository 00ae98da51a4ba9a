"""Programs that share a kernel module keep their own launch sizes; threads share compiled programs."""
import threading

import numpy as np
from cuda_helpers import on_gpu, rng

import jaxish as jx


def test_programs_sharing_a_kernel_keep_their_launch_sizes(gpu):
    # two tiled matmuls of one dtype share one kernel module, with different grids (tile 4 under the simulator)
    r = rng(3)
    a, b = r.standard_normal((16, 16)).astype(np.float32), r.standard_normal((16, 16)).astype(np.float32)
    c, d = r.standard_normal((8, 64)).astype(np.float32), r.standard_normal((64, 8)).astype(np.float32)
    np.testing.assert_allclose(jx.matmul(on_gpu(a), on_gpu(b)).numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jx.matmul(on_gpu(c), on_gpu(d)).numpy(), c @ d, rtol=1e-5, atol=1e-5)
    a2, b2 = a + 1, b - 1   # new values: a stale output buffer cannot pass for the result
    np.testing.assert_allclose(jx.matmul(on_gpu(a2), on_gpu(b2)).numpy(), a2 @ b2, rtol=1e-5, atol=1e-5)


def test_two_threads_run_one_traced_function_on_gpu_tensors(gpu):
    f = jx.trace(lambda x: jx.reduce_sum(jx.tanh(x) * 2.0, axis=1))
    x = rng(4).standard_normal((4, 12)).astype(np.float32)
    want = (np.tanh(x) * 2).sum(1)
    errors: list = []

    def work():
        try:
            with jx.device("/gpu:0"):
                for _ in range(4):
                    np.testing.assert_allclose(f(jx.constant(x)).numpy(), want, rtol=1e-5)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
