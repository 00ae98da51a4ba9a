"""Batching (``vmap``) as a graph-to-graph transform: :func:`batch_graph`.

The per-example graph is re-evaluated inside a new ``GraphTrace`` on inputs
that carry a batch axis; each node calls its primitive's batching rule
(``Primitive.batch``) on ``(value, batch axis)`` pairs, so the result is an
ordinary Graph: printable, optimised, fused and compiled like any other.
Nodes none of whose operands is batched are bound unchanged (their result is
the same for every example), except primitives that draw random numbers:
with ``shared_random=False`` (``vmap``) their rule always runs, so each
example draws its own numbers; with ``shared_random=True`` (the Jacobians,
whose batch is a basis of tangents or cotangents applied to ONE evaluation of
the function) every example sees the same draw. A nested graph (``call``) is
batched in the mode of the graph that calls it.
"""
from __future__ import annotations

import threading
from typing import Sequence

from ..config import cache_limit
from ..core import GraphTrace
from ..core.interpret import interpret, literal_value
from ..core.primitive import RANDOM
from ..ir import Graph, ShapedArray
from ..lru import LRU
from ..primitives._batching import move_axis

_BATCH_CACHE = LRU(lambda: cache_limit("vjp_cache_size"))  # bounded like the backward-graph cache


_MODE = threading.local()  # .shared_random while a graph is being batched (nested calls inherit it)


class BatchingError(NotImplementedError):
    """A primitive has no batching rule (or cannot be batched in this way)."""


def batched_aval(aval: ShapedArray, dim, size: int) -> ShapedArray:
    """``aval`` with an axis of ``size`` inserted at ``dim`` (unchanged for ``None``)."""
    if dim is None:
        return aval
    shape = list(aval.shape)
    shape.insert(dim, size)
    return ShapedArray(tuple(shape), aval.dtype, aval.weak_type)


def batch_graph(graph: Graph, in_dims: Sequence, size: int, out_dims: Sequence | None = None,
                shared_random: bool | None = None) -> tuple:
    """The batched version of ``graph``: ``(batched graph, out dims)``.

    Input ``i`` of the batched graph is ``graph``'s input ``i`` with an axis of
    ``size`` inserted at ``in_dims[i]`` (``None``: the same for every example).
    ``out_dims`` (one per output) asks for each output's batch axis (an
    unbatched output is broadcast); ``None`` entries require an unbatched output
    (``ValueError`` otherwise). Without ``out_dims``, batched outputs get their
    batch axis first and unbatched ones stay unbatched; the returned out dims
    say which. ``shared_random`` (default: that of the graph being batched,
    else False) says whether random draws are shared by the examples (see the
    module docstring). Cached by the graph's structural key (graphs without
    constants).
    """
    if shared_random is None:
        shared_random = getattr(_MODE, "shared_random", False)
    in_dims = tuple(None if d is None else int(d) for d in in_dims)
    req = None if out_dims is None else tuple(None if d is None else int(d) for d in out_dims)
    key = (graph.key(), in_dims, int(size), req, len(graph.consts), bool(shared_random))
    hit = _BATCH_CACHE.get(key)
    if hit is not None and not graph.consts:
        return hit
    outer, _MODE.shared_random = getattr(_MODE, "shared_random", None), bool(shared_random)
    try:
        result = _batch(graph, in_dims, size, req, bool(shared_random))
    finally:
        _MODE.shared_random = outer
    if not graph.consts and not result[0].consts:
        _BATCH_CACHE[key] = result
    return result


def _batch(graph: Graph, in_dims: tuple, size: int, req, shared_random: bool) -> tuple:
    with GraphTrace(name="the batched function") as t:
        args = [(t.new_arg(batched_aval(v.aval, d, size), f"input {i}"), d)
                for i, (v, d) in enumerate(zip(graph.invars, in_dims))]
        outs = interpret(graph, args, lambda n, ins: _apply(n, ins, size, shared_random),
                         lambda a: (literal_value(a), None),
                         consts=[(c, None) for c in graph.consts])
        vals, dims = [], []
        for i, (x, d) in enumerate(outs):
            want = 0 if req is None and d is not None else (None if req is None else req[i])
            if want is None and d is not None:
                raise ValueError(f"vmap: output {i} (shape {tuple(x.aval.shape)}) is batched, but its out_axes "
                                 f"entry is None; only outputs that are the same for every example can have "
                                 f"out_axes None")
            if want is not None:
                x = _to_axis(x, d, want, size)
            vals.append(x)
            dims.append(want)
        result, _, _ = t.finish(vals)
    from ..passes import optimize
    return optimize(result), tuple(dims)


def _to_axis(x, d, want: int, size: int):
    """``x`` (batch axis ``d``, or unbatched) with its batch axis at ``want``."""
    from ..primitives._batching import front
    if d is None:
        x, d = front(x, None, size), 0
    return move_axis(x, d, want)


def _draws_random(node) -> bool:
    """The node draws random numbers, itself or in a nested graph (a ``call``, a loop's body, one of a
    ``cond``'s branches)."""
    if RANDOM in node.prim.effects:
        return True
    graphs = [g for v in node.params.values() for g in (v if isinstance(v, tuple) else (v,)) if isinstance(g, Graph)]
    return any(_draws_random(m) for g in graphs for m in g.nodes)


def _apply(node, ins: list, size: int, shared_random: bool) -> list:
    """One node of the per-example graph, batched: ``ins`` and the result are ``(value, batch axis)`` pairs."""
    prim = node.prim
    vals = [v for v, _ in ins]
    dims = [d for _, d in ins]
    if all(d is None for d in dims) and (shared_random or not _draws_random(node)):
        out = prim.bind(*vals, **node.params)
        return [(o, None) for o in out] if prim.multiple_results else [(out, None)]
    rule = prim.batch
    if rule is None:
        shapes = ", ".join(f"{v.aval.dtype.name}{list(v.aval.shape)} (batch axis {d})" for v, d in ins)
        raise BatchingError(f"vmap: the primitive {prim.name!r} has no batching rule (operands: {shapes}); "
                            f"declare one with it in jaxish/primitives/ (Primitive.batch)")
    out, odim = rule(vals, dims, size, **node.params)
    if prim.multiple_results:
        return list(zip(out, odim))
    return [(out, odim)]
