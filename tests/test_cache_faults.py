"""Faults of the on-disk kernel cache: damaged, foreign, read-only, full, concurrent, killed.

Each case runs a fresh process (``SCRIPT``) on a cache directory prepared by
the test and checks: the right value, compiled code (never a silent fallback
to the interpreter), a warning that says what happened, and no half-written
file left behind.
"""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import jaxish

SCRIPT = textwrap.dedent("""
    import errno, json, os, sys, warnings
    fault = os.environ.get("FAULT", "")
    if fault:  # simulate a full disk / read-only file system for every cache write
        import tempfile
        import numba.core.caching as nc
        code = {"enospc": errno.ENOSPC, "erofs": errno.EROFS}[fault]
        def refuse(*a, **k):
            raise OSError(code, os.strerror(code))
        tempfile.mkstemp = refuse
        nc.IndexDataCacheFile._open_for_write = refuse
    import numpy as np
    import jaxish as tf
    from jaxish.backends import cpu

    scale = float(os.environ.get("SCALE", "3.0"))

    @tf.trace
    def step(x, w):
        return tf.reduce_sum(tf.tanh(x @ w) * scale + 1.0)

    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    w = np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(step(x, w))
    ref = float(np.sum(np.tanh(x @ w) * scale + 1.0))
    print(json.dumps({"value": value, "ref": ref, "stats": cpu.STATS,
                      "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
""")


def _env(cache_dir, **extra):
    env = dict(os.environ, JAXISH_CACHE_DIR=str(cache_dir), JAXISH_BACKEND="cpu", JAXISH_STRICT_BACKEND="1")
    env.pop("FAULT", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(cache_dir, **extra):
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=_env(cache_dir, **extra), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["value"] == pytest.approx(res["ref"], rel=1e-5)
    assert res["stats"]["fallbacks"] == 0  # always compiled, never the interpreter
    return res


def _cache_warnings(res):
    return [w for w in res["warnings"] if w.startswith("CacheWarning")]


def _assert_no_partial_files(cache_dir, allow_temp=False):
    """Every module file holds the content its name is the hash of; no temp file is left (a killed
    process may leave one: ``allow_temp``)."""
    for root, _, files in os.walk(cache_dir):
        for f in files:
            assert allow_temp or not (f.startswith(".tmp-") or ".tmp." in f), f"temp file left: {f}"
            if f.endswith(".py"):
                text = open(os.path.join(root, f)).read()
                assert hashlib.sha256(text.encode()).hexdigest()[:24] == f[6:-3], f"half-written module {f}"


def _files(cache_dir, pattern):
    return sorted(cache_dir.glob(pattern))


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A cache directory after one clean run (the reference every case copies)."""
    d = tmp_path_factory.mktemp("populated")
    res = _run(d)
    assert res["stats"]["compiled"] == 1 and not _cache_warnings(res)
    return d


def _copy(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "foreign"])
def test_damaged_module_files_are_rebuilt(populated, tmp_path, damage):
    d = _copy(populated, tmp_path / "c")
    for p in _files(d, "_jx_*.py"):
        text = p.read_text()
        p.write_text({"truncated": text[: len(text) // 2], "empty": "", "garbage": "\x00\x01garbage",
                      "foreign": "raise SystemExit('a foreign module must never be executed')\n"}[damage])
    res = _run(d)
    assert any("damaged or foreign" in w for w in _cache_warnings(res))
    _assert_no_partial_files(d)
    again = _run(d)  # rebuilt once: the next process loads machine code cleanly
    assert again["stats"]["disk_loads"] == 1 and not _cache_warnings(again)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_numba_files_are_rebuilt(populated, tmp_path, damage):
    d = _copy(populated, tmp_path / "c")
    for p in _files(d, "__pycache__/*"):
        data = p.read_bytes()
        p.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": os.urandom(200)}[damage])
    res = _run(d)
    assert res["stats"]["compiled"] == 1
    assert any("damaged or foreign" in w for w in _cache_warnings(res))
    again = _run(d)
    assert again["stats"]["disk_loads"] == 1 and not _cache_warnings(again)
    _assert_no_partial_files(d)


def test_nbc_of_another_function_is_rejected_and_rebuilt(populated, tmp_path):
    d = _copy(populated, tmp_path / "c")
    _run(d, SCALE=5.0)  # a second graph (another literal) in the same directory
    entries = {}
    for p in _files(d, "__pycache__/_jx_e_*.nbc"):
        entries[p.name.split(".")[0]] = p
    assert len(entries) == 2
    a, b = entries.values()
    b.write_bytes(a.read_bytes())  # b's index now points at the machine code of a's function
    first, second = _run(d), _run(d, SCALE=5.0)
    warned = _cache_warnings(first) + _cache_warnings(second)
    assert any("damaged or foreign" in w for w in warned), warned
    assert _run(d, SCALE=5.0)["stats"]["disk_loads"] == 1  # rebuilt once


def test_missing_directory_is_created(tmp_path):
    d = tmp_path / "does" / "not" / "exist"
    res = _run(d)
    assert res["stats"]["compiled"] == 1 and not _cache_warnings(res)
    assert _files(d, "_jx_e_*.py") and _files(d, "__pycache__/*.nbc")


@pytest.mark.parametrize("fault,reason", [("enospc", "the disk is full"), ("erofs", "read-only")])
def test_unwritable_cache_warns_and_still_compiles(tmp_path, fault, reason):
    d = tmp_path / "c"
    d.mkdir()
    res = _run(d, FAULT=fault)
    assert res["stats"]["compiled"] == 1  # compiled in memory, not on the interpreter
    warned = _cache_warnings(res)
    assert len(warned) == 1 and reason in warned[0], warned
    _assert_no_partial_files(d)
    # not "for good": once the disk has room again, the cache is written and then used
    assert _run(d)["stats"]["compiled"] == 1
    assert _run(d)["stats"]["disk_loads"] == 1


def test_disk_full_while_numba_writes_its_data(tmp_path):
    """The index is written but the machine code is not: the next process recompiles, nothing is damaged."""
    d = tmp_path / "c"
    script = SCRIPT.replace('nc.IndexDataCacheFile._open_for_write = refuse',
                            'nc.IndexDataCacheFile._save_data = refuse\n    tempfile.mkstemp = _mk')
    script = script.replace('tempfile.mkstemp = refuse', '_mk = tempfile.mkstemp')
    out = subprocess.run([sys.executable, "-c", script], env=_env(d, FAULT="enospc"), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["value"] == pytest.approx(res["ref"], rel=1e-5) and res["stats"]["compiled"] == 1
    assert any("the disk is full" in w for w in res["warnings"])
    _assert_no_partial_files(d)
    nxt = _run(d)
    assert nxt["stats"]["compiled"] == 1 and not _cache_warnings(nxt)
    assert _run(d)["stats"]["disk_loads"] == 1


def test_read_only_populated_cache_is_used(populated, tmp_path):
    d = _copy(populated, tmp_path / "c")
    modes = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            modes[p] = os.stat(p).st_mode
    for p in sorted(modes, reverse=True):
        os.chmod(p, 0o555 if os.path.isdir(p) else 0o444)
    os.chmod(d, 0o555)
    try:
        res = _run(d, FAULT="erofs")  # FAULT too, since root ignores permission bits
        assert res["stats"] == {"compiled": 0, "disk_loads": 1, "fallbacks": 0}
        assert not _cache_warnings(res)
    finally:
        os.chmod(d, 0o755)
        for p, m in modes.items():
            os.chmod(p, m)


def test_two_processes_compiling_at_once(tmp_path):
    d = tmp_path / "c"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=_env(d), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        res = json.loads(out.strip().splitlines()[-1])
        assert res["value"] == pytest.approx(res["ref"], rel=1e-5) and not _cache_warnings(res)
    _assert_no_partial_files(d)
    assert _run(d)["stats"]["disk_loads"] == 1


def test_kill_9_mid_compile_leaves_no_damage(tmp_path):
    d = tmp_path / "c"
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], env=_env(d, SCALE=7.0), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not _files(d, "_jx_e_*.py"):  # the entry module is written: Numba compiles
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    _assert_no_partial_files(d, allow_temp=True)
    res = _run(d, SCALE=7.0)
    assert not _cache_warnings(res)
    _assert_no_partial_files(d, allow_temp=True)


def test_stale_temp_files_of_killed_processes_are_removed(tmp_path):
    d = tmp_path / "c"
    (d / "__pycache__").mkdir(parents=True)
    stale = [d / ".tmp-abc123.py", d / "__pycache__" / "_jx_e_x.entry-1.py311.1.nbc.tmp.0123456789abcdef"]
    for s in stale:
        s.write_text("half")
        os.utime(s, (time.time() - 7200, time.time() - 7200))
    fresh = d / ".tmp-inflight.py"  # another process may be writing it right now
    fresh.write_text("half")
    _run(d)
    assert not any(s.exists() for s in stale) and fresh.exists()


def test_eviction_keeps_the_cache_under_its_size_limit(tmp_path, monkeypatch):
    from jaxish.backends.cpu import disk_cache
    monkeypatch.setattr(jaxish.config._config, "cache_dir", str(tmp_path))
    (tmp_path / "__pycache__").mkdir()
    now = time.time()
    for i in range(10):  # ten modules of 10 kB each, module i last used i hours ago
        for p in (tmp_path / f"_jx_k_{i:024d}.py", tmp_path / "__pycache__" / f"_jx_k_{i:024d}.kernel-5.py311.nbi"):
            p.write_bytes(b"x" * 5000)
            os.utime(p, (now - 3600 * i, now - 3600 * i))
    assert disk_cache.cache_size() == 100_000
    freed = disk_cache.evict(limit=60_000)
    left = sorted(p.name[6:30] for p in tmp_path.glob("_jx_k_*.py"))
    assert freed == 60_000 and disk_cache.cache_size() == 40_000  # down to 80 % of the limit
    assert left == [f"{i:024d}" for i in range(4)]  # the least recently used went first
    assert len(list((tmp_path / "__pycache__").iterdir())) == 4


def test_eviction_runs_when_a_process_writes(tmp_path):
    d = tmp_path / "c"
    (d / "__pycache__").mkdir(parents=True)
    old = d / f"_jx_k_{0:024d}.py"
    old.write_bytes(b"x" * 200_000)
    os.utime(old, (time.time() - 86400, time.time() - 86400))
    res = _run(d, JAXISH_CACHE_MAX_BYTES="150K")
    assert not old.exists()
    assert res["stats"]["compiled"] == 1


def test_cache_limits_are_configurable():
    import jaxish
    before = jaxish.config.get_cache_limits()
    try:
        jaxish.config.set_cache_limits(disk_cache_max_bytes="2G", trace_cache_size=3)
        assert jaxish.config.get_cache_limits()["disk_cache_max_bytes"] == 2 << 30
        assert jaxish.config.get_cache_limits()["trace_cache_size"] == 3
        with pytest.raises(ValueError, match="trace_cache_size"):
            jaxish.config.set_cache_limits(trace_cache_size=-1)
        with pytest.raises(ValueError, match="disk_cache_max_bytes"):
            jaxish.config.set_cache_limits(disk_cache_max_bytes="lots")
    finally:
        jaxish.config.set_cache_limits(**before)


def test_describe_os_error_names_the_cause():
    from jaxish.backends.cpu.disk_cache import describe_os_error
    assert describe_os_error(OSError(errno.ENOSPC, "x")) == "the disk is full"
    assert "read-only" in describe_os_error(OSError(errno.EROFS, "x"))


def test_clear_disk_cache_deletes_only_jaxish_files(populated, tmp_path, monkeypatch):
    from jaxish.backends.cpu import disk_cache
    d = _copy(populated, tmp_path / "c")
    (d / "notes.txt").write_text("the user's own file")
    (d / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"not ours")
    assert _files(d, "_jx_*.py") and _files(d, "__pycache__/_jx_*")
    monkeypatch.setattr(jaxish.config._config, "cache_dir", str(d))
    disk_cache.clear_disk_cache()
    assert not _files(d, "_jx_*") and not _files(d, "__pycache__/_jx_*")
    assert (d / "notes.txt").read_text() == "the user's own file"
    assert (d / "__pycache__" / "other.cpython-311.pyc").exists()
    res = _run(d)  # the directories stay usable: the next process compiles and writes again
    assert res["stats"]["compiled"] + res["stats"].get("disk_loads", 0) >= 1 and not _cache_warnings(res)
    assert _files(d, "_jx_*.py")
