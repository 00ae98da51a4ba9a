"""The compile cache: in memory, on disk across processes, and robust to damage."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxish

SCRIPT = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("always")
    import numpy as np
    import jaxish as tf
    from jaxish.backends import cpu

    @tf.trace
    def step(x, w):
        return tf.reduce_sum(tf.tanh(x @ w) * 3.0 + 1.0)

    x = tf.constant(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    w = tf.constant(np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(step(x, w))
    ref = float(np.sum(np.tanh(np.asarray(x) @ np.asarray(w)) * 3.0 + 1.0))
    print(json.dumps({"value": value, "ref": ref, "stats": cpu.STATS,
                      "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
""")


def _run(cache_dir, extra_env=None):
    env = dict(os.environ, JAXISH_CACHE_DIR=str(cache_dir), JAXISH_BACKEND="cpu")
    env.update(extra_env or {})
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_machine_code_from_disk(tmp_path):
    first = _run(tmp_path)
    assert first["stats"]["compiled"] == 1 and first["stats"]["disk_loads"] == 0
    second = _run(tmp_path)
    assert second["stats"] == {"compiled": 0, "disk_loads": 1, "fallbacks": 0}
    assert second["value"] == pytest.approx(second["ref"], rel=1e-5)
    assert not second["warnings"]


def test_damaged_cache_files_are_rebuilt_with_a_warning(tmp_path):
    _run(tmp_path)
    files = [p for p in tmp_path.iterdir() if p.suffix == ".py"]
    assert files
    # truncate one generated module and garble Numba's index and data files
    files[0].write_text(files[0].read_text()[:40])
    for p in (tmp_path / "__pycache__").iterdir():
        p.write_bytes(os.urandom(64))
    res = _run(tmp_path)
    assert res["value"] == pytest.approx(res["ref"], rel=1e-5)
    assert res["stats"]["fallbacks"] == 0
    assert any("CacheWarning" in w for w in res["warnings"])
    # and the next process is clean again
    again = _run(tmp_path)
    assert again["stats"]["disk_loads"] == 1 and not again["warnings"]


def test_foreign_file_is_not_trusted(tmp_path):
    _run(tmp_path)
    files = list(tmp_path.glob("_jx_*.py"))
    assert files
    for p in files:
        p.write_text("raise SystemExit('a foreign module must never be executed')\n")
    res = _run(tmp_path)
    assert res["value"] == pytest.approx(res["ref"], rel=1e-5)
    assert any("damaged or foreign" in w for w in res["warnings"])


def test_two_processes_compiling_at_once_both_succeed(tmp_path):
    env = dict(os.environ, JAXISH_CACHE_DIR=str(tmp_path), JAXISH_BACKEND="cpu")
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        assert res["value"] == pytest.approx(res["ref"], rel=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_disk_cache_can_be_disabled(tmp_path):
    res = _run(tmp_path, {"JAXISH_DISK_CACHE": "0"})
    assert res["value"] == pytest.approx(res["ref"], rel=1e-5)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_clear_cache_deletes_jaxish_files(tmp_path, monkeypatch, cpu_backend):
    monkeypatch.setattr(jaxish.config._config, "cache_dir", str(tmp_path / "c"))
    f = jaxish.trace(lambda x: x * 2.0 + 7.0)
    x = jaxish.constant(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(f(x).numpy(), np.arange(3, dtype=np.float32) * 2 + 7)
    assert any((tmp_path / "c").iterdir())
    jaxish.clear_cache()
    assert not list((tmp_path / "c").glob("_jx_*")) and not list((tmp_path / "c").glob("__pycache__/_jx_*"))
    f2 = jaxish.trace(lambda x: x * 2.0 + 7.0)
    np.testing.assert_array_equal(f2(x).numpy(), np.arange(3, dtype=np.float32) * 2 + 7)


def test_kernels_are_reused_across_batch_sizes(cpu_backend):
    """A new batch size retraces but reuses the generated source (no new kernel modules)."""
    f = jaxish.trace(lambda x: jaxish.reduce_sum(jaxish.exp(x) * 0.5 + x, axis=1))
    before = {n for n in sys.modules if n.startswith("_jx_")}
    f(jaxish.constant(np.ones((3, 4), np.float32)))
    mid = {n for n in sys.modules if n.startswith("_jx_")}
    out = f(jaxish.constant(np.ones((5, 4), np.float32)))
    after = {n for n in sys.modules if n.startswith("_jx_")}
    assert f.cache_info().traces == 2
    assert mid - before and after == mid
    np.testing.assert_allclose(out.numpy(), np.full(5, 4 * (np.exp(1) * 0.5 + 1)), rtol=1e-6)


PARALLEL_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import jaxish as tf
    n = (1 << 18) + 3                   # parallel kernels
    x = tf.constant(np.linspace(-2, 2, n, dtype=np.float32))
    which = sys.argv[1]
    if which == "a":
        f = tf.trace(lambda x: tf.reduce_sum(tf.exp(-x * x)))
    else:                               # another graph (another entry) with the same reduction kernel
        f = tf.trace(lambda x: tf.reshape(tf.reduce_sum(tf.exp(-x * x)), [1]))
    val = float(f(x).numpy().reshape(-1)[0])
    ref = float(np.sum(np.exp(-np.linspace(-2, 2, n, dtype=np.float32).astype(np.float64) ** 2)))
    assert abs(val - ref) <= 1e-5 * ref, (val, ref)
    print("ok")
""")


def test_entry_compiled_after_its_parallel_kernel_was_loaded_from_disk(tmp_path):
    # process 1 caches the parallel kernel; process 2 compiles another entry calling it (the kernel's machine code
    # loaded from disk); process 3 loads that entry from disk and runs it (it crashed: numba/numba#8578)
    env = dict(os.environ, JAXISH_CACHE_DIR=str(tmp_path), JAXISH_BACKEND="cpu", JAXISH_COMPILE_WORKER="0")
    for which in ("a", "b", "b"):
        out = subprocess.run([sys.executable, "-c", PARALLEL_SCRIPT, which], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0 and out.stdout.strip().endswith("ok"), (which, out.returncode, out.stderr[-2000:])
