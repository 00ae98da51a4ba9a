"""Splitting a graph into what is known before its cotangent inputs and what needs them (for scan's VJP).

``split_known(graph, n_known, n_invariant, xs_start, n_primal)`` takes a VJP
graph whose first ``n_known`` inputs are the primal inputs (the first
``n_invariant`` of them the same on every iteration of a loop, those from
``xs_start`` on slices of the scanned ``xs``) and whose other inputs are
cotangents, and whose first ``n_primal`` outputs are the primal outputs. The
*known* half computes the primal outputs and the residuals (the known values
the other half reads); the *unknown* half computes the remaining outputs
(gradients) from the residuals and the cotangents. A loop runs the known half
forward, stacking residuals, and the unknown half backward: the backward pass
reads what the forward pass saved instead of recomputing it.

What is not stacked: loop-invariant values (computed again in the unknown
half from the invariant inputs, as the forward pass computed them on every
iteration), views (a transpose or reshape is recomputed from its operand) and
slices of ``xs`` (the backward loop reads ``xs`` itself).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Literal, needed_nodes
from ..primitives.shape_ops import reshape_p, transpose_p

_VIEWS = frozenset({transpose_p, reshape_p})   # recomputed from their operand rather than saved


@dataclass
class Split:
    known: Graph          # known inputs -> primal outputs + stacked residuals
    unknown: Graph        # invariant residuals + xs residuals + stacked residuals + cotangents -> other outputs
    const_inputs: list    # positions (among the invariant inputs) of the invariant residuals
    xs_inputs: list       # positions (from xs_start) of the xs slices the unknown half reads


def split_known(graph: Graph, n_known: int, n_invariant: int, xs_start: int, n_primal: int) -> Split:
    if graph.constvars:
        raise ValueError("split_known: close the graph first (its constants as leading inputs)")
    unknown_ids = {v.id for v in graph.invars[n_known:]}
    invariant_ids = {v.id for v in graph.invars[:n_invariant]}
    producer: dict = {}
    known_nodes, unknown_nodes = [], []
    for n in graph.nodes:
        ins = [a for a in n.invars if not isinstance(a, Literal)]
        if any(a.id in unknown_ids for a in ins):
            unknown_nodes.append(n)
            unknown_ids.update(o.id for o in n.outvars)
            continue
        known_nodes.append(n)
        producer.update((o.id, n) for o in n.outvars)
        if all(a.id in invariant_ids for a in ins):
            invariant_ids.update(o.id for o in n.outvars)
    pos = {v.id: i for i, v in enumerate(graph.invars[:n_known])}
    replicated: dict = {}     # id(node) -> node: known nodes the unknown half computes again
    residuals: dict = {}      # var id -> var: known values the unknown half reads as inputs

    def need(a):
        if isinstance(a, Literal) or a.id in unknown_ids or a.id in residuals:
            return
        n = producer.get(a.id)
        if n is not None and (a.id in invariant_ids or n.prim in _VIEWS):
            if id(n) not in replicated:
                replicated[id(n)] = n
                for b in n.invars:
                    need(b)
            return
        residuals[a.id] = a

    for n in unknown_nodes:
        for a in n.invars:
            need(a)
    for o in graph.outvars[n_primal:]:
        need(o)
    res = list(residuals.values())
    const_res = [v for v in res if v.id in pos and pos[v.id] < n_invariant]
    xs_res = [v for v in res if v.id in pos and pos[v.id] >= xs_start]
    stacked = [v for v in res if not (v.id in pos and (pos[v.id] < n_invariant or pos[v.id] >= xs_start))]
    known_outs = list(graph.outvars[:n_primal]) + stacked
    known = Graph(list(graph.invars[:n_known]), needed_nodes(known_nodes, known_outs), known_outs)
    again = [n for n in known_nodes if id(n) in replicated]
    unknown = Graph(const_res + xs_res + stacked + list(graph.invars[n_known:]), again + unknown_nodes,
                    list(graph.outvars[n_primal:]))
    return Split(known, unknown, [pos[v.id] for v in const_res], [pos[v.id] - xs_start for v in xs_res])
