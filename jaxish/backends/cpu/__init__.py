"""The Numba CPU backend: fused kernels and one ``njit`` entry function per graph.

``compile_graph`` generates source (:mod:`.codegen`), imports it through the
disk cache (:mod:`.disk_cache`) and returns ``run(arrays) -> arrays``. A
graph Numba cannot compile (float16, which Numba does not support on the CPU)
runs on the NumPy interpreter instead, with a warning for anything
unexpected.
"""
from __future__ import annotations

import logging
import os
import warnings

import numpy as np
from numba.core.errors import NumbaError

from ...errors import CacheWarning
from ...ir import Graph
from .. import interpreter
from .codegen import generate
from .disk_cache import load_module, purge_numba_cache

log = logging.getLogger("jaxish")
STATS = {"compiled": 0, "disk_loads": 0, "fallbacks": 0}


def _unsupported(graph: Graph) -> str | None:
    for v in graph.invars + graph.constvars + [o for n in graph.nodes for o in n.outvars]:
        if v.aval.dtype.name == "float16":
            return "float16 (Numba has no CPU float16)"
    return None


def compile_graph(graph: Graph):
    why = _unsupported(graph)
    if why:
        log.debug("jaxish: running a graph on the interpreter: %s", why)
        return interpreter.compile_graph(graph)
    prog = generate(graph)
    for name, src in prog.kernels.items():
        load_module(name, src)
    from .codegen import digest
    entry_name = f"_jx_e_{digest(prog.entry_source)}"
    entry = load_module(entry_name, prog.entry_source).entry
    sizes = prog.sizes
    outputs = prog.outputs
    out_shapes = [tuple(o.aval.shape) for o in graph.outvars]
    state = {"fn": entry, "checked": False}
    fallback = interpreter.compile_graph(graph)
    if os.environ.get("JAXISH_LOG_COMPILES", "0") not in ("", "0"):
        log.warning("jaxish: compiling a graph of %d nodes for the cpu backend (%d kernels)",
                    len(graph.nodes), len(prog.kernels))

    def first_call(args):
        for attempt in (0, 1):
            try:
                res = state["fn"](*args, sizes)
                break
            except Exception as e:  # noqa: BLE001 - Numba errors must never reach users
                if not isinstance(e, NumbaError) and not _is_cache_problem(e):
                    raise  # a run-time error about the data (an index out of bounds, a negative int power)
                if attempt == 0 and _is_cache_problem(e):
                    warnings.warn(f"jaxish: Numba's cache files for {entry_name} are damaged "
                                  f"({type(e).__name__}); rebuilding them", CacheWarning, stacklevel=4)
                    for name in [entry_name, *prog.kernels]:
                        purge_numba_cache(name)
                    continue
                STATS["fallbacks"] += 1
                if os.environ.get("JAXISH_STRICT_BACKEND", "0") not in ("", "0"):
                    raise  # the test suite: a compile failure is a bug, not a fallback
                warnings.warn(f"jaxish: the cpu backend failed to compile a graph ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else ''}); running it on the interpreter",
                              RuntimeWarning, stacklevel=4)
                state["fn"] = None
                return None
        state["checked"] = True
        stats = state["fn"].stats
        STATS["disk_loads" if sum(stats.cache_hits.values()) else "compiled"] += 1
        return res

    def run(arrays):
        args = [np.ascontiguousarray(a) for a in arrays]
        fn = state["fn"]
        if fn is None:
            return fallback(arrays)
        if state["checked"]:
            res = fn(*args, sizes)
        else:
            res = first_call(args)
            if res is None:
                return fallback(arrays)
        outs = []
        for (kind, x), shape in zip(outputs, out_shapes):
            if kind == "res":
                r = res[x]
                outs.append(r.reshape(shape) if r.shape != shape else r)
            elif kind == "in":
                outs.append(arrays[x])
            else:
                outs.append(x)
        return outs
    return run


def _is_cache_problem(e: Exception) -> bool:
    """Did loading Numba's cache files fail (as opposed to the compiled code raising)?"""
    import pickle
    import traceback
    if isinstance(e, (EOFError, pickle.UnpicklingError)):
        return True
    frames = traceback.extract_tb(e.__traceback__)
    return any("numba" in f.filename and "caching" in f.filename for f in frames)
