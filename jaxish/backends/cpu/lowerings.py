"""The CPU backend's lowering table: what the entry function does for each primitive that is not fused.

``LOWERINGS[prim]`` is ``fn(e, ins, out, **params)``: it emits lines into the
entry function ``e`` (a ``codegen._Entry``) computing ``out`` from the atoms
``ins``. Elementwise primitives and reductions are never library steps (they
are lowered inside fused kernels from their ``scalar`` templates and
``ReduceSpec``); every other primitive a graph may hold at execution has an
entry here. Another backend keeps its own table beside this one, keyed by the
same primitive objects.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...ir import Literal
from ...primitives.linalg import matmul_p
from ...primitives.random import random_uniform_p
from ...primitives.reductions import argmax_p, argmin_p
from ...primitives.shape_ops import (
    concatenate_p,
    gather_grad_p,
    gather_p,
    iota_p,
    reshape_p,
    slice_p,
    transpose_p,
    unslice_p,
)
from ..codegen.scalar import dtype_ctor
from . import blas as _blas
from .helpers import DOT_COLUMNS
from .kernels import cshape

# the flags of a kernel (and of the entry) that needs none of its own: no C-callable wrapper (for first-class
# function use; nothing here takes a kernel's address), one function less for Numba and LLVM per compile
KERNEL_FLAGS = 'cache=True, error_model="numpy", no_cfunc_wrapper=True'

SMALL_MATMUL = 16 * 16 * 16   # below m*n*k, a generated loop beats the BLAS call overhead

LOWERINGS: dict = {}
"""Primitive -> ``fn(entry, ins, out, **params)``."""


def register_lowering(prim) -> Callable:
    """Decorator: ``fn`` lowers ``prim`` (a Primitive object) on the CPU backend."""
    def deco(fn):
        if prim in LOWERINGS:
            raise ValueError(f"cpu backend: a second lowering for the primitive {prim.name!r}")
        LOWERINGS[prim] = fn
        return fn
    return deco


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


@register_lowering(transpose_p)
def _transpose(e, ins, out, perm):
    if tuple(perm) == (1, 0):  # a view (np.transpose itself costs seconds of Numba compile time)
        e.views.add(out.id)
        if isinstance(ins[0], Literal) or ins[0].id not in e.views:
            e.fviews.add(out.id)  # the transpose of a C array is F-contiguous: BLAS takes it as is
        e.emit(f"{e.new(out)} = {e.atom(ins[0])}.T")
        return
    # N-d: a copy kernel that reads the input with permuted indices
    d = len(perm)
    inv = [perm.index(p) for p in range(d)]
    loops = "".join("    " * (k + 1) + f"for i{k} in range(dims[{k}]):\n" for k in range(d))
    out_idx = ", ".join(f"i{k}" for k in range(d))
    in_idx = ", ".join(f"i{j}" for j in inv)
    body = "    " * (d + 1) + f"o0[{out_idx}] = x0_[{in_idx}]\n"
    name = e.alloc(out)
    e.kernel(f"def kernel(dims, x0_, o0):\n{loops}{body}", KERNEL_FLAGS,
             [e.shape(cshape(out.aval)), e.atom(ins[0]), name])


@register_lowering(reshape_p)
def _reshape(e, ins, out, shape):
    e.emit(f"{e.new(out)} = {e.contig(ins[0])}.reshape({e.shape(cshape(out.aval))})")


@register_lowering(slice_p)
def _slice(e, ins, out, index):
    parts = []
    for a, b, c in index:
        parts.append(f"{e.size(a)}:{e.size(b) if b >= 0 else ''}:{e.size(c)}")
    e.views.add(out.id)
    e.emit(f"{e.new(out)} = {e.atom(ins[0])}[{', '.join(parts)}]")


@register_lowering(unslice_p)
def _unslice(e, ins, out, shape, index):
    name = e.new(out)
    e.emit(f"{name} = np.zeros({e.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
    parts = [f"{e.size(a)}:{e.size(b) if b >= 0 else ''}:{e.size(c)}" for a, b, c in index]
    if parts:
        e.emit(f"{name}[{', '.join(parts)}] = {e.atom(ins[0])}")


@register_lowering(concatenate_p)
def _concatenate(e, ins, out, axis):
    parts = "".join(f"{e.contig(a)}, " for a in ins)
    e.emit(f"{e.new(out)} = np.concatenate(({parts}), axis={axis})")


def _three(e, value: str, axis, shape) -> str:
    """``value`` (an expression) viewed as (before ``axis``, ``axis``, after ``axis``)."""
    pre, post = _prod(shape[:axis]), _prod(shape[axis + 1:])
    return f"{value}.reshape(({e.size(pre)}, {e.size(shape[axis])}, {e.size(post)}))"


@register_lowering(gather_p)
def _gather(e, ins, out, axis):
    x, idx = ins
    shape = tuple(x.aval.shape)
    m = _prod(idx.aval.shape)
    name = e.alloc(out)
    pre, post = _prod(shape[:axis]), _prod(shape[axis + 1:])
    e.call("_gather", _three(e, e.contig(x), axis, shape), f"{e.contig(idx)}.reshape(({e.size(m)},))",
           f"{name}.reshape(({e.size(pre)}, {e.size(m)}, {e.size(post)}))", str(axis))


@register_lowering(gather_grad_p)
def _gather_grad(e, ins, out, shape, axis):
    g, idx = ins
    name = e.new(out)
    m = _prod(idx.aval.shape)
    pre, post = _prod(shape[:axis]), _prod(shape[axis + 1:])
    e.emit(f"{name} = np.zeros({e.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
    e.call("_gather_grad", f"{e.contig(g)}.reshape(({e.size(pre)}, {e.size(m)}, {e.size(post)}))",
           f"{e.contig(idx)}.reshape(({e.size(m)},))", _three(e, name, axis, shape))


def _arg(e, ins, out, axis, kind):
    x = ins[0]
    shape = tuple(x.aval.shape)
    name = e.alloc(out)
    pre, post = _prod(shape[:axis]), _prod(shape[axis + 1:])
    e.call("_arg" + kind, _three(e, e.contig(x), axis, shape), f"{name}.reshape(({e.size(pre)}, {e.size(post)}))")


@register_lowering(argmax_p)
def _argmax(e, ins, out, axis, index_dtype):
    _arg(e, ins, out, axis, "max")


@register_lowering(argmin_p)
def _argmin(e, ins, out, axis, index_dtype):
    _arg(e, ins, out, axis, "min")


@register_lowering(iota_p)
def _iota(e, ins, out, n, dtype):
    e.emit(f"{e.new(out)} = np.arange({e.size(n)}).astype({dtype_ctor(dtype)})")


@register_lowering(random_uniform_p)
def _random_uniform(e, ins, out, shape, dtype, stream):
    n = _prod(shape)
    if len(cshape(out.aval)) == 1:
        name = e.alloc(out, (n,))
        e.call("_uniform_" + dtype.name, e.atom(ins[0]), name, str(stream))
        e.emit(f"{name} = {name}.reshape({e.shape(cshape(out.aval))})")
        return
    # filled through a flat view: rebinding the name to another rank fails to type inside a loop body
    name = e.alloc(out)
    e.call("_uniform_" + dtype.name, e.atom(ins[0]), f"{name}.reshape(({e.size(n)},))", str(stream))


def _mm2_form(m: int, n: int, k: int) -> str:
    """The 2-D loop matmul for an (m, k) @ (k, n) product (``helpers``): chosen here from the graph's shape, so
    that the entry carries one loop nest, not all three behind run-time branches."""
    if n >= DOT_COLUMNS:
        return "_mm2_axpy"
    return "_mm2_rows" if k < m else "_mm2_dot4"


def blas_sized(out, k: int) -> bool:
    """Does a matmul with result ``out`` (a ShapedArray) and inner size ``k`` compute in BLAS (a float product
    of at least ``SMALL_MATMUL`` multiply-adds per matrix)?"""
    *_, m, n = out.shape
    return out.dtype.name in ("float32", "float64") and m * n * k >= SMALL_MATMUL


@register_lowering(matmul_p)
def _matmul(e, ins, out):
    a, b = ins
    dt = out.aval.dtype
    *batch, m, n = out.aval.shape
    k = a.aval.shape[-1]
    nb = _prod(batch)
    blas = blas_sized(out.aval, k)
    if not batch and blas and _blas.AVAILABLE:  # NumPy's BLAS, operands as they lie (``blas``)
        name = e.alloc(out)
        if _blas.IMPORT not in e.support:
            e.support.append(_blas.IMPORT)
        ops = [e.atom(x) if x.id in e.fviews else e.contig(x) for x in (a, b)]
        for line in _blas.gemm_lines(dt.name, ops[0], a.id in e.fviews, ops[1], b.id in e.fviews, name,
                                     e.size(m), e.size(n), e.size(k)):
            e.emit(line)
        return
    if not batch and blas:
        name = e.new(out)
        ops = [e.atom(x) if x.id in e.fviews else e.contig(x) for x in (a, b)]
        e.emit(f"{name} = np.dot({ops[0]}, {ops[1]})")
        return
    if not batch:  # any layout: transposed views are read in place
        name = e.alloc(out)
        e.call(_mm2_form(m, n, k), e.atom(a), e.atom(b), name)
        return
    na = _prod(a.aval.shape[:-2])
    nbb = _prod(b.aval.shape[:-2])
    loop = "_mm_dot" if n < DOT_COLUMNS else "_mm_axpy"
    if len(batch) == 1:
        name = e.alloc(out, (nb, m, n))
        dest = name
    else:  # filled through an (nb, m, n) view: rebinding the name to another rank fails to type in a loop body
        name = e.alloc(out)
        dest = f"{name}.reshape(({e.size(nb)}, {e.size(m)}, {e.size(n)}))"
    e.call("_mm_blas" if blas else loop, f"{e.contig(a)}.reshape(({e.size(na)}, {e.size(m)}, {e.size(k)}))",
           f"{e.contig(b)}.reshape(({e.size(nbb)}, {e.size(k)}, {e.size(n)}))", dest)
    if len(batch) == 1:
        e.emit(f"{name} = {name}.reshape({e.shape(cshape(out.aval))})")
