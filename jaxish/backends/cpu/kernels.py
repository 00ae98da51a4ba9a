"""Kernel source for fused groups: nested loops over the group's domain.

Loop bounds come from the ``dims`` argument at run time, so one kernel's
machine code serves every size with the same dtypes, ranks and broadcast
pattern. Operands of lower rank or with length-1 axes are read with index 0
on those axes (direct N-d indexing, never a flat index with division).

Each statement sits just inside the innermost loop whose index it depends on,
and a 0-d group is straight-line code with no loop at all. Besides saving
work, this keeps loop-invariant chains out of loop bodies: LLVM's loop
vectoriser takes time exponential in the length of a loop-invariant chain
that reuses its values (an Euler step ``x + 0.1 * sin(x) * x``), which made
8 steps of a scalar loop take minutes to compile.
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

PARALLEL_THRESHOLD = 1 << 18   # elements; below this prange costs more than it saves
N_CHUNKS = 64                  # chunks of a parallel full reduction


def cshape(aval) -> tuple:
    """Compiled code stores 0-d values as shape (1,)."""
    return tuple(aval.shape) or (1,)


def _nest(loops: list, stmts: list, inner: list, indent: int) -> list:
    """Lines of a loop nest: ``loops`` is ``[(axis, header)]``, outermost first.

    Each statement ``(axes, line)`` goes just inside the innermost loop over one
    of ``axes`` (before every loop when it depends on none); ``inner`` lines go
    in the innermost loop.
    """
    pos = {ax: k + 1 for k, (ax, _) in enumerate(loops)}
    placed: list = [[] for _ in range(len(loops) + 1)]
    for axes, line in stmts:
        placed[max((pos[a] for a in axes), default=0)].append(line)
    out = []
    for k in range(len(loops) + 1):
        out += ["    " * (indent + k) + s for s in placed[k]]
        if k < len(loops):
            out.append("    " * (indent + k) + loops[k][1])
    return out + ["    " * (indent + len(loops)) + s for s in inner]


def kernel_source(g: FusedGroup, parallel: bool) -> str:
    """Python source of ``kernel(dims, *inputs, *outputs)`` for group ``g``."""
    scalar = not g.domain
    d = len(g.domain) or 1
    red_axes = (set(g.axes or ()) if g.domain else {0}) if g.reductions else set()
    kept = [i for i in range(d) if i not in red_axes]
    trailing = not red_axes or sorted(red_axes) == list(range(d - len(red_axes), d))
    in_names = {a.id: f"x{k}" for k, a in enumerate(g.inputs)}
    out_names = {v.id: f"o{k}" for k, v in enumerate(g.outputs)}
    member_names = {m.outvars[0].id: f"t{k}" for k, m in enumerate(g.nodes)}
    deps: dict = {}  # var id -> the loop axes its value depends on

    def read(aval) -> tuple:
        shp = cshape(aval)
        axes = [None if shp[j] == 1 else d - len(shp) + j for j in range(len(shp))]
        return ", ".join("0" if a is None else f"i{a}" for a in axes), frozenset(a for a in axes if a is not None)

    stmts = []
    consts: dict = {}  # literal source -> the name it is bound to once, at the top

    def arg(a):
        if isinstance(a, Literal):
            src = literal_expr(a)
            if src not in consts:
                consts[src] = f"c{len(consts)}"
                stmts.append((frozenset(), f"{consts[src]} = {src}"))
            return consts[src]
        return member_names.get(a.id) or in_names[a.id]

    def axes_of(atoms) -> frozenset:
        return frozenset().union(*[deps[a.id] for a in atoms if not isinstance(a, Literal)])

    for a in g.inputs:
        idx, deps[a.id] = read(a.aval)
        stmts.append((deps[a.id], f"{in_names[a.id]} = {in_names[a.id]}_[{idx}]"))
    for m in g.nodes:
        deps[m.outvars[0].id] = axes_of(m.invars)
        stmts.append((deps[m.outvars[0].id],
                      f"{member_names[m.outvars[0].id]} = {elementwise_expr(m, [arg(a) for a in m.invars])}"))
    full_idx = "0" if scalar else ", ".join(f"i{j}" for j in range(d))
    writes = [f"{out_names[v.id]}[{full_idx}] = {member_names[v.id]}" for v in g.outputs if v.id in member_names]

    reds = [(r, f"acc{k}", out_names[r.outvars[0].id]) for k, r in enumerate(g.reductions)]

    def in_dt(r):
        return r.invars[0].aval.dtype

    def init(r):
        return reduction_init(r.prim, in_dt(r))

    def update(r, acc_ref, value=None):
        value = value or (literal_expr(r.invars[0]) if isinstance(r.invars[0], Literal) else arg(r.invars[0]))
        return f"{acc_ref} = {reduction_update(r.prim, in_dt(r), acc_ref, value)}"

    def result(r, acc_ref):
        return f"{dtype_ctor(r.outvars[0].aval.dtype)}({acc_ref})"

    def loops(axes, first_parallel=False, first_range=None):
        out = []
        for n, ax in enumerate(axes):
            fn = "prange" if first_parallel and n == 0 else "range"
            rng = first_range if first_range and n == 0 else f"dims[{ax}]"
            out.append((ax, f"for i{ax} in {fn}({rng}):"))
        return [] if scalar else out

    params = ", ".join(["dims"] + [f"{in_names[a.id]}_" for a in g.inputs] + [out_names[v.id] for v in g.outputs])
    lines = [f"def kernel({params}):"]
    if not reds:
        lines += _nest(loops(range(d), parallel), stmts, writes, 1)
    elif trailing and kept:
        nk = len(kept)
        acc_init = [(frozenset(kept), f"{acc} = {init(r)}") for r, acc, _ in reds]
        # the accumulators start in the innermost kept loop
        body = _nest(loops(kept + sorted(red_axes), parallel), acc_init + stmts,
                     writes + [update(r, acc) for r, acc, _ in reds], 1)
        kidx = ", ".join(f"i{j}" for j in kept)
        lines += body + ["    " * (1 + nk) + f"{o}[{kidx}] = {result(r, acc)}" for r, acc, o in reds]
    elif not kept and parallel:  # a full reduction in chunks
        for r, acc, _ in reds:
            lines.append(f"    {acc}_p = np.empty({N_CHUNKS}, {accumulator_dtype(r.prim, in_dt(r))})")
        lines += [f"    for c in prange({N_CHUNKS}):",
                  f"        lo = (dims[0] * c) // {N_CHUNKS}",
                  f"        hi = (dims[0] * (c + 1)) // {N_CHUNKS}"]
        lines += [f"        {acc} = {init(r)}" for r, acc, _ in reds]
        lines += _nest(loops(range(d), first_range="lo, hi"), stmts,
                       writes + [update(r, acc) for r, acc, _ in reds], 2)
        lines += [f"        {acc}_p[c] = {acc}" for r, acc, _ in reds]
        for r, acc, o in reds:
            lines += [f"    {acc} = {init(r)}", f"    for c in range({N_CHUNKS}):",
                      f"        {update(r, acc, f'{acc}_p[c]')}", f"    {o}[0] = {result(r, acc)}"]
    elif not kept:  # a full reduction to a scalar
        lines += [f"    {acc} = {init(r)}" for r, acc, _ in reds]
        lines += _nest(loops(range(d)), stmts, writes + [update(r, acc) for r, acc, _ in reds], 1)
        lines += [f"    {o}[0] = {result(r, acc)}" for r, acc, o in reds]
    else:  # partial reduction over non-trailing axes: accumulate into arrays in row-major order
        kdims = ", ".join(f"dims[{j}]" for j in kept)
        kidx = ", ".join(f"i{j}" for j in kept)
        lines += [f"    {acc} = np.full(({kdims},), {init(r)}, {accumulator_dtype(r.prim, in_dt(r))})"
                  for r, acc, _ in reds]
        lines += _nest(loops(range(d)), stmts, writes + [update(r, f"{acc}[{kidx}]") for r, acc, _ in reds], 1)
        lines += _nest(loops(kept), [], [f"{o}[{kidx}] = {result(r, f'{acc}[{kidx}]')}" for r, acc, o in reds], 1)
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines) + "\n"

