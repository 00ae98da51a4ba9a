"""Forward mode as a graph-to-graph transform: :func:`jvp_graph`, by transposing reverse mode twice.

The backward graph ``vjp_graph(g)`` computes ``ct -> J^T ct``, which is linear
in the cotangent ``ct``. Differentiating it again w.r.t. ``ct`` with the
cotangent ``t`` gives ``d/dct <t, J^T ct> = J t``: the JVP. The cotangent's
value never matters (the map is linear), so zeros are passed and dead-code
elimination removes what only they fed. No primitive needs a JVP rule: its
VJP rule, applied twice, is its JVP (see docs/architecture.md, "Batching and
forward mode", for the measurements behind this choice).
"""
from __future__ import annotations

from typing import Sequence

from ..config import cache_limit
from ..core import GraphTrace
from ..core.interpret import eval_graph
from ..ir import Graph
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
            bwd = vjp_graph(graph, wrt, tangent_outs, keep_outputs=True)  # (x, ct) -> (y, J^T ct)
            fwd = vjp_graph(bwd, [nin + k for k in range(len(tangent_outs))], [nout + j for j in range(len(wrt))],
                            keep_outputs=tuple(range(nout)))             # (x, ct, t) -> (y, J t)
            zero_cts = [_zeros(graph.outvars[i].aval.strip_weak()) for i in tangent_outs]
            outs = eval_graph(fwd, xs + zero_cts + ts)
        else:  # nothing to differentiate: the outputs and zero tangents
            outs = eval_graph(graph, xs) + [_zeros(graph.outvars[i].aval.strip_weak()) for i in tangent_outs]
        result, _, _ = t.finish(outs)
    from ..passes import optimize
    result = optimize(result)
    if not graph.consts and not result.consts:
        _JVP_CACHE[key] = result
    return result
