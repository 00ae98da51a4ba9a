"""Reverse mode as a graph-to-graph transform: :func:`vjp_graph`.

Each primitive's VJP rule is written with other primitives, so the result is
again a Graph in the same IR: printable, compilable and differentiable again.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..config import cache_limit
from ..core import GraphTrace, Tensor
from ..core.interpret import bind_node, interpret, literal_value
from ..ir import Graph, Literal
from ..lru import LRU
from ..primitives import elementwise as ew
from ..primitives import shape_ops as so

_VJP_CACHE = LRU(lambda: cache_limit("vjp_cache_size"))  # the one backward-graph cache; thread-safe, bounded


def _zeros(aval):
    """A strongly typed zero of ``aval`` (a symbolic zero made concrete)."""
    z = Tensor(np.zeros((), aval.dtype.np))
    return so.broadcast_to_p.bind(z, shape=tuple(aval.shape)) if aval.shape else ew.copy_p.bind(z)


def vjp_graph(graph: Graph, wrt: Sequence, ct_outs: Sequence[int], keep_outputs: bool | Sequence[int] = True
              ) -> Graph:
    """The reverse-mode graph of ``graph``.

    Inputs: ``graph``'s inputs, then one cotangent per output in ``ct_outs``.
    Outputs: ``graph``'s outputs (all if ``keep_outputs`` is True, those it
    lists if it is a sequence of output positions), then one cotangent per
    entry of ``wrt``: an ``int`` names an input of ``graph``, ``('node', k)``
    (``('node', k, j)``) the (``j``-th) output of ``graph.nodes[k]`` (an
    intermediate value: its cotangent is the total derivative w.r.t. it, and
    the backward pass goes on through it). Cached by the graph's structural key.
    """
    if isinstance(keep_outputs, bool):
        keep_outputs = tuple(range(len(graph.outvars))) if keep_outputs else ()
    keep_outputs = tuple(keep_outputs)
    key = (graph.key(), tuple(wrt), tuple(ct_outs), keep_outputs, len(graph.consts))
    hit = _VJP_CACHE.get(key)
    if hit is not None and not graph.consts:
        return hit
    if all(isinstance(i, int) for i in wrt):  # differentiate the flat graph: one backward sweep per value
        from ..passes.inline import inline_calls  # (second derivatives through calls cost no extra sweeps)
        graph = inline_calls(graph, keep_custom=True)  # a call with a user's rule is differentiated by the rule
    wrt_vars = [graph.invars[i] if isinstance(i, int) else graph.nodes[i[1]].outvars[i[2] if len(i) > 2 else 0]
                for i in wrt]
    tapped = {v.id for i, v in zip(wrt, wrt_vars) if not isinstance(i, int)}
    with GraphTrace(name="the backward pass") as t:
        args = [t.new_arg(v.aval, f"input {i}") for i, v in enumerate(graph.invars)]
        cts = [t.new_arg(graph.outvars[i].aval.strip_weak(), f"output cotangent {i}") for i in ct_outs]
        env: dict = {}
        residuals: dict = {}  # id(node) -> what its primitive's vjp_forward saved for its VJP
        interpret(graph, args, lambda node, ins: _forward(node, ins, residuals), literal_value, env=env)

        def read(a):
            return literal_value(a) if isinstance(a, Literal) else env[a.id]

        ct_env: dict = {}
        tapped_cts: dict = {}

        def accumulate(var, ct):
            if ct is None or isinstance(var, Literal) or not var.aval.dtype.is_floating:
                return
            if ct.dtype != var.aval.dtype:
                ct = ew.convert(ct, var.aval.dtype)
            prev = ct_env.get(var.id)
            ct_env[var.id] = ct if prev is None else ew.add_p.bind(prev, ct)

        for i, ct in zip(ct_outs, cts):
            accumulate(graph.outvars[i], ct)
        for n in reversed(graph.nodes):
            gs = [ct_env.pop(o.id, None) for o in n.outvars]
            for o, g in zip(n.outvars, gs):
                if o.id in tapped:  # every consumer has been processed: g is complete
                    tapped_cts[o.id] = g
            if all(g is None for g in gs):
                continue
            if n.prim.vjp is None:
                raise NotImplementedError(f"grad: no differentiation rule for the primitive {n.prim.name!r}")
            ins = [read(a) for a in n.invars]
            if id(n) in residuals:
                in_cts = n.prim.vjp(gs, *ins, [env[o.id] for o in n.outvars], residuals=residuals[id(n)],
                                    **n.params)
            elif n.prim.multiple_results:
                in_cts = n.prim.vjp(gs, *ins, [env[o.id] for o in n.outvars], **n.params)
            else:
                in_cts = n.prim.vjp(gs[0], *ins, env[n.outvars[0].id], **n.params)
            for a, c in zip(n.invars, in_cts):
                accumulate(a, c)
        grads = []
        for v in wrt_vars:
            g = tapped_cts.get(v.id) if v.id in tapped else ct_env.get(v.id)
            grads.append(_zeros(v.aval) if g is None else g)
        outs = [read(graph.outvars[i]) for i in keep_outputs] + grads
        result, _, _ = t.finish(outs)
    from ..passes import optimize
    result = optimize(result)
    if not graph.consts and not result.consts:
        _VJP_CACHE[key] = result
    return result


def _forward(node, ins: list, residuals: dict) -> list:
    """The forward pass re-evaluated in the backward trace; a read after an assignment is data flow here
    (as in JAX). A primitive with a ``vjp_forward`` (scan) computes its outputs and the residuals its VJP
    reads (kept in ``residuals`` by node)."""
    if node.prim is ew.read_after_assign_p:
        return [ins[0]]
    fwd = node.prim.vjp_forward
    if fwd is not None:
        outs, residuals[id(node)] = fwd(ins, **node.params)
        return outs
    return bind_node(node, ins)
