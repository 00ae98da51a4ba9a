"""Where a fresh process's time goes on the way to the first result of the seed's traced step (row 5).

Runs workload 5's jaxish script in fresh processes, with an empty and then a
populated ``JAXISH_CACHE_DIR``, and reports CPU seconds (``time.process_time``,
which a loaded machine distorts less than the wall clock) per phase, medians
over the repeats. Numba's and jaxish's functions are wrapped for the
measurement only (outermost call timed, nested calls of the same phase not
counted twice); phases nest, so the indented lines are parts of the line above
(siblings may overlap a little: the overloads Numba compiles during type
inference run lowering and LLVM passes of their own).

The child's data and step are ``coldstart.py``'s (``SEED_DATA``, ``SEED_STEP_JAXISH``).

Usage::

    python benchmarks/coldstart_phases.py            # 3 repeats
    python benchmarks/coldstart_phases.py --repeats 5

``import numba`` is done explicitly before the first call (where jaxish
would import it), so that its cost is its own line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from coldstart import SEED_DATA, SEED_STEP_JAXISH  # the same step as row 5's child script

CHILD = r'''
import time
pt = time.process_time
T = {"interpreter + numpy": None}
import numpy as np
T["interpreter + numpy"] = pt()
c = pt(); import jaxish as tf; T["import jaxish"] = pt() - c
ACC = {}
_active = set()

def wrap(obj, attr, name):
    f = getattr(obj, attr, None)
    if f is None:
        return
    def w(*a, **k):
        if name in _active:
            return f(*a, **k)
        _active.add(name)
        t = pt()
        try:
            return f(*a, **k)
        finally:
            ACC[name] = ACC.get(name, 0.0) + pt() - t
            _active.discard(name)
    setattr(obj, attr, w)

''' + SEED_DATA + SEED_STEP_JAXISH + r'''
c = pt(); import numba; T["import numba"] = pt() - c
c = pt(); import jaxish.backends.cpu as cpu; T["import jaxish.backends.cpu"] = pt() - c
import jaxish.backends as backends
import jaxish.backends.cpu.disk_cache as dc
import numba.core.codegen as cg
import numba.core.compiler as nc
import numba.core.typed_passes as tp
import numba.core.lowering as lw
import numba.core.typing.context as tctx
import numba.core.base as tbase
import jaxish.tracing as tracing
wrap(tracing, "trace_to_graph", "trace")
wrap(backends, "_compile", "optimise + generate + load module")
wrap(cpu, "generate", "generate source")
wrap(cpu, "load_module", "load module (exec, cache files)")
wrap(cpu._Runner, "_first_call", "Numba: compile or load machine code")
wrap(dc, "_ready_to_load", "NRT init (_ready_to_load)")
wrap(dc._FunctionCache, "_load_overload", "load from disk cache")
wrap(dc._FunctionCache, "save_overload", "save to disk cache")
wrap(dc, "before_compile", "import numba.np.arraymath (before_compile)")
wrap(tctx.BaseContext, "refresh", "typing registries (refresh)")
wrap(tbase.BaseContext, "refresh", "lowering registries (refresh)")
wrap(nc, "compile_extra", "compile_extra (entry + overloads)")
wrap(tp.BaseTypeInference, "run_pass", "type inference (incl. overload compiles)")
wrap(lw.Lower, "lower", "lowering to LLVM IR (Python)")
wrap(cg.CPUCodeLibrary, "_optimize_functions", "LLVM function passes")
wrap(cg.CPUCodeLibrary, "_optimize_final_module", "LLVM module passes")
wrap(cg.JITCodeLibrary, "_finalize_specific", "LLVM machine code")
c = pt()
train_step(x, y).numpy()
T["first call"] = pt() - c
T["total"] = pt()
print("PHASES " + json.dumps([T, ACC]))
'''

LAYOUT = [  # (indent, phase)
    (0, "interpreter + numpy"), (0, "import jaxish"), (0, "import numba"), (0, "import jaxish.backends.cpu"),
    (0, "first call"), (1, "trace"), (1, "optimise + generate + load module"), (2, "generate source"),
    (2, "load module (exec, cache files)"), (1, "Numba: compile or load machine code"),
    (2, "NRT init (_ready_to_load)"), (2, "load from disk cache"), (2, "import numba.np.arraymath (before_compile)"),
    (2, "compile_extra (entry + overloads)"), (3, "typing registries (refresh)"),
    (3, "lowering registries (refresh)"), (3, "type inference (incl. overload compiles)"),
    (3, "lowering to LLVM IR (Python)"), (3, "LLVM function passes"), (3, "LLVM module passes"),
    (3, "LLVM machine code"), (2, "save to disk cache"), (0, "total"),
]


def _child(cache_dir: str) -> dict:
    env = dict(os.environ, JAXISH_CACHE_DIR=cache_dir)
    env.pop("JAXISH_DISK_CACHE", None)
    env.pop("NUMBA_CACHE_DIR", None)
    p = subprocess.run([sys.executable, "-c", "import json\n" + CHILD], env=env, capture_output=True, text=True,
                       timeout=600)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("PHASES ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"child failed (rc={p.returncode}): {p.stderr[-2000:]}")
    top, acc = json.loads(lines[-1][len("PHASES "):])
    return {**acc, **top}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    runs: dict = {"empty cache": [], "warm cache": []}
    root = tempfile.mkdtemp(prefix="jaxish-phases-")
    try:
        for _ in range(args.repeats):
            d = tempfile.mkdtemp(dir=root)
            runs["empty cache"].append(_child(d))
            runs["warm cache"].append(_child(d))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"CPU seconds, median of {args.repeats} fresh processes (python {sys.version.split()[0]})")
    print(f"{'phase':58s} {'empty cache':>12s} {'warm cache':>12s}")
    for indent, name in LAYOUT:
        cells = []
        for kind in runs:
            vals = [r.get(name, 0.0) for r in runs[kind]]
            cells.append(statistics.median(vals))
        if max(cells) < 0.0005:
            continue
        print(f"{'  ' * indent + name:58s} {cells[0]:12.3f} {cells[1]:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
