"""CPU lowerings of the control-flow primitives: loops and branches inside the one ``njit`` entry function.

A sub-graph (a branch, a loop's condition or body) is optimised for execution,
partitioned like any graph (its fused groups stay fused) and its steps are
emitted into the entry function, indented into the ``if``/``while``/``for``
that runs it: no Python runs per iteration. Its sizes go to the same ``S``
array. The carry lives in local variables rebound each iteration: every value
the generated code computes is a new array and no step writes into its inputs,
so rebinding never aliases (outputs that may be views are made contiguous, so
that each carry keeps one Numba type). Scan's stacked outputs are allocated
before the loop and written per iteration; ``xs`` are read as slices.
"""
from __future__ import annotations

import re

from ...core.control_flow import cond_p, scan_p, while_p
from ...ir import Graph, Literal
from ..codegen.scalar import dtype_ctor, literal_expr
from .kernels import cshape
from .lowerings import register_lowering


def _prepare(graph: Graph) -> Graph:
    """The sub-graph as code generation wants it: optimised for execution (calls inlined), legalised."""
    from ...passes import optimize
    from .codegen import legalize
    cached = graph.__dict__.get("_cpu_prepared")
    if cached is None:
        cached = graph.__dict__["_cpu_prepared"] = legalize(optimize(graph, for_execution=True))
    return cached


def _block(e, graph: Graph, in_names: list, depth: int, hoist: set | None = None, header: int = 0) -> list:
    """Emit ``graph``'s steps at ``depth`` levels of extra indentation, its inputs bound to the expressions
    ``in_names`` (plain names); returns one expression per output, each a C-contiguous array of its ``cshape``.

    With ``hoist`` (a loop body: the positions of the outputs that become the next iteration's carry), the
    buffers of values that do not outlive an iteration are allocated once, before the loop (at ``depth - 1``,
    before its first line ``e.lines[header]``): the next iteration overwrites them only after this one is done
    with them. A value outlives its iteration if it is carried, or may be a view of one (through any step that
    is not a fused kernel, which always writes a new buffer)."""
    g = _prepare(graph)
    for v, name in zip(g.invars, in_names):
        e.names[v.id] = name
        e.views.discard(v.id)
        e.fviews.discard(v.id)
    saved, e.lines = e.lines, []
    try:
        e.steps(g)
        outs = [_out_expr(e, o) for o in g.outvars]
    finally:
        lines, e.lines = e.lines, saved
    if hoist is not None:
        local = {e.names[v.id] for v in _iteration_local(g, hoist) if v.id in e.names}
        keep, hoisted = [], []
        for line in lines:
            m = _ALLOC.match(line)
            if m is not None and m.group(1) in local:
                hoisted.append("    " * (depth - 1) + line)
            else:
                keep.append(line)
        lines = keep
        e.lines[header:header] = hoisted
    e.lines += ["    " * depth + line for line in lines]
    return outs


# a buffer allocation at the top level of a block whose shape comes from S only
_ALLOC = re.compile(r"^    (v\d+) = np\.empty\(\((?:S\[\d+\](?:, ?)?)*\), [\w.]+\)$")


def _iteration_local(graph: Graph, carried: set) -> list:
    """The values of a loop body computed by its nodes that cannot be (views of) the carry it returns."""
    from ...passes.fusion import is_fusible
    escape = {graph.outvars[i].id for i in carried if not isinstance(graph.outvars[i], Literal)}
    for n in reversed(graph.nodes):
        if n.prim.reduce is None and not is_fusible(n) and any(o.id in escape for o in n.outvars):
            escape.update(a.id for a in n.invars if not isinstance(a, Literal))
    return [o for n in graph.nodes for o in n.outvars if o.id not in escape]


def _used_inputs(graph: Graph) -> set:
    """Positions of the inputs ``graph``'s nodes or outputs read."""
    ids = {a.id for n in graph.nodes for a in n.invars if not isinstance(a, Literal)}
    ids |= {o.id for o in graph.outvars if not isinstance(o, Literal)}
    return {i for i, v in enumerate(graph.invars) if v.id in ids}


def _out_expr(e, o) -> str:
    if isinstance(o, Literal):
        return f"np.full(1, {literal_expr(o)})"
    return f"np.ascontiguousarray({e.atom(o)})" if o.id in e.views else e.atom(o)


def _contig(e, a) -> str:
    return _out_expr(e, a)


def _assign(e, names: list, exprs: list, depth: int) -> None:
    """``names = exprs`` as one parallel assignment (an expression may read a name being assigned)."""
    if not names:
        return
    tmp = [f"{n}_n" for n in names]
    for t, x in zip(tmp, exprs):
        e.emit("    " * depth + f"{t} = {x}")
    for n, t in zip(names, tmp):
        e.emit("    " * depth + f"{n} = {t}")


@register_lowering(cond_p)
def _cond(e, ins, outs, branches):
    index, args = ins[0], ins[1:]
    arg_names = _bind_names(e, args)  # the branches read the operands as inputs
    names = [e.new(o) for o in outs]
    idx = f"{e.atom(index)}[0]"
    for k, b in enumerate(branches):
        if len(branches) == 1:
            head = "if True:"
        elif k == 0:
            head = f"if {idx} <= 0:"
        elif k < len(branches) - 1:
            head = f"elif {idx} == {k}:"
        else:
            head = "else:"
        e.emit(head)
        exprs = _block(e, b, arg_names, 1)
        for n, x in zip(names, exprs):
            e.emit(f"    {n} = {x}")


def _fresh(e, prefix: str) -> str:
    """A new local name of the entry function (deterministic: the source is the cache key)."""
    k = e.__dict__.get("_cf_names", 0)
    e.__dict__["_cf_names"] = k + 1
    return f"{prefix}{k}_"


def _bind_names(e, atoms) -> list:
    """A plain local name per operand (literals and views bound once, as contiguous arrays)."""
    names = []
    for a in atoms:
        if isinstance(a, Literal) or a.id in e.views:
            n = _fresh(e, "u")
            e.emit(f"{n} = {_contig(e, a)}")
            names.append(n)
        else:
            names.append(e.atom(a))
    return names


@register_lowering(while_p)
def _while(e, ins, outs, cond_graph, body_graph, cond_nconsts, body_nconsts):
    cc = _bind_names(e, ins[:cond_nconsts])
    bc = _bind_names(e, ins[cond_nconsts:cond_nconsts + body_nconsts])
    init = [_contig(e, a) for a in ins[cond_nconsts + body_nconsts:]]
    carry = [e.new(o) for o in outs]
    for n, x in zip(carry, init):
        e.emit(f"{n} = {x}")
    header = len(e.lines)
    e.emit("while True:")
    (p,) = _block(e, cond_graph, cc + carry, 1, hoist=set(), header=header)
    e.emit(f"    if not {p}[0]:")
    e.emit("        break")
    new = _block(e, body_graph, bc + carry, 1, hoist=set(range(len(carry))), header=header)
    _assign(e, carry, new, 1)


@register_lowering(scan_p)
def _scan(e, ins, outs, body, length, reverse, num_consts, num_carry):
    consts = _bind_names(e, ins[:num_consts])
    init = [_contig(e, a) for a in ins[num_consts:num_consts + num_carry]]
    xs = _bind_names(e, ins[num_consts + num_carry:])
    carry = [e.new(o) for o in outs[:num_carry]]
    for n, x in zip(carry, init):
        e.emit(f"{n} = {x}")
    ys = []
    for o in outs[num_carry:]:
        n = e.new(o)
        e.emit(f"{n} = np.empty({e.shape(cshape(o.aval))}, {dtype_ctor(o.aval.dtype)})")
        ys.append(n)
    n_iter = e.size(length)
    it, t = _fresh(e, "it"), _fresh(e, "t")
    header = len(e.lines)
    e.emit(f"for {it} in range({n_iter}):")
    e.emit(f"    {t} = {n_iter} - 1 - {it}" if reverse else f"    {t} = {it}")
    x_names = []
    used = _used_inputs(_prepare(body))
    for k, (x, a) in enumerate(zip(xs, ins[num_consts + num_carry:])):
        n = f"{t}_x{k}"
        if num_consts + num_carry + k in used:  # (a fori_loop's body need not read its index)
            e.emit(f"    {n} = {x}[{t}:{t} + 1]" if len(a.aval.shape) == 1 else f"    {n} = {x}[{t}]")
        x_names.append(n)
    new = _block(e, body, consts + carry + x_names, 1, hoist=set(range(num_carry)), header=header)
    for y, x, o in zip(ys, new[num_carry:], outs[num_carry:]):
        e.emit(f"    {y}[{t}] = {x}[0]" if len(o.aval.shape) == 1 else f"    {y}[{t}] = {x}")
    _assign(e, carry, new[:num_carry], 1)
