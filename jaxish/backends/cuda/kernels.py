"""CUDA kernel source for fused groups (``passes.fusion.FusedGroup``).

The members' scalar expressions, reduction identities, updates and
accumulator dtypes all come from ``backends/codegen/scalar.py`` (shared with
the CPU generator); only the loops around them are CUDA's:

* an elementwise group is one grid-stride loop over the flat index of its
  domain. Operands of the domain's full shape, single elements and outputs
  are read and written through flat views; a broadcast operand through an
  N-d view with index 0 on its broadcast axes (the flat index is decomposed
  only when such an operand exists);
* a group with reductions splits its domain into kept rows (``nk``) and the
  reduced elements of a row (``nr``). With many rows, each thread reduces
  whole rows in a loop (``serial``: no shared memory, coalesced for
  reductions over leading axes). Otherwise, when the innermost axis is
  reduced, each block reduces a row, or a chunk of one (``chunks`` blocks per
  row, when rows are few and long), in a shared-memory tree; when the
  innermost axes are kept, threads of consecutive inner indices read
  consecutive elements in a grid-stride loop (``coalesced_source``), each
  over every ``nc``-th element of its row. Partial accumulators get a second
  pass (``finish_source``) that combines them.

Kernels take their sizes at run time (``n``, ``dims``, ``nk``, …), so one
compiled kernel serves every size with the same dtypes, ranks and broadcast
pattern; the block size of a tree is part of the source (a shared array).
"""
from __future__ import annotations

from ...ir import Literal
from ...passes.fusion import FusedGroup
from ..codegen.scalar import (
    accumulator_dtype,
    dtype_ctor,
    elementwise_expr,
    literal_expr,
    reduction_init,
    reduction_update,
)


def cshape(aval) -> tuple:
    """Kernels see 0-d values as shape (1,)."""
    return tuple(aval.shape) or (1,)


def padded(aval, d: int) -> tuple:
    """``aval``'s shape left-padded with ones to rank ``d`` (how a broadcast operand is viewed)."""
    shp = cshape(aval)
    return (1,) * (d - len(shp)) + shp


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def input_kind(aval, domain: tuple) -> str:
    """``'flat'`` (the domain's shape), ``'one'`` (one element) or ``'bcast'``."""
    dom = tuple(domain) or (1,)
    if _size(cshape(aval)) == 1:
        return "one"
    if padded(aval, len(dom)) == dom:
        return "flat"
    return "bcast"


class _Body:
    """The per-element statements of a group: input reads, members, literal bindings."""

    def __init__(self, g: FusedGroup, d: int, index_of_input):
        self.g = g
        self.d = d
        self.in_names = {a.id: f"x{k}" for k, a in enumerate(g.inputs)}
        self.out_names = {v.id: f"o{k}" for k, v in enumerate(g.outputs)}
        self.member_names = {m.outvars[0].id: f"t{k}" for k, m in enumerate(g.nodes)}
        self.consts: dict = {}     # literal source -> name, bound once at the top
        self.deps: dict = {}       # var id -> the axes its value depends on
        self.stmts: list = []      # (axes, line)
        for a in g.inputs:
            idx, axes = index_of_input(a)
            self.deps[a.id] = axes
            self.stmts.append((axes, f"{self.in_names[a.id]} = {self.in_names[a.id]}_[{idx}]"))
        for m in g.nodes:
            v = m.outvars[0]
            self.deps[v.id] = self.axes_of(m.invars)
            self.stmts.append((self.deps[v.id], f"{self.member_names[v.id]} = "
                               f"{elementwise_expr(m, [self.arg(a) for a in m.invars])}"))

    def arg(self, a) -> str:
        if isinstance(a, Literal):
            src = literal_expr(a)
            if src not in self.consts:
                self.consts[src] = f"c{len(self.consts)}"
            return self.consts[src]
        return self.member_names.get(a.id) or self.in_names[a.id]

    def axes_of(self, atoms) -> frozenset:
        return frozenset().union(*[self.deps[a.id] for a in atoms if not isinstance(a, Literal)])

    def const_lines(self, indent: str) -> list:
        return [f"{indent}{name} = {src}" for src, name in self.consts.items()]


def _decompose(var: str, dims: list, names: list, indent: str) -> list:
    """Lines setting ``names[j]`` (row-major over sizes ``dims[j]``, source expressions) from flat ``var``."""
    if not names:
        return []
    if len(names) == 1:
        return [f"{indent}{names[0]} = {var}"]
    lines = [f"{indent}q = {var}"]
    for j in range(len(names) - 1, 0, -1):
        lines.append(f"{indent}{names[j]} = q % {dims[j]}")
        lines.append(f"{indent}q = q // {dims[j]}")
    lines.append(f"{indent}{names[0]} = q")
    return lines


# ---------------------------------------------------------------------------
# elementwise groups
# ---------------------------------------------------------------------------
def elementwise_source(g: FusedGroup) -> str:
    """``kernel(n, dims, *inputs, *outputs)``: a grid-stride loop over the ``n`` elements of the domain."""
    dom = tuple(g.domain) or (1,)
    d = len(dom)
    kinds = {a.id: input_kind(a.aval, dom) for a in g.inputs}

    def index(a):
        k = kinds[a.id]
        if k == "flat":
            return "lin", frozenset(range(d))
        if k == "one":
            return "0", frozenset()
        shp = padded(a.aval, d)
        return ", ".join("0" if shp[j] == 1 else f"i{j}" for j in range(d)), \
            frozenset(j for j in range(d) if shp[j] != 1)

    b = _Body(g, d, index)
    writes = [f"{b.out_names[v.id]}[lin] = {b.member_names[v.id]}" for v in g.outputs]
    params = ["n", "dims"] + [f"{b.in_names[a.id]}_" for a in g.inputs] + [b.out_names[v.id] for v in g.outputs]
    lines = [f"def kernel({', '.join(params)}):"] + b.const_lines("    ")
    lines.append("    for lin in range(cuda.grid(1), n, cuda.gridsize(1)):")
    if any(k == "bcast" for k in kinds.values()):
        lines += _decompose("lin", [f"dims[{j}]" for j in range(d)], [f"i{j}" for j in range(d)], "        ")
    lines += ["        " + s for _, s in b.stmts] + ["        " + w for w in writes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# groups with reductions
# ---------------------------------------------------------------------------
def split_axes(g: FusedGroup) -> tuple:
    """``(kept axes, reduced axes)`` of the group's (0-d: one-element) domain."""
    d = len(g.domain) or 1
    red = sorted(set(g.axes or ()) if g.domain else {0})
    return [i for i in range(d) if i not in red], red


def _reduction_parts(g: FusedGroup):
    dom = tuple(g.domain) or (1,)
    d = len(dom)

    def index(a):
        shp = padded(a.aval, d)
        return ", ".join("0" if shp[j] == 1 else f"i{j}" for j in range(d)), \
            frozenset(j for j in range(d) if shp[j] != 1)

    b = _Body(g, d, index)
    kept, red = split_axes(g)
    reds = [(r, f"acc{k}", b.out_names[r.outvars[0].id]) for k, r in enumerate(g.reductions)]
    full = ", ".join(f"i{j}" for j in range(d))
    ewrites = [f"{b.out_names[v.id]}[{full}] = {b.member_names[v.id]}" for v in g.outputs if v.id in b.member_names]

    def value(r):
        a = r.invars[0]
        return literal_expr(a) if isinstance(a, Literal) else b.arg(a)

    def update(r, acc, val=None):
        dt = r.invars[0].aval.dtype
        return f"{acc} = {reduction_update(r.prim, dt, acc, val or value(r))}"

    return b, kept, red, reds, ewrites, update


def _row_statements(b, kept, indent: str):
    """The body's statements split into those that depend on kept axes only (hoisted out of the row loop)."""
    outer = [indent + s for axes, s in b.stmts if axes <= set(kept)]
    inner = [indent + "    " + s for axes, s in b.stmts if not axes <= set(kept)]
    return outer, inner


def serial_source(g: FusedGroup) -> str:
    """``kernel(nk, nr, kdims, rdims, *inputs, *outputs)``: each thread reduces whole rows."""
    b, kept, red, reds, ewrites, update = _reduction_parts(g)
    params = ["nk", "nr", "kdims", "rdims"] + [f"{b.in_names[a.id]}_" for a in g.inputs] + \
        [b.out_names[v.id] for v in g.outputs]
    lines = [f"def kernel({', '.join(params)}):"] + b.const_lines("    ")
    lines.append("    for k in range(cuda.grid(1), nk, cuda.gridsize(1)):")
    lines += _decompose("k", [f"kdims[{j}]" for j in range(len(kept))], [f"i{a}" for a in kept], "        ")
    lines += [f"        {acc} = {reduction_init(r.prim, r.invars[0].aval.dtype)}" for r, acc, _ in reds]
    outer, inner = _row_statements(b, kept, "        ")
    lines += outer
    lines.append("        for r in range(nr):")
    lines += _decompose("r", [f"rdims[{j}]" for j in range(len(red))], [f"i{a}" for a in red], "            ")
    lines += inner + ["            " + w for w in ewrites] + ["            " + update(r, acc) for r, acc, _ in reds]
    lines += [f"        {o}[k] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc})" for r, acc, o in reds]
    return "\n".join(lines) + "\n"


def tree_source(g: FusedGroup, block: int, partial: bool) -> str:
    """``kernel(nk, nr, chunk, kdims, rdims, *inputs, *outputs)``: block ``(x, y)`` reduces rows ``x``,
    ``x + gridDim.x``, … over the chunk ``y`` of each (elements ``[y*chunk, (y+1)*chunk)``) in a
    shared-memory tree of ``block`` threads. With ``partial``, each reduction output is an array
    ``[nk, chunks]`` of accumulators (combined by :func:`finish_source`), else the result ``[nk]``."""
    b, kept, red, reds, ewrites, update = _reduction_parts(g)
    params = ["nk", "nr", "chunk", "kdims", "rdims"] + [f"{b.in_names[a.id]}_" for a in g.inputs] + \
        [b.out_names[v.id] for v in g.outputs]
    lines = [f"def kernel({', '.join(params)}):"] + b.const_lines("    ")
    for r, acc, _ in reds:
        lines.append(f"    {acc}_s = cuda.shared.array({block}, {accumulator_dtype(r.prim, r.invars[0].aval.dtype)})")
    lines += ["    tid = cuda.threadIdx.x",
              "    lo = cuda.blockIdx.y * chunk",
              "    hi = min(lo + chunk, nr)",
              "    for k in range(cuda.blockIdx.x, nk, cuda.gridDim.x):"]
    lines += _decompose("k", [f"kdims[{j}]" for j in range(len(kept))], [f"i{a}" for a in kept], "        ")
    lines += [f"        {acc} = {reduction_init(r.prim, r.invars[0].aval.dtype)}" for r, acc, _ in reds]
    outer, inner = _row_statements(b, kept, "        ")
    lines += outer
    lines.append(f"        for r in range(lo + tid, hi, {block}):")
    lines += _decompose("r", [f"rdims[{j}]" for j in range(len(red))], [f"i{a}" for a in red], "            ")
    lines += inner + ["            " + w for w in ewrites] + ["            " + update(r, acc) for r, acc, _ in reds]
    lines += [f"        {acc}_s[tid] = {acc}" for r, acc, _ in reds]
    lines += ["        cuda.syncthreads()",
              f"        s = {block // 2}",
              "        while s > 0:",
              "            if tid < s:"]
    for r, acc, _ in reds:
        lines.append("                " + update(r, f"{acc}_s[tid]", f"{acc}_s[tid + s]"))
    lines += ["            cuda.syncthreads()",
              "            s //= 2",
              "        if tid == 0:"]
    for r, acc, o in reds:
        if partial:
            lines.append(f"            {o}[k, cuda.blockIdx.y] = {acc}_s[0]")
        else:
            lines.append(f"            {o}[k] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc}_s[0])")
    lines.append("        cuda.syncthreads()  # the shared arrays are reused for the next row")
    return "\n".join(lines) + "\n"


def inner_axes(g: FusedGroup) -> list:
    """The kept axes after the last reduced axis (innermost in memory); empty when the innermost axis is
    reduced (then a tree's threads read consecutive elements)."""
    kept, red = split_axes(g)
    return [a for a in kept if a > max(red)]


def coalesced_source(g: FusedGroup, partial: bool) -> str:
    """``kernel(nko, nr, ni, nc, kodims, rdims, idims, *inputs, *outputs)`` for groups whose innermost axes
    are kept (``inner_axes``), where a block per row would read its row with a stride: the kept index splits
    into an outer part ``ko`` (``nko`` values, over ``blockIdx.y``) and the inner axes ``ki`` (``ni``); thread
    ``t = c * ni + ki`` of the x dimension reduces the elements ``r = c, c + nc, c + 2 nc, ...`` of row
    ``(ko, ki)``. Consecutive threads read consecutive addresses at every step (a grid-stride loop over the
    row-major domain), with no shared memory. With ``partial``, each thread's accumulator goes to
    ``[nk, nc]`` (combined by :func:`finish_source`), else ``nc`` is 1 and it is the result."""
    b, kept, red, reds, ewrites, update = _reduction_parts(g)
    inner = inner_axes(g)
    outer = [a for a in kept if a not in inner]
    params = ["nko", "nr", "ni", "nc", "kodims", "rdims", "idims"] + [f"{b.in_names[a.id]}_" for a in g.inputs] + \
        [b.out_names[v.id] for v in g.outputs]
    lines = [f"def kernel({', '.join(params)}):"] + b.const_lines("    ")
    lines += ["    t = cuda.grid(1)",
              "    if t >= ni * nc:",
              "        return",
              "    ki = t % ni",
              "    c = t // ni"]
    lines += _decompose("ki", [f"idims[{j}]" for j in range(len(inner))], [f"i{a}" for a in inner], "    ")
    lines.append("    for ko in range(cuda.blockIdx.y, nko, cuda.gridDim.y):")
    lines += _decompose("ko", [f"kodims[{j}]" for j in range(len(outer))], [f"i{a}" for a in outer], "        ")
    lines += [f"        {acc} = {reduction_init(r.prim, r.invars[0].aval.dtype)}" for r, acc, _ in reds]
    hoisted, looped = _row_statements(b, kept, "        ")
    lines += hoisted
    lines.append("        for r in range(c, nr, nc):")
    lines += _decompose("r", [f"rdims[{j}]" for j in range(len(red))], [f"i{a}" for a in red], "            ")
    lines += looped + ["            " + w for w in ewrites] + ["            " + update(r, acc) for r, acc, _ in reds]
    lines.append("        k = ko * ni + ki")
    for r, acc, o in reds:
        if partial:
            lines.append(f"        {o}[k, c] = {acc}")
        else:
            lines.append(f"        {o}[k] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc})")
    return "\n".join(lines) + "\n"


def finish_source(r) -> str:
    """``kernel(nk, nc, p, o)``: combine the ``nc`` partial accumulators of each of ``nk`` rows of reduction
    node ``r`` and write its results."""
    dt = r.invars[0].aval.dtype
    return "\n".join([
        "def kernel(nk, nc, p, o):",
        "    for k in range(cuda.grid(1), nk, cuda.gridsize(1)):",
        f"        acc = {reduction_init(r.prim, dt)}",
        "        for c in range(nc):",
        f"            acc = {reduction_update(r.prim, dt, 'acc', 'p[k, c]')}",
        f"        o[k] = {dtype_ctor(r.outvars[0].aval.dtype)}(acc)"]) + "\n"
