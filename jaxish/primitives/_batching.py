"""Shared pieces of the batching rules (``Primitive.batch``, used by ``vmap``).

A rule gets ``(args, dims, size, **params)``: the operands, the batch axis of
each (``None``: the operand is the same for every example) and the batch size;
it returns ``(out, dim)`` (lists for several results). Rules are written with
primitives, like the VJP rules, so a batched graph is ordinary IR. The
families' generic rules live here: elementwise operations (batch axes moved to
the front, per-example ranks aligned, unbatched operands broadcast by the
primitive itself) and reductions (batch axis to the front, ``axes`` shifted).
"""
from __future__ import annotations


def move_to_front(x, d):
    """``x`` with its batch axis ``d`` moved to position 0 (``d`` is not None)."""
    from .shape_ops import transpose_p
    if d == 0:
        return x
    nd = x.aval.ndim
    return transpose_p.bind(x, perm=(d,) + tuple(i for i in range(nd) if i != d))


def move_axis(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to position ``dst``."""
    from .shape_ops import transpose_p
    if src == dst:
        return x
    axes = [i for i in range(x.aval.ndim) if i != src]
    axes.insert(dst, src)
    return transpose_p.bind(x, perm=tuple(axes))


def front(x, d, size: int, rank: int | None = None):
    """``x`` with the batch axis first: moved there, or broadcast for an unbatched ``x`` (``d is None``); with
    ``rank``, the per-example part padded with leading 1s to that rank (so that NumPy broadcasting lines the
    examples' axes up and never pairs the batch axis with an example axis)."""
    from .shape_ops import broadcast_to_p, reshape_p
    if d is None:
        x = broadcast_to_p.bind(x, shape=(size,) + tuple(x.aval.shape))
    else:
        x = move_to_front(x, d)
    r = x.aval.ndim - 1
    if rank is not None and r < rank:
        x = reshape_p.bind(x, shape=(size,) + (1,) * (rank - r) + tuple(x.aval.shape[1:]))
    return x


def example_rank(args, dims) -> int:
    """The largest per-example rank among the operands."""
    return max((a.aval.ndim - (d is not None) for a, d in zip(args, dims)), default=0)


def elementwise_batch(prim):
    """The rule of a broadcasting elementwise primitive. When every batched operand has its batch axis at the
    same place and the output's rank, the axis stays there (no copy) and unbatched operands that reach past it
    get a 1 inserted there (a reshape); otherwise batched operands get the batch axis first and their
    per-example rank padded to the output's. Unbatched operands are broadcast by the primitive itself."""
    def rule(args, dims, size, **params):
        from .shape_ops import reshape_p
        rank = example_rank(args, dims)
        where = {d for d in dims if d is not None}
        if len(where) == 1 and all(a.aval.ndim - 1 == rank for a, d in zip(args, dims) if d is not None):
            d = where.pop()
            ins = []
            for a, ad in zip(args, dims):
                if ad is None and a.aval.ndim > rank - d:
                    shape = (1,) * (rank - a.aval.ndim) + tuple(a.aval.shape)
                    a = reshape_p.bind(a, shape=shape[:d] + (1,) + shape[d:])
                ins.append(a)
            return prim.bind(*ins, **params), d
        ins = [a if d is None else front(a, d, size, rank) for a, d in zip(args, dims)]
        return prim.bind(*ins, **params), 0
    return rule


def reduce_batch(prim):
    """The rule of a reduction over ``axes``: the batch axis stays where it is, the reduced axes are renumbered
    around it."""
    def rule(args, dims, size, axes, **params):
        d = dims[0]
        new = tuple(a if a < d else a + 1 for a in axes)
        return prim.bind(args[0], axes=new, **params), d - sum(1 for a in axes if a < d)
    return rule


def axis_batch(prim):
    """The rule of a one-operand primitive with an ``axis`` parameter (argmax, argmin)."""
    def rule(args, dims, size, axis, **params):
        x = move_to_front(args[0], dims[0])
        return prim.bind(x, axis=axis + 1, **params), 0
    return rule


def no_operands(args, dims, size, **params):  # pragma: no cover - never called: nothing to batch
    """The rule of a primitive without operands: its result never depends on the example."""
    raise AssertionError("a primitive without operands has no batched operand")
