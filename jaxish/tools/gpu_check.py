"""Check and measure the CUDA backend: ``python -m jaxish.tools.gpu_check``.

On a GPU it runs, in a few minutes, each kind of kernel at real sizes,
checks its result against NumPy and prints a Markdown table (for
``benchmarks/RESULTS.md``, with the device's name):

* the device's copy bandwidth, measured with a plain device-to-device copy;
* a fused elementwise kernel (``tanh(x * y + 1) * 0.5``: two reads, one
  write) in GB/s and as a fraction of the copy bandwidth (target: >= 70 %);
* reductions (all elements, rows, columns) in GB/s;
* float32 matmul in GFLOP/s, beside CuPy and PyTorch when they are installed;
* the seed's training step (a traced linear-regression step with its tape),
  milliseconds per iteration and host transfers per iteration (target: 0),
  as jaxish counts them (``TRANSFERS``) and as numba-cuda does
  (``runtime.driver_copies``: every copy its driver makes).

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) it runs the same
checks at small sizes (CI runs it there: the numbers mean nothing, the checks
do). ``--small`` forces the small sizes on a GPU.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _sync():
    from numba import cuda
    cuda.synchronize()


def _best(fn, repeat: int, number: int) -> float:
    """Seconds per call of ``fn`` (best of ``repeat`` runs of ``number`` calls, synchronised)."""
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        _sync()
        best = min(best, (time.perf_counter() - t) / number)
    return best


def _row(rows, name, size, seconds, value, unit, reference, ok):
    rows.append((name, size, f"{seconds * 1e3:.3f} ms", f"{value:.1f} {unit}", reference, "ok" if ok else "FAIL"))


def run(small: bool, repeat: int, number: int) -> tuple:
    import jaxish as tf
    from jaxish.backends.cuda import runtime
    from jaxish.core.tensor import TRANSFERS

    def gpu(a):
        with tf.device("/gpu:0"):
            return tf.constant(a)

    rows: list = []
    rng = np.random.default_rng(0)
    n = 1 << 12 if small else 1 << 26

    # copy bandwidth: a plain device-to-device copy (read n floats, write n floats)
    from numba import cuda
    src = cuda.to_device(np.ones(n, np.float32))
    dst = cuda.device_array(n, np.float32)
    t = _best(lambda: dst.copy_to_device(src), repeat, number)
    copy_bw = 2 * 4 * n / t / 1e9
    _row(rows, "device copy (D2D)", f"{n}", t, copy_bw, "GB/s", "", bool(np.all(dst.copy_to_host()[:8] == 1)))

    # fused elementwise: 2 reads + 1 write
    xa, ya = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    x, y = gpu(xa), gpu(ya)
    f = tf.function(lambda a, b: tf.tanh(a * b + 1.0) * 0.5)
    out = f(x, y)
    ok = np.allclose(out.numpy(), np.tanh(xa * ya + 1) * 0.5, rtol=1e-5, atol=1e-6)
    t = _best(lambda: f(x, y), repeat, number)
    bw = 3 * 4 * n / t / 1e9
    _row(rows, "fused elementwise tanh(x*y+1)*0.5", f"{n}", t, bw, "GB/s", f"{100 * bw / copy_bw:.0f} % of copy", ok)

    # reductions
    r, c = (64, 64) if small else (1 << 13, 1 << 13)
    ma = rng.standard_normal((r, c)).astype(np.float32)
    m = gpu(ma)
    for name, fn, ref in [("reduce_sum (all)", lambda a: tf.reduce_sum(a), ma.sum(dtype=np.float64)),
                          ("reduce_sum (rows, axis=1)", lambda a: tf.reduce_sum(a, axis=1), ma.sum(1)),
                          ("reduce_sum (columns, axis=0)", lambda a: tf.reduce_sum(a, axis=0), ma.sum(0))]:
        g = tf.function(fn)
        ok = np.allclose(g(m).numpy(), ref, rtol=1e-4, atol=1e-3)
        t = _best(lambda g=g: g(m), repeat, number)
        bw = 4 * r * c / t / 1e9
        _row(rows, name, f"{r}x{c}", t, bw, "GB/s", f"{100 * bw / copy_bw:.0f} % of copy", ok)

    # matmul
    k = 12 if small else 4096
    aa, ba = rng.standard_normal((k, k)).astype(np.float32), rng.standard_normal((k, k)).astype(np.float32)
    a, b = gpu(aa), gpu(ba)
    mm = tf.function(lambda p, q: p @ q)
    ok = np.allclose(mm(a, b).numpy(), aa @ ba, rtol=1e-3, atol=1e-3 * k ** 0.5)
    t = _best(lambda: mm(a, b), repeat, number)
    flops = 2 * k ** 3
    _row(rows, "matmul float32", f"{k}x{k}x{k}", t, flops / t / 1e9, "GFLOP/s", _reference_matmul(aa, ba, repeat,
                                                                                                  number), ok)

    # the seed's training step (traced, tape inside), data and weights on the GPU
    batch = 32 if small else 1 << 16
    xs = rng.uniform(size=(batch, 5)).astype(np.float32)
    xd, yd = gpu(xs), gpu(xs @ np.arange(5, dtype=np.float32)[:, None])
    w = tf.Variable(gpu(np.zeros((5, 1), np.float32)))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w)))
        w.assign_add(-0.05 * tape.gradient(loss, w))
        return loss
    first = float(step(xd, yd))
    iters = 5 if small else 200
    before = dict(TRANSFERS)
    _sync()
    with runtime.driver_copies() as driver:  # numba-cuda's own count of host <-> device copies
        t0 = time.perf_counter()
        for _ in range(iters):
            loss = step(xd, yd)
        _sync()
        t = (time.perf_counter() - t0) / iters
    per = sum(TRANSFERS[kind] - before[kind] for kind in before) / iters
    per_driver = sum(driver.values()) / iters
    ok = float(loss) < first and per == 0 and per_driver == 0
    rows.append(("seed training step (traced)", f"batch {batch}", f"{t * 1e3:.3f} ms", f"{per:g} host transfers",
                 f"per iteration ({per_driver:g} by numba-cuda's count)", "ok" if ok else "FAIL"))
    return runtime.device_description(), rows


def _reference_matmul(aa, ba, repeat, number) -> str:
    out = []
    try:
        import cupy
        ca, cb = cupy.asarray(aa), cupy.asarray(ba)
        t = _best(lambda: ca @ cb, repeat, number)
        out.append(f"CuPy {2 * aa.shape[0] ** 3 / t / 1e9:.1f}")
    except Exception:  # noqa: BLE001 (not installed, or no GPU for it)
        pass
    try:
        import torch
        if torch.cuda.is_available():
            ta, tb = torch.as_tensor(aa, device="cuda"), torch.as_tensor(ba, device="cuda")
            t = _best(lambda: ta @ tb, repeat, number)
            out.append(f"PyTorch {2 * aa.shape[0] ** 3 / t / 1e9:.1f}")
    except Exception:  # noqa: BLE001
        pass
    return ", ".join(out) or "(CuPy/PyTorch not installed)"


def table(device: str, rows: list, simulated: bool) -> str:
    head = ("| check | size | time | throughput | reference | result |", "|---|---|---|---|---|---|")
    lines = [f"GPU check on {device}" + (" (simulated: the timings mean nothing)" if simulated else ""), "", *head]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxish.tools.gpu_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="small sizes (the default under the simulator)")
    args = p.parse_args(argv)
    from jaxish.backends.cuda import runtime
    from jaxish.devices import gpu_available, gpu_unavailable_reason
    if not gpu_available():
        print(f"gpu_check: no GPU: {gpu_unavailable_reason()}", file=sys.stderr)
        return 2
    sim = runtime.simulator()
    small = args.small or sim
    device, rows = run(small, repeat=1 if sim else 5, number=1 if sim else 20)
    print(table(device, rows, sim))
    return 0 if all(r[-1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
