"""Kernel source for fused groups: nested loops over the group's domain.

Loop bounds come from the ``dims`` argument at run time, so one kernel's
machine code serves every size with the same dtypes, ranks and broadcast
pattern. Operands of lower rank or with length-1 axes are read with index 0
on those axes (direct N-d indexing, never a flat index with division).
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


def kernel_source(g: FusedGroup, parallel: bool) -> str:
    """Python source of ``kernel(dims, *inputs, *outputs)`` for group ``g``."""
    dom = tuple(g.domain) or (1,)
    d = len(dom)
    red_axes = set(g.axes or ()) if g.reductions else set()
    if not g.domain:
        red_axes = {0} if g.reductions else set()
    kept = [i for i in range(d) if i not in red_axes]
    trailing = not red_axes or sorted(red_axes) == list(range(d - len(red_axes), d))
    in_names = {a.id: f"x{k}" for k, a in enumerate(g.inputs)}
    out_names = {v.id: f"o{k}" for k, v in enumerate(g.outputs)}
    member_names = {m.outvars[0].id: f"t{k}" for k, m in enumerate(g.nodes)}

    def idx_for(aval, dims_used=None):
        shp = cshape(aval)
        r = len(shp)
        return ", ".join("0" if shp[j] == 1 else f"i{d - r + j}" for j in range(r))

    def arg(a):
        if isinstance(a, Literal):
            return literal_expr(a)
        if a.id in member_names:
            return member_names[a.id]
        return in_names[a.id]

    body = []
    for a in g.inputs:
        body.append(f"{in_names[a.id]} = {in_names[a.id]}_[{idx_for(a.aval)}]")
    for m in g.nodes:
        body.append(f"{member_names[m.outvars[0].id]} = {elementwise_expr(m, [arg(a) for a in m.invars])}")
    full_idx = ", ".join(f"i{j}" for j in range(d))
    for v in g.outputs:
        if v.id in member_names:
            body.append(f"{out_names[v.id]}[{full_idx}] = {member_names[v.id]}")

    reds = [(r, f"acc{k}", out_names[r.outvars[0].id]) for k, r in enumerate(g.reductions)]
    red_dt = {r.outvars[0].id: r.invars[0].aval.dtype for r, _, _ in reds}

    def update(r, acc_ref):
        dt = red_dt[r.outvars[0].id]
        return f"{acc_ref} = {reduction_update(r.prim, dt, acc_ref, arg(r.invars[0]))}"

    params = ", ".join(["dims"] + [f"{in_names[a.id]}_" for a in g.inputs] + [out_names[v.id] for v in g.outputs])
    lines = [f"def kernel({params}):"]
    rng = "prange" if parallel else "range"

    def loops(axes, indent, first_parallel):
        out = []
        for n, ax in enumerate(axes):
            fn = rng if (first_parallel and n == 0) else "range"
            out.append("    " * (indent + n) + f"for i{ax} in {fn}(dims[{ax}]):")
        return out, indent + len(axes)

    if not reds:
        ls, ind = loops(list(range(d)), 1, parallel)
        lines += ls + ["    " * ind + b for b in body]
    elif trailing and kept:
        ls, ind = loops(kept, 1, parallel)
        lines += ls
        for r, acc, _ in reds:
            lines.append("    " * ind + f"{acc} = {reduction_init(r.prim, red_dt[r.outvars[0].id])}")
        ls2, ind2 = loops(sorted(red_axes), ind, False)
        lines += ls2 + ["    " * ind2 + b for b in body]
        lines += ["    " * ind2 + update(r, acc) for r, acc, _ in reds]
        kidx = ", ".join(f"i{j}" for j in kept)
        for r, acc, o in reds:
            lines.append("    " * ind + f"{o}[{kidx}] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc})")
    elif not kept:  # full reduction to a scalar
        if parallel and d >= 1:
            for r, acc, _ in reds:
                dt = red_dt[r.outvars[0].id]
                lines.append(f"    {acc}_p = np.empty({N_CHUNKS}, {accumulator_dtype(r.prim.name, dt)})")
            lines.append(f"    for c in prange({N_CHUNKS}):")
            lines.append(f"        lo = (dims[0] * c) // {N_CHUNKS}")
            lines.append(f"        hi = (dims[0] * (c + 1)) // {N_CHUNKS}")
            for r, acc, _ in reds:
                lines.append(f"        {acc} = {reduction_init(r.prim, red_dt[r.outvars[0].id])}")
            lines.append("        for i0 in range(lo, hi):")
            ls, ind = loops(list(range(1, d)), 3, False)
            lines += ls + ["    " * ind + b for b in body] + ["    " * ind + update(r, acc) for r, acc, _ in reds]
            for r, acc, _ in reds:
                lines.append(f"        {acc}_p[c] = {acc}")
            for r, acc, o in reds:
                dt = red_dt[r.outvars[0].id]
                lines.append(f"    {acc} = {reduction_init(r.prim, dt)}")
                lines.append(f"    for c in range({N_CHUNKS}):")
                lines.append(f"        {acc} = {reduction_update(r.prim, dt, acc, f'{acc}_p[c]')}")
                lines.append(f"    {o}[0] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc})")
        else:
            for r, acc, _ in reds:
                lines.append(f"    {acc} = {reduction_init(r.prim, red_dt[r.outvars[0].id])}")
            ls, ind = loops(list(range(d)), 1, False)
            lines += ls + ["    " * ind + b for b in body] + ["    " * ind + update(r, acc) for r, acc, _ in reds]
            for r, acc, o in reds:
                lines.append(f"    {o}[0] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc})")
    else:  # partial reduction over non-trailing axes: accumulate into arrays in row-major order
        kdims = ", ".join(f"dims[{j}]" for j in kept)
        for r, acc, _ in reds:
            dt = red_dt[r.outvars[0].id]
            lines.append(f"    {acc} = np.full(({kdims},), {reduction_init(r.prim, dt)}, "
                         f"{accumulator_dtype(r.prim.name, dt)})")
        ls, ind = loops(list(range(d)), 1, False)
        kidx = ", ".join(f"i{j}" for j in kept)
        lines += ls + ["    " * ind + b for b in body]
        lines += ["    " * ind + update(r, f"{acc}[{kidx}]") for r, acc, _ in reds]
        ls2, ind2 = loops(kept, 1, False)
        lines += ls2
        for r, acc, o in reds:
            lines.append("    " * ind2 + f"{o}[{kidx}] = {dtype_ctor(r.outvars[0].aval.dtype)}({acc}[{kidx}])")
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines) + "\n"
