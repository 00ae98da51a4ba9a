"""The compile worker: cold graphs are compiled in a helper process and loaded from the disk cache.

Whatever happens to the worker (killed, too slow, cannot start, a compile
error), results are right and the graph is compiled in-process instead, with
the same errors and warnings as without a worker.
"""
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import jaxish as tf
from jaxish.backends import cpu
from jaxish.backends.cpu import compile_worker

pytestmark = pytest.mark.skipif(not compile_worker._interpreter_ok(), reason="no worker on this platform")


@pytest.fixture
def worker(cpu_backend, tmp_path, monkeypatch):
    """A fresh cache directory and a running worker; the worker's state is restored afterwards."""
    monkeypatch.setattr(tf.config._config, "cache_dir", str(tmp_path))
    monkeypatch.setattr(compile_worker, "_STATE", {"worker": None, "failures": 0, "disabled": False})
    was = tf.config.get_compile_worker()
    tf.config.set_compile_worker(True)
    compile_worker.start()
    yield compile_worker
    compile_worker.shutdown()
    tf.config.set_compile_worker(was)


def _graph(k: float):
    """A new graph per ``k`` (its literal is in the generated source) and its NumPy reference."""
    f = tf.trace(lambda x: tf.reduce_sum(tf.tanh(x) * k + tf.exp(x) * x, axis=0))

    def ref(x):
        return np.sum(np.tanh(x) * np.float32(k) + np.exp(x) * x, axis=0)
    return f, ref


def _deltas(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


def _snapshot():
    return dict(cpu.STATS), dict(compile_worker.STATS)


def _check(k: float, x=None):
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3) if x is None else x
    f, ref = _graph(k)
    np.testing.assert_allclose(f(x).numpy(), ref(x), rtol=1e-5, atol=1e-6)


def test_cold_graphs_are_compiled_by_the_worker_and_loaded(worker):
    s0, w0 = _snapshot()
    _check(1.25)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    x.flags.writeable = False     # the signature the caller uses (read-only array) is what the worker compiles
    _check(1.5, x)
    big = np.linspace(-1, 1, 3 << 17, dtype=np.float32).reshape(-1, 2)  # parallel kernels (prange)
    _check(1.75, big)
    noisy = tf.trace(lambda x: x + tf.random.uniform([1000], seed=3))  # imports the Philox helper
    y = noisy(np.ones(1000, np.float32)).numpy() - 1.0
    assert 0 <= y.min() and y.max() < 1 and abs(y.mean() - 0.5) < 0.05 and len(np.unique(y)) > 990
    s, w = _deltas(s0, cpu.STATS), _deltas(w0, compile_worker.STATS)
    assert w["compiled"] == 4 and w["failures"] == 0 and w["unused"] == 0, w
    assert s == {"compiled": 0, "disk_loads": 4, "fallbacks": 0}, s   # every one loaded, none compiled here


def test_the_first_cold_graph_starts_the_worker_and_compiles_in_process(cpu_backend, tmp_path, monkeypatch):
    monkeypatch.setattr(tf.config._config, "cache_dir", str(tmp_path))
    monkeypatch.setattr(compile_worker, "_STATE", {"worker": None, "failures": 0, "disabled": False})
    try:
        s0, w0 = _snapshot()
        _check(2.25)
        assert compile_worker.worker_pid() is not None
        _check(2.5)
        assert _deltas(s0, cpu.STATS) == {"compiled": 1, "disk_loads": 1, "fallbacks": 0}
        assert _deltas(w0, compile_worker.STATS)["compiled"] == 1
    finally:
        compile_worker.shutdown()


def _kill_when_busy(pid: int, killed: list) -> None:
    deadline = time.monotonic() + 60
    while not compile_worker._LOCK.locked() and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def test_worker_killed_mid_compile_falls_back_silently(worker, caplog):
    _check(3.0)  # the worker is up and serving
    pid = worker.worker_pid()
    s0, w0 = _snapshot()
    killed: list = []
    killer = threading.Thread(target=_kill_when_busy, args=(pid, killed))
    killer.start()
    with caplog.at_level(logging.INFO, logger="jaxish"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # no warning: only memory is at stake
            _check(3.25)
    killer.join()
    assert killed == [pid]
    assert _deltas(w0, compile_worker.STATS)["failures"] == 1
    assert _deltas(s0, cpu.STATS) == {"compiled": 1, "disk_loads": 0, "fallbacks": 0}
    assert any("compile worker failed" in r.getMessage() for r in caplog.records)
    # the next cold graphs start a new worker (in-process meanwhile) and use it
    _check(3.5)
    _check(3.75)
    assert worker.worker_pid() not in (None, pid)
    assert _deltas(w0, compile_worker.STATS)["compiled"] == 1


def test_a_worker_too_slow_is_killed_and_the_graph_compiled_here(worker, monkeypatch):
    _check(4.0)
    pid = worker.worker_pid()
    monkeypatch.setattr(tf.config._config, "compile_worker_timeout", 0.001)
    s0, w0 = _snapshot()
    _check(4.25)
    assert _deltas(w0, compile_worker.STATS)["failures"] == 1
    assert _deltas(s0, cpu.STATS)["compiled"] == 1
    assert worker.worker_pid() is None
    deadline = time.monotonic() + 10    # killed, not left running
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read()


def test_repeated_failures_turn_the_worker_off(worker, monkeypatch, caplog):
    worker.shutdown()
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with caplog.at_level(logging.WARNING, logger="jaxish"):
        for i in range(compile_worker._MAX_FAILURES):
            worker.start()
        _check(5.0)
    assert not worker.available() and worker.STATS["failures"] >= compile_worker._MAX_FAILURES
    assert any("from now on" in r.getMessage() for r in caplog.records)


def test_worker_is_replaced_after_max_compiles(worker, monkeypatch):
    monkeypatch.setattr(compile_worker, "MAX_COMPILES", 1)
    pid, s0, w0 = worker.worker_pid(), dict(cpu.STATS), dict(compile_worker.STATS)
    _check(6.0)    # served by the worker, which is then replaced by a new one
    pid2 = worker.worker_pid()
    assert pid2 not in (None, pid)
    _check(6.25)   # served by the new one
    assert worker.worker_pid() not in (None, pid, pid2)
    assert _deltas(w0, compile_worker.STATS)["compiled"] == 2 and _deltas(s0, cpu.STATS)["disk_loads"] == 2


def test_compile_error_in_worker_gives_the_in_process_error(worker, monkeypatch):
    from numba.core.errors import NumbaError
    real = cpu.generate

    def broken(graph):  # an entry function that Numba cannot type
        prog = real(graph)
        src = prog.entry_source.replace("    return (", "    undefined_name_in_entry + 1\n    return (", 1)
        return dataclasses.replace(prog, entry_source=src)

    _check(7.0)
    monkeypatch.setattr(cpu, "generate", broken)
    w0 = dict(compile_worker.STATS)
    f, ref = _graph(7.25)
    x = np.ones((2, 3), np.float32)
    with pytest.raises(NumbaError, match="undefined_name_in_entry"):   # strict backend: the same error
        f(x)
    assert compile_worker.STATS["errors"] - w0["errors"] == 1
    assert compile_worker.STATS["failures"] == w0["failures"]   # an error is not a failure of the worker
    monkeypatch.setattr(tf.config._config, "strict_backend", False)
    g, ref = _graph(7.5)
    with pytest.warns(RuntimeWarning, match="failed to compile a graph"):   # not strict: the interpreter
        np.testing.assert_allclose(g(x).numpy(), ref(x), rtol=1e-5, atol=1e-6)


def test_threads_compiling_different_graphs_at_once(worker):
    _check(8.0)
    n = 6
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    graphs = [_graph(8.25 + i / 8) for i in range(n)]
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = graphs[i][0](x).numpy()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    s0, w0 = _snapshot()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (_, ref), r in zip(graphs, results):
        np.testing.assert_allclose(r, ref(x), rtol=1e-5, atol=1e-6)
    s, w = _deltas(s0, cpu.STATS), _deltas(w0, compile_worker.STATS)
    assert s["compiled"] + s["disk_loads"] == n and s["fallbacks"] == 0
    assert w["failures"] == 0 and w["unused"] == 0 and w["compiled"] == s["disk_loads"]


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])   # jaxish found through sys.path only, from another directory
    import numpy as np
    import jaxish as tf
    from jaxish.backends import cpu
    from jaxish.backends.cpu import compile_worker
    x = np.linspace(0, 1, 7, dtype=np.float32)
    ok = True
    for k in (1.0, 2.0, 3.0):
        f = tf.trace(lambda x: tf.reduce_sum(tf.sin(x) * k + x))
        ok &= bool(np.isclose(float(f(x)), np.sum(np.sin(x) * np.float32(k) + x), rtol=1e-5))
    print(json.dumps({"ok": ok, "stats": cpu.STATS, "worker": compile_worker.STATS}))
""")


def _script(tmp_path, cache, **env):
    root = os.path.dirname(os.path.dirname(os.path.abspath(tf.__file__)))
    e = dict(os.environ, JAXISH_CACHE_DIR=str(cache), JAXISH_BACKEND="cpu", **env)
    e.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, root], env=e, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["ok"], res
    return res


def test_worker_runs_when_the_callers_path_and_directory_differ(tmp_path):
    res = _script(tmp_path, tmp_path / "cache")
    assert res["worker"]["starts"] == 1 and res["worker"]["compiled"] == 2 and res["worker"]["unused"] == 0
    assert res["stats"] == {"compiled": 1, "disk_loads": 2, "fallbacks": 0}


@pytest.mark.parametrize("how", ["env", "no-disk-cache", "read-only", "machine-code-read-only"])
def test_no_worker_when_off_or_without_a_writable_cache(tmp_path, how):
    cache = tmp_path / "cache"
    env = {"env": {"JAXISH_COMPILE_WORKER": "0"}, "no-disk-cache": {"JAXISH_DISK_CACHE": "0"}}.get(how, {})
    locked = {"read-only": cache, "machine-code-read-only": cache / "__pycache__"}.get(how)
    if locked is not None:
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions")
        locked.mkdir(parents=True)
        locked.chmod(0o555)
    try:
        res = _script(tmp_path, cache, **env)
    finally:
        if locked is not None:
            locked.chmod(0o755)
    assert res["worker"]["starts"] == 0 and res["stats"]["compiled"] == 3


def test_no_worker_when_the_machine_code_cannot_be_saved(worker, monkeypatch):
    from jaxish.backends.cpu import disk_cache
    monkeypatch.setattr(disk_cache, "writable", lambda directory: False)
    s0, w0 = _snapshot()
    _check(10.5)
    assert _deltas(s0, cpu.STATS)["compiled"] == 1 and compile_worker.STATS == w0


def test_config_turns_the_worker_off(worker):
    try:
        tf.config.set_compile_worker(False)
        assert not tf.config.get_compile_worker() and not compile_worker.available()
        w0 = dict(compile_worker.STATS)
        _check(9.0)
        _check(9.25)
        assert compile_worker.STATS == w0
    finally:
        tf.config.set_compile_worker(True)


def test_a_graph_that_failed_to_compile_is_released(cpu_backend, monkeypatch):
    import gc

    from jaxish.backends.cpu import disk_cache
    real = cpu.generate

    def broken(graph):
        prog = real(graph)
        src = prog.entry_source.replace("    return (", "    undefined_name_in_entry + 1\n    return (", 1)
        return dataclasses.replace(prog, entry_source=src)
    monkeypatch.setattr(cpu, "generate", broken)
    monkeypatch.setattr(tf.config._config, "strict_backend", False)
    f, ref = _graph(11.0)
    x = np.ones((2, 3), np.float32)
    before = set(disk_cache.loaded_modules())
    with pytest.warns(RuntimeWarning, match="failed to compile a graph"):
        np.testing.assert_allclose(f(x).numpy(), ref(x), rtol=1e-5, atol=1e-6)
    mine = set(disk_cache.loaded_modules()) - before
    assert mine
    del f
    tf.clear_cache()
    gc.collect()
    assert not mine & set(disk_cache.loaded_modules())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_use_its_parents_worker(worker):
    _check(12.0)
    parent_worker = worker.worker_pid()
    assert parent_worker is not None
    pid = os.fork()
    if pid == 0:  # the child: its own (in-process) compile, then its own worker; never the parent's pipes
        code = 1
        try:
            code = 0 if worker.worker_pid() is None else 2
            _check(12.25)
            code = code or (0 if worker.worker_pid() not in (None, parent_worker) else 3)
            worker.shutdown()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    s0, w0 = _snapshot()
    _check(12.5)   # the parent's worker still serves the parent
    assert worker.worker_pid() == parent_worker and _deltas(w0, compile_worker.STATS)["compiled"] == 1
