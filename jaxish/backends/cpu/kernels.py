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
BLOCK = 512                    # elements per block of a blocked reduction loop
SHORT_SUM = 32                 # a float sum of at most this many values is a plain loop (not blocked)
LANES = 8                      # column accumulators left after folding, summed in order
_REASSOCIABLE = ("{acc} + {0}", "{acc} * {0}")   # reductions whose blocked order only changes the rounding


def cshape(aval) -> tuple:
    """Compiled code stores 0-d values as shape (1,)."""
    return tuple(aval.shape) or (1,)


def _nest(loops: list, stmts: list, inner: list, indent: int, tail: list = ()) -> list:
    """Lines of a loop nest: ``loops`` is ``[(axis, header)]``, outermost first.

    A header is a line, or ``[(depth, line)]`` opening several levels (a blocked loop: its body goes at the
    depth of its last line, one deeper if that is a loop header). Each statement ``(axes, line)`` goes just
    inside the innermost loop over one of ``axes`` (before every loop when it depends on none); ``inner`` lines
    go in the innermost loop, and ``tail`` lines ``[(depth, line)]`` after it, at depths relative to the
    innermost header.
    """
    pos = {ax: k + 1 for k, (ax, _) in enumerate(loops)}
    placed: list = [[] for _ in range(len(loops) + 1)]
    for axes, line in stmts:
        placed[max((pos[a] for a in axes), default=0)].append(line)
    out = []
    level = last = indent
    for k in range(len(loops) + 1):
        out += ["    " * level + s for s in placed[k]]
        if k < len(loops):
            header = loops[k][1]
            header = [(0, header)] if isinstance(header, str) else header
            last = level
            out += ["    " * (level + depth) + line for depth, line in header]
            level += header[-1][0] + header[-1][1].endswith(":")
    return out + ["    " * level + s for s in inner] + ["    " * (last + depth) + s for depth, s in tail]


def _blocked_header(ax: int, start: str, end: str) -> list:
    """The header of loop ``i{ax}`` over ``range(start, end)`` in blocks of ``BLOCK``: ``j{ax}`` runs over the
    block (``n{ax}`` elements), whose tail (``_nest``'s ``tail``) sums the block's buffered values. The block start
    is masked to be provably nonnegative: LLVM then drops Numba's negative-index fix-up from every array access
    and the loop vectorises with plain vector loads and stores (not gathers)."""
    return [(0, f"for s{ax}_ in range({start}, {end}, {BLOCK}):"),
            (1, f"s{ax} = s{ax}_ & 0x7FFFFFFFFFFFFFFF"),
            (1, f"n{ax} = min({end} - s{ax}, {BLOCK})"),
            (1, f"for j{ax} in range(n{ax}):"),
            (2, f"i{ax} = s{ax} + j{ax}")]


def kernel_source(g: FusedGroup, parallel: bool) -> str:
    """Python source of ``kernel(dims, *inputs, *outputs)`` for group ``g``."""
    d = len(g.domain) or 1
    # Axes of static length 1 (the shape is known when the source is generated: a broadcast or keepdims fact,
    # like the operands' length-1 axes below) get no loop: their index is 0. Only the other, ``live``, axes loop.
    unit = {j for j, n in enumerate(tuple(g.domain) or (1,)) if n == 1}
    live = [j for j in range(d) if j not in unit]
    scalar = not live
    all_red = (set(g.axes or ()) if g.domain else {0}) if g.reductions else set()
    red_axes = all_red - unit
    kept = [i for i in live if i not in red_axes]
    # the reduction outputs' index: every axis not reduced (0 on the length-1 ones)
    oidx = ", ".join("0" if j in unit else f"i{j}" for j in range(d) if j not in all_red) or "0"
    trailing = not red_axes or sorted(red_axes) == live[len(live) - len(red_axes):]
    in_names = {a.id: f"x{k}" for k, a in enumerate(g.inputs)}
    out_names = {v.id: f"o{k}" for k, v in enumerate(g.outputs)}
    member_names = {m.outvars[0].id: f"t{k}" for k, m in enumerate(g.nodes)}
    deps: dict = {}  # var id -> the loop axes its value depends on

    def read(aval) -> tuple:
        shp = cshape(aval)
        axes = [None if shp[j] == 1 or d - len(shp) + j in unit else d - len(shp) + j for j in range(len(shp))]
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
        # a 0-d group has no loop to vectorise: its transcendentals are calls (cheaper to compile than inlined)
        expr = elementwise_expr(m, [arg(a) for a in m.invars], inline=not scalar)
        stmts.append((deps[m.outvars[0].id], f"{member_names[m.outvars[0].id]} = {expr}"))
    full_idx = ", ".join("0" if j in unit else f"i{j}" for j in range(d))
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

    def loops(axes, first_parallel=False, first_range=None, block=False):
        out = []
        axes = list(axes)
        for n, ax in enumerate(axes):
            fn = "prange" if first_parallel and n == 0 else "range"
            rng = first_range if first_range and n == 0 else f"dims[{ax}]"
            if block and n == len(axes) - 1 and fn == "range":
                start, end = rng.split(", ") if ", " in rng else ("0", rng)
                out.append((ax, _blocked_header(ax, start, end)))
            else:
                out.append((ax, f"for i{ax} in {fn}({rng}):"))
        return [] if scalar else out

    # A float sum or product carries its accumulator from one iteration to the next, and LLVM may not reorder
    # float additions: such a loop does not vectorise. Blocked, the loop stores each block's values in a buffer
    # b (a loop that vectorises: the elementwise work), and a second loop adds the buffer element-wise into the
    # BLOCK column accumulators v (no carried dependency: it vectorises too). At the end of a row, v is folded
    # in halves (vectorised) down to LANES values, which are summed in order.
    def acc_dt(r):
        return r.prim.reduce.accumulator_dtype(in_dt(r))

    # Only when one accumulator can take more than SHORT_SUM values: the length is known statically, and a
    # short sum is a plain loop, added in order (an exact float64 order; blocked, even a short row is added in
    # folded halves) that compiles in a fraction of the blocked loop's time. Longer sums stay blocked even below
    # BLOCK: a plain loop would not vectorise its elementwise work (64 tanh's cost more scalar than blocked).
    summands = 1
    for j in red_axes:
        summands *= g.domain[j]
    block = bool(reds) and summands > SHORT_SUM and any(acc_dt(r).is_floating for r, _, _ in reds) and \
        all(r.prim.reduce.combine in _REASSOCIABLE for r, _, _ in reds if acc_dt(r).is_floating)

    def value(r):
        return literal_expr(r.invars[0]) if isinstance(r.invars[0], Literal) else arg(r.invars[0])

    def updates(ax=None):
        """The accumulators' updates in the innermost loop (over axis ``ax``): direct, or buffer stores."""
        if not block:
            return [update(r, acc) for r, acc, _ in reds]
        return [f"b{k}[j{ax}] = {value(r)}" for k, (r, _, _) in enumerate(reds)]

    def buffers():
        if not block:
            return []
        return [f"b{k} = np.empty({BLOCK}, {dtype_ctor(in_dt(r))})" for k, (r, _, _) in enumerate(reds)] + \
            [f"v{k} = np.empty({BLOCK}, {accumulator_dtype(r.prim, in_dt(r))})" for k, (r, _, _) in enumerate(reds)]

    def columns_init(length):
        """Lines starting the column accumulators of a row whose blocked axis has ``length`` elements."""
        if not block:
            return []
        return [f"w_ = min({length}, {BLOCK})"] + [f"v{k}[:w_] = {init(r)}" for k, (r, _, _) in enumerate(reds)]

    def block_tail(ax):
        """Adds the block's buffered values into the column accumulators (``_nest``'s ``tail``). A full block
        first combines its two halves pairwise in the accumulator's dtype (exact for float32 products, and for
        float32 sums of values within 2**29 of each other; otherwise one float64 rounding, as any accumulation
        step): half the loads and stores of the columns, which bound that loop's speed."""
        if not block:
            return []
        h = BLOCK // 2

        def pair(r, k):
            first = f"{accumulator_dtype(r.prim, in_dt(r))}(b{k}[j{ax}])"
            return reduction_update(r.prim, in_dt(r), first, f"b{k}[j{ax} + {h}]")

        out = [(1, f"if n{ax} == {BLOCK}:"), (2, f"for j{ax} in range({h}):")]
        out += [(3, update(r, f"v{k}[j{ax}]", pair(r, k))) for k, (r, _, _) in enumerate(reds)]
        out += [(1, "else:"), (2, f"for j{ax} in range(n{ax}):")]
        out += [(3, update(r, f"v{k}[j{ax}]", f"b{k}[j{ax}]")) for k, (r, _, _) in enumerate(reds)]
        return out

    def fold(r, k, acc):
        """Lines combining the ``w_`` column accumulators of reduction ``k`` into ``acc``: halves folded onto
        each other down to LANES columns (each fold a loop that vectorises), then those in order."""
        if not block:
            return []
        h = BLOCK // 2
        return ["f_ = w_", f"h_ = {h}", f"while h_ >= {LANES}:", "    if f_ > h_:",
                "        for j_ in range(f_ - h_):", "            " + update(r, f"v{k}[j_]", f"v{k}[j_ + h_]"),
                "        f_ = h_", "    h_ = h_ >> 1",
                "for j_ in range(f_):", "    " + update(r, acc, f"v{k}[j_]")]

    def folds():
        return [line for k, (r, acc, _) in enumerate(reds) for line in fold(r, k, acc)]

    params = ", ".join(["dims"] + [f"{in_names[a.id]}_" for a in g.inputs] + [out_names[v.id] for v in g.outputs])
    lines = [f"def kernel({params}):"]
    if not reds:
        lines += _nest(loops(live, parallel), stmts, writes, 1)
    elif trailing and kept:
        nk = len(kept)
        inner_ax = max(red_axes, default=None)
        acc_init = [(frozenset(kept), f"{acc} = {init(r)}") for r, acc, _ in reds]
        acc_init += [(frozenset(kept), line) for line in columns_init(f"dims[{inner_ax}]")]
        # the accumulators start in the innermost kept loop; the buffers (one per thread) in the outermost one
        bufs = [(frozenset(kept[:1]) if parallel else frozenset(), b) for b in buffers()]
        body = _nest(loops(kept + sorted(red_axes), parallel, block=block), bufs + acc_init + stmts,
                     writes + updates(inner_ax), 1, block_tail(inner_ax))
        lines += body + ["    " * (1 + nk) + line for line in folds()]
        lines += ["    " * (1 + nk) + f"{o}[{oidx}] = {result(r, acc)}" for r, acc, o in reds]
    elif not kept and parallel and block and len(live) == 1:  # a flat full reduction in chunks of blocks
        # Each block's elementwise loop is a function of its own, over one contiguous run of indices: in a loop
        # nested in the chunk and block loops, LLVM reloads the constants (the transcendentals' coefficients)
        # on every vector iteration; alone in a function it keeps them in registers (a quarter fewer
        # instructions per element). Only here, in a kernel that is a module of its own (``prange``), where the
        # arrays are long enough for that to outweigh a second function's compile time.
        ax = live[0]
        arrays = [f"{in_names[a.id]}_" for a in g.inputs] + [out_names[v.id] for v in g.outputs if v.id in member_names]
        bnames = [f"b{k}" for k in range(len(reds))]
        blk_params = ", ".join([f"s{ax}_", f"n{ax}"] + arrays + bnames)
        pre = ["@njit(error_model=\"numpy\", no_cfunc_wrapper=True)", f"def kernel_block({blk_params}):",
               f"    s{ax} = s{ax}_ & 0x7FFFFFFFFFFFFFFF"]
        pre += _nest([(ax, [(0, f"for j{ax} in range(n{ax}):"), (1, f"i{ax} = s{ax} + j{ax}")])], stmts,
                     writes + updates(ax), 1)
        lines = pre + ["", ""] + lines
        for r, acc, _ in reds:
            lines.append(f"    {acc}_p = np.empty({N_CHUNKS}, {accumulator_dtype(r.prim, in_dt(r))})")
        lines += [f"    for c in prange({N_CHUNKS}):",
                  f"        lo = (dims[{ax}] * c) // {N_CHUNKS}",
                  f"        hi = (dims[{ax}] * (c + 1)) // {N_CHUNKS}"]
        lines += [f"        {acc} = {init(r)}" for r, acc, _ in reds]
        lines += ["        " + b for b in buffers()]
        lines += ["        " + line for line in columns_init("hi - lo")]
        lines += [f"        for s{ax} in range(lo, hi, {BLOCK}):",
                  f"            n{ax} = min(hi - s{ax}, {BLOCK})",
                  f"            kernel_block({blk_params.replace(f's{ax}_', f's{ax}')})"]
        lines += ["    " * (depth + 2) + line for depth, line in block_tail(ax)]
        lines += ["        " + line for line in folds()]
        lines += [f"        {acc}_p[c] = {acc}" for r, acc, _ in reds]
        for r, acc, o in reds:
            lines += [f"    {acc} = {init(r)}", f"    for c in range({N_CHUNKS}):",
                      f"        {update(r, acc, f'{acc}_p[c]')}", f"    {o}[{oidx}] = {result(r, acc)}"]
    elif not kept and parallel:  # a full reduction in chunks
        for r, acc, _ in reds:
            lines.append(f"    {acc}_p = np.empty({N_CHUNKS}, {accumulator_dtype(r.prim, in_dt(r))})")
        lines += [f"    for c in prange({N_CHUNKS}):",
                  f"        lo = (dims[{live[0]}] * c) // {N_CHUNKS}",
                  f"        hi = (dims[{live[0]}] * (c + 1)) // {N_CHUNKS}"]
        lines += [f"        {acc} = {init(r)}" for r, acc, _ in reds]
        lines += ["        " + b for b in buffers()]
        lines += ["        " + line for line in columns_init("hi - lo" if len(live) == 1 else f"dims[{live[-1]}]")]
        lines += _nest(loops(live, first_range="lo, hi", block=block), stmts, writes + updates(live[-1]), 2,
                       block_tail(live[-1]))
        lines += ["        " + line for line in folds()]
        lines += [f"        {acc}_p[c] = {acc}" for r, acc, _ in reds]
        for r, acc, o in reds:
            lines += [f"    {acc} = {init(r)}", f"    for c in range({N_CHUNKS}):",
                      f"        {update(r, acc, f'{acc}_p[c]')}", f"    {o}[{oidx}] = {result(r, acc)}"]
    elif not kept:  # a full reduction to a scalar
        lines += [f"    {acc} = {init(r)}" for r, acc, _ in reds]
        lines += ["    " + b for b in buffers()]
        last = live[-1] if live else None
        lines += ["    " + line for line in columns_init(f"dims[{last}]")]
        lines += _nest(loops(live, block=block), stmts, writes + updates(last), 1, block_tail(last))
        lines += ["    " + line for line in folds()]
        lines += [f"    {o}[{oidx}] = {result(r, acc)}" for r, acc, o in reds]
    else:  # partial reduction over non-trailing axes: accumulate into arrays in row-major order
        kdims = ", ".join(f"dims[{j}]" for j in kept)
        kidx = ", ".join(f"i{j}" for j in kept)
        lines += [f"    {acc} = np.full(({kdims},), {init(r)}, {accumulator_dtype(r.prim, in_dt(r))})"
                  for r, acc, _ in reds]
        lines += _nest(loops(live), stmts, writes + [update(r, f"{acc}[{kidx}]") for r, acc, _ in reds], 1)
        lines += _nest(loops(kept), [], [f"{o}[{oidx}] = {result(r, f'{acc}[{kidx}]')}" for r, acc, o in reds], 1)
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines) + "\n"

