"""Start-up cost: what ``import jaxish`` loads (the cold-start rows of benchmarks/, row 5).

Every module named here costs tens to hundreds of milliseconds of a fresh
process; each is imported on first use instead. Checked in a fresh
interpreter, since the test session has long imported them.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

HEAVY = ("scipy", "numba", "llvmlite", "jaxish.backends.cpu", "jaxish.backends.cuda", "numpy.ma")


def _run(script: str, tmp_path) -> list:
    env = dict(os.environ, JAXISH_CACHE_DIR=str(tmp_path), JAXISH_BACKEND="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_jaxish_loads_no_compiler_and_no_scipy(tmp_path):
    loaded = _run("import json, sys, jaxish\n"
                  f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n", tmp_path)
    assert loaded == []


def test_eager_erf_imports_scipy_on_first_use(tmp_path):
    """``erf``'s NumPy reference is SciPy's: imported by the first eager ``erf``, with the right values."""
    before, values, after = _run(
        "import json, sys, numpy as np, jaxish as tf\n"
        "before = 'scipy.special' in sys.modules\n"
        "v = tf.erf(tf.constant(np.array([-2.0, -0.5, 0.0, 0.25, 3.0]))).numpy().tolist()\n"
        "print(json.dumps([before, v, 'scipy.special' in sys.modules]))\n", tmp_path)
    assert before is False and after is True
    assert max(abs(a - math.erf(x)) for a, x in zip(values, (-2.0, -0.5, 0.0, 0.25, 3.0))) < 1e-15
