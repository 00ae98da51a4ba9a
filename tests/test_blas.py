"""``backends/cpu/blas.py``: which OpenBLAS the generated GEMM calls use, as that library reports it."""
import json
import os
import subprocess
import sys

import pytest

from jaxish.backends.cpu import blas

pytestmark = pytest.mark.skipif(not blas.AVAILABLE, reason="NumPy's OpenBLAS is not loadable here")


def test_openblas_info_reports_the_environment_the_library_was_loaded_with():
    """The thread count and kernel family are the library's own: ``OPENBLAS_NUM_THREADS`` and
    ``OPENBLAS_CORETYPE`` given to a fresh process show up, and NumPy's own view of its BLAS agrees."""
    script = ("import json, numpy as np\n"
              "from jaxish.backends.cpu.blas import openblas_info\n"
              "print(json.dumps(openblas_info()))\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OPENBLAS_CORETYPE="Haswell")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["threads"] == 1 and info["core"] == "Haswell"
    assert "OpenBLAS" in info["config"] and "Haswell" in info["config"]
    here = blas.openblas_info()
    assert here["threads"] >= 1 and here["core"] and here["core"] in here["config"]
