"""The Numba CPU backend: fused kernels and one ``njit`` entry function per graph.

``compile_graph`` generates source (:mod:`.codegen`), imports it through the
disk cache (:mod:`.disk_cache`) and returns ``run(arrays) -> arrays``. A
graph Numba cannot compile (float16, which Numba does not support on the CPU)
runs on the NumPy interpreter instead, with a warning for anything
unexpected.

Thread-safe: a module is loaded once, the machine code of a graph is compiled
(or loaded from disk) once, on its first call, and ``STATS`` counts it once.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings

import numpy as np
from numba.core.errors import NumbaError

from ...config import log_compiles, strict_backend
from ...ir import Graph
from .. import count, interpreter
from . import compile_worker, disk_cache
from . import control_flow as _control_flow  # noqa: F401  (registers the loop lowerings)
from .argtypes import array_type
from .buffers import BufferPool, pooled_call
from .codegen import digest, generate
from .disk_cache import load_module

log = logging.getLogger("jaxish")
STATS = {"compiled": 0, "disk_loads": 0, "fallbacks": 0}  # graphs compiled by the worker count as disk loads


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
    kernels = tuple(load_module(name, src) for name, src in prog.kernels.items())
    entry_name = f"_jx_e_{digest(prog.entry_source)}"
    handle = load_module(entry_name, prog.entry_source, deps=kernels)
    if log_compiles():
        log.warning("jaxish: compiling a graph of %d nodes for the cpu backend (%d kernels)",
                    len(graph.nodes), len(prog.kernels))
    return _Runner(graph, prog, handle)


class _Runner:
    """``run(arrays) -> arrays`` for one compiled graph; compiles (or loads) the machine code on first call."""

    def __init__(self, graph: Graph, prog, handle):
        self.graph = graph
        self.handle = handle  # keeps the entry module and its kernels loaded
        self.entry = handle.module.entry
        self.sizes = prog.sizes
        self.outputs = prog.outputs
        self.dests = prog.dests
        # large arrays other than destinations are buffers from pools (buffers.py): fn(*inputs, *dests, S) adds
        # them before S; a graph without any calls the entry directly
        self.pools = [BufferPool(shape, dtype) for shape, dtype in prog.buffers]
        n_args = len(graph.invars) + len(graph.constvars) + len(self.dests)
        self.fn = pooled_call(self.entry, n_args, self.pools) if self.pools else self.entry
        self.out_shapes = [tuple(o.aval.shape) for o in graph.outvars]
        self.checked = False
        self.ready = False  # compiled, no fallback, no serialisation: the fast path
        self.fallback = None
        self.lock = threading.Lock()
        self.serial = _SERIAL if any("parallel=True" in s for s in prog.kernels.values()) else None
        # after the first run: the shapes of the entry's results, and the (shape, dtype) of each output computed
        # by the entry (None for an input or a literal passed through); fixed for a graph, as its sizes are
        self.res_shapes = self.out_types = None
        self.loaded = False  # after the first call: True when its machine code was loaded from the disk cache
        self.sig = None      # after the first call: the argument types the entry was compiled for

    def __call__(self, arrays):
        args = [np.ascontiguousarray(a) for a in arrays]
        dests = [np.empty(shape, dt) for shape, dt in self.dests]
        args += dests
        if self.ready:
            res = self.fn(*args, self.sizes)
        else:
            if not self.checked:
                with self.lock:  # the first call compiles: once, even when threads call at the same time
                    if not self.checked:
                        self._first_call(args)
            if self.fallback is not None:
                return self.fallback(arrays)
            if self.serial is not None and _workqueue_only():
                with self.serial:
                    res = self.fn(*args, self.sizes)
            else:
                res = self.fn(*args, self.sizes)
        outs = []
        for (kind, x), shape in zip(self.outputs, self.out_shapes):
            if kind == "res" or kind == "dst":
                r = res[x] if kind == "res" else dests[x]
                outs.append(r.reshape(shape) if r.shape != shape else r)
            elif kind == "in":
                outs.append(arrays[x])
            else:
                outs.append(x)
        if self.res_shapes is None:
            self.out_types = [(o.shape, o.dtype) if kind in ("res", "dst") else None
                              for o, (kind, _) in zip(outs, self.outputs)]
            self.res_shapes = [r.shape for r in res]
        return outs

    def fast_spec(self):
        """``(fn, sizes, plan, dests)`` for the calls after the first: the entry function, its sizes, per output
        ``(kind, x, reshape, shape)`` as ``__call__`` would treat it (``'res'``: ``fn``'s result ``x``;
        ``'dst'``: destination ``x``; either reshaped to ``shape`` if ``reshape``; ``'in'``: the ``x``-th array
        passed in; ``'lit'``: the array ``x``), and per destination its ``(shape, dtype)``. ``fn`` takes the
        inputs, then one new C-contiguous array of each destination's shape and dtype (one that nothing else
        refers to: the entry writes it), then ``sizes``. None until a call has compiled the machine code, and
        for a graph that falls back to the interpreter or runs serialised. The caller passes every array
        C-contiguous and of the graph's shapes and dtypes: ``fn`` may be the compiled entry point, which does not
        check them (``_compiled``)."""
        if not self.ready or self.res_shapes is None:
            return None
        plan = [(kind, x, kind == "res" and self.res_shapes[x] != shape
                 or kind == "dst" and self.dests[x][0] != shape, shape)
                for (kind, x), shape in zip(self.outputs, self.out_shapes)]
        return self._compiled(), self.sizes, plan, self.dests

    def _compiled(self):
        """``fn``, or, for an entry called directly, the entry point of its machine code for the types of the
        first call: Numba's own wrapper of the compiled function (it unboxes the arguments and calls it),
        without the dispatcher's typing of each argument and its overload lookup (0.1 µs of a 0.25 µs call
        with four arrays). Only for callers that pass exactly those types (the fast spec's callers: arrays of
        the graph's shapes and dtypes, C-contiguous): the entry point does not check them. Its caller keeps
        this runner, whose module keeps the machine code loaded."""
        fn = self.fn
        if fn is self.entry and self.sig is not None:
            cres = getattr(fn, "overloads", {}).get(self.sig)
            entry_point = getattr(cres, "entry_point", None)
            if callable(entry_point):
                return entry_point
        return fn

    def _first_call(self, args) -> None:
        fn = self.entry
        sig = tuple(array_type(a) for a in args) + tuple(array_type(p.take()) for p in self.pools) \
            + (array_type(self.sizes),)
        if self.serial is not None:
            _launch_threads()
        in_worker = _compile_in_worker(self.handle, sig)
        try:
            fn.compile(sig)  # loads the machine code from disk when the worker (or an earlier process) made it
        except NumbaError as e:
            _forget_failure(fn)
            count(STATS, "fallbacks")
            if strict_backend():
                raise  # the test suite: a compile failure is a bug, not a fallback
            warnings.warn(f"jaxish: the cpu backend failed to compile a graph ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else ''}); running it on the interpreter",
                          RuntimeWarning, stacklevel=5)
            self.fallback = interpreter.compile_graph(self.graph)
        else:
            loaded = sum(fn.stats.cache_hits.values()) > 0
            self.loaded = loaded  # the machine code came from the disk cache: nothing was compiled (see backends)
            self.sig = sig
            count(STATS, "disk_loads" if loaded else "compiled")
            if in_worker and not loaded:
                count(compile_worker.STATS, "unused")
                log.debug("jaxish: the machine code compiled by the worker was not loaded (signature %s)", sig)
        finally:
            if in_worker is None:
                compile_worker.start()   # in the background, for the next cold graph
        self.checked = True
        self.ready = self.fallback is None and not (self.serial is not None and _workqueue_only())


def _compile_in_worker(handle, sig: tuple) -> bool | None:
    """A cold graph is compiled by the worker process, which saves its machine code to the disk cache.

    Returns True when it did; False when the caller compiles: the machine code
    is already on disk, the cache is off or read-only, the worker is off or
    failed (see :mod:`.compile_worker`); None when the worker should be
    started after this compile (the first cold compile of the process).
    """
    fn = handle.module.entry
    if not (compile_worker.available() and disk_cache.is_cached_function(fn)) or disk_cache.on_disk(fn, sig):
        return False
    directory = os.path.dirname(handle.module.__file__)
    if not disk_cache.writable(directory):
        return False
    if not compile_worker.running():
        return None
    done = compile_worker.compile_in_worker(_module_files(handle), "entry", sig, directory)
    if done:
        disk_cache.note_write()
    return done


def _launch_threads() -> None:
    """Start Numba's threading layer before an entry that calls a parallel kernel runs.

    Numba records that a function needs it (``reload_init``) on the compile
    result of the parallel function, and passes it on to a caller compiled in
    the same process. When the kernel's machine code came from the disk cache
    and the entry was compiled afterwards, the entry's cache entry lacks it:
    loaded in a later process, the entry called ``parallel_for`` through a null
    pointer (numba/numba#8578).
    """
    from numba.np.ufunc.parallel import _launch_threads as launch
    launch()


def _forget_failure(fn) -> None:
    """Numba keeps a typing error in its dispatcher; the error's traceback holds this runner and so the
    module's handle, and the module (held until its handle dies) the dispatcher: nothing would be freed."""
    failed = getattr(getattr(fn, "_compiler", None), "_failed_cache", None)
    if isinstance(failed, dict):
        failed.clear()


def _module_files(handle) -> list:
    """The files of a module and the modules it imports, dependencies first."""
    files: list = []
    for dep in handle.deps:
        files += [f for f in _module_files(dep) if f not in files]
    return files + [handle.module.__file__]


_SERIAL = threading.Lock()
_WORKQUEUE: list = []


def _workqueue_only() -> bool:
    """Is Numba's only threading layer 'workqueue' (which aborts when two threads run parallel code at once)?"""
    if not _WORKQUEUE:
        from numba import config
        layer = config.THREADING_LAYER
        if layer in ("tbb", "omp"):
            ok = True
        elif layer == "workqueue":
            ok = False
        else:
            ok = False
            for mod in ("tbbpool", "omppool"):
                try:
                    __import__(f"numba.np.ufunc.{mod}")
                    ok = True
                    break
                except ImportError:
                    pass
        _WORKQUEUE.append(not ok)
    return _WORKQUEUE[0]
