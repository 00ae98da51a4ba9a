"""Shared helpers for shape/dtype rules and VJP rules."""
from __future__ import annotations

from ..dtypes import DType
from ..ir import ShapedArray


def broadcast_shapes(name: str, *shapes) -> tuple:
    """NumPy broadcasting of ``shapes``; a ValueError names the op and shapes."""
    first = shapes[0]
    if all(s == first for s in shapes):
        return tuple(first)
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"{name}: incompatible shapes for broadcasting: {shown}")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def same_dtype(name: str, *avals: ShapedArray) -> DType:
    dts = {a.dtype for a in avals}
    if len(dts) != 1:
        shown = ", ".join(f"{a.dtype.name}{list(a.shape)}" for a in avals)
        raise TypeError(f"{name}: operands must have the same dtype, got {shown}")
    return avals[0].dtype


def check_kinds(name: str, aval: ShapedArray, kinds: str, what: str) -> None:
    if aval.dtype.kind not in kinds:
        raise TypeError(f"{name}: expected {what} operand, got dtype {aval.dtype.name} (shape {aval.shape})")


def normalize_axis(name: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0


def unbroadcast(g, shape: tuple):
    """Sum ``g`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    from . import reductions, shape_ops
    if g is None:
        return None
    gshape = tuple(g.aval.shape)
    if gshape == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and gshape[i + lead] != 1)
    if axes:
        g = reductions.reduce_sum_p.bind(g, axes=axes)
    if tuple(g.aval.shape) != tuple(shape):
        g = shape_ops.reshape_p.bind(g, shape=tuple(shape))
    return g
