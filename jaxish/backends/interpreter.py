"""The reference backend: runs each node's NumPy implementation in order."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Literal


def compile_graph(graph: Graph):
    invars = graph.invars + graph.constvars
    nodes = [(n.prim.impl, n.params, n.invars, n.outvars[0].id, n.outvars[0].aval.dtype.np) for n in graph.nodes]
    outvars = graph.outvars

    def run(arrays):
        env = {v.id: a for v, a in zip(invars, arrays)}

        def rd(a):
            return a.val if isinstance(a, Literal) else env[a.id]

        with np.errstate(all="ignore"):
            for impl, params, ins, out, dt in nodes:
                r = impl(*[rd(a) for a in ins], **params)
                env[out] = r if isinstance(r, np.ndarray) and r.dtype == dt else np.asarray(r, dt)
        return [np.array(rd(o)) if isinstance(o, Literal) else env[o.id] for o in outvars]
    return run
