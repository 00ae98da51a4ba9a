"""A traced function that draws random numbers on the GPU: its only host transfer per call is its key (README)."""
import numpy as np
from cuda_helpers import on_gpu, transfers

import jaxish as jx


def test_random_traced_step_copies_only_its_key_per_call():
    w = on_gpu(np.ones((4, 3), np.float32))
    step = jx.trace(lambda x: jx.reduce_sum(jx.nn.dropout(jx.matmul(x, w), 0.5, training=True)))
    x = on_gpu(np.ones((2, 4), np.float32))
    step(x)
    before = transfers()
    for _ in range(3):
        step(x)
    after = transfers()
    assert after["to_host"] == before["to_host"]
    assert after["to_device"] - before["to_device"] == 3
