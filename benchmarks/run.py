"""Benchmark jaxish against NumPy, JAX and PyTorch (CPU, float32), side by side in one run.

    python benchmarks/run.py                 # full run (a few minutes)
    python benchmarks/run.py --quick         # smoke run (under a minute)
    python benchmarks/run.py --only linreg   # one workload (repeatable: --only vg --only mlp)
    python benchmarks/run.py --markdown benchmarks/RESULTS.md

Workloads: ``linreg`` (1), ``vg`` (2), ``mlp`` (3), ``overhead`` (4),
``coldstart`` (5), ``loops`` (6: fori_loop and scan), ``transforms`` (7: hessian, per-example gradients);
see benchmarks/README.md. Times are medians over timed blocks after warm-up;
ratios are jaxish time / other time (above 1: jaxish is slower). Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")   # compare CPU with CPU even where JAX could use an accelerator
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GROUPS = {"linreg": "1", "vg": "2", "mlp": "3", "overhead": "4", "coldstart": "5", "loops": "6", "transforms": "7"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_frameworks(skip: set, threads: int) -> dict:
    import jaxish
    fw = {"jaxish": jaxish}
    for name, mod in (("jax", "jax"), ("torch", "torch")):
        if name in skip:
            continue
        try:
            fw[name] = __import__(mod)
            if name == "torch" and threads > 0:
                fw[name].set_num_threads(threads)
            if name == "jax":
                import jax.numpy  # noqa: F401
        except Exception as e:  # noqa: BLE001 - an unimportable framework is skipped
            log(f"{name} is not importable ({type(e).__name__}: {e}); skipping it")
    return fw


def _version(mod: str) -> str:
    try:
        return __import__(mod).__version__
    except Exception:  # noqa: BLE001
        return "not importable"


def machine_info(fw: dict) -> list:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
            mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jaxish"], cwd=root, capture_output=True,
                               text=True).stdout.strip()
        commit = (commit + (" (jaxish/ has uncommitted changes)" if dirty else "")) or "unknown"
    except OSError:
        commit = "unknown"
    threads = []
    if "torch" in fw:
        threads.append(f"torch threads {fw['torch'].get_num_threads()}")
    if os.environ.get("XLA_FLAGS"):
        threads.append(f"XLA_FLAGS='{os.environ['XLA_FLAGS']}'")
    if os.environ.get("OPENBLAS_NUM_THREADS"):
        threads.append(f"OMP/OpenBLAS/MKL threads {os.environ['OPENBLAS_NUM_THREADS']}")
    try:
        import numba
        threads.append(f"numba threads {numba.config.NUMBA_NUM_THREADS}")
    except Exception:  # noqa: BLE001
        pass
    try:   # the GEMM kernels OpenBLAS chose for this CPU (OPENBLAS_CORETYPE changes them) and its thread count
        from jaxish.backends.cpu.blas import openblas_info
        info = openblas_info()
        if info:
            threads.append(f"NumPy's OpenBLAS: {info['core']} kernels, {info['threads']} thread(s)")
    except Exception:  # noqa: BLE001
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = "load average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"CPU: {cpu}; {os.cpu_count()} logical cores ({usable} usable){mem}",
        f"OS: {platform.platform()}",
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"jaxish {fw['jaxish'].__version__} (git {commit}), numpy {_version('numpy')}, "
        f"numba {_version('numba')}, jax {_version('jax') if 'jax' in fw else 'not used'}"
        f"{' / jaxlib ' + _version('jaxlib') if 'jax' in fw else ''}, "
        f"torch {_version('torch') if 'torch' in fw else 'not used'}",
        "; ".join(threads + ([load] if load else [])),
    ]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="short smoke run: fewer, shorter blocks; workload 2 uses n=1e6 instead of 1e7")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only this workload ({', '.join(GROUPS)} or 1-6); repeatable or comma-separated")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as markdown to PATH")
    p.add_argument("--blocks", type=int, help="timed blocks per framework (default 15, --quick 3)")
    p.add_argument("--block-time", type=float, help="target seconds per timed block (default 0.1, --quick 0.02)")
    p.add_argument("--repeats", type=int, help="fresh processes per coldstart sample (default 3, --quick 1)")
    p.add_argument("--threads", type=int, default=1,
                   help="compute threads per framework (OMP/OpenBLAS/MKL/Numba/XLA/torch); 0: each library's "
                        "default (default: 1, which keeps a shared, noisy machine from making multi-threaded "
                        "kernels spin; see README)")
    p.add_argument("--skip", action="append", default=[], choices=["jax", "torch"],
                   help="leave a framework out even if importable")
    args = p.parse_args(argv)
    only = set()
    for item in args.only:
        for name in filter(None, (s.strip() for s in item.split(","))):
            inv = {v: k for k, v in GROUPS.items()}
            name = inv.get(name, name)
            if name not in GROUPS:
                p.error(f"--only: unknown workload {name!r} (choose from {', '.join(GROUPS)} or 1-6)")
            only.add(name)
    args.only = only or set(GROUPS)
    return args


def limit_threads(n: int) -> None:
    """Give every framework ``n`` compute threads; must run before numpy/numba/jax/torch are imported."""
    if n <= 0:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = flags.strip()


def main(argv=None) -> int:
    args = parse_args(argv)
    limit_threads(args.threads)
    if any(m in sys.modules for m in ("numpy", "numba", "torch", "jax")) and args.threads > 0:
        log("warning: numpy/numba/torch/jax was imported before the thread limits were set")
    import coldstart
    import harness
    import workloads
    settings = harness.Settings(blocks=args.blocks or (3 if args.quick else 15),
                                target_block_s=args.block_time or (0.02 if args.quick else 0.1),
                                warmup_steps=2 if args.quick else 3)
    repeats = args.repeats or (1 if args.quick else 3)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from numba.core.errors import NumbaPerformanceWarning
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning)
    except ImportError:
        pass

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.perf_counter()
    fw = load_frameworks(set(args.skip), args.threads)
    columns = [c for c, key in (("jaxish", "jaxish"), ("NumPy", "jaxish"), ("JAX", "jax"), ("PyTorch", "torch"))
               if key in fw]
    info = machine_info(fw)
    for line in info:
        log(line)

    sizes = (1_000, 1_000_000) if args.quick else (1_000, 10_000_000)
    builders = {"linreg": workloads.build_linreg, "vg": lambda fw: workloads.build_vg(fw, sizes),
                "mlp": workloads.build_mlp,
                "overhead": workloads.build_overhead, "loops": workloads.build_loops,
                "transforms": workloads.build_transforms}
    rows = []
    for group in GROUPS:
        if group not in args.only:
            continue
        if group == "coldstart":
            log(f"[5] {group}: fresh processes ({repeats} per configuration)")
            t_case = time.perf_counter()
            rows += coldstart.run_coldstart(columns, repeats, log)
            log(f"    ({time.perf_counter() - t_case:.1f} s)")
            continue
        for case in builders[group](fw):
            log(f"[{case.key}] {case.title}")
            t_case = time.perf_counter()
            rows.append(harness.run_case(case, settings, log))
            log(f"    ({time.perf_counter() - t_case:.1f} s)")
    elapsed = time.perf_counter() - t_start

    header, body = harness.table_rows(rows, columns)
    dheader, dbody = harness.details_rows(rows, columns)
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    mode = "quick" if args.quick else "full"
    print()
    print("\n".join(info))
    print(f"{started:%Y-%m-%d %H:%M} UTC, {mode} run, threads {args.threads or 'default'} ({settings.blocks} blocks "
          f"of ~{settings.target_block_s * 1e3:.0f} ms per framework, medians), took {elapsed:.0f} s")
    print()
    print(harness.text_table(header, body))
    print("\nratio = jaxish time / other time: above 1 means jaxish is slower.")
    print()
    print(harness.text_table(dheader, dbody))
    failures = [(r.key, c, m.error) for r in rows for c, m in r.cells.items() if m.error]
    mismatches = [(r.key, c, m.check) for r in rows for c, m in r.cells.items() if m.check.startswith(("MIS", "check"))]
    for key, col, err in failures:
        print(f"FAILED {key} {col}: {err}")
    for key, col, chk in mismatches:
        print(f"CHECK {key} {col}: {chk}")

    if args.markdown:
        md = [
            "## Machine", "", *[f"- {line}" for line in info if line], "",
            "## Run", "", f"- command: `{command.strip()}`",
            f"- date: {started:%Y-%m-%d %H:%M} UTC; {mode} run, took {elapsed:.0f} s",
            f"- timing: median of {settings.blocks} timed blocks per framework after warm-up "
            f"(each block ≈ {settings.target_block_s * 1e3:.0f} ms of repeated steps, result materialised at the "
            f"end; frameworks interleaved block by block); coldstart: {repeats} fresh process(es) per configuration",
            f"- threads: {args.threads if args.threads > 0 else 'each library default'} compute thread(s) per "
            f"framework (`--threads`)",
            "", "## Results", "", harness.md_table(header, body), "",
            "Times per call/step (unit column); ratio = jaxish time / other time, **above 1 means jaxish is "
            "slower**. FAILED: the framework raised (see below); n/a: not measured.", "",
            "## Details", "", harness.md_table(dheader, dbody), "",
            "`spread` is half the min–max range over the blocks, relative to the median. `check` compares each "
            "framework's result (values/gradients, or parameters after a few training steps) with NumPy's.",
        ]
        if failures:
            md += ["", "## Failures", ""] + [f"- {k} {c}: `{e}`" for k, c, e in failures]
        if mismatches:
            md += ["", "## Check mismatches", ""] + [f"- {k} {c}: {e}" for k, c, e in mismatches]
        with open(args.markdown, "w") as f:
            f.write("\n".join(md) + "\n")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
