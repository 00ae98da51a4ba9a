"""The reference backend: runs each node's NumPy implementation in order (``core.interpret``).

``call`` nodes run their graph through the executable cache, that is, on this
backend again: nested graphs are native here.
"""
from __future__ import annotations

import numpy as np

from ..core.interpret import interpret
from ..ir import Graph, Literal


def _apply(node, arrays: list) -> list:
    out = node.prim.impl(*arrays, **node.params)
    outs = out if node.prim.multiple_results else [out]
    return [r if isinstance(r, np.ndarray) and r.dtype == o.aval.dtype.np else np.asarray(r, o.aval.dtype.np)
            for r, o in zip(outs, node.outvars)]


def _literal(a: Literal) -> np.ndarray:
    return a.val


def compile_graph(graph: Graph):
    n_in = len(graph.invars)

    def run(arrays):
        with np.errstate(all="ignore"):
            outs = interpret(graph, arrays[:n_in], _apply, _literal, consts=arrays[n_in:])
        # a literal output is copied: the graph's own array must not be handed out
        return [np.array(o) if isinstance(v, Literal) else o for o, v in zip(outs, graph.outvars)]
    return run
