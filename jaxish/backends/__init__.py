"""Backends that execute graphs, behind one executable cache.

``get_executable(graph)`` optimises the graph and compiles it with the backend
selected by ``jaxish.config`` (``'cpu'``: Numba; ``'interpreter'``: NumPy),
caching the result by (fingerprint, backend). Backends know nothing of tapes
or traces: they take arrays and return arrays.

The cache is thread-safe and bounded (``jaxish.config`` ``executable_cache_size``,
least recently used dropped first); a graph is compiled once even when several
threads ask for it at the same time (per-key locks).

Every compile a user waits for is timed here, whatever asked for it (a ``@trace``d function's first call,
``grad(f)(x)`` run eagerly, a tape's backward graph, a CUDA program): code generation in ``get_executable``
plus the first run, where Numba (or numba-cuda) compiles the machine code. When that took longer than
``SLOW_COMPILE_S``, one WARNING line on the ``jaxish`` logger says so, naming what the caller described with
:func:`describing` (``@trace`` gives the function and its signature) or else the graph's size and the user's
line that ran it. Only the outermost first run of a thread notes (a nested one is part of it); the NumPy
interpreter compiles nothing and never notes, nor does a graph whose machine code the CPU backend loaded
from the disk cache (a process's first such load takes about a second of Numba's start-up, which is no
compile). The first compile of a process also pays for that start-up: the note says so rather than telling
it apart.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time

import numpy as np

from ..config import cache_limit
from ..core import CPU_DEVICE, STATE, Tensor
from ..ir import Graph
from ..lru import LRU, KeyedLocks

_CACHE = LRU(lambda: cache_limit("executable_cache_size"))
_COMPILING = KeyedLocks()
_STATS_LOCK = threading.Lock()
STATS = {"hits": 0, "misses": 0}
ON_DEVICE = [False]  # set when the CUDA backend is activated (a GPU was asked for and is available)
SLOW_COMPILE_S = 1.0
"""A compile and first run that take longer log a one-line WARNING on the ``jaxish`` logger."""
log = logging.getLogger("jaxish")
_FIRST_RUNS = threading.local()   # .depth: first runs in progress on this thread; .label: what the caller calls it
_NOTED = [False]                  # a note was logged in this process (the first compile also starts Numba)


@contextlib.contextmanager
def describing(label: str):
    """Name the compiles that start inside the block in the slow-compile note (``'loss(w: float32[3])'``)."""
    old = getattr(_FIRST_RUNS, "label", None)
    _FIRST_RUNS.label = label
    try:
        yield
    finally:
        _FIRST_RUNS.label = old


def count(stats: dict, name: str) -> None:
    """Increment a statistics counter (atomically: threads share the counters)."""
    with _STATS_LOCK:
        stats[name] += 1


class Executable:
    """A compiled graph: ``run(arrays) -> arrays``."""

    def __init__(self, graph: Graph, run, backend: str):
        self.graph = graph
        self.run = run
        self.backend = backend
        self._set_consts(graph.consts)
        self._weak = [o.aval.weak_type for o in graph.outvars]
        self._spec = None
        self.out_avals = None  # after fast_spec: per output, its aval when every call gives that shape and dtype
        # [seconds of code generation] until the first run (shared with the copies get_executable makes: the
        # machine code is compiled on the first run of any of them), then None
        self._pending = None

    def _set_consts(self, consts: list) -> None:
        """The values of the captured constants: ``const_values`` as given (Tensors, on any device), ``_consts``
        their host arrays -- made when first asked for where a constant lives on a device, so that a graph
        run on that device never copies it to the host (see ``cuda/placement.call_executable``)."""
        self.const_values = list(consts)
        if any(isinstance(c, Tensor) and type(c) is not Tensor for c in consts):
            self.__dict__.pop("_consts", None)   # computed by __getattr__ on first use
        else:
            self._consts = [np.asarray(c._value if isinstance(c, Tensor) else c) for c in consts]

    def __getattr__(self, name):
        if name == "_consts":   # only reached when a constant is a device tensor (see _set_consts)
            self._consts = [np.asarray(c._value if isinstance(c, Tensor) else c) for c in self.const_values]
            return self._consts
        raise AttributeError(name)

    def __call__(self, arrays: list) -> list:
        if self._pending is not None:  # (cleared by _first_run before it calls this again)
            return self._first_run(self.__call__, arrays)
        return self.run(list(arrays) + self._consts)

    def _first_run(self, fn, args: list) -> list:
        """``fn(args)``, timed with the code generation before it: the slow-compile note (see the module)."""
        pending, self._pending = self._pending, None
        try:
            generation = pending.pop()
        except (IndexError, AttributeError):  # another thread (or a copy) ran it first
            return fn(args)
        depth = getattr(_FIRST_RUNS, "depth", 0)
        _FIRST_RUNS.depth = depth + 1
        t0 = time.perf_counter()
        try:
            return fn(args)
        finally:
            _FIRST_RUNS.depth = depth
            seconds = generation + time.perf_counter() - t0
            if depth == 0 and seconds > SLOW_COMPILE_S:
                self._note(seconds)

    def _note(self, seconds: float) -> None:
        if getattr(self.run, "loaded", False):  # machine code loaded from the disk cache: the time was Numba's
            return                              # start-up in this process (about a second), not a compile
        label = getattr(_FIRST_RUNS, "label", None)
        if label is None:
            from ..core.trace import user_line
            g = self.graph
            ins = ", ".join(f"{v.aval.dtype.name}{list(v.aval.shape)}" for v in g.invars[:6])
            label = (f"a graph of {len(g.nodes)} nodes ({ins}{', ...' if len(g.invars) > 6 else ''}) "
                     f"run at {user_line()}")
        on_gpu = "_cuda_program" in self.__dict__  # (set by cuda/placement.call_executable: a CUDA program)
        if on_gpu:
            label = f"{label} for the GPU"
        where = ("; later calls with these shapes and dtypes reuse it" +
                 (", and the kernel cache on disk keeps it for later processes"
                  if self.backend == "cpu" and not on_gpu else ""))
        first = "" if _NOTED[0] else " (the first compile of a process also starts Numba)"
        _NOTED[0] = True
        log.warning("jaxish: compiling %s and its first run took %.2f s%s%s", label, seconds, first, where)

    def call_tensors(self, tensors: list) -> list:
        if self._pending is not None:  # (cleared by _first_run before it calls this again)
            return self._first_run(self.call_tensors, tensors)
        if ON_DEVICE[0]:  # a GPU is in use: device tensors, or a GPU scope, run on it (see cuda/placement.py)
            dev = STATE.device
            if dev is not None and dev != CPU_DEVICE or any(type(t) is not Tensor for t in tensors):
                from .cuda.placement import call_executable
                return call_executable(self, tensors)
        arrays = [t._value for t in tensors]
        if self._consts:
            arrays += self._consts
        outs = self.run(arrays)
        return [Tensor(a, w, CPU_DEVICE) for a, w in zip(outs, self._weak)]

    def fast_spec(self):
        """The backend's ``fast_spec()`` (the cpu runner's: ``(fn, sizes, plan, dests)``) with the constants, as
        ``(fn, sizes, plan, dests, consts)``, for callers that generate their own call: None until the graph has run,
        and for backends without one. Sets :attr:`out_avals`: for each output its aval (the graph's) where the
        backend guarantees an array of that shape and dtype, else None; callers give it to the output Tensors."""
        spec = self._spec
        if spec is None:
            get = getattr(self.run, "fast_spec", None)
            spec = get() if get is not None else None
            if spec is None:
                return None
            self._set_out_avals()
            spec = self._spec = (*spec, list(self._consts))
        return spec

    def _set_out_avals(self) -> None:
        # an output computed by generated code has one shape and dtype for a graph: its aval's, if the first
        # run gave those (an input passed through keeps its own)
        types = getattr(self.run, "out_types", None) or [None] * len(self.graph.outvars)
        self.out_avals = [o.aval if t is not None and t == (tuple(o.aval.shape), o.aval.dtype.np) else None
                          for o, t in zip(self.graph.outvars, types)]


def get_executable(graph: Graph, backend: str | None = None) -> Executable:
    """The compiled executable for ``graph`` (cached by structure)."""
    from .. import config
    backend = backend or config.get_backend()
    key = (graph.key(), backend)
    exe = _CACHE.get(key)
    if exe is None:
        with _COMPILING.hold(key):  # another thread may be compiling this graph: wait for it
            exe = _CACHE.get(key)
            if exe is None:
                count(STATS, "misses")
                t0 = time.perf_counter()
                exe = _compile(graph, backend)
                if backend != "interpreter":  # (which compiles nothing)
                    exe._pending = [time.perf_counter() - t0]
                _CACHE[key] = exe
                return exe
    count(STATS, "hits")
    if graph.consts:
        pending = exe._pending
        exe = Executable(exe.graph, exe.run, backend)
        exe._set_consts(graph.consts)
        exe._pending = pending
    return exe


def _compile(graph: Graph, backend: str) -> Executable:
    from ..passes import optimize
    # the reference interpreter runs ``call`` nodes as nested graphs; code generators see them inlined
    opt = optimize(graph, for_execution=True, inline=backend != "interpreter")
    if backend == "interpreter":
        from .interpreter import compile_graph
    else:
        from .cpu import compile_graph
    return Executable(opt, compile_graph(opt), backend)


def clear_memory_cache() -> None:
    """Drop every compiled executable held in memory."""
    _CACHE.clear()
    if ON_DEVICE[0]:
        from .cuda.placement import clear
        clear()

