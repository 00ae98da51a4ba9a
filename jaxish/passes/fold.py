"""Constant folding: a node whose inputs are all literals becomes a literal
(when its result is a scalar and the primitive has no effects: a random draw
or a Variable read stays a node)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Literal, Node


def fold_constants(graph: Graph) -> Graph:
    subst: dict = {}
    nodes = []
    for n in graph.nodes:
        ins = [a if isinstance(a, Literal) else subst.get(a.id, a) for a in n.invars]
        out = n.outvars[0]
        if ins and not n.prim.multiple_results and not n.prim.effects and out.aval.shape == () and \
                all(isinstance(a, Literal) for a in ins):
            try:
                with np.errstate(all="ignore"):
                    val = n.prim.impl(*[a.val for a in ins], **n.params)
                subst[out.id] = Literal(np.asarray(val, out.aval.dtype.np), out.aval)
                continue
            except Exception:  # noqa: BLE001 - leave the node for run time to report
                pass
        nodes.append(Node(n.prim, ins, n.params, n.outvars))
    outs = [o if isinstance(o, Literal) else subst.get(o.id, o) for o in graph.outvars]
    return Graph(graph.invars, nodes, outs, graph.constvars, graph.consts)
