"""Inlining: ``call`` nodes are replaced by the nodes of their graph (recursively).

Run before code generation, so that fusion, CSE and DCE see across the call
boundary: a backward graph that recomputes part of the forward pass shares it
with the forward pass once inlined.
"""
from __future__ import annotations

from ..core.call import call_p, is_custom
from ..ir import Graph, Literal, Node, Var


def inline_calls(graph: Graph, keep_custom: bool = False) -> Graph:
    """``graph`` with every ``call`` node replaced by its graph's nodes; with ``keep_custom``, calls that carry
    a user's differentiation rule (``custom_vjp``/``custom_jvp``) stay (transforms need the rule; they are
    inlined for execution)."""
    def inlined(n):
        return n.prim is call_p and not (keep_custom and is_custom(n.params))
    if not any(inlined(n) for n in graph.nodes):
        return graph
    subst: dict = {}

    def rd(a):
        return a if isinstance(a, Literal) else subst.get(a.id, a)

    nodes: list = []
    for n in graph.nodes:
        ins = [rd(a) for a in n.invars]
        if not inlined(n):
            nodes.append(Node(n.prim, ins, n.params, n.outvars))
            continue
        sub = inline_calls(n.params["graph"], keep_custom)
        env = {v.id: a for v, a in zip(sub.invars, ins)}

        def srd(a, env=env):
            return a if isinstance(a, Literal) else env[a.id]

        for m in sub.nodes:
            outs = [Var(o.aval) for o in m.outvars]
            nodes.append(Node(m.prim, [srd(a) for a in m.invars], m.params, outs))
            env.update((o.id, new) for o, new in zip(m.outvars, outs))
        for o, so in zip(n.outvars, sub.outvars):
            subst[o.id] = srd(so)
    return Graph(graph.invars, nodes, [rd(o) for o in graph.outvars], graph.constvars, graph.consts)
