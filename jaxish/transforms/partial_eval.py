"""Splitting a graph into what is known before its cotangent inputs and what needs them (for scan's VJP).

``split_known(graph, n_known, n_invariant, n_primal)`` takes a VJP graph whose
first ``n_known`` inputs are the primal inputs (the first ``n_invariant`` of
them the same on every iteration of a loop) and whose other inputs are
cotangents, and whose first ``n_primal`` outputs are the primal outputs. The
*known* half computes the primal outputs and the residuals (the known values
the other half reads); the *unknown* half computes the remaining outputs
(gradients) from the residuals and the cotangents. A loop runs the known half
forward, stacking residuals, and the unknown half backward: the backward pass
reads what the forward pass saved instead of recomputing it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Literal, needed_nodes


@dataclass
class Split:
    known: Graph          # known inputs -> primal outputs + stacked residuals
    unknown: Graph        # invariant residuals + stacked residuals + cotangents -> the other outputs
    const_inputs: list    # positions (among the invariant inputs) of the invariant residuals


def split_known(graph: Graph, n_known: int, n_invariant: int, n_primal: int) -> Split:
    if graph.constvars:
        raise ValueError("split_known: close the graph first (its constants as leading inputs)")
    unknown_ids = {v.id for v in graph.invars[n_known:]}
    known_nodes, unknown_nodes = [], []
    for n in graph.nodes:
        if any(not isinstance(a, Literal) and a.id in unknown_ids for a in n.invars):
            unknown_nodes.append(n)
            unknown_ids.update(o.id for o in n.outvars)
        else:
            known_nodes.append(n)
    # residuals: known values read by unknown nodes or returned as other outputs, in order of first use
    res: dict = {}
    for n in unknown_nodes:
        for a in n.invars:
            if not isinstance(a, Literal) and a.id not in unknown_ids:
                res.setdefault(a.id, a)
    for o in graph.outvars[n_primal:]:
        if not isinstance(o, Literal) and o.id not in unknown_ids:
            res.setdefault(o.id, o)
    invariant_pos = {v.id: i for i, v in enumerate(graph.invars[:n_invariant])}
    const_res = [v for v in res.values() if v.id in invariant_pos]
    stacked = [v for v in res.values() if v.id not in invariant_pos]
    known_outs = list(graph.outvars[:n_primal]) + stacked
    known = Graph(list(graph.invars[:n_known]), needed_nodes(known_nodes, known_outs), known_outs)
    unknown = Graph(const_res + stacked + list(graph.invars[n_known:]), unknown_nodes,
                    list(graph.outvars[n_primal:]))
    return Split(known, unknown, [invariant_pos[v.id] for v in const_res])
