"""Workload 5: the first call of the traced linear-regression step in a fresh process.

Each sample launches ``sys.executable -c SCRIPT``. The child prints the wall
clock (``time.time()``) after its imports and around the first call; the
parent notes the clock just before the launch, so "launch → first result"
includes interpreter start-up, imports, tracing, compilation (or loading from
the disk cache) and the first run.

jaxish runs (a) with ``JAXISH_CACHE_DIR`` set to a new, empty temporary
directory and (b) with a directory populated by an earlier run. NumPy, JAX
(``jax.jit``, no persistent compilation cache) and PyTorch (eager) do the same
step in a fresh process for comparison with (a).

jaxish's own modules are byte-compiled first (``compileall``, untimed), as
installing a package does: NumPy, Numba, JAX and PyTorch come with their
``__pycache__``, while a source checkout run with ``PYTHONDONTWRITEBYTECODE=1``
would compile every jaxish module from source in each fresh process
(0.05-0.2 s, not something a user's installation pays).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from harness import Measurement, Row

# The seed step's child-script snippets, shared with coldstart_phases.py (which times the same step by phase).
SEED_DATA = """
import numpy as np
rng = np.random.default_rng(0)
X = rng.random((32, 5), dtype=np.float32)
Y = (X @ np.arange(5, dtype=np.float32)[:, None]).astype(np.float32)
W0 = rng.random((5, 1), dtype=np.float32)
"""

# jaxish's step, as the seed chapter writes it (expects ``import jaxish as tf`` and SEED_DATA run before it).
SEED_STEP_JAXISH = """
x, y = tf.constant(X), tf.constant(Y)
weights = tf.Variable(W0)

@tf.trace
def train_step(x, y):
    with tf.GradientTape() as tape:
        y_hat = tf.linalg.matmul(x, weights)
        loss = tf.reduce_mean(tf.square(y - y_hat))
    gradients = tape.gradient(loss, weights)
    weights.assign_add(-0.05 * gradients)
    return loss
"""

_HEAD = "import time, json\nT0 = time.time()\n"
_TAIL = """
T3 = time.time()
print("RESULT " + json.dumps({"imported": T1, "before_call": T2, "after_call": T3, "start": T0}))
"""

SCRIPTS = {
    "jaxish": _HEAD + """
import jaxish as tf
T1 = time.time()
""" + SEED_DATA + SEED_STEP_JAXISH + """
T2 = time.time()
train_step(x, y).numpy(); weights.numpy()
""" + _TAIL,
    "NumPy": _HEAD + """
T1 = time.time()
""" + SEED_DATA + """
w = W0.copy()
T2 = time.time()
r = X @ w - Y
loss = np.mean(r * r)
w -= np.float32(0.05) * (2.0 / Y.size) * (X.T @ r)
""" + _TAIL,
    "JAX": _HEAD + """
import os
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
import jax.numpy as jnp
T1 = time.time()
""" + SEED_DATA + """
x, y, w = jnp.asarray(X), jnp.asarray(Y), jnp.asarray(W0)

@jax.jit
def train_step(w, x, y):
    loss, g = jax.value_and_grad(lambda w: jnp.mean(jnp.square(y - x @ w)))(w)
    return w - 0.05 * g, loss

T2 = time.time()
jax.block_until_ready(train_step(w, x, y))
""" + _TAIL,
    "PyTorch": _HEAD + """
import torch
T1 = time.time()
""" + SEED_DATA + """
x, y = torch.tensor(X), torch.tensor(Y)
w = torch.tensor(W0, requires_grad=True)
T2 = time.time()
loss = torch.mean(torch.square(y - x @ w))
loss.backward()
with torch.no_grad():
    w.add_(w.grad, alpha=-0.05)
loss.item()
""" + _TAIL,
}


def _byte_compile_jaxish(log=print) -> None:
    """Write the bytecode of the jaxish the children import (its ``__pycache__``), as installing it would."""
    import compileall
    import importlib.util
    spec = importlib.util.find_spec("jaxish")
    for d in (spec.submodule_search_locations or []) if spec is not None else []:
        if not compileall.compile_dir(d, quiet=1):
            log(f"    (could not byte-compile {d}; jaxish starts compile its modules from source)")


def _child_env(cache_dir: str | None) -> dict:
    env = dict(os.environ)
    env.pop("JAXISH_DISK_CACHE", None)
    env.pop("NUMBA_CACHE_DIR", None)   # Numba's files must sit beside the generated modules (in the cache dir)
    if cache_dir is not None:
        env["JAXISH_CACHE_DIR"] = cache_dir
    return env


def _launch(name: str, cache_dir: str | None = None) -> dict:
    t_launch = time.time()
    p = subprocess.run([sys.executable, "-c", SCRIPTS[name]], env=_child_env(cache_dir), capture_output=True,
                       text=True, timeout=600)
    t_exit = time.time()
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{name} child failed (rc={p.returncode}): {tail[:200]}")
    r = json.loads(lines[-1][len("RESULT "):])
    return {"total": r["after_call"] - t_launch, "first_call": r["after_call"] - r["before_call"],
            "import": r["imported"] - r["start"], "process": t_exit - t_launch}


def _measure(samples: list, key: str, label: str) -> Measurement:
    vals = [s[key] for s in samples]
    return Measurement(statistics.median(vals), min(vals), max(vals), len(vals), 0, label)


def run_coldstart(frameworks: list, repeats: int, log=print) -> list:
    """Rows 5a/5a'/5b/5b' (seconds)."""
    cold: dict = {c: [] for c in frameworks}
    warm: list = []
    errors: dict = {}
    if "jaxish" in frameworks:
        _byte_compile_jaxish(log)
    tmp_root = tempfile.mkdtemp(prefix="jaxish-bench-")
    try:
        warm_dir = None
        for i in range(repeats):
            for c in frameworks:
                if c in errors:
                    continue
                try:
                    if c == "jaxish":
                        d = tempfile.mkdtemp(dir=tmp_root)
                        s = _launch(c, d)
                        warm_dir = warm_dir or d
                    else:
                        s = _launch(c)
                    cold[c].append(s)
                    log(f"    {c:8s} fresh process{' (empty cache)' if c == 'jaxish' else ''}: "
                        f"{s['total']:.2f} s to first result (import {s['import']:.2f} s, "
                        f"first call {s['first_call']:.2f} s)")
                except Exception as e:  # noqa: BLE001
                    errors[c] = f"{type(e).__name__}: {e}"[:200]
                    log(f"    {c:8s} FAILED: {errors[c]}")
            if warm_dir is not None and "jaxish" not in errors:
                try:
                    s = _launch("jaxish", warm_dir)
                    warm.append(s)
                    log(f"    jaxish   fresh process (warm cache): {s['total']:.2f} s to first result "
                        f"(import {s['import']:.2f} s, first call {s['first_call']:.2f} s)")
                except Exception as e:  # noqa: BLE001
                    errors["jaxish-warm"] = f"{type(e).__name__}: {e}"[:200]
                    log(f"    jaxish   FAILED (warm cache): {errors['jaxish-warm']}")
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)

    def cells(samples_by_col, key, what):
        out = {}
        for c, samples in samples_by_col.items():
            if samples:
                label = what(c)
                if key == "total":
                    label += f"; import {statistics.median(s['import'] for s in samples):.2f} s"
                out[c] = _measure(samples, key, label)
            elif c in errors or (c == "jaxish" and "jaxish-warm" in errors):
                out[c] = Measurement(error=errors.get(c) or errors.get("jaxish-warm"), label=what(c))
        return out

    def what_cold(c):
        return {"jaxish": "empty JAXISH_CACHE_DIR", "JAX": "jax.jit, no persistent cache",
                "PyTorch": "eager", "NumPy": "hand-written"}[c]
    rows = [
        Row("5a", "fresh process, empty cache: launch → first result of the step", "s",
            cells(cold, "total", what_cold)),
        Row("5a'", "  … of which the first call itself (trace + compile + run)", "s",
            cells(cold, "first_call", what_cold), ratio_floor=0.01),
        Row("5b", "fresh process, warm disk cache: launch → first result", "s",
            cells({"jaxish": warm}, "total", lambda c: "populated JAXISH_CACHE_DIR")),
        Row("5b'", "  … of which the first call itself", "s",
            cells({"jaxish": warm}, "first_call", lambda c: "populated JAXISH_CACHE_DIR")),
    ]
    return rows

