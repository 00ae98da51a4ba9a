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

from .core import STATE, Tensor, current_level, read_variable
from .ir import Graph, Var, param_key
from .lru import LRU
from .tree_util import tree_flatten, tree_unflatten

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
    def _collect(self, targets: list, stop: set) -> tuple:
        """The recorded nodes ``targets`` need, with a structural key and the leaf values.

        Returns ``(needed, key, leaf_keys, leaf_vals)``; the key identifies the
        recorded graph (primitives, params, avals, wiring), so a training loop
        that records the same structure each step reuses one backward graph.
        """
        producer = {id(n[4]): n for n in self._nodes if id(n[4]) not in stop}
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

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradient of ``target`` (summed over a list of targets) w.r.t. ``sources``.

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
        s_leaves, s_tree = tree_flatten(sources)
        for t in targets:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.gradient: targets must be tensors, got {type(t).__name__}")
        cts_given = None
        if output_gradients is not None:
            cts_given, _ = tree_flatten(output_gradients)
            if len(cts_given) != len(targets):
                raise ValueError("GradientTape.gradient: output_gradients must match the structure of target")
        float_targets = [i for i, t in enumerate(targets) if t.dtype.is_floating]
        stop = {id(s) for s in s_leaves if isinstance(s, Tensor)}
        float_t = [targets[i] for i in float_targets]
        needed, key, leaf_keys, leaf_vals = self._collect(float_t, stop)
        position = {k: i for i, k in enumerate(leaf_keys)}

        wrt, owners = [], []
        for j, s in enumerate(s_leaves):
            if _is_var(s):  # only watched Variables get gradients (as in TensorFlow)
                ks = [k for k in leaf_keys if isinstance(k, tuple) and k[1] == id(s)] \
                    if id(s) in self._watched_vars else []
            elif isinstance(s, Tensor):  # watched tensors and values computed from them
                ks = [id(s)] if id(s) in position and id(s) in self._live else []
            else:
                raise TypeError(f"GradientTape.gradient: sources must be tensors or Variables, "
                                f"got {type(s).__name__}")
            for k in ks:
                wrt.append(position[k])
                owners.append(j)
        grads: list = [None] * len(s_leaves)
        if wrt and float_targets:
            fp = (key, tuple(wrt))
            bwd = _BWD_CACHE.get(fp)
            if bwd is None:
                from .autodiff import vjp_graph
                graph = self._graph(needed, leaf_keys, leaf_vals, float_t)
                bwd = vjp_graph(graph, wrt, list(range(len(float_targets))), keep_outputs=False)
                _BWD_CACHE[fp] = bwd
                if len(_BWD_CACHE) > 256:
                    _BWD_CACHE.popitem(last=False)
            cts = []
            for i in float_targets:
                t = targets[i]
                if cts_given is not None and cts_given[i] is not None:
                    from .creation import constant
                    cts.append(constant(cts_given[i], dtype=t.dtype))
                else:
                    cts.append(Tensor(np.ones(t.aval.shape, t.dtype.np)))
            from .tracing import run_graph
            if STATE.tapes or current_level():
                # evaluated op by op: read Variables through the Variable so that outer tapes
                # connect the backward pass to it (nested tapes -> second derivatives)
                leaf_vals = [self._var_reads[k][0] if k in self._var_reads
                             and self._var_reads[k][0]._value is v else v
                             for k, v in zip(leaf_keys, leaf_vals)]
            outs = run_graph(bwd, list(leaf_vals) + cts)
            for j, g in zip(owners, outs):
                grads[j] = g if grads[j] is None else grads[j] + g
        for i, t in enumerate(t_leaves):  # d v / d v = 1 for a Variable that is target and source
            if _is_var(t) and t.dtype.is_floating:
                for j, s in enumerate(s_leaves):
                    if s is t:
                        seed = cts_given[i] if cts_given is not None and cts_given[i] is not None else None
                        from .creation import constant, ones_like
                        one = ones_like(t.read_value()) if seed is None else constant(seed, dtype=t.dtype)
                        grads[j] = one if grads[j] is None else grads[j] + one
        for j, s in enumerate(s_leaves):
            if grads[j] is None and unconnected_gradients == "zero":
                from .creation import zeros_like
                grads[j] = zeros_like(s.read_value() if _is_var(s) else s)
            elif grads[j] is not None:
                sdt = s.dtype
                if not sdt.is_floating:
                    grads[j] = None
        if not self._persistent:
            self._nodes, self._keep, self._var_reads = [], [], {}
        return tree_unflatten(s_tree, grads)

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """Jacobian ``target.shape + source.shape`` for each source (needs a persistent tape or one call)."""
        from .ops import reshape, stack
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.jacobian can only be called once on non-persistent tapes.")
        t = target.read_value() if _is_var(target) else target
        m = t.aval.size
        s_leaves, s_tree = tree_flatten(sources)
        persistent, self._persistent = self._persistent, True
        try:
            rows = []
            for k in range(m):
                e = np.zeros(m, t.dtype.np)
                e[k] = 1
                self._used = False
                rows.append(self.gradient(t, s_leaves, output_gradients=Tensor(e.reshape(t.aval.shape)),
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
                out.append(reshape(stack(col), tuple(t.aval.shape) + tuple(s.shape)))
        return tree_unflatten(s_tree, out)
