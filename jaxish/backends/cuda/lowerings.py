"""The CUDA backend's lowering table: host steps and kernels for the primitives that are not fused.

``LOWERINGS[prim]`` is ``fn(p, ins, out, **params)``: it adds steps to the
program ``p`` (a ``codegen.Program``) computing ``out`` from the operands
``ins``, keyed by the same primitive objects as the CPU table
(``backends/cpu/lowerings.py``). Elementwise primitives and reductions are
never here: they are lowered inside fused kernels from their ``scalar``
templates and ``ReduceSpec``. A primitive missing from this table makes
``Program`` raise ``Unsupported`` naming it.

Every kernel is a grid-stride loop except matmul's tiled kernel. Values are
C-contiguous device arrays, so reshape is a view and transposes, slices and
concatenations are copy kernels.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ...primitives import philox
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
from . import runtime as rt
from .kernels import cshape

LOWERINGS: dict = {}
"""Primitive -> ``fn(program, ins, out, **params)``."""


def register_lowering(prim) -> Callable:
    """Decorator: ``fn`` lowers ``prim`` (a Primitive object) on the CUDA backend."""
    def deco(fn):
        if prim in LOWERINGS:
            raise ValueError(f"cuda backend: a second lowering for the primitive {prim.name!r}")
        LOWERINGS[prim] = fn
        return fn
    return deco


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _view(arr, shape):
    shape = tuple(shape)
    return arr if arr.shape == shape else arr.reshape(shape)


def _decompose(d: int, dims: str = "dims", var: str = "lin", indent: str = "        ") -> str:
    """Source setting ``i0 … i{d-1}`` (row-major over the tuple ``dims``) from the flat index ``var``."""
    if d == 1:
        return f"{indent}i0 = {var}\n"
    lines = [f"{indent}q = {var}"]
    for j in range(d - 1, 0, -1):
        lines += [f"{indent}i{j} = q % {dims}[{j}]", f"{indent}q = q // {dims}[{j}]"]
    lines.append(f"{indent}i0 = q")
    return "\n".join(lines) + "\n"


_LOOP = "    for lin in range(cuda.grid(1), n, cuda.gridsize(1)):\n"

FILL = "def kernel(n, o, value):\n" + _LOOP + "        o[lin] = value\n"


def zeros_step(p, k: int, aval) -> None:
    """A step writing zeros into the (allocated) value in slot ``k``."""
    n = _prod(cshape(aval))
    if n == 0:
        return
    launch = p.kernel(FILL)[rt.grid(n)]
    zero = np.zeros((), aval.dtype.np)[()]

    def fn(env):
        launch(n, _view(env[k], (n,)), zero)
    p.step(fn)


@register_lowering(reshape_p)
def _reshape(p, ins, out, shape):
    src, dst = p.atom(ins[0]), p.new(out)
    shp = cshape(out.aval)

    def fn(env):
        env[dst] = _view(env[src], shp)
    p.step(fn)


@register_lowering(transpose_p)
def _transpose(p, ins, out, perm):
    d = len(perm)
    src, dst = p.atom(ins[0]), p.alloc(out)
    n = _prod(out.aval.shape)
    if n == 0:
        return
    if d <= 1:
        _copy(p, src, dst, n)
        return
    inv = [list(perm).index(a) for a in range(d)]
    body = ("def kernel(n, dims, x, o):\n" + _LOOP + _decompose(d) +
            f"        o[lin] = x[{', '.join(f'i{j}' for j in inv)}]\n")
    launch = p.kernel(body)[rt.grid(n)]
    dims, xshape = tuple(out.aval.shape), tuple(ins[0].aval.shape)

    def fn(env):
        launch(n, dims, _view(env[src], xshape), _view(env[dst], (n,)))
    p.step(fn)


def _slice_triples(index):
    return tuple(int(a) for a, _, _ in index), tuple(int(c) for _, _, c in index)


@register_lowering(slice_p)
def _slice(p, ins, out, index):
    d = len(index)
    src, dst = p.atom(ins[0]), p.alloc(out)
    n = _prod(out.aval.shape)
    if n == 0 or d == 0:
        if d == 0 and n:
            _copy(p, src, dst, n)
        return
    starts, steps = _slice_triples(index)
    idx = ", ".join(f"a[{j}] + i{j} * c[{j}]" for j in range(d))
    body = "def kernel(n, dims, a, c, x, o):\n" + _LOOP + _decompose(d) + f"        o[lin] = x[{idx}]\n"
    launch = p.kernel(body)[rt.grid(n)]
    dims, xshape = tuple(out.aval.shape), tuple(ins[0].aval.shape)

    def fn(env):
        launch(n, dims, starts, steps, _view(env[src], xshape), _view(env[dst], (n,)))
    p.step(fn)


COPY = "def kernel(n, x, o):\n" + _LOOP + "        o[lin] = x[lin]\n"


def _copy(p, src: int, dst: int, n: int) -> None:
    launch = p.kernel(COPY)[rt.grid(n)]

    def fn(env):
        launch(n, _view(env[src], (n,)), _view(env[dst], (n,)))
    p.step(fn)


@register_lowering(unslice_p)
def _unslice(p, ins, out, shape, index):
    d = len(index)
    src, dst = p.atom(ins[0]), p.alloc(out)
    zeros_step(p, dst, out.aval)
    n = _prod(ins[0].aval.shape)
    if n == 0:
        return
    if d == 0:
        _copy(p, src, dst, n)
        return
    starts, steps = _slice_triples(index)
    idx = ", ".join(f"a[{j}] + i{j} * c[{j}]" for j in range(d))
    body = "def kernel(n, dims, a, c, g, o):\n" + _LOOP + _decompose(d) + f"        o[{idx}] = g[lin]\n"
    launch = p.kernel(body)[rt.grid(n)]
    dims, oshape = tuple(ins[0].aval.shape), tuple(out.aval.shape)

    def fn(env):
        launch(n, dims, starts, steps, _view(env[src], (n,)), _view(env[dst], oshape))
    p.step(fn)


CONCAT = ("def kernel(n, mid, post, off, total, x, o):\n" + _LOOP +
          "        r = lin % post\n        q = lin // post\n        j = q % mid\n        pre = q // mid\n"
          "        o[pre, off + j, r] = x[pre, j, r]\n")


@register_lowering(concatenate_p)
def _concatenate(p, ins, out, axis):
    dst = p.alloc(out)
    shape = tuple(out.aval.shape)
    pre, post, total = _prod(shape[:axis]), _prod(shape[axis + 1:]), shape[axis]
    off = 0
    for a in ins:
        mid = a.aval.shape[axis]
        n = pre * mid * post
        if n:
            src = p.atom(a)
            launch = p.kernel(CONCAT)[rt.grid(n)]

            def fn(env, src=src, launch=launch, mid=mid, n=n, off=off):
                launch(n, mid, post, off, total, _view(env[src], (pre, mid, post)),
                       _view(env[dst], (pre, total, post)))
            p.step(fn)
        off += mid


@register_lowering(iota_p)
def _iota(p, ins, out, n, dtype):
    dst = p.alloc(out)
    if n == 0:
        return
    launch = p.kernel("def kernel(n, o):\n" + _LOOP + f"        o[lin] = {dtype_ctor(dtype)}(lin)\n")[rt.grid(n)]

    def fn(env):
        launch(n, env[dst])
    p.step(fn)


# As TensorFlow on GPUs: an out-of-range index gathers zeros (a kernel cannot raise); the NumPy reference and
# the CPU backend raise IndexError
GATHER = ("def kernel(n, m, post, nx, x, idx, o):\n" + _LOOP +
          "        r = lin % post\n        q = lin // post\n        j = q % m\n        pre = q // m\n"
          "        t = idx[j]\n        if t < 0:\n            t += nx\n"
          "        if t >= 0 and t < nx:\n            o[pre, j, r] = x[pre, t, r]\n"
          "        else:\n            o[pre, j, r] = 0\n")


@register_lowering(gather_p)
def _gather(p, ins, out, axis):
    x, idx = ins
    shape = tuple(x.aval.shape)
    src, isrc, dst = p.atom(x), p.atom(idx), p.alloc(out)
    pre, post, nx = _prod(shape[:axis]), _prod(shape[axis + 1:]), shape[axis]
    m = _prod(idx.aval.shape)
    n = pre * m * post
    if n == 0:
        return
    launch = p.kernel(GATHER)[rt.grid(n)]

    def fn(env):
        launch(n, m, post, nx, _view(env[src], (pre, nx, post)), _view(env[isrc], (m,)),
               _view(env[dst], (pre, m, post)))
    p.step(fn)


GATHER_GRAD = ("def kernel(n, m, post, nx, g, idx, o):\n" + _LOOP +
               "        r = lin % post\n        q = lin // post\n        j = q % m\n        pre = q // m\n"
               "        t = idx[j]\n        if t < 0:\n            t += nx\n"
               "        if t >= 0 and t < nx:\n            cuda.atomic.add(o, (pre, t, r), g[pre, j, r])\n")


@register_lowering(gather_grad_p)
def _gather_grad(p, ins, out, shape, axis):
    g, idx = ins
    if out.aval.dtype.name not in ("float32", "float64", "int32", "int64"):
        from .codegen import Unsupported
        raise Unsupported(f"cuda backend: gather_grad of {out.aval.dtype.name} (atomic adds) is not supported yet")
    src, isrc, dst = p.atom(g), p.atom(idx), p.alloc(out)
    zeros_step(p, dst, out.aval)
    shape = tuple(shape)
    pre, post, nx = _prod(shape[:axis]), _prod(shape[axis + 1:]), shape[axis]
    m = _prod(idx.aval.shape)
    n = pre * m * post
    if n == 0:
        return
    launch = p.kernel(GATHER_GRAD)[rt.grid(n)]

    def fn(env):
        launch(n, m, post, nx, _view(env[src], (pre, m, post)), _view(env[isrc], (m,)),
               _view(env[dst], (pre, nx, post)))
    p.step(fn)


ARG = ("def kernel(n, post, nx, x, o):\n" + _LOOP +
       "        r = lin % post\n        pre = lin // post\n"
       "        best = 0\n        bv = x[pre, 0, r]\n        if bv == bv:\n"
       "            for j in range(1, nx):\n                v = x[pre, j, r]\n"
       "                if v != v:\n                    best = j\n                    break\n"
       "                if v {op} bv:\n                    bv = v\n                    best = j\n"
       "        o[lin] = best\n")


def _arg(p, ins, out, axis, op):
    x = ins[0]
    shape = tuple(x.aval.shape)
    src, dst = p.atom(x), p.alloc(out)
    pre, post, nx = _prod(shape[:axis]), _prod(shape[axis + 1:]), shape[axis]
    n = pre * post
    if n == 0:
        return
    launch = p.kernel(ARG.replace("{op}", op))[rt.grid(n)]

    def fn(env):
        launch(n, post, nx, _view(env[src], (pre, nx, post)), _view(env[dst], (n,)))
    p.step(fn)


@register_lowering(argmax_p)
def _argmax(p, ins, out, axis, index_dtype):
    _arg(p, ins, out, axis, ">")


@register_lowering(argmin_p)
def _argmin(p, ins, out, axis, index_dtype):
    _arg(p, ins, out, axis, "<")


UNIFORM = ("def kernel(n, state, stream, o):\n"
           "    seed = np.uint64(state[0])\n    counter = np.uint64(state[1])\n    st = np.uint64(stream)\n"
           + _LOOP +
           "        w0, w1 = philox_words(np.uint64(lin), seed, counter, st)\n"
           "        o[lin] = unit_{dt}(w0, w1)\n")


@register_lowering(random_uniform_p)
def _random_uniform(p, ins, out, shape, dtype, stream):
    src, dst = p.atom(ins[0]), p.alloc(out)
    n = _prod(shape)
    if n == 0:
        return
    # Philox and the bits-to-float mapping: the functions the NumPy reference runs, emitted as device functions
    extra = philox.source("@cuda.jit(device=True)", (philox.philox_uniform_bits, philox.philox_words,
                                                     philox.UNIT[dtype.name]))
    launch = p.kernel(UNIFORM.replace("{dt}", dtype.name), extra)[rt.grid(n)]

    def fn(env):
        launch(n, env[src], stream, _view(env[dst], (n,)))
    p.step(fn)


# -- matmul -----------------------------------------------------------------
MM_SMALL = ("def kernel(n, m, nn, k, sa, sb, a, b, o):\n" + _LOOP +
            "        col = lin % nn\n        q = lin // nn\n        row = q % m\n        bi = q // m\n"
            "        acc = {zero}\n"
            "        for t in range(k):\n            acc += a[bi * sa, row, t] * b[bi * sb, t, col]\n"
            "        o[bi, row, col] = acc\n")

# one output tile per block (tile x tile threads), over the batch with a grid-stride loop on the z axis
MM_TILED = '''def kernel(nb, m, nn, k, sa, sb, a, b, o):
    ta = cuda.shared.array(({T}, {T}), {dt})
    tb = cuda.shared.array(({T}, {T}), {dt})
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * {T} + ty
    col = cuda.blockIdx.x * {T} + tx
    for bi in range(cuda.blockIdx.z, nb, cuda.gridDim.z):
        acc = {zero}
        for t0 in range(0, k, {T}):
            if row < m and t0 + tx < k:
                ta[ty, tx] = a[bi * sa, row, t0 + tx]
            else:
                ta[ty, tx] = {zero}
            if col < nn and t0 + ty < k:
                tb[ty, tx] = b[bi * sb, t0 + ty, col]
            else:
                tb[ty, tx] = {zero}
            cuda.syncthreads()
            for j in range({T}):
                acc += ta[ty, j] * tb[j, tx]
            cuda.syncthreads()
        if row < m and col < nn:
            o[bi, row, col] = acc
'''


@register_lowering(matmul_p)
def _matmul(p, ins, out):
    a, b = ins
    dt = out.aval.dtype
    *batch, m, n = out.aval.shape
    k = a.aval.shape[-1]
    nb = _prod(batch)
    na, nbb = _prod(a.aval.shape[:-2]), _prod(b.aval.shape[:-2])
    sa, sb = (1 if na > 1 else 0), (1 if nbb > 1 else 0)
    src_a, src_b, dst = p.atom(a), p.atom(b), p.alloc(out)
    total = nb * m * n
    if total == 0:
        return
    zero = f"{dtype_ctor(dt)}(0)"
    cfg = p.cfg
    if m * n * k < cfg.small_matmul or dt.kind not in "f":
        launch = p.kernel(MM_SMALL.replace("{zero}", zero))[rt.grid(total)]

        def fn(env):
            launch(total, m, n, k, sa, sb, _view(env[src_a], (na, m, k)), _view(env[src_b], (nbb, k, n)),
                   _view(env[dst], (nb, m, n)))
        p.step(fn)
        return
    T = cfg.tile
    body = MM_TILED.replace("{T}", str(T)).replace("{dt}", dtype_ctor(dt)).replace("{zero}", zero)
    gz = min(nb, 65535)
    launch = p.kernel(body)[(math.ceil(n / T), math.ceil(m / T), gz), (T, T)]

    def fn2(env):
        launch(nb, m, n, k, sa, sb, _view(env[src_a], (na, m, k)), _view(env[src_b], (nbb, k, n)),
               _view(env[dst], (nb, m, n)))
    p.step(fn2)
