"""Generate the Python source of a graph's Numba entry function.

The entry function ``entry(*inputs, S)`` runs the graph's steps in order:
fused kernels (their own modules, so every graph containing a kernel reuses
its machine code), BLAS/loop matmuls, views for shape ops, and library
helpers. Every size it needs (allocation shapes, reshape targets, slice
bounds) is read from the int64 tuple ``S`` passed at run time, so the source,
and hence the compiled machine code, does not depend on array sizes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ...ir import Graph, Literal
from ...passes.fusion import FusedGroup, partition
from ..codegen.scalar import dtype_ctor, literal_expr
from .helpers import helper_source
from .kernels import PARALLEL_THRESHOLD, cshape, kernel_source

SMALL_MATMUL = 16 * 16 * 16   # below m*n*k, a generated loop beats the BLAS call overhead

HEADER = "import math\nimport numpy as np\nfrom numba import njit, prange\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Program:
    """Generated code for one graph."""

    entry_source: str
    kernels: dict                       # module name -> source
    sizes: tuple                        # the S tuple
    outputs: list                       # per graph output: ('res', k) | ('in', i) | ('lit', array)
    in_ranks: list = field(default_factory=list)


def kernel_module(g: FusedGroup) -> tuple:
    size = int(np.prod(g.domain, dtype=np.int64)) if g.domain else 1
    parallel = size >= PARALLEL_THRESHOLD
    body = kernel_source(g, parallel)
    flags = 'cache=True, error_model="numpy"' + (", parallel=True" if parallel else "")
    src = f"{HEADER}\n\n@njit({flags})\n{body}"
    return f"_jx_k_{digest(src)}", src


class _Entry:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.S: list = []
        self.lines: list = []
        self.names: dict = {}
        self.helpers: list = []
        self.kernels: dict = {}
        self.tmp = 0

    def size(self, v: int) -> str:
        self.S.append(int(v))
        return f"S[{len(self.S) - 1}]"

    def shape(self, shape) -> str:
        return "(" + "".join(f"{self.size(d)}, " for d in shape) + ")"

    def helper(self, name: str) -> str:
        if name not in self.helpers:
            self.helpers.append(name)
        return name

    def atom(self, a) -> str:
        if isinstance(a, Literal):
            return f"np.full(1, {literal_expr(a)})"
        return self.names[a.id]

    def contig(self, a) -> str:
        return f"np.ascontiguousarray({self.atom(a)})"

    def new(self, v) -> str:
        name = f"v{len(self.names)}"
        self.names[v.id] = name
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    # -- steps --
    def group(self, g: FusedGroup) -> None:
        mod, src = kernel_module(g)
        self.kernels[mod] = src
        alias = f"k_{mod[6:14]}"
        outs = []
        for v in g.outputs:
            name = self.new(v)
            self.emit(f"{name} = np.empty({self.shape(cshape(v.aval))}, {dtype_ctor(v.aval.dtype)})")
            outs.append(name)
        dims = self.shape(tuple(g.domain) or (1,))
        args = [dims] + [self.atom(a) for a in g.inputs] + outs
        self.emit(f"{alias}({', '.join(args)})")

    def library(self, n) -> None:
        p, name, out = n.params, n.prim.name, n.outvars[0]
        ins = n.invars
        method = getattr(self, f"lib_{name}", None)
        if method is None:
            raise NotImplementedError(f"cpu backend: no lowering for the primitive {name!r}")
        method(ins, out, **p)

    def lib_transpose(self, ins, out, perm):
        self.emit(f"{self.new(out)} = np.transpose({self.atom(ins[0])}, ({''.join(f'{q}, ' for q in perm)}))")

    def lib_reshape(self, ins, out, shape):
        self.emit(f"{self.new(out)} = {self.contig(ins[0])}.reshape({self.shape(cshape(out.aval))})")

    def lib_slice(self, ins, out, index):
        parts = []
        for a, b, c in index:
            parts.append(f"{self.size(a)}:{self.size(b) if b >= 0 else ''}:{self.size(c)}")
        self.emit(f"{self.new(out)} = {self.atom(ins[0])}[{', '.join(parts)}]")

    def lib_unslice(self, ins, out, shape, index):
        name = self.new(out)
        self.emit(f"{name} = np.zeros({self.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
        parts = [f"{self.size(a)}:{self.size(b) if b >= 0 else ''}:{self.size(c)}" for a, b, c in index]
        if parts:
            self.emit(f"{name}[{', '.join(parts)}] = {self.atom(ins[0])}")

    def lib_concatenate(self, ins, out, axis):
        parts = "".join(f"{self.contig(a)}, " for a in ins)
        self.emit(f"{self.new(out)} = np.concatenate(({parts}), axis={axis})")

    def _three(self, a, axis, shape) -> str:
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1:], dtype=np.int64))
        return f"{self.contig(a)}.reshape(({self.size(pre)}, {self.size(shape[axis])}, {self.size(post)}))"

    def lib_gather(self, ins, out, axis):
        x, idx = ins
        shape = tuple(x.aval.shape)
        name = self.new(out)
        m = int(np.prod(idx.aval.shape, dtype=np.int64))
        self.emit(f"{name} = np.empty({self.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1:], dtype=np.int64))
        self.emit(f"{self.helper('_gather')}({self._three(x, axis, shape)}, "
                  f"{self.contig(idx)}.reshape(({self.size(m)},)), "
                  f"{name}.reshape(({self.size(pre)}, {self.size(m)}, {self.size(post)})))")

    def lib_gather_grad(self, ins, out, shape, axis):
        g, idx = ins
        name = self.new(out)
        m = int(np.prod(idx.aval.shape, dtype=np.int64))
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1:], dtype=np.int64))
        self.emit(f"{name} = np.zeros({self.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
        self.emit(f"{self.helper('_gather_grad')}({self.contig(g)}.reshape(({self.size(pre)}, {self.size(m)}, "
                  f"{self.size(post)})), {self.contig(idx)}.reshape(({self.size(m)},)), "
                  f"{self._three_name(name, axis, shape)})")

    def _three_name(self, name, axis, shape):
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1:], dtype=np.int64))
        return f"{name}.reshape(({self.size(pre)}, {self.size(shape[axis])}, {self.size(post)}))"

    def _arg(self, ins, out, axis, kind):
        x = ins[0]
        shape = tuple(x.aval.shape)
        name = self.new(out)
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1:], dtype=np.int64))
        self.emit(f"{name} = np.empty({self.shape(cshape(out.aval))}, {dtype_ctor(out.aval.dtype)})")
        self.emit(f"{self.helper('_arg' + kind)}({self._three(x, axis, shape)}, "
                  f"{name}.reshape(({self.size(pre)}, {self.size(post)})))")

    def lib_argmax(self, ins, out, axis, index_dtype):
        self._arg(ins, out, axis, "max")

    def lib_argmin(self, ins, out, axis, index_dtype):
        self._arg(ins, out, axis, "min")

    def lib_iota(self, ins, out, n, dtype):
        self.emit(f"{self.new(out)} = np.arange({self.size(n)}).astype({dtype_ctor(dtype)})")

    def lib_random_uniform(self, ins, out, shape, dtype, stream):
        name = self.new(out)
        n = int(np.prod(shape, dtype=np.int64))
        self.emit(f"{name} = np.empty(({self.size(n)},), {dtype_ctor(dtype)})")
        self.emit(f"{self.helper('_uniform_' + dtype.name)}({self.atom(ins[0])}, {name}, {stream})")
        self.emit(f"{name} = {name}.reshape({self.shape(cshape(out.aval))})")

    def lib_matmul(self, ins, out):
        a, b = ins
        dt = out.aval.dtype
        *batch, m, n = out.aval.shape
        k = a.aval.shape[-1]
        nb = int(np.prod(batch, dtype=np.int64))
        blas = dt.name in ("float32", "float64") and m * n * k >= SMALL_MATMUL
        name = self.new(out)
        if not batch and blas:
            self.emit(f"{name} = np.dot({self.contig(a)}, {self.contig(b)})")
            return
        na = int(np.prod(a.aval.shape[:-2], dtype=np.int64))
        nbb = int(np.prod(b.aval.shape[:-2], dtype=np.int64))
        fn = self.helper("_mm_blas" if blas else "_mm_loop")
        self.emit(f"{name} = np.empty(({self.size(nb)}, {self.size(m)}, {self.size(n)}), {dtype_ctor(dt)})")
        self.emit(f"{fn}({self.contig(a)}.reshape(({self.size(na)}, {self.size(m)}, {self.size(k)})), "
                  f"{self.contig(b)}.reshape(({self.size(nbb)}, {self.size(k)}, {self.size(n)})), {name})")
        self.emit(f"{name} = {name}.reshape({self.shape(cshape(out.aval))})")


def generate(graph: Graph) -> Program:
    """Generate the entry function and kernels for an optimised graph."""
    graph = legalize(graph)
    e = _Entry(graph)
    params = []
    for i, v in enumerate(graph.invars + graph.constvars):
        e.names[v.id] = f"a{i}"
        params.append(f"a{i}")
    for step in partition(graph):
        if isinstance(step, FusedGroup):
            e.group(step)
        else:
            e.library(step.node)
    # outputs
    in_index = {v.id: i for i, v in enumerate(graph.invars + graph.constvars)}
    outputs, results = [], []
    for o in graph.outvars:
        if isinstance(o, Literal):
            outputs.append(("lit", np.array(o.val)))
        elif o.id in in_index:
            outputs.append(("in", in_index[o.id]))
        else:
            outputs.append(("res", len(results)))
            results.append(e.names[o.id])
    ret = "(" + "".join(f"{r}, " for r in results) + ")"
    imports = "".join(f"from {mod} import kernel as k_{mod[6:14]}\n" for mod in e.kernels)
    helpers = "\n".join(helper_source(h) for h in e.helpers)
    if any(h.startswith("_uniform_") for h in e.helpers):
        imports += "from jaxish.primitives.philox import philox_uniform_bits as _philox_py\n"
    body = "\n".join(e.lines) or "    pass"
    src = (f"{HEADER}{imports}\n{helpers}\n\n@njit(cache=True, error_model=\"numpy\")\n"
           f"def entry({', '.join(params + ['S'])}):\n{body}\n    return {ret}\n")
    return Program(src, e.kernels, tuple(e.S) or (0,), outputs)


def legalize(graph: Graph) -> Graph:
    """Make matmul batch broadcasting explicit where one side is neither full nor all ones."""
    from ...core import PRIMITIVES
    from ...ir import Node, ShapedArray, Var
    nodes, changed = [], False
    for n in graph.nodes:
        if n.prim.name == "matmul":
            out_batch = tuple(n.outvars[0].aval.shape[:-2])
            ins = []
            for a in n.invars:
                batch = tuple(a.aval.shape[:-2])
                if batch != out_batch and int(np.prod(batch, dtype=np.int64)) != 1:
                    shape = out_batch + tuple(a.aval.shape[-2:])
                    v = Var(ShapedArray(shape, a.aval.dtype, a.aval.weak_type))
                    nodes.append(Node(PRIMITIVES["broadcast_to"], [a], {"shape": shape}, [v]))
                    a, changed = v, True
                ins.append(a)
            n = Node(n.prim, ins, n.params, n.outvars)
        nodes.append(n)
    return Graph(graph.invars, nodes, graph.outvars, graph.constvars, graph.consts) if changed else graph
