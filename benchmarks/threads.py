"""jaxish under thread settings (``RESULTS.md``, "Threads"): wall time and CPU time of all threads per step.

    python benchmarks/threads.py                      # every setting x every workload, one fresh process each
    python benchmarks/threads.py mlp mixed            # some workloads
    python benchmarks/threads.py --child mlp          # one measurement in this process's environment

Settings: ``OPENBLAS_NUM_THREADS`` (ob) and ``NUMBA_NUM_THREADS`` (nb) 1 or the library's default, and the
defaults with ``OMP_WAIT_POLICY=PASSIVE`` and/or ``OPENBLAS_THREAD_TIMEOUT=4`` (each read when its library loads,
hence one process per setting). Workloads: ``mlp`` (row 3's step), ``vg`` (row 2b), ``mixed`` (``matmul(tanh(x @
w + 1), w)``, x 512x1024, w 1024x1024: a ``prange`` kernel between two BLAS calls), ``mixed_small`` (x 128x1024:
the tanh below ``PARALLEL_THRESHOLD``, no ``prange``). Printed per step: wall minimum and median over blocks, and the
median CPU time of the whole process (spinning worker threads show up there), with the load average.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {
    "ob 1, nb 1": {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"},
    "defaults": {},
    "ob 1, nb default": {"OPENBLAS_NUM_THREADS": "1"},
    "ob default, nb 1": {"NUMBA_NUM_THREADS": "1"},
    "defaults, OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "defaults, OPENBLAS_THREAD_TIMEOUT=4": {"OPENBLAS_THREAD_TIMEOUT": "4"},
    "defaults, both": {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"},
}
WORKLOADS = ("mlp", "mixed", "mixed_small", "vg")
CLEARED = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
           "OPENBLAS_THREAD_TIMEOUT")


def child(which: str) -> dict:
    import numpy as np
    sys.path.insert(0, HERE)
    import workloads

    import jaxish as tf
    rng = np.random.default_rng(0)
    if which == "mlp":
        step, reps = workloads.mlp_jaxish(tf).step, 20
    elif which == "vg":
        x = tf.constant(rng.standard_normal(10_000_000).astype(np.float32))
        g = tf.trace(tf.value_and_grad(lambda x: tf.reduce_sum(tf.tanh(0.5 * x + 1.0) ** 2 + tf.exp(-x * x))))

        def step():
            g(x)[1].numpy()
        reps = 2
    else:
        x = tf.constant(rng.standard_normal((512 if which == "mixed" else 128, 1024)).astype(np.float32))
        w = tf.constant((rng.standard_normal((1024, 1024)) * 0.03).astype(np.float32))
        h = tf.trace(lambda x, w: tf.matmul(tf.tanh(tf.matmul(x, w) + 1.0), w))

        def step():
            h(x, w).numpy()
        reps = 10 if which == "mixed" else 20
    for _ in range(3):
        step()
    walls, cpus = [], []
    for _ in range(int(os.environ.get("BLOCKS", "11"))):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            step()
        walls.append((time.perf_counter() - t) / reps * 1e6)
        cpus.append((time.process_time() - c) / reps * 1e6)
    walls.sort()
    cpus.sort()
    return {"wall_min_us": round(walls[0]), "wall_median_us": round(walls[len(walls) // 2]),
            "cpu_median_us": round(cpus[len(cpus) // 2])}


def main(argv: list) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1])))
        return
    for which in argv or WORKLOADS:
        for name, env in SETTINGS.items():
            full = {k: v for k, v in os.environ.items() if k not in CLEARED}
            full.update(env)
            load = os.getloadavg()[0]
            out = subprocess.run([sys.executable, __file__, "--child", which], env=full, capture_output=True,
                                 text=True, timeout=600)
            res = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else f"failed: {out.stderr[-300:]}"
            print(f"{which:12s} {name:38s} load {load:4.1f}  {res}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
