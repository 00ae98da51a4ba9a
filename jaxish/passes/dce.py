"""Dead-code elimination: drop nodes (and constants) no output depends on.

A ``scan`` whose stacked outputs are partly unused loses them (its body is
pruned in turn, and the inputs it then no longer reads: constants and ``xs``)
-- a backward scan computes no cotangent for ``xs`` nobody asked for.
"""
from __future__ import annotations

from ..core.control_flow import scan_p
from ..ir import Graph, Literal, Node


def dce(graph: Graph) -> Graph:
    live = {v.id for v in graph.outvars if not isinstance(v, Literal)}
    kept = []
    for n in reversed(graph.nodes):
        if any(o.id in live for o in n.outvars):
            if n.prim is scan_p:
                n = _prune_scan(n, live)
            kept.append(n)
            live.update(a.id for a in n.invars if not isinstance(a, Literal))
    kept.reverse()
    cv, cs = [], []
    for v, c in zip(graph.constvars, graph.consts):
        if v.id in live:
            cv.append(v)
            cs.append(c)
    return Graph(graph.invars, kept, graph.outvars, cv, cs)


def _prune_scan(n: Node, live: set) -> Node:
    """``n`` (a scan node) without the stacked outputs not in ``live`` and the constants and xs it then does not
    read; ``n`` itself when there is nothing to drop."""
    p = n.params
    body, nc, nk = p["body"], p["num_consts"], p["num_carry"]
    n_ys = len(body.outvars) - nk
    keep_y = [j for j in range(n_ys) if n.outvars[nk + j].id in live]
    b = body
    if len(keep_y) < n_ys:
        b = dce(Graph(body.invars, body.nodes, body.outvars[:nk] + [body.outvars[nk + j] for j in keep_y]))
    used = {a.id for m in b.nodes for a in m.invars if not isinstance(a, Literal)}
    used |= {o.id for o in b.outvars if not isinstance(o, Literal)}
    keep_in = [i for i, v in enumerate(b.invars) if nc <= i < nc + nk or v.id in used]
    if b is body and len(keep_in) == len(body.invars):
        return n
    b = Graph([b.invars[i] for i in keep_in], b.nodes, b.outvars)
    params = dict(p, body=b, num_consts=sum(1 for i in keep_in if i < nc))
    return Node(scan_p, [n.invars[i] for i in keep_in], params, n.outvars[:nk] + [n.outvars[nk + j] for j in keep_y])
