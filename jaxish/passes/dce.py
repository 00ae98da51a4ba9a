"""Dead-code elimination: drop nodes (and constants) no output depends on."""
from __future__ import annotations

from ..ir import Graph, Literal


def dce(graph: Graph) -> Graph:
    live = {v.id for v in graph.outvars if not isinstance(v, Literal)}
    kept = []
    for n in reversed(graph.nodes):
        if any(o.id in live for o in n.outvars):
            kept.append(n)
            live.update(a.id for a in n.invars if not isinstance(a, Literal))
    kept.reverse()
    cv, cs = [], []
    for v, c in zip(graph.constvars, graph.consts):
        if v.id in live:
            cv.append(v)
            cs.append(c)
    return Graph(graph.invars, kept, graph.outvars, cv, cs)
