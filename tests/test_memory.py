"""Memory stays bounded: repeated calls, many distinct graphs, bounded in-memory caches.

Cold graphs are compiled by the compile worker (``backends/cpu/compile_worker.py``)
and loaded from the disk cache, so LLVM's compile-time memory is not kept here.

RSS is measured in fresh subprocesses (``SCRIPT``), after ``gc`` and
``malloc_trim`` so that freed memory is returned to the system.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxish as tf
from jaxish import backends
from jaxish.backends.cpu import disk_cache

SCRIPT = textwrap.dedent("""
    import ctypes, gc, json, os, sys
    import numpy as np
    import jaxish as tf

    def rss_mb():
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    mode, n = sys.argv[1], int(sys.argv[2])
    x = tf.constant(np.linspace(0, 1, 5, dtype=np.float32))
    if mode == "calls":
        w = tf.Variable(np.ones(5, np.float32))
        f = tf.trace(lambda x: tf.reduce_sum(tf.tanh(x * w) + x))
        def tape_step():
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(w * x)
            return tape.gradient(y, w)
        for _ in range(2000):  # warm up: traces, compiles and first-time allocations
            f(x)
            tape_step()
        before = rss_mb()
        total = 0.0
        for i in range(n):
            total += float(f(x))
            if i % 100 == 0:
                tape_step()
        print(json.dumps({"growth_mb": rss_mb() - before, "ok": bool(np.isfinite(total))}))
    else:
        from jaxish.backends import clear_memory_cache
        from jaxish.tracing import clear_traced_caches

        def clear_memory():  # tf.clear_cache() without deleting the disk cache
            clear_traced_caches(); clear_memory_cache(); gc.collect()

        def make(i):  # a new graph per i (its literal is part of the generated source)
            return tf.trace(lambda x: tf.reduce_sum(tf.sin(x) * (1.0 + i / 1024) + tf.exp(x) * x))
        fs = [make(-1)]
        fs[0](x)
        clear_memory()
        before = rss_mb()
        fs = [make(i) for i in range(n)]   # kept alive: clear_cache must still release what they compiled
        vals = [float(f(x)) for f in fs]
        if mode == "graphs-keep-disk":      # the next process loads from disk
            clear_memory()
        else:
            tf.clear_cache()
        from jaxish.backends.cpu import STATS, disk_cache
        from numba.core.registry import CPUDispatcher
        live = [o for o in gc.get_objects() if type(o) is CPUDispatcher and o.py_func.__module__.startswith("_jx_")]
        ref = [float(np.sum(np.sin(x.numpy()) * np.float32(1.0 + i / 1024) + np.exp(x.numpy()) * x.numpy()))
               for i in range(n)]
        print(json.dumps({"per_graph_mb": (rss_mb() - before) / n, "stats": STATS,
                          "modules": [m for m in sys.modules if m.startswith("_jx_")],
                          "live": len(disk_cache.loaded_modules()), "dispatchers": len(live),
                          "ok": bool(np.allclose(vals, ref, rtol=1e-5))}))
""")


def _run(args, cache_dir, worker=True):
    env = dict(os.environ, JAXISH_CACHE_DIR=str(cache_dir), JAXISH_BACKEND="cpu",
               JAXISH_COMPILE_WORKER=str(int(worker)))
    out = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["ok"]
    return res


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_100k_calls_keep_rss_flat(tmp_path):
    res = _run(["calls", 100_000], tmp_path)
    assert res["growth_mb"] < 4.0, res


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_many_graphs_are_released_by_clear_cache(tmp_path):
    n = 30
    # cold: the first graph is compiled in-process (and starts the compile worker), the next n by the worker,
    # which saves their machine code to the disk cache, from where this process loads it
    cold = _run(["graphs-keep-disk", n], tmp_path)
    assert cold["stats"] == {"compiled": 1, "disk_loads": n, "fallbacks": 0}, cold
    # Numba's dispatchers and the generated modules are freed, and LLVM's compile-time memory (about 1 MB per
    # Numba compilation, never released) is the worker's
    assert cold["modules"] == [] and cold["live"] == 0 and cold["dispatchers"] == 0
    assert cold["per_graph_mb"] <= 1.0, cold
    warm = _run(["graphs", n], tmp_path)  # machine code loaded from disk
    assert warm["stats"]["disk_loads"] == n + 1 and warm["stats"]["compiled"] == 0
    assert warm["modules"] == [] and warm["dispatchers"] == 0
    assert warm["per_graph_mb"] <= 1.0, warm


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_graphs_compiled_in_process_keep_llvm_memory(tmp_path):
    """Without the worker, each graph compiled here keeps what LLVM allocated to compile it (about 2.5 MB);
    everything else is released."""
    n = 10
    res = _run(["graphs", n], tmp_path, worker=False)
    assert res["stats"] == {"compiled": n + 1, "disk_loads": 0, "fallbacks": 0}, res
    assert res["modules"] == [] and res["live"] == 0 and res["dispatchers"] == 0
    assert res["per_graph_mb"] < 4.0, res


def test_signature_cache_is_bounded(backend):
    before = tf.config.get_cache_limits()
    try:
        tf.config.set_cache_limits(trace_cache_size=4)
        f = tf.trace(lambda x: x * 2.0 + 1.0)
        for n in range(1, 11):
            x = np.arange(n, dtype=np.float32)
            np.testing.assert_array_equal(f(x).numpy(), x * 2 + 1)
        info = f.cache_info()
        assert info.size == 4 and info.traces == 10
        x = np.arange(10, dtype=np.float32)  # the most recent signatures are kept
        f(x)
        assert f.cache_info().traces == 10
        x = np.arange(1, dtype=np.float32)   # the oldest was dropped: traced again
        f(x)
        assert f.cache_info().traces == 11
    finally:
        tf.config.set_cache_limits(**before)


def test_executable_cache_is_bounded_and_unloads_modules(cpu_backend, tmp_path, monkeypatch):
    monkeypatch.setattr(tf.config._config, "cache_dir", str(tmp_path))  # clear_cache deletes the disk cache
    before = tf.config.get_cache_limits()
    try:
        tf.config.set_cache_limits(executable_cache_size=3, trace_cache_size=1)
        fs = [tf.trace(lambda x, i=i: tf.exp(x) * (2.0 + i / 4096)) for i in range(8)]
        x = np.linspace(0, 1, 3, dtype=np.float32)
        for i, f in enumerate(fs):
            np.testing.assert_allclose(f(x).numpy(), np.exp(x) * np.float32(2.0 + i / 4096), rtol=1e-6)
        assert len(backends._CACHE) <= 3
        import gc
        gc.collect()
        # only modules of cached executables (and whatever other tests hold) stay loaded
        mine = [f.cache_info() for f in fs]
        assert all(m.size == 1 for m in mine)
        tf.clear_cache()
        assert len(backends._CACHE) == 0 and all(f.cache_info().size == 0 for f in fs)
        assert not [m for m in disk_cache.loaded_modules()]
    finally:
        tf.config.set_cache_limits(**before)
