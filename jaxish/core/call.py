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


def is_custom(params: dict) -> bool:
    """The call carries a user's differentiation rule (``jaxish.custom_vjp``/``custom_jvp``): differentiation
    uses that rule, so transforms keep the node (``inline_calls(keep_custom=True)``) until execution."""
    return "custom_bwd" in params or "custom_jvp" in params


def _abstract_eval(*avals, graph: Graph, **custom):
    if len(avals) != len(graph.invars):
        raise TypeError(f"call: the graph takes {len(graph.invars)} inputs, got {len(avals)}")
    for i, (a, v) in enumerate(zip(avals, graph.invars)):
        if a.shape != v.aval.shape or a.dtype != v.aval.dtype:
            raise TypeError(f"call: input {i} has shape {a.shape} and dtype {a.dtype.name}, but the graph "
                            f"expects shape {v.aval.shape} and dtype {v.aval.dtype.name}")
    return tuple(v.aval for v in graph.outvars)


def _impl(*arrays, graph: Graph, **custom):
    from ..backends import get_executable
    return get_executable(graph)(list(arrays))


def _vjp(cts, *args, graph: Graph, **custom):
    """Differentiate the called graph: one ``call`` of its VJP graph on the inputs and the non-zero
    cotangents of its floating-point outputs (``args``: the inputs, then the outputs); a call with a user's
    rule (``custom_*`` parameters) uses that rule instead."""
    from ..transforms.vjp import vjp_graph
    ins = args[:len(graph.invars)]
    if custom:
        return _custom_vjp(cts, ins, graph, **custom)
    ct_outs = [i for i, c in enumerate(cts) if c is not None and graph.outvars[i].aval.dtype.is_floating]
    wrt = [i for i, v in enumerate(graph.invars) if v.aval.dtype.is_floating]
    result: list = [None] * len(ins)
    if not ct_outs or not wrt:
        return result
    bwd = vjp_graph(graph, wrt, ct_outs, keep_outputs=False)
    for i, g in zip(wrt, call(bwd, list(ins) + [cts[i] for i in ct_outs])):
        result[i] = g
    return result


def _batch(args, dims, size, graph: Graph, **custom):
    """Batch the called graph (``transforms.batching.batch_graph``) and call the batched graph. A call with a
    user's rule batches every graph of the rule, every operand and result batched on axis 0 (an unbatched
    operand is broadcast first: its cotangent is then summed over the batch by broadcast_to's rule)."""
    from ..primitives._batching import front
    from ..transforms.batching import batch_graph
    if not custom:
        g, out_dims = batch_graph(graph, dims, size)
        return call(g, args), list(out_dims)
    ins = [front(a, d, size) for a, d in zip(args, dims)]

    def batched(g: Graph) -> Graph:
        return batch_graph(g, [0] * len(g.invars), size, [0] * len(g.outvars))[0]
    params = {"graph": batched(graph)}
    params.update((k, batched(v) if isinstance(v, Graph) else v) for k, v in custom.items())
    return bind(call_p, ins, params), [0] * len(graph.outvars)


def _zeros(aval):
    import numpy as np

    from ..primitives import shape_ops as so
    from .tensor import Tensor
    z = Tensor(np.zeros((), aval.dtype.np))
    return so.broadcast_to_p.bind(z, shape=tuple(aval.shape))


def _custom_vjp(cts, ins, graph: Graph, custom_consts: int, custom_fwd: Graph | None = None,
                custom_bwd: Graph | None = None, custom_jvp: Graph | None = None) -> list:
    """The VJP of a call with a user's rule. Every graph of the rule takes the same ``custom_consts`` captured
    constants first (they get no cotangent).

    * ``custom_vjp``: ``custom_fwd(consts, xs) -> (outs, residuals)``, ``custom_bwd(consts, residuals, cts) ->
      one cotangent per x``: both called (the backward call is ordinary IR, differentiable again);
    * ``custom_jvp``: ``custom_jvp(consts, xs, ts) -> (outs, touts)`` (one tangent per floating x and per
      floating out) is linear in ``ts``: its transpose (``vjp_graph`` w.r.t. the tangents) is the VJP.
    """
    from ..transforms.vjp import vjp_graph
    nc, n_out = custom_consts, len(graph.outvars)
    consts, xs = list(ins[:nc]), list(ins[nc:])
    cts = [c if c is not None else _zeros(o.aval.strip_weak()) for c, o in zip(cts, graph.outvars)]
    result: list = [None] * len(ins)
    if custom_bwd is not None:
        res = call(custom_fwd, consts + xs)[n_out:]
        float_outs = [i for i, o in enumerate(graph.outvars) if o.aval.dtype.is_floating]
        gs = call(custom_bwd, consts + res + [cts[i] for i in float_outs])
        for k, g in enumerate(gs):
            result[nc + k] = g if graph.invars[nc + k].aval.dtype.is_floating else None
        return result
    fx = [k for k, v in enumerate(graph.invars[nc:]) if v.aval.dtype.is_floating]
    fo = [i for i, o in enumerate(graph.outvars) if o.aval.dtype.is_floating]
    if not fx or not fo:
        return result
    nin = len(graph.invars)
    bwd = vjp_graph(custom_jvp, [nin + j for j in range(len(fx))], [n_out + j for j in range(len(fo))],
                    keep_outputs=False)
    zero_ts = [_zeros(graph.invars[nc + k].aval.strip_weak()) for k in fx]
    for k, g in zip(fx, call(bwd, consts + xs + zero_ts + [cts[i] for i in fo])):
        result[nc + k] = g
    return result


call_p = Primitive("call", _abstract_eval, _impl, _vjp, multiple_results=True, batch=_batch)
