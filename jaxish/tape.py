"""GradientTape: records eager (or traced) ops as a graph and differentiates it.

A tape is a trace on the thread's trace stack: ``bind`` hands it every
primitive call made while it records; it passes the call to the trace below
it and records the call as a node of its graph (``ir.GraphBuilder``) when it
reads a watched tensor, a watched Variable or a value computed from them.
``gradient`` prunes the graph to what the targets need, takes its backward
graph from :func:`~jaxish.autodiff.vjp_graph` (cached by the graph's
structural key) and runs it as a ``call`` (``tracing.run_graph``): compiled
when eager, a node of the graph inside ``@trace``, and recorded as one call by
an outer tape (whose gradient differentiates it again: second derivatives).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optree

from .core import STATE, Tensor, Trace, is_variable, read_variable
from .core.call import call_p
from .core.state import push, remove
from .core.trace import eval_primitive
from .ir import Graph, GraphBuilder, Node, Var, free_inputs, needed_nodes
from .tracing import run_graph
from .tree_util import NAMESPACE, tree_flatten, tree_unflatten

_is_var = is_variable


class GradientTape(Trace):
    """Record operations for automatic differentiation (TensorFlow's API).

    Parameters
    ----------
    persistent : bool
        Allow several calls of :meth:`gradient`.
    watch_accessed_variables : bool
        Watch every trainable Variable read while recording.
    """

    is_tape = True

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._recording = False
        self._reset_records()

    def _reset_records(self):
        self._builder = GraphBuilder()   # the recorded nodes
        self._vars: dict = {}            # key of a watched or recorded value -> its Var
        self._leaves: dict = {}          # Var id of a graph input -> (key, value)
        self._watched_vars: dict = {}    # id(Variable) -> Variable
        self._watched: set = set()       # ids of the tensors given to watch (the only tensor sources)
        self._var_reads: dict = {}       # key -> (Variable, value Tensor)
        self._keep: list = []            # keeps recorded tensors alive so ids stay unique
        self._used = False

    # -- context --
    def __enter__(self):
        self._recording = True
        push(self)
        return self

    def __exit__(self, *exc):
        self._recording = False
        remove(self)

    # -- watching --
    def watch(self, tensor: Any) -> None:
        """Watch tensors or Variables (nested structures allowed)."""
        for x in tree_flatten(tensor)[0]:
            if _is_var(x):
                self._watched_vars[id(x)] = x
            elif isinstance(x, Tensor):
                if getattr(x, "_trace", None) is not None:
                    x._trace.check_alive(x)
                if not x.dtype.is_floating:
                    warnings.warn(f"GradientTape.watch: the tensor has dtype {x.dtype.name}; gradients are only "
                                  f"computed for floating-point tensors", stacklevel=2)
                    continue
                self._leaf(id(x), x)
                self._watched.add(id(x))
            else:
                raise TypeError(f"GradientTape.watch: expected tensors or Variables, got {type(x).__name__}")

    def watched_variables(self) -> tuple:
        """The Variables watched so far."""
        return tuple(self._watched_vars.values())

    # -- recording (the tape is a trace: bind hands it every call made while it is on the stack) --
    def process(self, prim, vals, params, raw, depth):
        if depth == 1:  # the eval trace below: run the op now (the common case, two calls fewer)
            result = eval_primitive(prim, vals, params)
        else:
            result = STATE.stack[depth - 1].process(prim, vals, params, raw, depth - 1)
        if self._recording:
            self._record(prim, params, raw, vals, result)
        return result

    def _leaf(self, key, value) -> Var:
        """The graph input for ``value`` (a watched tensor, a Variable read, a constant operand)."""
        v = self._vars.get(key)
        if v is None:
            v = self._vars[key] = Var(value.aval)
            self._leaves[v.id] = (key, value)
            self._keep.append(value)
        return v

    def _record(self, prim, params, raw_args, vals, result) -> None:
        known = self._vars
        keys, hit = [], False
        for raw, v in zip(raw_args, vals):
            if type(raw) is Tensor or not _is_var(raw):
                keys.append(id(v))
                hit = hit or id(v) in known
                continue
            watched = self._watched_vars
            if id(raw) not in watched and self._watch_accessed and raw.trainable and raw.dtype.is_floating:
                watched[id(raw)] = raw
            key = ("v", id(raw), id(v))
            if id(raw) in watched:
                hit = True
                self._var_reads[key] = (raw, v)
            keys.append(key)
        if not hit:
            return
        ins = [known.get(k) or self._leaf(k, v) for k, v in zip(keys, vals)]
        if prim.multiple_results:
            outs = [Var(r.aval) for r in result]
            for r, o in zip(result, outs):
                known[id(r)] = o
            self._keep.extend(result)
        else:
            outs = [Var(result.aval)]
            known[id(result)] = outs[0]
            self._keep.append(result)
        self._builder.nodes.append(Node(prim, ins, params, outs))

    def stop_recording(self):
        """Context manager that pauses recording."""
        tape = self

        class _Stop:
            def __enter__(self):
                self.was = tape._recording
                tape._recording = False

            def __exit__(self, *exc):
                tape._recording = self.was
        return _Stop()

    def reset(self) -> None:
        """Forget everything recorded."""
        self._reset_records()

    # -- gradients --
    def _graph(self, targets: list) -> tuple:
        """The recorded graph of ``targets``: ``(graph, input values, node position of each recorded tensor)``.

        Its inputs are the leaves the targets depend on, in order of first use, so
        a training loop that records the same structure each step gets the same
        structural key and reuses one backward graph (``vjp_graph``'s cache).
        A target the tape did not record is an input of its own.
        """
        outvars, extra = [], {}
        for t in targets:
            v = self._vars.get(id(t))
            if v is None:
                v = extra.get(id(t))
                if v is None:
                    v = extra[id(t)] = Var(t.aval)
                    self._leaves[v.id] = (("target", id(t)), t)
            outvars.append(v)
        nodes = needed_nodes(self._builder.nodes, outvars)
        graph = Graph(free_inputs(nodes, outvars), nodes, outvars)
        values = [self._leaves[v.id] for v in graph.invars]
        for v in extra.values():
            del self._leaves[v.id]
        return graph, values

    @staticmethod
    def _seeds(targets: list, output_gradients) -> list:
        """One checked seed per target (None: ones), following ``output_gradients``'s structure."""
        if output_gradients is None:
            return [None] * len(targets)
        given = optree.tree_leaves(output_gradients, is_leaf=_is_var, none_is_leaf=True, namespace=NAMESPACE)
        if len(given) != len(targets):
            if len(targets) != 1:
                raise ValueError(f"GradientTape.gradient: output_gradients has {len(given)} entries but there are "
                                 f"{len(targets)} targets; give one per target (None for ones)")
            given = [output_gradients]
        from .autodiff import check_cotangent
        return [None if g is None else
                check_cotangent(g, t.aval.strip_weak(), f"GradientTape.gradient: output_gradients[{i}]", f"target {i}")
                for i, (g, t) in enumerate(zip(given, targets))]

    def _source_inputs(self, s, position: dict, node_pos: dict, reads: dict, live: set) -> list:
        """The backward graph's ``wrt`` entries for source ``s`` (several for a Variable read several times);
        ``live``: the Var ids the targets depend on (an unconnected source gets None, as in TensorFlow)."""
        if _is_var(s):  # only watched Variables get gradients (as in TensorFlow)
            return reads.get(id(s), []) if id(s) in self._watched_vars else []
        if not isinstance(s, Tensor):
            raise TypeError(f"GradientTape.gradient: sources must be tensors or Variables, got {type(s).__name__}")
        v = self._vars.get(id(s))
        if v is None or v.id not in live:
            return []
        if v.id in node_pos:  # an intermediate: its total derivative; the backward pass goes on through it
            return [node_pos[v.id]]
        # a leaf: only a watched tensor is a source (an operand the tape merely saw is a constant)
        return [position[id(s)]] if id(s) in position and id(s) in self._watched else []

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradient of ``target`` (summed over a list of targets) w.r.t. ``sources``.

        As in TensorFlow, a source computed from another source does not stop the
        backward pass: with ``y = x * x; z = y * y``, ``gradient(z, [x, y])`` is
        ``[dz/dx, dz/dy] = [4x³, 2y]``. A source that is also a target gets its
        seed added; a tensor that is a target and a source but is not watched
        gets only its seed (the tape treats it as a constant).

        ``output_gradients`` (one per target, None for ones) must have exactly the
        target's shape (no broadcasting, as TensorFlow requires) and, for tensors
        and arrays, its dtype; otherwise ``ValueError``/``TypeError``.

        Returns the same structure as ``sources``; an unconnected source gives
        None (or zeros with ``unconnected_gradients='zero'``).
        """
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on non-persistent tapes.")
        self._used = True
        t_leaves, _ = tree_flatten(target)
        targets = [read_variable(t) if _is_var(t) else t for t in t_leaves]
        for t in targets:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.gradient: targets must be tensors, got {type(t).__name__}")
        s_leaves, s_tree = tree_flatten(sources)
        seeds = self._seeds(targets, output_gradients)
        float_targets = [i for i, t in enumerate(targets) if t.dtype.is_floating]
        float_t = [targets[i] for i in float_targets]
        graph, leaves = self._graph(float_t)
        position = {k: i for i, (k, _) in enumerate(leaves)}
        node_pos = {o.id: ("node", k, j) if j else ("node", k)
                    for k, n in enumerate(graph.nodes) for j, o in enumerate(n.outvars)}
        reads: dict = {}  # id(Variable) -> the graph inputs of its reads
        for k, i in position.items():
            if isinstance(k, tuple) and k[0] == "v":
                reads.setdefault(k[1], []).append(i)
        live = connected(graph)
        for vid in list(reads):  # only the reads the targets depend on
            reads[vid] = [i for i in reads[vid] if graph.invars[i].id in live]
        wrt_of = [self._source_inputs(s, position, node_pos, reads, live) for s in s_leaves]
        wrt = list(dict.fromkeys(w for ws in wrt_of for w in ws))
        grads: list = [None] * len(s_leaves)
        if wrt:
            outs = self._backward(graph, leaves, float_t, wrt, [seeds[i] for i in float_targets])
            by_wrt = dict(zip(wrt, outs))
            for j, ws in enumerate(wrt_of):
                for w in ws:
                    grads[j] = by_wrt[w] if grads[j] is None else grads[j] + by_wrt[w]
        for i, t in enumerate(t_leaves):  # d t / d t: the seed, when the graph does not already carry it
            if not t.dtype.is_floating:
                continue
            for j, s in enumerate(s_leaves):
                if s is t and (_is_var(s) or not wrt_of[j]):
                    from .creation import ones_like
                    one = ones_like(targets[i]) if seeds[i] is None else seeds[i]
                    grads[j] = one if grads[j] is None else grads[j] + one
        for j, s in enumerate(s_leaves):
            if grads[j] is None and unconnected_gradients == "zero":
                from .creation import zeros_like
                grads[j] = zeros_like(s.read_value() if _is_var(s) else s)
            elif grads[j] is not None and not s.dtype.is_floating:
                grads[j] = None
        if not self._persistent:  # release what was recorded; stale ids would record new tensors
            used, watched = self._used, self._watched_vars
            self._reset_records()
            self._used, self._watched_vars = used, watched
        return tree_unflatten(s_tree, grads)

    def _backward(self, graph, leaves, targets, wrt, seeds) -> list:
        """Run the backward graph of the recorded graph (from ``vjp_graph``'s cache); one cotangent per
        ``wrt`` entry."""
        from .autodiff import vjp_graph
        bwd = vjp_graph(graph, wrt, list(range(len(targets))), keep_outputs=False)
        cts = [Tensor(np.ones(t.aval.shape, t.dtype.np)) if c is None else c for t, c in zip(targets, seeds)]
        values = [v for _, v in leaves]
        if len(STATE.stack) > 1:
            # evaluated under an outer tape or trace: read Variables through the Variable so that outer
            # tapes connect the backward pass to it (nested tapes -> second derivatives)
            values = [self._var_reads[k][0] if k in self._var_reads and self._var_reads[k][0]._value is v else v
                      for k, v in leaves]
        return run_graph(bwd, values + cts)

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """Jacobian ``target.shape + source.shape`` for each source (needs a persistent tape or one call).

        ``parallel_iterations`` and ``experimental_use_pfor`` are accepted for
        TensorFlow compatibility and ignored (rows are computed one by one).
        """
        from .autodiff import jacobian_rows, stack_rows
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.jacobian can only be called once on non-persistent tapes.")
        t = target.read_value() if _is_var(target) else target
        if not isinstance(t, Tensor):
            raise TypeError(f"GradientTape.jacobian: the target must be a tensor, got {type(t).__name__}")
        s_leaves, s_tree = tree_flatten(sources)
        persistent, self._persistent = self._persistent, True

        def row(seed):
            self._used = False
            # the Variable itself, so that jacobian(v, v) is the identity (TensorFlow)
            return self.gradient(target, s_leaves, output_gradients=seed, unconnected_gradients=unconnected_gradients)
        try:
            rows = jacobian_rows(t.aval, row)
        finally:
            self._persistent = persistent
            self._used = True
        out = []
        for j, s in enumerate(s_leaves):
            col = [r[j] for r in rows]
            out.append(None if any(c is None for c in col) else stack_rows(col, t.aval, tuple(s.shape)))
        return tree_unflatten(s_tree, out)


def connected(graph: Graph) -> set:
    """The ids of the Vars ``graph``'s outputs depend on; through a ``call`` node, only the inputs that its
    needed outputs read (so that a source unconnected to the targets gets None, not zeros)."""
    live = {v.id for v in graph.outvars if type(v) is Var}
    for n in reversed(graph.nodes):
        outs = [j for j, o in enumerate(n.outvars) if o.id in live]
        if not outs:
            continue
        ins = n.invars
        if n.prim is call_p:
            deps = _call_deps(n.params["graph"])
            ins = [ins[i] for i in sorted(set().union(*(deps[j] for j in outs)))]
        live.update(a.id for a in ins if type(a) is Var)
    return live


def _call_deps(graph: Graph) -> list:
    """For each output of ``graph``: the positions of the inputs it depends on (cached on the graph)."""
    deps = graph.__dict__.get("_deps")
    if deps is None:
        pos = {v.id: i for i, v in enumerate(graph.invars)}
        deps = [frozenset(pos[i] for i in connected(Graph(graph.invars, graph.nodes, [o])) if i in pos)
                for o in graph.outvars]
        graph.__dict__["_deps"] = deps
    return deps
