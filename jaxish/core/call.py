"""``call_p``: a primitive whose parameter is a closed Graph.

A traced function called inside another trace, ``grad``'s backward graph and
a tape's backward graph are ``call`` nodes. Eagerly the call runs the graph's
compiled executable; in a trace it is one node that prints its graph nested;
its VJP is ``vjp_graph`` of its graph, itself called; the ``inline_calls``
pass splices the graph into its caller before code generation (fusion then
works across the boundary). Control flow (``cond``/``while``/``scan``) takes
the same form: primitives with graph-valued parameters.
"""
from __future__ import annotations

from typing import Sequence

from ..ir import Graph
from .primitive import Primitive
from .trace import bind


def closed(graph: Graph) -> tuple:
    """``(graph', consts)``: ``graph`` with its captured constants turned into leading inputs, so that a call's
    parameter is a pure structure (its key says everything) and the constants are ordinary operands."""
    if not graph.consts:
        return graph, []
    g = graph.__dict__.get("_closed")  # one closed graph per graph: its structural key is computed once
    if g is None:
        g = graph.__dict__["_closed"] = Graph(list(graph.constvars) + list(graph.invars), graph.nodes,
                                              graph.outvars)
    return g, list(graph.consts)


def call(graph: Graph, args: Sequence) -> list:
    """Bind ``call_p`` on ``args``; returns the graph's outputs (a list)."""
    g, consts = closed(graph)
    if not g.outvars:
        return []
    return bind(call_p, list(consts) + list(args), {"graph": g})


def _abstract_eval(*avals, graph: Graph):
    if len(avals) != len(graph.invars):
        raise TypeError(f"call: the graph takes {len(graph.invars)} inputs, got {len(avals)}")
    for i, (a, v) in enumerate(zip(avals, graph.invars)):
        if a.shape != v.aval.shape or a.dtype != v.aval.dtype:
            raise TypeError(f"call: input {i} has shape {a.shape} and dtype {a.dtype.name}, but the graph "
                            f"expects shape {v.aval.shape} and dtype {v.aval.dtype.name}")
    return tuple(v.aval for v in graph.outvars)


def _impl(*arrays, graph: Graph):
    from ..backends import get_executable
    return get_executable(graph)(list(arrays))


def _vjp(cts, *args, graph: Graph):
    """Differentiate the called graph: one ``call`` of its VJP graph on the inputs and the non-zero
    cotangents of its floating-point outputs (``args``: the inputs, then the outputs)."""
    from ..transforms.vjp import vjp_graph
    ins = args[:len(graph.invars)]
    ct_outs = [i for i, c in enumerate(cts) if c is not None and graph.outvars[i].aval.dtype.is_floating]
    wrt = [i for i, v in enumerate(graph.invars) if v.aval.dtype.is_floating]
    result: list = [None] * len(ins)
    if not ct_outs or not wrt:
        return result
    bwd = vjp_graph(graph, wrt, ct_outs, keep_outputs=False)
    for i, g in zip(wrt, call(bwd, list(ins) + [cts[i] for i in ct_outs])):
        result[i] = g
    return result


def _batch(args, dims, size, graph: Graph):
    """Batch the called graph (``transforms.batching.batch_graph``) and call the batched graph."""
    from ..transforms.batching import batch_graph
    g, out_dims = batch_graph(graph, dims, size)
    return call(g, args), list(out_dims)


call_p = Primitive("call", _abstract_eval, _impl, _vjp, multiple_results=True, batch=_batch)
