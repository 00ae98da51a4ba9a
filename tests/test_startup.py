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


def test_numba_type_is_typeof_for_every_array_kind():
    """The entry's signature is computed without ``numba.typeof`` (which imports ``numpy.ma``): same types."""
    import numpy as np
    from numba import typeof

    from jaxish.backends.cpu.argtypes import ArgTypes, array_type
    ro = np.arange(3.0)
    ro.flags.writeable = False
    arrays = [np.zeros((3, 4), np.float32), np.zeros(3, bool), np.zeros((), np.int8), np.zeros((2, 3, 4), np.complex64),
              np.zeros(4, np.float16), np.zeros((1, 1), np.uint64), np.zeros(5, "M8[s]"), ro,
              np.zeros((4, 4))[:, :2], np.zeros((4, 3)).T, np.zeros(2, [("a", "f8"), ("b", "i4")])]
    for a in arrays:
        assert array_type(a) == typeof(a), a

    from numba import njit
    disp = njit(lambda x: x)
    own = ArgTypes(disp)
    for v in arrays + [1.5, 3, (1, 2.0), "s", object()]:
        assert own(v) == disp.typeof_pyval(v), v
    assert disp(np.arange(3.0)).tolist() == [0.0, 1.0, 2.0]


def test_generated_dispatchers_type_their_arguments_as_numba_does(tmp_path):
    """A generated module's dispatchers carry ``ArgTypes``; calls with new argument types still compile
    right (views, read-only arrays, other dtypes all reach the entry through the typing fallback)."""
    import gc
    import weakref

    import numpy as np

    from jaxish.backends.cpu.argtypes import ArgTypes
    from jaxish.backends.cpu.disk_cache import load_module
    src = ("from numba import njit\n\n\n@njit(cache=True)\ndef entry(a, b):\n    return a.sum() + b[0]\n")
    handle = load_module("_jx_e_test_argtypes_" + tmp_path.name[-8:], src, use_disk=False)
    entry = handle.module.entry
    assert isinstance(entry.__dict__["typeof_pyval"], ArgTypes)
    ro = np.arange(4.0)
    ro.flags.writeable = False
    assert entry(np.arange(6.0).reshape(2, 3), ro) == 15.0
    assert entry(np.arange(6.0).reshape(2, 3).T, np.ones(2, np.int32)) == 16.0
    assert entry(np.arange(4, dtype=np.float32)[::2], np.zeros(1)) == 2.0
    assert len(entry.signatures) == 3
    ref = weakref.ref(entry)
    del entry, handle
    gc.collect()
    assert ref() is None   # no cycle through the dispatcher's own typeof_pyval keeps it alive


def test_a_first_call_does_not_import_numpy_ma(tmp_path):
    """Compiling and running a graph, cold and from the disk cache, imports no ``numpy.ma`` (35 ms)."""
    script = ("import json, sys, numpy as np, jaxish as tf\n"
              "v = float(tf.trace(lambda x: tf.reduce_sum(x * x))(tf.constant(np.arange(4.0))))\n"
              "print(json.dumps([v, 'numpy.ma' in sys.modules]))\n")
    assert _run(script, tmp_path) == [14.0, False]
    assert _run(script, tmp_path) == [14.0, False]
