"""Where row 3's MLP training step spends its time (``RESULTS.md``), in per-thread CPU time.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/mlp_profile.py floor   # the two SGEMMs, by layout
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/mlp_profile.py parts   # the step without each part
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/mlp_profile.py ab      # gemm_update on / off

``floor`` calls NumPy's OpenBLAS ``cblas_sgemm`` directly (ctypes) with the step's shapes in several layouts
(``OPENBLAS_CORETYPE`` picks other kernels). ``parts`` compiles variants of the step's generated entry function
with one part removed (a BLAS call, or a loop made to run zero times) and times each on the step's arrays; a
variant computes garbage, only its time counts. ``ab`` compiles the step's graph with and without
``backends/cpu/gemm_update`` and times both, interleaved block by block. Times are ``time.thread_time`` (this
thread's CPU time, which a loaded machine disturbs least), the minimum or the median of many blocks.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import re
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _blocks(f, reps: int, blocks: int) -> list:
    f()
    out = []
    for _ in range(blocks):
        t = time.thread_time()
        for _ in range(reps):
            f()
        out.append((time.thread_time() - t) / reps * 1e6)
    return sorted(out)


def floor() -> None:
    from jaxish.backends.cpu import blas
    info = blas.openblas_info()
    if info is None:
        sys.exit("NumPy's OpenBLAS is not loadable here")
    lib = ctypes.CDLL(blas._LIBRARY[0])
    sg = lib.scipy_cblas_sgemm64_
    i64, f32, ptr, i32 = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p, ctypes.c_int
    sg.argtypes = [i32, i32, i32, i64, i64, i64, f32, ptr, i64, ptr, i64, f32, ptr, i64]
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    w1 = rng.standard_normal((784, 256), dtype=np.float32)
    dz = rng.standard_normal((128, 256), dtype=np.float32)
    h, dw, dwt, w = np.empty((128, 256), np.float32), np.empty((784, 256), np.float32), \
        np.empty((256, 784), np.float32), w1.copy()
    xt, dzt = np.ascontiguousarray(x.T), np.ascontiguousarray(dz.T)

    def g(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        return lambda: sg(order, ta, tb, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
                          c.ctypes.data, ldc)
    cases = {
        "x @ W1, row-major NN (jaxish)": g(101, 111, 111, 128, 256, 784, 1.0, x, 784, w1, 256, 0.0, h, 256),
        "x @ W1 as column-major (W1^T x^T)": g(102, 111, 111, 256, 128, 784, 1.0, w1, 256, x, 784, 0.0, h, 256),
        "x^T @ dz, TransA on x (main)": g(101, 112, 111, 784, 256, 128, 1.0, x, 784, dz, 256, 0.0, dw, 256),
        "W1 - 0.1 x^T @ dz, beta=1 (gemm_update)": g(101, 112, 111, 784, 256, 128, -0.1, x, 784, dz, 256, 1.0,
                                                     w, 256),
        "x^T @ dz from a contiguous x^T": g(101, 111, 111, 784, 256, 128, 1.0, xt, 128, dz, 256, 0.0, dw, 256),
        "dW1^T = dz^T @ x, TransA on dz": g(101, 112, 111, 256, 784, 128, 1.0, dz, 256, x, 784, 0.0, dwt, 784),
        "dW1^T = dz^T @ x, dz^T contiguous": g(101, 111, 111, 256, 784, 128, 1.0, dzt, 128, x, 784, 0.0, dwt, 784),
    }
    best: dict = {}
    for _ in range(3):
        for name, f in cases.items():
            best[name] = min(best.get(name, np.inf), _blocks(f, 10, 25)[0])
    print(f"NumPy's OpenBLAS: {info['core']} kernels, {info['threads']} thread(s); 51.4 MFLOP per product")
    for name, t in best.items():
        print(f"  {name:44s} {t:7.1f} us  {51.38e3 / t:6.1f} GFLOP/s")


def _step():
    """The row-3 step (``workloads.mlp_jaxish``), run a few times; its graph; its inputs."""
    import workloads

    import jaxish
    import jaxish.backends.cpu as cpu
    graphs: list = []
    compile_graph = cpu.compile_graph

    def record(g):
        graphs.append(g)
        return compile_graph(g)
    cpu.compile_graph = record
    try:
        impl = workloads.mlp_jaxish(jaxish)
        for _ in range(3):
            impl.step()
    finally:
        cpu.compile_graph = compile_graph
    x, y, p0 = workloads._mlp_data()
    return impl, graphs[-1], [x, y] + [a.copy() for a in p0]


def parts() -> None:
    import jaxish.backends.cpu as cpu
    impl, graph, args = _step()
    runner = cpu.compile_graph(graph)
    runner(args)
    text = open(runner.handle.module.__file__).read()
    dests = [np.empty(s, d) for s, d in runner.dests]
    gemms = [ln for ln in text.split("\n") if ln.strip().startswith(("_sgemm(", "_dgemm("))]

    def without(t, pred):
        return "\n".join(ln[:len(ln) - len(ln.lstrip())] + "pass" if pred(ln) else ln for ln in t.split("\n"))

    def zero_loops(t, pattern):
        return re.sub(rf"for ({pattern}) in range\([^\n]*\):", r"for \1 in range(0):", t)
    no_gemm = without(text, lambda ln: ln in gemms)
    variants = {"the whole entry": text, "no GEMM": no_gemm}
    for k, g in enumerate(gemms):   # no GEMM but this one
        variants[f"GEMM {k} alone ({g.strip()[:40]}...)"] = without(text, lambda ln, g=g: ln in gemms and ln != g)
    variants["no GEMM, no q0 (bias + tanh)"] = zero_loops(no_gemm, r"q0_\w+")
    variants["no GEMM, no copy of W1/W2 (d*_i loops)"] = zero_loops(no_gemm, r"d\d+_i")
    variants["no GEMM, no loops q1..q19"] = zero_loops(no_gemm, r"q(?:[1-9]|1[0-9])_\w+")
    variants["no GEMM, no kernel modules (k0, k1)"] = without(no_gemm, lambda ln: re.match(r"\s+k\d+\(", ln))
    variants["allocations only"] = without(zero_loops(no_gemm, r"[qd]\d+_\w+"), lambda ln: re.match(r"\s+k\d+\(", ln))
    folder = tempfile.mkdtemp(prefix="jaxish_mlp_profile_")
    sys.path[:0] = [folder, os.path.dirname(runner.handle.module.__file__)]
    fns = {}
    for k, (name, src) in enumerate(variants.items()):
        with open(os.path.join(folder, f"variant_{k}.py"), "w") as f:
            f.write(src.replace("cache=True, ", ""))
        fns[name] = importlib.import_module(f"variant_{k}").entry
    best: dict = {}
    for _ in range(3):
        for name, fn in fns.items():
            best[name] = min(best.get(name, np.inf),
                             _blocks(lambda fn=fn: fn(*args, *dests, runner.sizes), 10, 41)[0])
        best["the traced call (train_step)"] = min(best.get("the traced call (train_step)", np.inf),
                                                   _blocks(impl.step, 10, 41)[0])
    for name, t in best.items():
        print(f"  {name:60s} {t:8.1f} us")


def ab() -> None:
    import jaxish.backends.cpu as cpu
    from jaxish.backends.cpu import gemm_update
    impl, graph, args = _step()
    fused = cpu.compile_graph(graph)
    match = gemm_update.match
    gemm_update.match = lambda *a: {}
    try:
        plain = cpu.compile_graph(graph)
    finally:
        gemm_update.match = match

    def stepper(run):
        params = list(args[2:])

        def step():
            outs = run(args[:2] + params)
            params[:] = outs[1:]
        return step
    steps = {"gemm_update on": stepper(fused), "gemm_update off": stepper(plain)}
    times: dict = {name: [] for name in steps}
    for _ in range(40):
        for name, f in steps.items():
            times[name] += _blocks(f, 10, 1)
    for name, v in times.items():
        v.sort()
        print(f"  {name:16s} min {v[0]:7.1f} us  median {v[len(v) // 2]:7.1f} us")


if __name__ == "__main__":
    {"floor": floor, "parts": parts, "ab": ab}[sys.argv[1] if len(sys.argv) > 1 else "parts"]()
