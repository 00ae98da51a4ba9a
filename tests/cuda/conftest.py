"""The CUDA tests: run in their own process, on a GPU or under Numba's CUDA simulator.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda

The simulator must be chosen before Numba is imported, hence the separate
process (the main ``python -m pytest -q`` never collects this folder, see
``tests/conftest.py``). Without numba-cuda, or with neither a GPU nor the
simulator, every test here is skipped with the reason. The simulator runs
each CUDA thread as a Python thread: shapes stay small, but every code path
(partial and several blocks, broadcasts, each reduction strategy) is taken.
"""
import os
import sys

import pytest

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: op_table

import jaxish  # noqa: E402
from jaxish.devices import gpu_available, gpu_unavailable_reason  # noqa: E402


def pytest_configure(config):
    # the simulator runs kernels as NumPy scalar code, which warns on x / 0 (a GPU does not)
    config.addinivalue_line("filterwarnings", "ignore::RuntimeWarning:_jx_cuda_")


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason=f"no GPU for the CUDA tests: {gpu_unavailable_reason()}")
    for item in items:
        item.add_marker(skip)


@pytest.fixture
def gpu():
    """Run the test body in ``with jaxish.device('/gpu:0')``."""
    with jaxish.device("/gpu:0"):
        yield


@pytest.fixture
def soft_placement():
    old = jaxish.config.get_soft_device_placement()
    yield
    jaxish.config.set_soft_device_placement(old)


@pytest.fixture
def launch(monkeypatch):
    """``launch(**sizes)`` replaces the backend's launch sizes for this test (programs built afterwards)."""
    import dataclasses

    from jaxish.backends.cuda import placement, runtime

    def set_(**kw):
        base = runtime.launch_config()
        monkeypatch.setattr(runtime, "_CONFIG", [dataclasses.replace(base, **kw)])
        placement.clear()  # programs bake their launch sizes in
    yield set_
    placement.clear()
