"""GradientTape: records eager (or traced) ops as a graph and differentiates it.

The tape records every primitive call at its own trace level that reads a
watched tensor, a watched Variable, or a value computed from them. ``gradient``
turns the records into a Graph, builds its backward graph with
:func:`~jaxish.autodiff.vjp_graph` (cached by the recorded graph's
fingerprint) and runs it through the executable cache; under an outer tape or
inside ``@trace`` it is evaluated op by op instead, so outer tapes record it
(second derivatives) and traces inline it.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optree

from .core import STATE, Tensor, current_level, read_variable
from .ir import Graph, Var, param_key
from .lru import LRU
from .tree_util import NAMESPACE, tree_flatten, tree_unflatten

_BWD_CACHE = LRU(256)  # thread-safe; bounded


def _is_var(x) -> bool:
    return getattr(x, "_is_variable", False)


class GradientTape:
    """Record operations for automatic differentiation (TensorFlow's API).

    Parameters
    ----------
    persistent : bool
        Allow several calls of :meth:`gradient`.
    watch_accessed_variables : bool
        Watch every trainable Variable read while recording.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._recording = False
        self._level = None
        self._reset_records()

    def _reset_records(self):
        self._live: set = set()          # ids of watched or recorded tensors
        self._watched_vars: dict = {}    # id(Variable) -> Variable
        self._var_reads: dict = {}       # key -> (Variable, value Tensor)
        self._nodes: list = []
        self._keep: list = []            # keeps recorded tensors alive so ids stay unique
        self._used = False

    # -- context --
    def __enter__(self):
        self._level = current_level()
        self._recording = True
        STATE.tapes = STATE.tapes + [self]
        return self

    def __exit__(self, *exc):
        self._recording = False
        STATE.tapes = [t for t in STATE.tapes if t is not self]

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
                self._live.add(id(x))
                self._keep.append(x)
            else:
                raise TypeError(f"GradientTape.watch: expected tensors or Variables, got {type(x).__name__}")

    def watched_variables(self) -> tuple:
        """The Variables watched so far."""
        return tuple(self._watched_vars.values())

    # -- recording (called by bind) --
    def _record(self, prim, params, raw_args, vals, result) -> None:
        keys, hit = [], False
        for raw, v in zip(raw_args, vals):
            if _is_var(raw):
                if self._watch_accessed and raw.trainable and raw.dtype.is_floating:
                    self._watched_vars[id(raw)] = raw
                key = ("v", id(raw), id(v))
                if id(raw) in self._watched_vars:
                    hit = True
                    self._var_reads[key] = (raw, v)
                keys.append(key)
            else:
                keys.append(id(v))
                hit = hit or id(v) in self._live
        if not hit:
            return
        self._nodes.append((prim, params, keys, vals, result))
        self._live.add(id(result))
        self._keep.append(result)

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
    def _collect(self, targets: list) -> tuple:
        """The recorded nodes ``targets`` need, with a structural key and the leaf values.

        Returns ``(needed, key, leaf_keys, leaf_vals)``; the key identifies the
        recorded graph (primitives, params, avals, wiring), so a training loop
        that records the same structure each step reuses one backward graph.
        """
        producer = {id(n[4]): n for n in self._nodes}
        needed, stack, seen = [], [id(t) for t in targets], set()
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            n = producer.get(k) if not isinstance(k, tuple) else None
            if n is not None:
                needed.append(n)
                stack.extend(n[2])
        order = {id(n): i for i, n in enumerate(self._nodes)}
        needed.sort(key=lambda n: order[id(n)])
        ids: dict = {}
        leaf_keys, leaf_vals = [], []

        def ref(k, val):
            i = ids.get(k)
            if i is None:
                i = ids[k] = len(ids)
                leaf_keys.append(k)
                leaf_vals.append(val)
                return (i, val.aval)
            return i

        parts = []
        for prim, params, keys, vals, result in needed:
            parts.append((prim.name, param_key(params), tuple(ref(k, v) for k, v in zip(keys, vals)),
                          result.aval))
            ids[id(result)] = len(ids)
        outs = tuple(ref(id(t), t) for t in targets)
        return needed, (tuple(parts), outs), leaf_keys, leaf_vals

    @staticmethod
    def _graph(needed, leaf_keys, leaf_vals, targets) -> Graph:
        from .ir import Node
        env = {k: Var(v.aval) for k, v in zip(leaf_keys, leaf_vals)}
        invars = [env[k] for k in leaf_keys]
        nodes = []
        for prim, params, keys, vals, result in needed:
            out = Var(result.aval)
            nodes.append(Node(prim, [env[k] for k in keys], params, [out]))
            env[id(result)] = out
        return Graph(invars, nodes, [env[id(t)] for t in targets])

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

    def _source_inputs(self, s, position: dict, node_pos: dict, reads: dict) -> list:
        """The backward graph's ``wrt`` entries for source ``s`` (several for a Variable read several times)."""
        if _is_var(s):  # only watched Variables get gradients (as in TensorFlow)
            return reads.get(id(s), []) if id(s) in self._watched_vars else []
        if not isinstance(s, Tensor):
            raise TypeError(f"GradientTape.gradient: sources must be tensors or Variables, got {type(s).__name__}")
        if id(s) in node_pos:  # an intermediate: its total derivative; the backward pass goes on through it
            return [("node", node_pos[id(s)])]
        return [position[id(s)]] if id(s) in position and id(s) in self._live else []

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
        needed, key, leaf_keys, leaf_vals = self._collect(float_t)
        position = {k: i for i, k in enumerate(leaf_keys)}
        node_pos = {id(n[4]): k for k, n in enumerate(needed)}
        reads: dict = {}  # id(Variable) -> the graph inputs of its reads
        for k, i in position.items():
            if isinstance(k, tuple):
                reads.setdefault(k[1], []).append(i)
        wrt_of = [self._source_inputs(s, position, node_pos, reads) for s in s_leaves]
        wrt = list(dict.fromkeys(w for ws in wrt_of for w in ws))
        grads: list = [None] * len(s_leaves)
        if wrt:
            outs = self._backward(needed, key, leaf_keys, leaf_vals, float_t, wrt,
                                  [seeds[i] for i in float_targets])
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
        if not self._persistent:  # release what was recorded; stale ids in _live would record new tensors
            self._nodes, self._keep, self._var_reads, self._live = [], [], {}, set()
        return tree_unflatten(s_tree, grads)

    def _backward(self, needed, key, leaf_keys, leaf_vals, targets, wrt, seeds) -> list:
        """Run the (cached) backward graph of the recorded nodes; one cotangent per ``wrt`` entry."""
        fp = (key, tuple(wrt))
        bwd = _BWD_CACHE.get(fp)
        if bwd is None:
            from .autodiff import vjp_graph
            graph = self._graph(needed, leaf_keys, leaf_vals, targets)
            bwd = vjp_graph(graph, wrt, list(range(len(targets))), keep_outputs=False)
            _BWD_CACHE[fp] = bwd
            if len(_BWD_CACHE) > 256:
                _BWD_CACHE.popitem(last=False)
        cts = [Tensor(np.ones(t.aval.shape, t.dtype.np)) if c is None else c for t, c in zip(targets, seeds)]
        from .tracing import run_graph
        if STATE.tapes or current_level():
            # evaluated op by op: read Variables through the Variable so that outer tapes
            # connect the backward pass to it (nested tapes -> second derivatives)
            leaf_vals = [self._var_reads[k][0] if k in self._var_reads
                         and self._var_reads[k][0]._value is v else v
                         for k, v in zip(leaf_keys, leaf_vals)]
        return run_graph(bwd, list(leaf_vals) + cts)

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """Jacobian ``target.shape + source.shape`` for each source (needs a persistent tape or one call).

        ``parallel_iterations`` and ``experimental_use_pfor`` are accepted for
        TensorFlow compatibility and ignored (rows are computed one by one).
        """
        from .ops import reshape, stack
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.jacobian can only be called once on non-persistent tapes.")
        t = target.read_value() if _is_var(target) else target
        if not isinstance(t, Tensor):
            raise TypeError(f"GradientTape.jacobian: the target must be a tensor, got {type(t).__name__}")
        m = t.aval.size
        s_leaves, s_tree = tree_flatten(sources)

        def seed(k):
            e = np.zeros(m, t.dtype.np)
            if k is not None:
                e[k] = 1
            return Tensor(e.reshape(t.aval.shape))
        # an empty target: one all-zero seed tells which sources are connected
        seeds = [seed(k) for k in range(m)] if m else [seed(None)]
        persistent, self._persistent = self._persistent, True
        try:
            rows = []
            for seed in seeds:
                self._used = False
                # the Variable itself, so that jacobian(v, v) is the identity (TensorFlow)
                rows.append(self.gradient(target, s_leaves, output_gradients=seed,
                                          unconnected_gradients=unconnected_gradients))
        finally:
            self._persistent = persistent
            self._used = True
        out = []
        for j, s in enumerate(s_leaves):
            col = [r[j] for r in rows]
            if any(c is None for c in col):
                out.append(None)
            else:
                out.append(reshape(stack(col)[:m], tuple(t.aval.shape) + tuple(s.shape)))
        return tree_unflatten(s_tree, out)
