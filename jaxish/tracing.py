"""Tracing Python functions into graphs: ``make_graph`` and ``@trace``.

A function is run once on tracers for each new abstract signature (pytree
structure, each leaf's shape/dtype/weak type, static arguments, device); the
resulting Graph is optimised and compiled by the current backend. Variables it
reads are implicit inputs, assignments implicit outputs written back after the
call, and the random state an implicit input.
"""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import backends as _backends
from . import dtypes as _dt
from . import static_args as _static_args
from .backends import describing
from .config import _config, cache_limit, log_compiles
from .core import STATE, GraphTrace, Tensor, Tracer, current_trace, eval_graph, is_variable, to_tensor_arg
from .core.call import call
from .core.interpret import bind_node
from .devices import accelerator_of, copy_to, device, place, resolve_current
from .fast_call import MISS, generated_call
from .ir import Graph, ShapedArray
from .lru import LRU, KeyedLocks
from .primitives.elementwise import read_after_assign_p
from .traceback_util import BARE_RAISE_KEEPS_FILTERING as _BARE_RAISE
from .traceback_util import filtered as _filtered
from .tree_util import tree_flatten, tree_unflatten

log = logging.getLogger("jaxish")


# ---------------------------------------------------------------------------
# abstract signature of the arguments
# ---------------------------------------------------------------------------
def leaf_aval(x, where: str = "argument") -> Any:
    """Abstract value of an argument leaf, or ``('var', id)`` for a Variable."""
    if isinstance(x, Tensor):
        return x.aval
    if is_variable(x):
        return ("var", id(x))
    if isinstance(x, (np.ndarray, np.generic)):  # before float: np.float64 is a float, but keeps its dtype
        return ShapedArray(np.shape(x), _dt.as_dtype(x.dtype), False)
    if isinstance(x, bool):
        return ShapedArray((), _dt.bool_, False)
    if isinstance(x, int):  # a Python int outside int32 is a strong int64 (as in to_tensor_arg)
        return ShapedArray((), _dt.int32, True) if -2**31 <= x < 2**31 else ShapedArray((), _dt.int64, False)
    if isinstance(x, float):
        return ShapedArray((), _dt.float32, True)
    raise TypeError(f"{where}: unsupported argument of type {type(x).__name__} ({x!r:.80}); pass tensors, "
                    f"arrays, Python scalars or pytrees of them, or mark the argument static")


def leaf_value(x) -> Tensor:
    """The Tensor for an argument leaf. A NumPy array is copied: the caller may mutate it later, and a
    Tensor (in particular one a traced function returns unchanged) must never change."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(np.array(x, copy=True))
    if isinstance(x, np.generic):
        return Tensor(np.asarray(x))
    return to_tensor_arg(x)


_FOR_TAPES_MAX = 16   # re-traces kept per signature for the sets of captured 0-d tensors that tapes track


@dataclass
class Traced:
    """A function traced at one signature."""

    graph: Graph
    variables: list          # Variables read (implicit inputs, after the explicit leaves)
    assigned: list           # Variables assigned (implicit outputs, after the explicit outputs)
    out_tree: Any
    n_leaves: int
    uses_rng: bool
    executable: Any = None
    fast: Any = None         # args -> outputs for eager calls with positional Tensors, once compiled (_fast_call);
                             # False: never
    guarded: Any = None      # the same behind the checks that make it apply (generated_call's guard), or None
    name: str = "<function>"  # the traced function's name and its arguments' (``x: f32[2,3], y: i32[]``), for
    signature: str = ""       # the note after a slow compile
    inlined: dict = field(default_factory=dict)  # id -> Tensor: the concrete 0-d tensors inlined as literals
    # the ids of those a tape tracks -> the function traced again under such a tape (with them captured as
    # constants); one per set of tracked captures, the most recent _FOR_TAPES_MAX kept
    for_tapes: LRU = field(default_factory=lambda: LRU(_FOR_TAPES_MAX))

    @functools.cached_property
    def reread(self) -> frozenset:
        """ids of the assigned Variables the function reads again after assigning them (computed once, from
        the final graph, on the first inlined call)."""
        return frozenset(id(self.assigned[n.params["index"]]) for n in self.graph.nodes
                         if n.prim is read_after_assign_p)


def trace_to_graph(fn: Callable, args: tuple, kwargs: dict, name: str, is_retrace: bool = False,
                   arg_names: Sequence[str] | None = None, avals: Sequence | None = None) -> tuple:
    """Run ``fn`` on tracers; returns ``(Traced, in_leaves)``.

    Leaves of ``args``/``kwargs`` that are tensors, arrays or scalars become
    graph inputs; Variables become implicit inputs. ``avals`` (one per leaf,
    ignored for Variables) gives the inputs' abstract values instead of the
    leaves' own (``vmap`` traces on one example's shapes).
    """
    leaves, treedef = tree_flatten((args, kwargs))
    with GraphTrace(name=name, device=resolve_current()) as t:
        t.is_retrace = is_retrace
        tracers = []
        for i, x in enumerate(leaves):
            if is_variable(x):
                tracers.append(x)
                continue
            aval = leaf_aval(x, name) if avals is None else avals[i]
            label = arg_names[i] if arg_names and i < len(arg_names) else f"argument {i}"
            tracers.append(t.new_arg(aval, label))
        targs, tkwargs = tree_unflatten(treedef, tracers)
        out = fn(*targs, **tkwargs)
        out_leaves, out_tree = tree_flatten(out)
        for o in out_leaves:
            if not isinstance(o, (Tensor, int, float, bool, np.ndarray, np.generic)) and not is_variable(o):
                raise TypeError(f"{name} returned an unsupported value of type {type(o).__name__}: return tensors, "
                                f"arrays, scalars or pytrees of them")
        out_leaves = [o.read_value() if is_variable(o) else o for o in out_leaves]
        graph, variables, assigned = t.finish(out_leaves)
    n_leaves = sum(1 for x in leaves if not is_variable(x))
    traced = Traced(graph, variables, assigned, out_tree, n_leaves, t.rng_var is not None)
    traced.inlined = t.inlined
    return traced, [x for x in leaves if not is_variable(x)]


def _arg_labels(fn, args, kwargs, skip=()) -> list:
    """A readable label per flattened leaf: ``argument 'x'``, ``argument 'p'['w']``."""
    import inspect

    import optree
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    labels = []
    for i, a in enumerate(args):
        if i in skip:
            continue
        base = f"argument '{names[i]}'" if i < len(names) else f"argument {i}"
        paths, _, _ = optree.tree_flatten_with_path(a, none_is_leaf=False, namespace="jaxish",
                                                    is_leaf=lambda x: is_variable(x))
        labels += [base + "".join(f"[{p!r}]" for p in path) for path in paths]
    for k in sorted(kwargs):
        paths, _, _ = optree.tree_flatten_with_path(kwargs[k], none_is_leaf=False, namespace="jaxish",
                                                    is_leaf=lambda x: is_variable(x))
        labels += [f"argument '{k}'" + "".join(f"[{p!r}]" for p in path) for path in paths]
    return labels


# ---------------------------------------------------------------------------
# running a traced graph
# ---------------------------------------------------------------------------
def _rng_input(inputs: Sequence = ()) -> Tensor:
    """The random state a call draws from: derived from the caller's inside a trace, else the generator's next
    one, on the device of the first of ``inputs`` (Tensors or Variables) that is on an accelerator (an explicit
    copy, as the program runs there: no implicit one, which is refused without soft device placement)."""
    from .random import GENERATOR, _nested_call_state
    if current_trace() is not None:  # a traced call inside a trace: its own key, derived from the caller's
        return _nested_call_state()
    state = GENERATOR.next_state()
    dev = accelerator_of(inputs)
    if dev is None:
        return Tensor(state)
    with device(dev):
        return place(state)


def call_traced(traced: Traced, leaves: Sequence) -> list:
    """Run a traced function on argument leaves; returns its output leaves.

    Eagerly (nothing on the trace stack) this runs the compiled executable.
    Otherwise it binds one ``call`` of the traced graph, so that an enclosing
    trace records one nested node and a tape one call, differentiated through
    the graph's VJP. The Variables the function reads are passed as Variables,
    so that tapes record their reads. One exception: under a tape, a function
    that reads a Variable again after assigning it is evaluated op by op, so
    that the tape sees the assignment and the new read as eager code (and
    TensorFlow) would.
    """
    inputs = [leaf_value(x) for x in leaves]
    if len(STATE.stack) == 1:
        inputs += [v._value for v in traced.variables]
        if traced.uses_rng:
            inputs.append(_rng_input(inputs))
        if traced.executable is None:  # the first call compiles (a slow compile is noted by the backend)
            t0 = time.perf_counter()
            with describing(f"{traced.name}({traced.signature})"):
                outs = _executable(traced).call_tensors(inputs)
            _note_compile(traced, time.perf_counter() - t0)
        else:
            outs = traced.executable.call_tensors(inputs)
        n = len(outs) - len(traced.assigned)
        for v, val in zip(traced.assigned, outs[n:]):  # shape and dtype were checked when it was traced
            if val._device != v._value._device:  # as TensorFlow: the Variable stays on its device
                val = copy_to(val, v._value._device)
            v._value = val._with_weak(False)
        return outs[:n]
    graph = traced.graph
    trace = current_trace()
    if traced.inlined and trace is not None:  # the caller's graph holds these literals too (see GraphTrace.inlined)
        trace.inlined.update(traced.inlined)
    # inside a trace too, whether or not a tape is active: the caller's graph then has the read_after_assign
    # node at its top level (its own ``reread``), so that calling it under a tape later has the same meaning
    op_by_op = bool(traced.reread) and (bool(STATE.tapes) or trace is not None)
    if op_by_op:  # the Variable changes during the call: those it reads again are passed as their value now
        inputs += [v.read_value() if id(v) in traced.reread else v for v in traced.variables]
    else:
        inputs += traced.variables
    if traced.uses_rng:
        inputs.append(_rng_input(inputs))
    if op_by_op:
        outs = eval_graph(graph, inputs, functools.partial(_inline_node, traced.assigned))
    else:
        outs = call(graph, inputs)
    n = len(outs) - len(traced.assigned)
    for v, val in zip(traced.assigned, outs[n:]):
        v.assign(val)
    return outs[:n]


def tracked_literals(traced: Traced) -> frozenset:
    """The ids of the tensors ``traced`` inlined as literals that an active tape tracks (watched or recorded):
    its graph, whose literals fold with what uses them, hides them from those tapes."""
    inlined = traced.inlined
    tapes = STATE.tapes
    if len(tapes) == 1:
        return tapes[0].tracked_among(inlined)
    return frozenset().union(*[t.tracked_among(inlined) for t in tapes])


def _note_compile(traced: Traced, seconds: float) -> None:
    """With ``JAXISH_LOG_COMPILES``, one line after every first call (a slow one is noted by the backend, see
    ``backends.SLOW_COMPILE_S``)."""
    if log_compiles() and seconds <= _backends.SLOW_COMPILE_S:
        log.warning("jaxish: compiling %s(%s) and its first run took %.2f s", traced.name, traced.signature, seconds)


def _fast_call(traced: Traced, guard: tuple):
    """``args -> outputs`` of an eager call of ``traced`` with positional Tensors, as ``call_traced`` and
    ``tree_unflatten`` would compute them, and the same behind ``guard`` (see ``generated_call``), as a pair;
    None until its executable has run once (and while its backend cannot give a fast spec), False for good (a
    function that draws random numbers, a backend without one)."""
    exe = traced.executable
    if exe is None:
        return None
    if traced.uses_rng or not hasattr(exe.run, "fast_spec"):
        return False
    if any(type(v._value) is not Tensor for v in traced.variables):  # on a GPU (Variables keep their device)
        return False
    return generated_call(exe, traced.n_leaves, traced.variables, traced.assigned, traced.out_tree, guard)


def tensor_call(exe, n: int):
    """``generated_call(exe, n)`` (``n`` Tensors in, a list of Tensors out), kept on ``exe``; None where
    ``generated_call`` gives None."""
    calls = exe.__dict__.setdefault("_tensor_calls", {})
    call = calls.get(n)
    if call is None:
        call = generated_call(exe, n)
        if call is not None:
            calls[n] = call
    return call


def _executable(traced: Traced):
    exe = traced.executable
    if exe is None:
        from .backends import get_executable
        exe = traced.executable = get_executable(traced.graph)
    return exe


def _inline_node(assigned: Sequence, node, ins: list) -> list:
    """Evaluate one node of a graph inlined under a tape. A read of ``assigned[index]`` after the call assigned
    it a value is, as in eager code (and in TensorFlow), the assignment and a read of the Variable, which a tape
    records as such."""
    if node.prim is read_after_assign_p:
        var = assigned[node.params["index"]]
        var.assign(ins[0])
        return [var.read_value()]
    return bind_node(node, ins)


def run_graph(graph: Graph, inputs: Sequence) -> list:
    """Evaluate a closed graph on tensors (or Variables, whose reads tapes then record) as one ``call``:
    compiled when eager, a nested node inside a trace, one recorded call under a tape."""
    if len(STATE.stack) == 1:  # (captured constants: the executable's, which a GPU keeps on the device)
        from .backends import get_executable
        vals = [x if type(x) is Tensor else to_tensor_arg(x) for x in inputs]
        if not any(isinstance(x, Tracer) for x in vals):
            return get_executable(graph).call_tensors(vals)
    return call(graph, inputs)


# ---------------------------------------------------------------------------
# make_graph and trace
# ---------------------------------------------------------------------------
def make_graph(fn: Callable, static_argnums: Sequence[int] = (), optimize: bool = True) -> Callable:
    """``make_graph(fn)(*args)`` returns the (optimised) Graph of ``fn`` at those arguments.

    Examples
    --------
    >>> print(jaxish.make_graph(jaxish.grad(loss))(w))
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            static = _static_args.resolve(tuple(static_argnums), len(args))
            f = _bind_static(fn, args, static)
            dyn = tuple(a for i, a in enumerate(args) if i not in static)
            traced, _ = trace_to_graph(f, dyn, kwargs, getattr(fn, "__name__", "<function>"))
            g = traced.graph
            if optimize:
                from .passes import optimize as opt
                g = opt(g)
            return g
        except Exception as e:  # the API boundary (traceback_util)
            _filtered(e)
            if _BARE_RAISE:
                raise  # bare: no traceback entry for this frame
            raise e
    return wrapper


def _bind_static(fn, args, static):
    if not static:
        return fn
    fixed = {i: args[i] for i in static if i < len(args)}

    def f(*dyn, **kw):
        it = iter(dyn)
        full = [fixed[i] if i in fixed else next(it) for i in range(len(dyn) + len(fixed))]
        return fn(*full, **kw)
    return f


class CacheInfo(tuple):
    """``(hits, misses, traces, size)`` of a traced function's cache."""

    def __new__(cls, hits, misses, traces, size):
        obj = super().__new__(cls, (hits, misses, traces, size))
        obj.hits, obj.misses, obj.traces, obj.size = hits, misses, traces, size
        return obj

    def __repr__(self) -> str:
        return f"CacheInfo(hits={self.hits}, misses={self.misses}, traces={self.traces}, size={self.size})"


class TracedFunction:
    """A function traced once per signature and run as a compiled graph (see :func:`trace`)."""

    def __init__(self, fn: Callable, static_argnums=(), static_argnames=()):
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._static_argnums, self._static_argnames = _static_args.normalize(fn, static_argnums, static_argnames)
        self._cache = LRU(_trace_cache_size)   # signature -> Traced (bounded, least recently used dropped)
        self._fast: dict = {}                   # shortcut for positional-Tensor calls, cleared when full:
                                                # (*hashes of the avals, device, backend) -> (Traced, avals)
        self._bound: dict = {}
        self._mono = None                       # the guarded generated call of the signature last run through
                                                # the shortcut without a device scope (Traced.guarded), tried first
        self._has_static = bool(self._static_argnums or self._static_argnames)
        # counters that threads increment without a lock (``next`` of an itertools.count is atomic)
        self._hit_count, self._miss_count = itertools.count(), itertools.count()
        self._name = getattr(fn, "__qualname__", getattr(fn, "__name__", "<function>"))
        self._tracing = KeyedLocks()            # one trace per signature, even when threads call at once
        _register(self)

    def __get__(self, obj, objtype=None):
        """A method: one TracedFunction per instance, with the instance captured (as tf.function does)."""
        if obj is None:
            return self
        bound = self._bound.get(id(obj))
        if bound is None or bound[0]() is not obj:
            fn = TracedFunction(functools.partial(self._fn, obj),
                                tuple(i - 1 if i > 0 else i for i in self._static_argnums if i),
                                self._static_argnames)
            fn._name = self._name
            try:
                ref = weakref.ref(obj, lambda _, k=id(obj): self._bound.pop(k, None))
            except TypeError:  # not weak-referenceable: keep it alive with the bound function
                ref = (lambda o=obj: o)
            bound = self._bound[id(obj)] = (ref, fn)
        return bound[1]

    def _split(self, args, kwargs):
        static_nums = _static_args.resolve(self._static_argnums, len(args))
        static_pos = tuple((i, args[i]) for i in static_nums)
        static_kw = tuple(sorted((k, v) for k, v in kwargs.items() if k in self._static_argnames))
        for label, v in list(static_pos) + list(static_kw):
            try:
                hash(v)
            except TypeError:
                raise TypeError(f"{self._name}: static argument {label!r} has an unhashable value of type "
                                f"{type(v).__name__} ({v!r:.60}); static arguments must be hashable "
                                f"(use a tuple instead of a list)") from None
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_nums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self._static_argnames}
        return static_pos, static_kw, dyn_args, dyn_kwargs

    def __repr__(self) -> str:
        n = len(self._cache)
        return f"<jaxish.trace {getattr(self, '__name__', self._name)} ({n} signature{'' if n == 1 else 's'} cached)>"

    def _repr_pretty_(self, p, cycle) -> None:  # IPython
        p.text(repr(self))

    def __call__(self, *args, **kwargs):
        try:  # (no cost unless something raises)
            mono = self._mono
            if mono is not None and not kwargs:  # the last signature run through its generated call: that
                out = mono(args)                  # call checks that it applies (no key is built)
                if out is not MISS:
                    return out
            if not kwargs and not self._has_static:
                # fast path: positional tensors only (the common case in a training loop)
                # keyed by the avals' cached hashes (ints: ShapedArray.__hash__ is a Python call), the avals compared
                # on a hit
                if len(args) == 1 and type(args[0]) is Tensor:  # (an aval is never false)
                    avals = (args[0]._aval or args[0].aval,)
                    key = (avals[0]._hash, STATE.device, _config._backend)
                elif len(args) == 2 and type(args[0]) is Tensor and type(args[1]) is Tensor:
                    avals = (args[0]._aval or args[0].aval, args[1]._aval or args[1].aval)
                    key = (avals[0]._hash, avals[1]._hash, STATE.device, _config._backend)
                else:
                    avals = []
                    for a in args:
                        if type(a) is not Tensor:
                            avals = None
                            break
                        avals.append(a._aval or a.aval)
                    if avals is not None:
                        avals = tuple(avals)
                        key = (*[a._hash for a in avals], STATE.device, _config._backend)
                if avals is not None:
                    hit = self._fast.get(key)
                    # (tuples compare their items by identity first: no ShapedArray.__eq__ call for interned avals)
                    traced = hit[0] if hit is not None and hit[1] == avals else None
                    if traced is not None:
                        next(self._hit_count)
                        if len(STATE.stack) == 1:
                            fast = traced.fast
                            if fast:
                                guarded = traced.guarded
                                if key[-2] is None and guarded is not None and self._mono is not guarded:
                                    self._mono = guarded
                                    if self._fast.get(key) is not hit:  # cleared meanwhile (clear_cache in
                                        self._mono = None               # another thread): not kept for good
                                return fast(args)
                            outs = call_traced(traced, args)
                            if fast is None:
                                self._set_fast(traced, avals, key[-1])
                            return tree_unflatten(traced.out_tree, outs)
                        if traced.inlined and STATE.tapes and tracked_literals(traced):  # traced again for
                            return self._call_slow(args, kwargs, counted=True)[1]       # the tapes (_for_tapes)
                        return tree_unflatten(traced.out_tree, call_traced(traced, args))
                    traced, out = self._call_slow(args, kwargs)
                    if len(self._fast) >= _trace_cache_size():
                        self._fast.clear()
                        self._mono = None
                    self._fast[key] = (traced, avals)
                    return out
            return self._call_slow(args, kwargs)[1]
        except Exception as e:  # the API boundary: jaxish's own frames leave the traceback (traceback_util)
            _filtered(e)
            if _BARE_RAISE:
                raise  # bare: no traceback entry for this frame
            raise e

    def _set_fast(self, traced: Traced, avals: tuple, backend) -> None:
        """Give ``traced`` its generated calls, once its executable has run (see ``_fast_call``)."""
        calls = _fast_call(traced, (avals, backend, self._hit_count))
        if calls:
            traced.fast, traced.guarded = calls
        else:
            traced.fast = calls

    def _call_slow(self, args, kwargs, counted: bool = False) -> tuple:
        """Trace (on a new signature) and run; returns ``(Traced, outputs)``. ``counted``: a hit the caller
        counted already."""
        static_pos, static_kw, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, treedef = tree_flatten((dyn_args, dyn_kwargs))
        avals = tuple(leaf_aval(x, self._name) for x in leaves)
        key = (treedef, avals, static_pos, static_kw, resolve_current(), _config._backend)
        traced = self._cache.get(key)
        if traced is None:
            traced = self._trace_once(key, args, static_pos, static_kw, dyn_args, dyn_kwargs)
        elif not counted:
            next(self._hit_count)
        run = traced
        if traced.inlined and STATE.tapes:
            hit = tracked_literals(traced)
            if hit:
                run = self._for_tapes(traced, hit, key, args, static_pos, static_kw, dyn_args, dyn_kwargs)
        outs = call_traced(run, [x for x in leaves if not is_variable(x)])
        return traced, tree_unflatten(traced.out_tree, outs)

    def _for_tapes(self, traced: Traced, hit: frozenset, key, args, static_pos, static_kw, dyn_args,
                   dyn_kwargs) -> Traced:
        """``traced``'s signature traced again under the active tapes, which track the tensors ``hit`` names
        among those it inlined as literals: that trace captures them as constants (operands of the call, which
        the tapes record, as TensorFlow differentiates a ``tf.function``'s captured tensors), and what the function
        computes from them stays in its graph instead of being folded. Kept on ``traced``, once per ``hit``."""
        run = traced.for_tapes.get(hit)
        if run is None:
            with self._tracing.hold((key, hit)):
                run = traced.for_tapes.get(hit)
                if run is None:
                    run = self._trace(key, args, static_pos, static_kw, dyn_args, dyn_kwargs,
                                      reason="a tape tracks a tensor it closes over")
                    traced.for_tapes[hit] = run
                    next(TRACES)
        return run

    def _trace_once(self, key, args, static_pos, static_kw, dyn_args, dyn_kwargs) -> Traced:
        """Trace a new signature; a thread that finds another one tracing it waits and uses its result."""
        with self._tracing.hold(key):
            traced = self._cache.get(key)
            if traced is not None:
                next(self._hit_count)
                return traced
            traced = self._trace(key, args, static_pos, static_kw, dyn_args, dyn_kwargs)
            self._cache[key] = traced
            next(self._miss_count)
            next(TRACES)
            return traced

    def _trace(self, key, args, static_pos, static_kw, dyn_args, dyn_kwargs, reason: str = "") -> Traced:
        labels = _arg_labels(self._fn, args, dyn_kwargs, skip={i for i, _ in static_pos})
        if log_compiles():
            log.warning("jaxish: tracing %s (%s)", self._name, reason or self._reason(key, labels))
        fn = self._fn
        if static_pos or static_kw:
            fixed = dict(static_pos)
            skw = dict(static_kw)
            n_total = len(args)

            def fn(*dyn, **kw):  # noqa: F811
                it = iter(dyn)
                full = [fixed[i] if i in fixed else next(it) for i in range(n_total)]
                return self._fn(*full, **kw, **skw)
        traced, _ = trace_to_graph(fn, dyn_args, dyn_kwargs, self._name, is_retrace=bool(self._cache),
                                   arg_names=labels)
        from .passes import optimize
        traced.graph = optimize(traced.graph)
        traced.name = self._name
        traced.signature = ", ".join(f"{_short_label(label)}: {aval}" for label, aval in zip(labels, key[1])
                                     if isinstance(aval, ShapedArray))
        return traced

    def _reason(self, key, labels: Sequence[str] = ()) -> str:
        if not self._cache:
            return "first call"
        treedef, avals, sp, sk, dev, backend = key

        def leaf(i: int) -> str:
            return labels[i] if i < len(labels) else f"leaf {i}"
        for k in self._cache:
            if k[0] != treedef:
                continue
            if k[2:4] != (sp, sk):
                return f"new static argument values {dict(sp) or ''}{dict(sk) or ''}"
            for i, (a, b) in enumerate(zip(k[1], avals)):
                if a != b and isinstance(a, ShapedArray) and isinstance(b, ShapedArray):
                    if a.shape != b.shape:
                        return f"new shape for {leaf(i)}: {a.shape} -> {b.shape}"
                    if a.dtype != b.dtype:
                        return f"new dtype for {leaf(i)}: {a.dtype} -> {b.dtype}"
                    return f"new weak type for {leaf(i)}"
            if k[4] != dev:
                return f"new device {dev}"
            if k[5] != backend:
                return f"new backend {backend}"
        return "new argument structure"

    def cache_info(self) -> CacheInfo:
        """Hits, misses, traces and size of the signature cache."""
        hits, misses = _counted(self._hit_count), _counted(self._miss_count)
        return CacheInfo(hits, misses, misses, len(self._cache))

    def clear_cache(self) -> None:
        """Forget every traced signature (and with them their compiled executables)."""
        self._cache.clear()
        self._fast.clear()
        self._mono = None

    def graph(self, *args, **kwargs) -> Graph:
        """The optimised graph of the function at these arguments (a fresh trace; the cache is untouched)."""
        return make_graph(self._fn, self._static_argnums)(*args, **kwargs)


def _short_label(label: str) -> str:
    """``argument 'batch'['x']`` -> ``batch['x']``; ``argument 2`` -> ``args[2]``."""
    if label.startswith("argument '"):
        return label[len("argument '"):].replace("'", "", 1)
    return f"args[{label[len('argument '):]}]" if label.startswith("argument ") else label


TRACES = itertools.count()
"""Signatures traced by every ``@trace``d function of the process (``_counted(TRACES)``; the pytest plugin's
``--jaxish-compile-counts`` reads it)."""


def _counted(counter: itertools.count) -> int:
    """How many times ``next`` was called on ``counter`` (its repr is ``count(n)``)."""
    return int(repr(counter)[6:-1])


def _trace_cache_size() -> int:
    return cache_limit("trace_cache_size")


_ALL: weakref.WeakSet = weakref.WeakSet()   # every TracedFunction, for clear_traced_caches
_ALL_LOCK = threading.Lock()


def _register(fn: TracedFunction) -> None:
    with _ALL_LOCK:
        _ALL.add(fn)


_ON_CLEAR: list = []  # functions that empty other caches of the API layer (the tape's plans)


def on_clear_cache(fn: Callable[[], None]) -> None:
    """Have :func:`clear_traced_caches` call ``fn`` too."""
    _ON_CLEAR.append(fn)


def clear_traced_caches() -> None:
    """Empty the signature cache of every traced function and the tapes' plans (``jaxish.clear_cache()``)."""
    with _ALL_LOCK:
        fns = list(_ALL)
    for fn in fns:
        fn.clear_cache()
    for fn in _ON_CLEAR:
        fn()


def trace(fn: Callable | None = None, *, static_argnums=(), static_argnames=()):
    """Trace ``fn`` into a graph once per signature and run it compiled.

    Usable as ``@trace`` or ``@trace(static_argnums=(1,))``.

    Parameters
    ----------
    fn : callable
    static_argnums, static_argnames
        Arguments passed as Python values: each new (hashable) value retraces.

    Returns
    -------
    TracedFunction
        Call it like ``fn``; ``.cache_info()`` reports hits/misses/traces.
    """
    if fn is None:
        return lambda f: TracedFunction(f, static_argnums, static_argnames)
    return TracedFunction(fn, static_argnums, static_argnames)


function = trace
jit = trace
