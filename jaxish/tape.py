"""GradientTape: records eager (or traced) ops and differentiates them.

A tape is a trace on the thread's trace stack: ``bind`` hands it every
primitive call made while it records; it passes the call to the trace below
it and records the call (a record of slots, no IR) when it reads a watched
tensor, a watched Variable or a value computed from them, walking a trie of
recorded structures as it goes. ``gradient`` finds the plan for what was
recorded on that trie node (built once per structure: the graph pruned to what
the targets need, its inputs, its backward graphs from
:func:`~jaxish.autodiff.vjp_graph`), and runs the backward graph: eagerly
through its executable's generated call, as a ``call`` (``tracing.run_graph``)
inside ``@trace`` and under an outer tape (whose gradient differentiates it
again: second derivatives).
"""
from __future__ import annotations

import enum
import operator
import warnings
import weakref
from typing import Any

import numpy as np
import optree

from .backends import get_executable
from .config import cache_limit
from .core import STATE, Tensor, Trace, VariableBase, is_variable, read_variable
from .core.call import call_p
from .core.state import push, remove
from .core.trace import eval_binary, eval_primitive, eval_unary
from .dtypes import DType
from .ir import Graph, Node, Var, free_inputs, needed_nodes, param_key
from .traceback_util import BARE_RAISE_KEEPS_FILTERING, api_boundary, filtered
from .tracing import on_clear_cache, run_graph, tensor_call
from .tree_util import NAMESPACE, tree_flatten, tree_unflatten

_is_var = is_variable


class UnconnectedGradients(str, enum.Enum):
    """What ``GradientTape.gradient`` returns for a source the target does not depend on (TensorFlow's
    ``tf.UnconnectedGradients``); its members equal the strings ``'none'`` and ``'zero'`` the tape also takes."""

    NONE = "none"
    ZERO = "zero"


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
        # what was recorded, by slot: every value the tape has seen (a graph input or a node's result) gets the
        # next slot number. The structure (each input's aval, each node's primitive, parameters, input slots
        # and result avals) is the path of self._shape in the structure trie, not kept here: recording a step
        # is a walk of one edge, and graphs are built from the path only when a gradient needs a new one
        self._slots: dict = {}           # key of a watched or recorded value -> its slot
        self._keep: list = []            # slot -> its value (keeps recorded tensors alive so ids stay unique)
        self._var_keys: dict = {}        # slot of a Variable read -> its key ("v", id(Variable), id(value))
        self._shape = _SHAPES.root       # the structure recorded so far (a node of the structure trie)
        self._watched_vars: dict = {}    # id(Variable) -> Variable
        self._watched: set = set()       # ids of the tensors given to watch (the only tensor sources)
        self._var_reads: dict = {}       # key -> (Variable, value Tensor)
        self._plain = True               # every graph input recorded is a plain (host) Tensor
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

    def tracks(self, x) -> bool:
        """A tensor this tape can differentiate through: watched, or the result of an op it recorded (a graph
        traced above the tape takes it as an input). A constant operand it saw is not (nothing flows there)."""
        k = id(x)
        slot = self._slots.get(k)
        return slot is not None and (k in self._watched or slot not in _leaf_slots(self._shape))

    def tracked_among(self, tensors: dict) -> frozenset:
        """The keys of ``tensors`` (``id(x) -> x``) that name tensors this tape tracks (see :meth:`tracks`)."""
        slots = self._slots
        if slots.keys().isdisjoint(tensors.keys()):  # (the common case: no set is built)
            return _NO_IDS
        leaves = _leaf_slots(self._shape)
        return frozenset(k for k in slots.keys() & tensors.keys() if k in self._watched or slots[k] not in leaves)

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

    def process_binary(self, prim, a, b, depth):
        if depth == 1:
            result = eval_binary(prim, a, b)
        else:
            result = STATE.stack[depth - 1].process_binary(prim, a, b, depth - 1)
        if self._recording:  # _record for two Tensors and no parameters, inline (a call fewer per op)
            known = self._slots
            sa, sb = known.get(id(a)), known.get(id(b))
            if sa is None:
                if sb is None:
                    return result
                sa = self._new_leaf(id(a), a)
            elif sb is None:
                sb = self._new_leaf(id(b), b)
            ins = (sa, sb)
            out = result._aval if type(result) is not list else None
            if out is None:
                self._add_node(prim, _NO_PARAMS, ins, result)
                return result
            keep = self._keep  # _add_node for one result, inline, with the hint's case first
            known[id(result)] = len(keep)
            keep.append(result)
            shape = self._shape
            h = shape.hint
            if h is not None and h[0] is prim and h[1] == ins and h[2] is out:
                self._shape = h[3]
            else:
                self._step(shape, (prim, (), ins, out), (prim, _NO_PARAMS, ins, out))
        return result

    def process_unary(self, prim, x, params, depth):
        if depth == 1:
            result = eval_unary(prim, x, params)
        else:
            result = STATE.stack[depth - 1].process_unary(prim, x, params, depth - 1)
        if self._recording:  # _record for one Tensor, inline
            slot = self._slots.get(id(x))
            if slot is not None:
                self._add_node(prim, params, (slot,), result)
        return result

    def _leaf(self, key, value) -> int:
        """The slot of the graph input for ``value`` (a watched tensor, a Variable read, a constant operand)."""
        slot = self._slots.get(key)
        return self._new_leaf(key, value) if slot is None else slot

    def _new_leaf(self, key, value) -> int:
        keep = self._keep
        slot = self._slots[key] = len(keep)
        keep.append(value)
        aval = value._aval
        if aval is None:
            aval = value.aval
        if type(value) is not Tensor:
            self._plain = False
        shape = self._shape
        h = shape.hint  # the step taken from here last time: compared by identity, no token hashed
        if type(key) is tuple:  # a Variable read
            self._var_keys[slot] = key
            if h is not None and h[0] is True and h[1] is aval:
                self._shape = h[2]
                return slot
            token = (True, aval)
        else:
            if h is not None and h[0] is False and h[1] is aval:
                self._shape = h[2]
                return slot
            token = (False, aval)
        nxt = shape.next.get(token)
        if nxt is None:
            nxt = _SHAPES.step(shape, token, token)
        shape.hint = (token[0], aval, nxt)
        self._shape = nxt
        return slot

    def _record(self, prim, params, raw_args, vals, result) -> None:
        known = self._slots
        ins, new, hit = [], None, False
        i = 0
        for v in vals:
            raw = raw_args[i]
            if raw is v or not isinstance(raw, VariableBase):
                k = id(v)
                slot = known.get(k)
                if slot is not None:
                    hit = True
            else:
                watched = self._watched_vars
                if id(raw) not in watched and self._watch_accessed and raw.trainable \
                        and (v._aval or v.aval).dtype.is_floating:  # (the value read has the Variable's dtype)
                    watched[id(raw)] = raw
                k = ("v", id(raw), id(v))
                if id(raw) in watched:
                    hit = True
                    self._var_reads[k] = (raw, v)
                slot = known.get(k)
            if slot is None:
                if new is None:
                    new = []
                new.append((i, k, v))
            ins.append(slot)
            i += 1
        if not hit:
            return
        if new is not None:
            for i, k, v in new:  # graph inputs, in operand order
                ins[i] = self._new_leaf(k, v)
        self._add_node(prim, params, tuple(ins), result)

    def _add_node(self, prim, params, ins: tuple, result) -> None:
        known, keep = self._slots, self._keep
        if prim.multiple_results:
            out = tuple([r.aval for r in result])
            for r in result:
                known[id(r)] = len(keep)
                keep.append(r)
        else:
            out = result._aval
            if out is None:
                out = result.aval
            known[id(result)] = len(keep)
            keep.append(result)
        shape = self._shape
        if params:
            token = (prim, _param_token(params), ins, out)
        else:  # the step taken from here last time, compared by identity (no token hashed), else the trie's
            h = shape.hint
            if h is not None and h[0] is prim and h[1] == ins and h[2] is out:
                self._shape = h[3]
                return
            token = (prim, (), ins, out)
        self._step(shape, token, (prim, params, ins, out))

    def _step(self, shape, token: tuple, step: tuple) -> None:
        """Walk the trie from ``shape`` along a node's ``token`` (``step``: the token with the node's own
        parameters); a node without parameters becomes ``shape``'s hint."""
        nxt = shape.next.get(token)
        if nxt is None:
            nxt = _SHAPES.step(shape, token, step)
        if not step[1]:
            shape.hint = (step[0], step[2], step[3], nxt)
        self._shape = nxt

    @property
    def _records(self) -> list:
        """What was recorded, as ``(prim, params, input slots, first output slot, number of outputs)`` per node
        (read from the structure trie; for introspection)."""
        return _structure(self._shape)[1]

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
    def _plan(self, targets: list) -> "_Plan":
        """The recorded graph of ``targets`` and what ``gradient`` needs of it, for the structure recorded
        so far (a dict lookup when the same structure was recorded before, as in a training loop).

        The graph's inputs are the leaves the targets depend on, in order of first use, so a training
        loop that records the same structure each step gets the same structural key and reuses one backward
        graph (``vjp_graph``'s cache). A target the tape did not record is an input of its own.
        """
        slots = self._slots
        if len(targets) == 1 and id(targets[0]) in slots:
            tkey = (slots[id(targets[0])],)
        else:
            tkey, first = [], {}
            for j, t in enumerate(targets):
                slot = slots.get(id(t))
                if slot is None:  # a target the tape did not record: an input of its own (once per tensor)
                    slot = ("x", first.setdefault(id(t), j), t.aval)
                tkey.append(slot)
            tkey = tuple(tkey)
        plan = self._shape.plans.get(tkey)
        if plan is None:
            plan = _SHAPES.add_plan(self._shape, tkey, _Plan(self._shape, tkey))
        return plan

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

    def _source_inputs(self, s, plan: "_Plan", reads: dict) -> list:
        """The backward graph's ``wrt`` entries for source ``s`` (several for a Variable read several times);
        only values the targets depend on (an unconnected source gets None, as in TensorFlow)."""
        if _is_var(s):  # only watched Variables get gradients (as in TensorFlow)
            return reads.get(id(s), []) if id(s) in self._watched_vars else []
        if not isinstance(s, Tensor):
            raise TypeError(f"GradientTape.gradient: sources must be tensors or Variables, got {type(s).__name__}")
        slot = self._slots.get(id(s))
        if slot is None or slot not in plan.live:
            return []
        pos = plan.node_pos.get(slot)
        if pos is not None:  # an intermediate: its total derivative; the backward pass goes on through it
            return [pos]
        # a leaf: only a watched tensor is a source (an operand the tape merely saw is a constant)
        i = plan.position.get(slot)
        return [i] if i is not None and id(s) in self._watched else []

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
        __tracebackhide__ = True  # (an API boundary, as ``traceback_util.api_boundary`` makes one, inline)
        try:
            if (type(target) is Tensor and output_gradients is None and unconnected_gradients == "none"
                    and isinstance(sources, VariableBase) and len(STATE.stack) == 1 and id(target) in self._slots
                    and (self._persistent or not self._used) and (target._aval or target.aval).dtype.kind == "f"):
                return self._variable_gradient(target, sources)
            return self._gradient(target, sources, output_gradients, unconnected_gradients)
        except Exception as e:
            filtered(e)
            if BARE_RAISE_KEEPS_FILTERING:
                raise
            raise e

    def _gradient(self, target, sources, output_gradients, unconnected_gradients):
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on non-persistent tapes.")
        if target is None:
            raise TypeError("GradientTape.gradient: argument `target` should be a tensor, a Variable or a nested "
                            "structure of them, but received None")
        self._used = True
        # a Tensor or a Variable is a leaf of its own (optree's flattening calls back into Python per node)
        t_leaves = [target] if type(target) is Tensor or _is_var(target) else tree_flatten(target)[0]
        targets = [read_variable(t) if _is_var(t) else t for t in t_leaves]
        for t in targets:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.gradient: targets must be tensors, got {type(t).__name__}")
        if type(sources) is Tensor or _is_var(sources):
            s_leaves, s_tree = [sources], None
        else:
            s_leaves, s_tree = tree_flatten(sources)
        seeds = [None] * len(targets) if output_gradients is None else self._seeds(targets, output_gradients)
        float_targets = [i for i, t in enumerate(targets) if t.aval.dtype.kind == "f"]
        float_t = [targets[i] for i in float_targets]
        plan = self._plan(float_t)
        var_keys = self._var_keys
        reads: dict = {}  # id(Variable) -> the graph inputs of its reads the targets depend on, in input order
        for i, slot in plan.var_inputs:
            reads.setdefault(var_keys[slot][1], []).append(i)
        wrt_of = [self._source_inputs(s, plan, reads) for s in s_leaves]
        wrt = tuple(dict.fromkeys(wrt_of[0] if len(wrt_of) == 1 else [w for ws in wrt_of for w in ws]))
        grads: list = [None] * len(s_leaves)
        if wrt:
            outs = self._backward(plan, float_t, wrt, [seeds[i] for i in float_targets])
            by_wrt = dict(zip(wrt, outs))
            for j, ws in enumerate(wrt_of):
                for w in ws:
                    grads[j] = by_wrt[w] if grads[j] is None else grads[j] + by_wrt[w]
        for i, t in enumerate(t_leaves):  # d t / d t: the seed, when the graph does not already carry it
            if i not in float_targets:  # (a Variable's dtype is its value's)
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
            elif grads[j] is not None and (s._value if _is_var(s) else s).aval.dtype.kind != "f":
                grads[j] = None
        if not self._persistent:  # release what was recorded; stale ids would record new tensors
            used, watched = self._used, self._watched_vars
            self._reset_records()
            self._used, self._watched_vars = used, watched
        return grads[0] if s_tree is None else tree_unflatten(s_tree, grads)

    def _variable_gradient(self, target: Tensor, var):
        """``gradient(target, var)`` for a recorded floating-point Tensor target, one Variable, no
        output_gradients, eagerly (the training-loop case): what the general path computes, without its
        lists and loops."""
        self._used = True
        grad = None
        vid = id(var)
        if vid in self._watched_vars:  # only watched Variables get gradients (as in TensorFlow)
            slot = self._slots[id(target)]
            plan = self._shape.plans.get((slot,)) or self._plan([target])
            var_keys = self._var_keys
            var_inputs = plan.var_inputs
            if len(var_inputs) == 1:  # one Variable read (a tuple made once per plan)
                wrt = plan.wrt_one if var_keys[var_inputs[0][1]][1] == vid else ()
            else:
                wrt = tuple([i for i, s in var_inputs if var_keys[s][1] == vid])  # its reads, in input order
            if wrt:
                entry = plan.backward.get(wrt) if self._plain and plan.leaf_slots is not None else None
                if entry is not None and entry.eager:  # every input a recorded Tensor: _backward's eager case
                    values = plan.leaf_values(self._keep)
                    seed = plan._ones[0]
                    values.append(seed if seed is not None else plan.ones(0))
                    call = entry._call
                    call = call() if call is not None else None
                    outs = call(values) if call is not None else entry.run(values)
                else:
                    outs = self._backward(plan, [target], wrt, [None])
                grad = outs[0]
                if len(outs) > 1:
                    for g in outs[1:]:
                        grad = grad + g
                value = var._value
                if (value._aval or value.aval).dtype.kind != "f":
                    grad = None
        if not self._persistent:  # release what was recorded (_reset_records but the watched Variables)
            self._slots, self._keep, self._var_keys, self._var_reads = {}, [], {}, {}
            self._shape, self._watched, self._plain = _SHAPES.root, set(), True
        return grad

    def _backward(self, plan: "_Plan", targets, wrt: tuple, seeds) -> list:
        """Run the backward graph of the recorded graph (from ``vjp_graph``'s cache); one cotangent per
        ``wrt`` entry."""
        entry = plan.backward.get(wrt)
        if entry is None:
            from .autodiff import vjp_graph
            entry = plan.backward[wrt] = _Backward(vjp_graph(plan.graph, list(wrt), list(range(len(targets))),
                                                             keep_outputs=False))
        bwd = entry.graph
        keep = self._keep
        if len(STATE.stack) == 1:
            values = [keep[s] if type(s) is int else targets[s[1]] for s in plan.in_slots]
            values += [plan.ones(j) if c is None else c for j, c in enumerate(seeds)]
            if not bwd.consts and set(map(type, values)) == _TENSOR:
                return entry.run(values)  # eager (``run_graph``'s first case)
            return run_graph(bwd, values)
        # evaluated under an outer tape or trace: read Variables through the Variable so that outer tapes
        # connect the backward pass to it (nested tapes -> second derivatives)
        reads, var_keys = self._var_reads, self._var_keys
        values = []
        for s in plan.in_slots:
            if type(s) is int:
                k, v = var_keys.get(s), keep[s]
                if k in reads and reads[k][0]._value is v:
                    v = reads[k][0]
            else:
                v = targets[s[1]]
            values.append(v)
        values += [Tensor(np.ones(t.aval.shape, t.dtype.np)) if c is None else c for t, c in zip(targets, seeds)]
        return run_graph(bwd, values)

    @api_boundary
    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """Jacobian ``target.shape + source.shape`` for each source (needs a persistent tape or one call).

        ``parallel_iterations`` and ``experimental_use_pfor`` are accepted for
        TensorFlow compatibility and ignored: the rows are one batched backward
        pass (``vmap`` over the one-hot seeds, ``autodiff.jacobian_rows``).
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


    def batch_jacobian(self, target, source, unconnected_gradients="none", parallel_iterations=None,
                       experimental_use_pfor=True):
        """Per-example Jacobians ``target.shape + source.shape[1:]`` (TensorFlow's ``batch_jacobian``).

        ``target[b]`` must depend only on ``source[b]`` (as TensorFlow requires);
        the result ``[b, ...]`` is then ``d target[b] / d source[b]``: one batched
        backward pass over the seeds of ``target.shape[1:]``
        (``autodiff.batch_jacobian_rows``).
        """
        from .autodiff import batch_jacobian_rows
        if self._used and not self._persistent:
            raise RuntimeError("GradientTape.batch_jacobian can only be called once on non-persistent tapes.")
        t = target.read_value() if _is_var(target) else target
        s = source.read_value() if _is_var(source) else source
        if not isinstance(t, Tensor) or not isinstance(s, Tensor):
            raise TypeError("GradientTape.batch_jacobian: the target and the source must be tensors")
        if t.ndim < 1 or s.ndim < 1 or t.shape[0] != s.shape[0]:
            raise ValueError(f"GradientTape.batch_jacobian: the target (shape {tuple(t.shape)}) and the source "
                             f"(shape {tuple(s.shape)}) need the same first (batch) dimension")
        persistent, self._persistent = self._persistent, True

        def row(seed):
            self._used = False
            return self.gradient(target, source, output_gradients=seed, unconnected_gradients=unconnected_gradients)
        try:
            return batch_jacobian_rows(t.aval, tuple(s.shape), row)
        finally:
            self._persistent = persistent
            self._used = True


class _Plan:
    """The recorded graph of some targets, for one recorded structure, and what ``gradient`` needs of it
    (built once per structure, shared by every tape that records it: nothing per call is stored here but the
    backward graphs by ``wrt``)."""

    __slots__ = ("graph", "in_slots", "leaf_slots", "leaf_values", "position", "node_pos", "live", "var_inputs",
                 "wrt_one", "backward", "_ones")

    def __init__(self, shape: "_Shape", tkey: tuple):
        avals, records, var_leaves = _structure(shape)
        vs = [Var(a) for a in avals]
        nodes = [Node(prim, [vs[i] for i in ins], params, vs[first:first + n])
                 for prim, params, ins, first, n in records]
        outvars, extra = [], {}
        for t in tkey:
            if type(t) is int:
                outvars.append(vs[t])
            else:
                v = extra.get(t[1])
                if v is None:
                    v = extra[t[1]] = Var(t[2])
                outvars.append(v)
        nodes = needed_nodes(nodes, outvars)
        graph = Graph(free_inputs(nodes, outvars), nodes, outvars)
        slot_of: dict = {v.id: i for i, v in enumerate(vs)}
        slot_of.update((v.id, ("x", j)) for j, v in extra.items())
        self.graph = graph
        self.in_slots = tuple(slot_of[v.id] for v in graph.invars)           # slot, or ("x", target) of each input
        # the inputs' slots when every input is a recorded leaf (no target the tape did not record), else None
        self.leaf_slots = self.in_slots if all(type(s) is int for s in self.in_slots) else None
        # the tape's values of leaf_slots, as a new list (one C call): leaf_values(tape._keep)
        ls = self.leaf_slots or ()
        take = operator.itemgetter(*ls) if len(ls) > 1 else None
        self.leaf_values = ((lambda keep: list(take(keep))) if take is not None else
                            (lambda keep: [keep[ls[0]]]) if ls else (lambda keep: []))
        self.position = {s: i for i, s in enumerate(self.in_slots) if type(s) is int}   # slot -> input position
        self.node_pos = {slot_of[o.id]: ("node", k, j) if j else ("node", k)            # slot -> wrt entry
                         for k, n in enumerate(nodes) for j, o in enumerate(n.outvars)}
        live = connected(graph)
        self.live = {slot_of[i] for i in live if type(slot_of.get(i)) is int}  # the slots the targets depend on
        # (input position, slot) of the Variable reads the targets depend on, in input order (the leaf tokens
        # of the structure say which leaves are Variable reads)
        self.var_inputs = [(i, s) for i, (s, v) in enumerate(zip(self.in_slots, graph.invars))
                           if v.id in live and type(s) is int and s in var_leaves]
        self.wrt_one = (self.var_inputs[0][0],) if len(self.var_inputs) == 1 else None  # (its wrt, made once)
        self.backward: dict = {}   # wrt -> backward graph
        self._ones: list = [None] * len(outvars)

    def ones(self, j: int) -> Tensor:
        """The default seed of target ``j`` (a Tensor, immutable: made once)."""
        t = self._ones[j]
        if t is None:
            aval = self.graph.outvars[j].aval
            t = self._ones[j] = Tensor(np.ones(aval.shape, aval.dtype.np))
        return t


_TENSOR = {Tensor}
_NO_PARAMS: dict = {}  # (recorded as a node's params: never changed)
_PLAIN = {int, bool, str, type(None), DType}  # parameter values whose equality is their identity as a key


def _param_token(params: dict) -> tuple:
    """A node's parameters in a structure token: their items as they are when every value is plain (ints,
    tuples of ints, ...), else ``ir.param_key`` (floats by bit pattern, graphs by structure)."""
    items = tuple(params.items())
    for _, v in items:
        t = type(v)
        if t is tuple:
            for x in v:
                if type(x) is not int:
                    return param_key(params)
        elif t not in _PLAIN:
            return param_key(params)
    return items


class _Backward:
    """A backward graph of a plan, and its executable while the executable cache holds it."""

    __slots__ = ("graph", "eager", "_exe", "_call")

    def __init__(self, graph: Graph):
        self.graph = graph
        self.eager = not graph.consts  # eagerly, ``run`` takes the inputs' Tensors as they are
        self._exe = self._call = None

    def run(self, values: list) -> list:
        """Run the executable eagerly on Tensors, through its generated call once it has one."""
        call = self._call() if self._call is not None else None
        if call is None:  # (the call is kept by its executable, and holds it)
            exe = self.executable()
            call = tensor_call(exe, len(values))
            if call is None:
                return exe.call_tensors(values)
            self._call = weakref.ref(call)
        return call(values)

    def executable(self):
        exe = self._exe() if self._exe is not None else None
        if exe is None:  # (not held here: the executable cache's bound decides what stays loaded)
            exe = get_executable(self.graph)
            self._exe = weakref.ref(exe)
        return exe


class _Shape:
    """A node of the structure trie: a structure a tape recorded (its path from the root: each graph input's
    aval and each node's primitive, parameters, input slots and result avals), with the plans made for it."""

    __slots__ = ("next", "plans", "hint", "parent", "step", "leaves")

    def __init__(self, parent: "_Shape | None" = None, step: tuple | None = None):
        self.next: dict = {}    # the next recorded step's token -> _Shape
        self.plans: dict = {}   # targets -> _Plan
        # the step last taken from here, for a comparison by identity before the token is built and hashed:
        # (is_variable_read, aval, _Shape) for a graph input, (prim, input slots, out aval, _Shape) for a node
        # without parameters
        self.hint: tuple | None = None
        self.parent = parent    # the structure one step shorter (None at the root)
        self.step = step        # the step from parent: (is_variable_read, aval) or (prim, params, ins, out)
        self.leaves = None      # the slots of its graph inputs (_leaf_slots), when asked for


_NO_IDS = frozenset()


def _leaf_slots(shape: _Shape) -> frozenset:
    """The slots of the graph inputs (watched tensors, Variable reads, constant operands) along ``shape``'s
    path, kept on the node."""
    leaves = shape.leaves
    if leaves is None:
        steps = []
        node = shape
        while node.parent is not None:
            steps.append(node.step)
            node = node.parent
        found, n = [], 0
        for st in reversed(steps):
            if len(st) == 2:  # a graph input
                found.append(n)
                n += 1
            else:
                n += len(st[3]) if st[0].multiple_results else 1
        leaves = shape.leaves = frozenset(found)
    return leaves


def _structure(shape: _Shape) -> tuple:
    """The structure recorded along ``shape``'s path: ``(avals by slot, records, slots of the Variable reads)``,
    a record being ``(prim, params, input slots, first output slot, number of outputs)``."""
    steps = []
    while shape.parent is not None:
        steps.append(shape.step)
        shape = shape.parent
    avals: list = []
    records: list = []
    var_leaves: set = set()
    for st in reversed(steps):
        if len(st) == 2:  # a graph input
            if st[0]:
                var_leaves.add(len(avals))
            avals.append(st[1])
        else:
            prim, params, ins, out = st
            first = len(avals)
            if prim.multiple_results:
                avals.extend(out)
            else:
                avals.append(out)
            records.append((prim, params, ins, first, len(avals) - first))
    return avals, records, var_leaves


class _ShapeTrie:
    """Every structure tapes recorded, so that a tape finds the plan for what it recorded with one lookup
    (it walks the trie while recording). Bounded: emptied when it holds more plans than ``vjp_cache_size``
    or 64 times as many nodes (a tape recording then goes on in its detached part); thread-safe (a race
    adds a node or a plan twice, one of which is dropped)."""

    def __init__(self):
        self.root = _Shape()
        self.nodes = self.plans = 0

    def step(self, shape: _Shape, token, step: tuple) -> _Shape:
        """The node one ``token`` below ``shape`` (made when new; ``step`` is what it records: ``token``
        with the node's own parameters)."""
        nxt = shape.next.get(token)
        if nxt is None:
            if self.nodes >= 64 * cache_limit("vjp_cache_size"):
                self.clear()
            self.nodes += 1
            nxt = shape.next.setdefault(token, _Shape(shape, step))
        return nxt

    def add_plan(self, shape: _Shape, tkey: tuple, plan: _Plan) -> _Plan:
        limit = cache_limit("vjp_cache_size")
        if self.plans >= limit:
            self.clear()
        if limit > 0:
            self.plans += 1
            plan = shape.plans.setdefault(tkey, plan)
        return plan

    def clear(self) -> None:
        old, self.root = self.root, _Shape()
        self.nodes = self.plans = 0
        # drop the old trie's downward links (``next``, ``hint``): with the parent links they made every
        # node a reference cycle, freed only by the cycle collector. A tape still recording there keeps
        # its node and, through ``parent``, the path ``_structure`` reads; it grows new nodes under it.
        todo = [old]
        while todo:
            node = todo.pop()
            todo.extend(list(node.next.values()))
            node.next = {}
            node.hint = None


_SHAPES = _ShapeTrie()
on_clear_cache(_SHAPES.clear)


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
