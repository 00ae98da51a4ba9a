"""Compile time of long chains: first call (trace + optimise + generate + Numba compile + run).

Each case runs in a fresh process with a new, empty ``JAXISH_CACHE_DIR``, so
nothing comes from the disk cache. Cases:

* ``euler``: an explicit Euler loop on a 0-d value, ``x = x + 0.1 * sin(x) * x``
  for ``n`` steps, forward only and value-and-gradient (``value_and_grad``);
* ``vector``: a chain of ``n`` elementwise ops on a 1,000-element vector
  (``sin``, ``*``, ``+`` in turn), summed;
* ``kernels``: ``x = x + 0.1 * mean(sin(x)) * x`` on a 1,000-element vector,
  ``n`` steps (a reduction per step: many small kernels), summed.

The gradient of ``vector`` is checked against the chain rule in NumPy, that
of ``kernels`` against central differences of the NumPy reference.

Usage::

    python benchmarks/compile_time.py                      # the default cases
    python benchmarks/compile_time.py euler:100 vector:5000
    python benchmarks/compile_time.py --grad euler:8        # value_and_grad only
    python benchmarks/compile_time.py --forward vector:5000 # forward only

Prints one line per case: wall-clock seconds of the first call, the CPU time
the process spent in it (the better measure on a loaded machine: it excludes
waiting for a core), milliseconds of a second call, and the check against a
NumPy float64 reference.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
import numpy as np
import jaxish as tf

kind, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def euler(x):
    for _ in range(n):
        x = x + 0.1 * tf.sin(x) * x
    return x

def vector(x):
    for i in range(n):
        k = i % 3
        x = tf.sin(x) if k == 0 else (x * 0.999 if k == 1 else x + 0.001)
    return tf.reduce_sum(x)

def kernels(x):
    for _ in range(n):
        x = x + 0.1 * tf.reduce_mean(tf.sin(x)) * x
    return tf.reduce_sum(x)

def kernels_ref(x):
    for _ in range(n):
        x = x + 0.1 * np.mean(np.sin(x)) * x
    return x.sum()

def euler_ref(x):
    d = 1.0
    for _ in range(n):
        d = d * (1 + 0.1 * (np.cos(x) * x + np.sin(x)))
        x = x + 0.1 * np.sin(x) * x
    return x, d

def vector_ref(x):
    for i in range(n):
        k = i % 3
        x = np.sin(x) if k == 0 else (x * 0.999 if k == 1 else x + 0.001)
    return x.sum()

def vector_grad_ref(x):  # the chain is elementwise: its gradient is the chain rule per element
    d = np.ones_like(x)
    for i in range(n):
        k = i % 3
        if k == 0:
            d, x = d * np.cos(x), np.sin(x)
        elif k == 1:
            d, x = d * 0.999, x * 0.999
        else:
            x = x + 0.001
    return d

fn = {"euler": euler, "vector": vector, "kernels": kernels}[kind]
X0 = np.linspace(-1, 1, 1000) if kind == "vector" else np.linspace(-0.5, 1, 1000)
arg = tf.constant(0.5, tf.float64) if kind == "euler" else tf.constant(X0)
f = tf.trace(tf.value_and_grad(fn) if mode == "grad" else fn)
t0, c0 = time.perf_counter(), time.process_time()
out = f(arg)
t1, c1 = time.perf_counter(), time.process_time()
f(arg)
t2 = time.perf_counter()
def check():
    if kind == "euler":
        v, d = euler_ref(0.5)
        if mode == "grad":
            return np.allclose([float(out[0]), float(out[1])], [v, d], rtol=1e-12, atol=0)
        return np.allclose(float(out), v, rtol=1e-12, atol=0)
    ref = vector_ref if kind == "vector" else kernels_ref
    if mode != "grad":
        return np.allclose(float(out), ref(X0), rtol=1e-12, atol=0)
    if kind == "vector":
        want = [vector_ref(X0), *vector_grad_ref(X0)]
        return np.allclose([float(out[0]), *out[1].numpy()], want, rtol=1e-10, atol=0)
    h = 1e-6  # central differences of the NumPy reference
    fd = [(ref(X0 + h * e) - ref(X0 - h * e)) / (2 * h) for e in np.eye(1000)[:3]]
    return np.allclose([float(out[0]), *out[1].numpy()[:3]], [ref(X0), *fd], rtol=1e-6, atol=1e-9)

ok = bool(check())
print("RESULT " + json.dumps({"first": t1 - t0, "cpu": c1 - c0, "second": t2 - t1, "ok": ok}))
"""

DEFAULT = ["euler:8", "euler:12", "euler:100", "vector:1000", "vector:5000", "kernels:100"]


def run_case(kind: str, n: int, mode: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, JAXISH_CACHE_DIR=cache)
        try:
            p = subprocess.run([sys.executable, "-c", CHILD, kind, str(n), mode], env=env, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"first": float("inf"), "cpu": float("nan"), "second": float("nan"), "ok": None}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind}:{n} {mode} failed:\n{p.stderr[-3000:]}")


def main(argv: list) -> None:
    modes = ["grad"] if "--grad" in argv else ["forward"] if "--forward" in argv else ["forward", "grad"]
    cases = [a for a in argv if not a.startswith("--")] or DEFAULT
    timeout = 600.0
    print(f"{'case':<14} {'mode':<8} {'first call (s)':>15} {'its CPU time (s)':>17} {'second (ms)':>12}  check")
    for case in cases:
        kind, n = case.split(":")
        for mode in modes:
            r = run_case(kind, int(n), mode, timeout)
            print(f"{case:<14} {mode:<8} {r['first']:>15.2f} {r['cpu']:>17.2f} {r['second'] * 1e3:>12.3f}  "
                  f"{'ok' if r['ok'] else 'timeout' if r['ok'] is None else 'WRONG'}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
