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

from ...ir import Graph
from .. import interpreter
from .codegen import generate
from .disk_cache import load_module, purge_numba_cache

log = logging.getLogger("jaxish")
STATS = {"compiled": 0, "fallbacks": 0}


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
        try:
            res = state["fn"](*args, sizes)
        except (IndexError, ZeroDivisionError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - Numba errors must never reach users
            if _is_cache_problem(e):
                warnings.warn(f"jaxish: Numba's cache for {entry_name} could not be loaded ({type(e).__name__}); "
                              f"recompiling", stacklevel=4)
                purge_numba_cache(entry_name)
            STATS["fallbacks"] += 1
            warnings.warn(f"jaxish: the cpu backend failed to compile a graph ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200]}); running it on the interpreter", RuntimeWarning,
                          stacklevel=4)
            state["fn"] = None
            return None
        state["checked"] = True
        STATS["compiled"] += 1
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
    return isinstance(e, (EOFError, OSError)) or "pickle" in type(e).__name__.lower()
