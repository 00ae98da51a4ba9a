"""CPU lowerings of the control-flow primitives: loops and branches inside the one ``njit`` entry function.

A sub-graph (a branch, a loop's condition or body) is optimised for execution,
partitioned like any graph (its fused groups stay fused) and its steps are
emitted into the entry function, indented into the ``if``/``while``/``for``
that runs it: no Python runs per iteration. Its sizes go to the same ``S``
array. An array carry lives in local variables rebound each iteration: every
value the generated code computes is a new array and no step writes into its
inputs, so rebinding never aliases (outputs that may be views are made
contiguous, so that each carry keeps one Numba type). A scalar carry (compiled
shape ``(1,)``) instead owns one buffer, allocated before the loop: each
iteration reads every new scalar value into a local first, then stores them,
so the body's own buffer for the value is iteration-local and allocated once
too (no allocation per iteration). Scan's stacked outputs are allocated
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


def _block(e, graph: Graph, in_names: list, depth: int, hoist: set | None = None, header: int = 0,
           scalars: frozenset = frozenset()) -> list:
    """Emit ``graph``'s steps at ``depth`` levels of extra indentation, its inputs bound to the expressions
    ``in_names`` (plain names); returns one expression per output, each a C-contiguous array of its ``cshape``,
    except at the positions ``scalars`` (outputs of compiled shape ``(1,)``): there the expression of its one
    element.

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
    e.loop_depth += hoist is not None
    try:
        e.steps(g)
        outs = [_element_expr(o, e) if k in scalars else _out_expr(e, o) for k, o in enumerate(g.outvars)]
    finally:
        lines, e.lines = e.lines, saved
        e.loop_depth -= hoist is not None
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


def _escaping(graph: Graph, carried: set) -> set:
    """Ids of the values of a loop body that are (or may be views of) the outputs at positions ``carried``."""
    from ...passes.fusion import is_fusible
    escape = {graph.outvars[i].id for i in carried if not isinstance(graph.outvars[i], Literal)}
    for n in reversed(graph.nodes):
        if n.prim.reduce is None and not is_fusible(n) and any(o.id in escape for o in n.outvars):
            escape.update(a.id for a in n.invars if not isinstance(a, Literal))
    return escape


def _iteration_local(graph: Graph, carried: set) -> list:
    """The values of a loop body computed by its nodes that cannot be (views of) the carry it returns."""
    escape = _escaping(graph, carried)
    return [o for n in graph.nodes for o in n.outvars if o.id not in escape]


def _scalar_carries(body: Graph, first: int, n_carry: int) -> frozenset:
    """Positions of the scalar carries (compiled shape ``(1,)``) that own a buffer updated in place: those of
    which no array carry the body returns may be a view (the in-place update would change it under it). The
    body's carries are its inputs ``first ...`` and its first ``n_carry`` outputs."""
    g = _prepare(body)
    scalar = {k for k in range(n_carry) if tuple(cshape(g.outvars[k].aval)) == (1,)}
    if not scalar:
        return frozenset()
    escape = _escaping(g, set(range(n_carry)) - scalar)
    return frozenset(k for k in scalar if g.invars[first + k].id not in escape)


def _element_expr(o, e) -> str:
    """The one element of a value of compiled shape ``(1,)``."""
    return literal_expr(o) if isinstance(o, Literal) else f"{e.atom(o)}[0]"


def _init_carry(e, names: list, init: list, scalars: frozenset, avals: list) -> None:
    """Bind the carries before the loop: an array carry to its initial value, a scalar carry to a buffer of its
    own holding a copy of it."""
    for k, (n, a) in enumerate(zip(names, init)):
        if k in scalars:
            e.emit(f"{n} = np.empty({e.shape((1,))}, {dtype_ctor(avals[k].dtype)})")
            e.emit(f"{n}[0] = {_element_expr(a, e)}")
        else:
            e.emit(f"{n} = {_contig(e, a)}")


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


def _assign(e, names: list, exprs: list, depth: int, scalars: frozenset = frozenset()) -> None:
    """``names = exprs`` as one parallel assignment (an expression may read a name being assigned); at the
    positions ``scalars``, ``names[k][0] = exprs[k]`` (an element stored into the carry's own buffer)."""
    if not names:
        return
    tmp = [f"{n}_n" for n in names]
    for t, x in zip(tmp, exprs):
        e.emit("    " * depth + f"{t} = {x}")
    for k, (n, t) in enumerate(zip(names, tmp)):
        e.emit("    " * depth + (f"{n}[0] = {t}" if k in scalars else f"{n} = {t}"))


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
def _while(e, ins, outs, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    cc = _bind_names(e, ins[:cond_nconsts])
    bc = _bind_names(e, ins[cond_nconsts:cond_nconsts + body_nconsts])
    carry = [e.new(o) for o in outs]
    scalars = _scalar_carries(body_graph, body_nconsts, len(carry))
    _init_carry(e, carry, ins[cond_nconsts + body_nconsts:], scalars, [o.aval for o in outs])
    header = len(e.lines)
    e.emit("while True:")
    (p,) = _block(e, cond_graph, cc + carry, 1, hoist=set(), header=header)
    e.emit(f"    if not {p}[0]:")
    e.emit("        break")
    new = _block(e, body_graph, bc + carry, 1, hoist=set(range(len(carry))) - scalars, header=header,
                 scalars=scalars)
    _assign(e, carry, new, 1, scalars)


@register_lowering(scan_p)
def _scan(e, ins, outs, body, length, reverse, num_consts, num_carry):
    consts = _bind_names(e, ins[:num_consts])
    xs = _bind_names(e, ins[num_consts + num_carry:])
    carry = [e.new(o) for o in outs[:num_carry]]
    scalars = _scalar_carries(body, num_consts, num_carry)
    _init_carry(e, carry, ins[num_consts:num_consts + num_carry], scalars, [o.aval for o in outs])
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
    new = _block(e, body, consts + carry + x_names, 1, hoist=set(range(num_carry)) - scalars, header=header,
                 scalars=scalars)
    for y, x, o in zip(ys, new[num_carry:], outs[num_carry:]):
        e.emit(f"    {y}[{t}] = {x}[0]" if len(o.aval.shape) == 1 else f"    {y}[{t}] = {x}")
    _assign(e, carry, new[:num_carry], 1, scalars)
