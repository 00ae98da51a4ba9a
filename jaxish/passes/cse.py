"""Common-subexpression elimination: identical nodes on identical inputs are computed once."""
from __future__ import annotations

from ..ir import Graph, Literal, Node, param_key


def _atom_key(a, subst):
    if isinstance(a, Literal):
        return a.key()
    return subst.get(a.id, a).id


def cse(graph: Graph) -> Graph:
    subst: dict = {}
    seen: dict = {}
    nodes = []
    for n in graph.nodes:
        ins = [a if isinstance(a, Literal) else subst.get(a.id, a) for a in n.invars]
        key = (n.prim.name, param_key(n.params), tuple(_atom_key(a, subst) for a in ins))
        prev = seen.get(key)
        if prev is not None and [o.aval for o in prev.outvars] == [o.aval for o in n.outvars]:
            subst.update((o.id, p) for o, p in zip(n.outvars, prev.outvars))
            continue
        nn = Node(n.prim, ins, n.params, n.outvars)
        seen[key] = nn
        nodes.append(nn)
    outs = [o if isinstance(o, Literal) else subst.get(o.id, o) for o in graph.outvars]
    return Graph(graph.invars, nodes, outs, graph.constvars, graph.consts)
