"""Forward mode as a graph-to-graph transform: :func:`jvp_graph`, by transposing reverse mode twice.

The backward graph ``vjp_graph(g)`` computes ``ct -> J^T ct``, which is linear
in the cotangent ``ct``. Differentiating it again w.r.t. ``ct`` with the
cotangent ``t`` gives ``d/dct <t, J^T ct> = J t``: the JVP. The cotangent's
value never matters (the map is linear), so zeros are passed and dead-code
elimination removes what only they fed. No primitive needs a JVP rule: its
VJP rule, applied twice, is its JVP (see docs/architecture.md, "Batching and
forward mode", for the measurements behind this choice).

The exception: a primitive without reverse mode (``Primitive.reverse`` False:
``while``) has a forward-mode rule (``Primitive.jvp``), and so do ``cond`` and
``scan``, whose sub-graphs may contain one. A graph that contains such a
primitive at any depth is differentiated node by node instead: a node with a
forward-mode rule by its rule, every other node by the double transposition
of the one-node graph.
"""
from __future__ import annotations

from typing import Sequence

from ..config import cache_limit
from ..core import GraphTrace
from ..core.interpret import bind_node, eval_graph, literal_value
from ..ir import Graph, Literal
from ..lru import LRU
from .vjp import _zeros, vjp_graph

_JVP_CACHE = LRU(lambda: cache_limit("vjp_cache_size"))


def jvp_graph(graph: Graph, wrt: Sequence[int], tangent_outs: Sequence[int]) -> Graph:
    """The forward-mode graph of ``graph``.

    Inputs: ``graph``'s inputs, then one tangent per input position in ``wrt``
    (floating-point inputs). Outputs: ``graph``'s outputs, then one tangent per
    output position in ``tangent_outs`` (floating-point outputs). Cached by the
    graph's structural key (graphs without captured constants).
    """
    wrt, tangent_outs = tuple(wrt), tuple(tangent_outs)
    key = (graph.key(), wrt, tangent_outs, len(graph.consts))
    hit = _JVP_CACHE.get(key)
    if hit is not None and not graph.consts:
        return hit
    nin, nout = len(graph.invars), len(graph.outvars)
    with GraphTrace(name="the forward-mode function") as t:
        xs = [t.new_arg(v.aval, f"input {i}") for i, v in enumerate(graph.invars)]
        ts = [t.new_arg(graph.invars[i].aval.strip_weak(), f"tangent {i}") for i in wrt]
        if wrt and tangent_outs:
            flat = _with_forward_rules(graph)
            if flat is not None:
                outs = _node_by_node(flat, xs, dict(zip(wrt, ts)), tangent_outs)
                result, _, _ = t.finish(outs)
                return _store(key, graph, result)
            bwd = vjp_graph(graph, wrt, tangent_outs, keep_outputs=True)  # (x, ct) -> (y, J^T ct)
            fwd = vjp_graph(bwd, [nin + k for k in range(len(tangent_outs))], [nout + j for j in range(len(wrt))],
                            keep_outputs=tuple(range(nout)))             # (x, ct, t) -> (y, J t)
            zero_cts = [_zeros(graph.outvars[i].aval.strip_weak()) for i in tangent_outs]
            outs = eval_graph(fwd, xs + zero_cts + ts)
        else:  # nothing to differentiate: the outputs and zero tangents
            outs = eval_graph(graph, xs) + [_zeros(graph.outvars[i].aval.strip_weak()) for i in tangent_outs]
        result, _, _ = t.finish(outs)
    return _store(key, graph, result)


def _store(key, graph: Graph, result: Graph) -> Graph:
    from ..passes import optimize
    result = optimize(result)
    if not graph.consts and not result.consts:
        _JVP_CACHE[key] = result
    return result


def _without_reverse(graph: Graph) -> bool:
    """A node of ``graph``, or of a graph nested in its parameters, has a primitive without reverse mode."""
    for n in graph.nodes:
        if not n.prim.reverse:
            return True
        for v in n.params.values():
            for g in (v if isinstance(v, tuple) else (v,)):
                if isinstance(g, Graph) and _without_reverse(g):
                    return True
    return False


def _with_forward_rules(graph: Graph) -> Graph | None:
    """``graph`` with its calls inlined if it contains a primitive without reverse mode (``while``), at any
    depth, else None: such a graph is differentiated node by node, with the forward-mode rules."""
    from ..passes.inline import inline_calls
    if not _without_reverse(graph):
        return None
    return inline_calls(graph, keep_custom=True)


def _node_by_node(graph: Graph, xs: list, tangents: dict, tangent_outs: Sequence[int]) -> list:
    """Forward mode one node at a time (``tangents``: input position -> tangent): a node with a forward-mode
    rule runs it, any other node the JVP graph of the one-node graph (cached by structure)."""
    env: dict = {}
    tan: dict = {}
    env.update((v.id, x) for v, x in zip(graph.invars, xs))
    env.update((v.id, c) for v, c in zip(graph.constvars, graph.consts))
    tan.update((graph.invars[i].id, t) for i, t in tangents.items())

    def read(a):
        return literal_value(a) if isinstance(a, Literal) else env[a.id]

    def tangent(a):
        return None if isinstance(a, Literal) else tan.get(a.id)

    for n in graph.nodes:
        ins = [read(a) for a in n.invars]
        tins = [tangent(a) for a in n.invars]
        if all(t is None for t in tins):
            outs, touts = bind_node(n, ins), [None] * len(n.outvars)
        elif n.prim.jvp is not None:
            outs, touts = n.prim.jvp(ins, tins, **n.params)
        else:
            outs, touts = _one_node(n, ins, tins)
        env.update((o.id, v) for o, v in zip(n.outvars, outs))
        tan.update((o.id, t) for o, t in zip(n.outvars, touts) if t is not None)
    outs = [read(o) for o in graph.outvars]
    for i in tangent_outs:
        t = tangent(graph.outvars[i])
        outs.append(_zeros(graph.outvars[i].aval.strip_weak()) if t is None else t)
    return outs


def _one_node(node, ins: list, tins: list) -> tuple:
    """The node's outputs and output tangents, by ``jvp_graph`` of the graph of this one node."""
    seen: dict = {}
    for a, x, t in zip(node.invars, ins, tins):
        if not isinstance(a, Literal) and a.id not in seen:
            seen[a.id] = (a, x, t)
    invars = [a for a, _, _ in seen.values()]
    one = Graph(invars, [node], list(node.outvars))
    wrt = [k for k, (a, _, t) in enumerate(seen.values()) if t is not None and a.aval.dtype.is_floating]
    touts = [j for j, o in enumerate(node.outvars) if o.aval.dtype.is_floating]
    if not wrt or not touts:
        return bind_node(node, ins), [None] * len(node.outvars)
    res = eval_graph(jvp_graph(one, wrt, touts), [x for _, x, _ in seen.values()]
                     + [_strong_tangent(list(seen.values())[k][2]) for k in wrt])
    n_out = len(node.outvars)
    out_t: list = [None] * n_out
    for j, t in zip(touts, res[n_out:]):
        out_t[j] = t
    return res[:n_out], out_t


def _strong_tangent(t):
    from ..primitives.elementwise import convert
    return convert(t, t.dtype, False) if t.aval.weak_type else t
