"""Helpers of the CUDA tests (imported by name: tests/conftest.py is another ``conftest``)."""
import numpy as np

import jaxish

GPU = "/job:localhost/replica:0/task:0/device:GPU:0"
CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


def on_gpu(value, dtype=None):
    """``value`` as a tensor on GPU:0."""
    with jaxish.device("/gpu:0"):
        return jaxish.constant(value, dtype=dtype)


def transfers():
    from jaxish.core.tensor import TRANSFERS
    return dict(TRANSFERS)


def rng(seed=0):
    return np.random.default_rng(seed)
