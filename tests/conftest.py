"""Shared fixtures: run tests on each backend, with a project-local kernel cache."""
import os
from pathlib import Path

import pytest

# jaxish.config reads JAXISH_* variables once, when jaxish is imported: set them before the import below
# (pytest-xdist workers share it, as any processes may: modules and machine code are written atomically)
os.environ.setdefault("JAXISH_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache",
                                                       "jaxish-kernels"))

os.environ.setdefault("JAXISH_STRICT_BACKEND", "1")  # a cpu-backend compile failure fails the test

import jaxish  # noqa: E402

BACKENDS = ["interpreter", "cpu"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test once per backend (``interpreter`` and ``cpu``)."""
    old = jaxish.config.get_backend()
    jaxish.config.set_backend(request.param)
    yield request.param
    jaxish.config.set_backend(old)


@pytest.fixture
def interp():
    """Run the test on the interpreter backend."""
    old = jaxish.config.get_backend()
    jaxish.config.set_backend("interpreter")
    yield
    jaxish.config.set_backend(old)


@pytest.fixture
def cpu_backend():
    old = jaxish.config.get_backend()
    jaxish.config.set_backend("cpu")
    yield "cpu"
    jaxish.config.set_backend(old)


_CUDA_TESTS = Path(__file__).resolve().parent / "cuda"


def pytest_ignore_collect(collection_path, config):
    """``tests/cuda`` runs in its own pytest process (README: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q
    tests/cuda``: the simulator must be chosen before Numba is imported): collected only when named."""
    if Path(collection_path).resolve() != _CUDA_TESTS:
        return None
    named = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    if any(p == _CUDA_TESTS or _CUDA_TESTS in p.parents for p in named):
        return None
    return True
