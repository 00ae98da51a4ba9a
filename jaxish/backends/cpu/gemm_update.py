"""A BLAS matmul whose only use is an update of an array of its shape, ``w - c*(a @ b)`` (an SGD step), run as
one GEMM that accumulates into a copy of ``w``: ``out = w; out := alpha*(a @ b) + 1*out``.

Unfused, the entry computes the product into a temporary (BLAS zero-fills it first: a ``beta = 0`` GEMM
writes ``C`` twice), then a fused loop reads it and ``w`` and writes ``out``. The fused form drops the
temporary, BLAS's zero-fill and the loop: for the MLP's ``W1 -= 0.1 * x.T @ dz`` (784 x 256 float32) about
515 us instead of 535 (``benchmarks/RESULTS.md``, row 3; the copy of ``w`` is a loop nest, which Numba compiles
to a third of the time of ``out[:, :] = w``).

Rounding: BLAS adds ``alpha * (a @ b)`` to ``C`` in its kernel (a fused multiply-add where it has one), where
the unfused graph rounds the product, then ``c * product``, then the subtraction: the results differ by a
rounding or two of the update, within the bound of the product's own float summation (the tests compare
with a GEMM's tolerance). NaN and infinities propagate as unfused: ``C`` is read (``beta = 1``), and
``alpha = 0`` (for which a BLAS may skip the product, dropping a NaN of ``a @ b``) is never fused.

Matched forms, with ``p = a @ b`` (2-D, a BLAS-sized float product, used by this update only) and ``c`` a
scalar literal: ``w - c*p``, ``w - p*c``, ``w + c*p``, ``c*p + w`` (and the same with ``p*c``), ``w - p``,
``w + p``, ``p + w``, each a fused group of its own whose only output is the update.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import Literal, Var
from ...passes.fusion import FusedGroup, LibraryStep
from ...primitives.elementwise import add_p, mul_p, sub_p
from ...primitives.linalg import matmul_p
from ..codegen.scalar import literal_expr
from . import blas as _blas
from .lowerings import blas_sized


@dataclass
class GemmUpdate:
    """``out = w + sign * scale * (a @ b)``: the matmul node, the updated array ``w``, ``scale`` (a Literal, or
    None for 1) and ``sign`` (+1 or -1)."""

    matmul: object
    w: object
    scale: Literal | None
    sign: int
    out: Var


def _is_scalar_literal(a, dtype) -> bool:
    return isinstance(a, Literal) and a.aval.shape == () and a.aval.dtype == dtype


def _match_group(g: FusedGroup, p: Var) -> GemmUpdate | None:
    """The update form of ``g`` around the product ``p``, or None."""
    if g.reductions or len(g.outputs) != 1 or len(g.nodes) not in (1, 2):
        return None
    out = g.outputs[0]
    last = g.nodes[-1]
    if last.outvars[0] is not out or tuple(g.domain) != tuple(p.aval.shape):
        return None
    scale = None
    term = p
    if len(g.nodes) == 2:
        mul = g.nodes[0]
        if mul.prim is not mul_p or len(mul.invars) != 2:
            return None
        x, y = mul.invars
        if x is p and _is_scalar_literal(y, p.aval.dtype):
            scale = y
        elif y is p and _is_scalar_literal(x, p.aval.dtype):
            scale = x
        else:
            return None
        term = mul.outvars[0]
        if scale.val.item() == 0 or tuple(term.aval.shape) != tuple(p.aval.shape):
            return None   # alpha = 0: BLAS would not compute the product, so its NaNs would not propagate
    if last.prim is sub_p and last.invars[1] is term:
        w, sign = last.invars[0], -1
    elif last.prim is add_p and term in last.invars:
        w, sign = last.invars[1] if last.invars[0] is term else last.invars[0], 1
    else:
        return None
    if not isinstance(w, Var) or w is p or w is term or tuple(w.aval.shape) != tuple(p.aval.shape) \
            or w.aval.dtype != p.aval.dtype or out.aval.dtype != p.aval.dtype:
        return None
    return GemmUpdate(None, w, scale, sign, out)


def match(graph, steps: list) -> dict:
    """``{id(step): GemmUpdate | None}``: for each fused group that is such an update, the update (emitted in
    its place), and for its matmul's library step None (emitted nowhere)."""
    if not _blas.AVAILABLE:
        return {}
    uses: dict = {}
    for n in graph.nodes:
        for a in n.invars:
            if isinstance(a, Var):
                uses[a.id] = uses.get(a.id, 0) + 1
    outs = {o.id for o in graph.outvars if isinstance(o, Var)}
    products = {}
    for s in steps:
        if isinstance(s, LibraryStep) and s.node.prim is matmul_p and len(s.node.outvars[0].aval.shape) == 2 \
                and blas_sized(s.node.outvars[0].aval, s.node.invars[0].aval.shape[-1]):
            p = s.node.outvars[0]
            if uses.get(p.id) == 1 and p.id not in outs:
                products[p.id] = s
    found: dict = {}
    for s in steps:
        if not isinstance(s, FusedGroup) or len(s.inputs) != 2:
            continue
        for a in s.inputs:
            lib = products.get(a.id) if isinstance(a, Var) else None
            if lib is None or id(lib) in found:
                continue
            upd = _match_group(s, a)
            if upd is not None:
                upd.matmul = lib.node
                found[id(s)] = upd
                found[id(lib)] = None
                break
    return found


def lower(e, upd: GemmUpdate) -> None:
    """Emit ``upd`` into the entry ``e`` (a ``codegen._Entry``): ``out`` gets a copy of ``w``, then one GEMM
    with ``beta = 1`` adds ``alpha * (a @ b)`` to it."""
    a, b = upd.matmul.invars
    m, n = upd.out.aval.shape
    k = a.aval.shape[-1]
    dt = upd.out.aval.dtype
    name = e.alloc(upd.out)
    w = e.atom(upd.w)
    # a loop nest, not ``out[:, :] = w`` (Numba's slice assignment: 56 us for 784 x 256 float32, the loop 18)
    e.emit(f"for {name}_i in range({e.size(m)}):")
    e.emit(f"    for {name}_j in range({e.size(n)}):")
    e.emit(f"        {name}[{name}_i, {name}_j] = {w}[{name}_i, {name}_j]")
    if _blas.IMPORT not in e.support:
        e.support.append(_blas.IMPORT)
    ctor = "np.float32" if dt.np == np.float32 else "np.float64"
    sign = "-" if upd.sign < 0 else ""
    alpha = f"{ctor}({sign}1.0)" if upd.scale is None else f"{sign}{literal_expr(upd.scale)}"
    ops = [e.atom(x) if x.id in e.fviews else e.contig(x) for x in (a, b)]
    for line in _blas.gemm_lines(dt.name, ops[0], a.id in e.fviews, ops[1], b.id in e.fviews, name,
                                 e.size(m), e.size(n), e.size(k), alpha=alpha, beta=f"{ctor}(1.0)"):
        e.emit(line)
