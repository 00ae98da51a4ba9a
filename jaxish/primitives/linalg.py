"""Matrix multiplication with broadcast batch dimensions."""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..ir import ShapedArray
from . import shape_ops as so
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
