"""Backends that execute graphs, behind one executable cache.

``get_executable(graph)`` optimises the graph and compiles it with the backend
selected by ``jaxish.config`` (``'cpu'``: Numba; ``'interpreter'``: NumPy),
caching the result by (fingerprint, backend). Backends know nothing of tapes
or traces: they take arrays and return arrays.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..core import CPU_DEVICE, Tensor
from ..ir import Graph, Literal

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 1024
STATS = {"hits": 0, "misses": 0}


class Executable:
    """A compiled graph: ``run(arrays) -> arrays``."""

    def __init__(self, graph: Graph, run, backend: str):
        self.graph = graph
        self.run = run
        self.backend = backend
        self._consts = [np.asarray(c._value if isinstance(c, Tensor) else c) for c in graph.consts]
        self._weak = [o.aval.weak_type for o in graph.outvars]

    def __call__(self, arrays: list) -> list:
        return self.run(list(arrays) + self._consts)

    def call_tensors(self, tensors: list) -> list:
        arrays = [t._value for t in tensors]
        if self._consts:
            arrays += self._consts
        outs = self.run(arrays)
        return [Tensor(a, w, CPU_DEVICE) for a, w in zip(outs, self._weak)]


def get_executable(graph: Graph, backend: str | None = None) -> Executable:
    """The compiled executable for ``graph`` (cached by structure)."""
    from .. import config
    backend = backend or config.get_backend()
    key = (graph.key(), backend)
    exe = _CACHE.get(key)
    if exe is not None:
        STATS["hits"] += 1
        _CACHE.move_to_end(key)
        if graph.consts:
            exe = Executable(exe.graph, exe.run, backend)
            exe._consts = [np.asarray(c._value if isinstance(c, Tensor) else c) for c in graph.consts]
        return exe
    STATS["misses"] += 1
    from ..passes import optimize
    opt = optimize(graph, for_execution=True)
    if backend == "interpreter":
        from .interpreter import compile_graph
    else:
        from .cpu import compile_graph
    exe = Executable(opt, compile_graph(opt), backend)
    _CACHE[key] = exe
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return exe


def clear_memory_cache() -> None:
    _CACHE.clear()


def literal_array(a: Literal) -> np.ndarray:
    return np.asarray(a.val)
