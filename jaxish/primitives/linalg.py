"""Matrix multiplication with broadcast batch dimensions."""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..ir import ShapedArray
from . import shape_ops as so
from ._batching import example_rank, front, move_axis, move_to_front
from ._rules import broadcast_shapes, same_dtype, unbroadcast


def _matmul_abstract(a, b):
    dt = same_dtype("matmul", a, b)
    if dt.is_bool:
        raise TypeError("matmul: boolean operands are not supported")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: operands must have rank >= 2, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner dimensions do not match: {a.shape} @ {b.shape} "
                         f"({a.shape[-1]} != {b.shape[-2]})")
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    return ShapedArray(batch + (a.shape[-2], b.shape[-1]), dt, a.weak_type and b.weak_type)


def _mT(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return so.transpose_p.bind(x, perm=perm)


def _matmul_vjp(g, a, b, out):
    ga = matmul_p.bind(g, _mT(b))
    gb = matmul_p.bind(_mT(a), g)
    return unbroadcast(ga, a.aval.shape), unbroadcast(gb, b.aval.shape)


def _matmul_impl(a, b):
    return np.matmul(a, b)


matmul_p = Primitive("matmul", _matmul_abstract, _matmul_impl, _matmul_vjp, may_warn=True)  # overflow, inf * 0


def _matmul_batch(args, dims, size):
    """Batched matmul. An unbatched matrix against batched operands is one larger product (the batch folded
    into the rows of ``a`` or the columns of ``b``); otherwise the batch becomes a leading batch dimension
    (per-example ranks aligned, unbatched operands broadcast by matmul itself)."""
    (a, b), (da, db) = args, dims
    if db is None and b.aval.ndim == 2:  # (B, ..., m, k) @ (k, n): rows of one product
        a = move_to_front(a, da)
        lead = tuple(a.aval.shape[:-1])
        flat = so.reshape_p.bind(a, shape=(int(np.prod(lead)), a.aval.shape[-1]))
        return so.reshape_p.bind(matmul_p.bind(flat, b), shape=lead + (b.aval.shape[-1],)), 0
    if da is None and a.aval.ndim == 2 and b.aval.ndim == 3 and b.aval.shape[db - 1 if db == 2 else -1] == 1:
        # (m, k) @ a batch of vectors (k, 1): one product with the vectors as columns, the batch axis last
        # (the loops that follow then run over the batch, innermost)
        k = a.aval.shape[1]
        if db == 0:                                               # (B, k, 1) -> (k, B): a transposed view
            cols = so.transpose_p.bind(so.reshape_p.bind(b, shape=(size, k)), perm=(1, 0))
        else:                                                     # (k, B, 1) or (k, 1, B) -> (k, B)
            cols = so.reshape_p.bind(b, shape=(k, size))
        out = matmul_p.bind(a, cols)
        return so.reshape_p.bind(out, shape=(a.aval.shape[0], 1, size)), 2
    if da is None and a.aval.ndim == 2 and b.aval.ndim == 3:  # (m, k) @ (B, k, n): columns of one product
        b = move_axis(b, db, 1)                                   # (k, B, n)
        k, _, n = b.aval.shape
        out = matmul_p.bind(a, so.reshape_p.bind(b, shape=(k, size * n)))
        return so.reshape_p.bind(out, shape=(a.aval.shape[0], size, n)), 1
    rank = example_rank(args, dims)
    ins = [x if d is None else front(x, d, size, rank) for x, d in zip(args, dims)]
    if a.aval.shape[-1] == 1 and a.aval.dtype.is_floating:
        # a batch of outer products (contraction of length 1): a broadcast multiply, fused with its neighbours
        from . import elementwise as ew
        return ew.mul(*ins), 0
    return matmul_p.bind(*ins), 0


matmul_p.batch = _matmul_batch
