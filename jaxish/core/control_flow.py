"""Control-flow primitives: ``cond``, ``while`` and ``scan``, whose parameters are closed Graphs.

They take the form of ``call_p`` (``core/call.py``): every graph parameter is
closed (captured constants are leading operands), so a node's parameters are
pure structure and graph keys say everything. Unlike ``call``, they are never
inlined: passes treat them as opaque nodes with several results, the
interpreter runs them with their NumPy references below (each sub-graph
through the executable cache), and code generators lower them to loops
(``backends/cpu/control_flow.py``).

* ``cond_p(index, *args, branches)``: runs ``branches[index]`` (clamped) on
  ``args``; every branch takes the same inputs and returns the same avals.
* ``while_p(*cond_consts, *body_consts, *carry, cond_graph, body_graph,
  cond_nconsts, body_nconsts)``: ``while cond(cond_consts, carry):
  carry = body(body_consts, carry)``.
* ``scan_p(*consts, *init, *xs, body, length, reverse, num_consts,
  num_carry)``: ``carry, y_t = body(consts, carry, x_t)`` for ``t`` over
  ``range(length)`` (reversed with ``reverse``), ``xs`` sliced along axis 0
  and the ``y_t`` stacked; outputs: the final carry, then the stacked ys.

Reverse mode: ``cond``'s VJP is a ``cond`` over the branches' VJP graphs.
``scan``'s forward (``vjp_forward``, see ``transforms/vjp.py``) is a scan of
the body's VJP graph split into what needs no cotangent (the body and the
residuals it saves, stacked per iteration) and what does; the backward pass
is a scan of the latter in the opposite direction. ``while`` has no VJP (its
trip count is known only at run time): the rule says to use ``fori_loop``
with static bounds or ``scan``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .. import dtypes as _dt
from ..ir import Graph, ShapedArray, Var
from .call import closed
from .primitive import Primitive
from .trace import bind


# ---------------------------------------------------------------------------
# helpers shared with the front end
# ---------------------------------------------------------------------------
def same_type(a: ShapedArray, b: ShapedArray) -> bool:
    """Same shape and dtype (weak types may differ: the graph says which)."""
    return tuple(a.shape) == tuple(b.shape) and a.dtype is b.dtype


def _check_inputs(op: str, what: str, avals: Sequence, graph: Graph) -> None:
    if len(avals) != len(graph.invars):
        raise TypeError(f"{op}: the {what} takes {len(graph.invars)} inputs, got {len(avals)}")
    for i, (a, v) in enumerate(zip(avals, graph.invars)):
        if not same_type(a, v.aval):
            raise TypeError(f"{op}: input {i} of the {what} has shape {tuple(a.shape)} and dtype {a.dtype.name}, "
                            f"but the graph expects shape {tuple(v.aval.shape)} and dtype {v.aval.dtype.name}")


def share_consts(graphs: Sequence[Graph]) -> tuple:
    """``(closed graphs, consts)``: graphs with the same inputs, each given the captured constants of all of
    them as leading inputs (those of the others unused), and the constants' values in that order."""
    consts: list = []
    shapes = []
    for g in graphs:
        shapes.append([Var(v.aval) for v in g.constvars])
        consts += list(g.consts)
    out = []
    for k, g in enumerate(graphs):
        lead = [v for j, vs in enumerate(shapes) for v in (g.constvars if j == k else vs)]
        out.append(Graph(lead + list(g.invars), g.nodes, list(g.outvars)))
    return out, consts


def trace_flat(fn: Callable, avals: Sequence[ShapedArray], name: str) -> Graph:
    """The graph of ``fn(*tracers) -> list of tensors`` (captured values are ``constvars``)."""
    from .convert import to_tensor_arg
    from .graph_trace import GraphTrace
    with GraphTrace(name=name) as t:
        args = [t.new_arg(a, f"input {i}") for i, a in enumerate(avals)]
        outs = [to_tensor_arg(o) for o in fn(*args)]
        graph, variables, _ = t.finish(outs)
    if variables or t.rng_var is not None:  # pragma: no cover - internal bodies touch neither
        raise AssertionError(f"{name}: an internal body read a Variable or the random state")
    return graph


def _strong(x):
    from ..primitives.elementwise import convert
    return convert(x, x.dtype, False) if x.aval.weak_type else x


def _zeros(aval: ShapedArray):
    from ..transforms.vjp import _zeros as zeros
    return zeros(aval)


def _get_executable(graph: Graph):
    from ..backends import get_executable
    return get_executable(graph)


# ---------------------------------------------------------------------------
# cond
# ---------------------------------------------------------------------------
def _cond_abstract_eval(index, *avals, branches):
    if tuple(index.shape) != () or index.dtype is not _dt.int32:
        raise TypeError(f"cond: the branch index must be a scalar int32, got shape {tuple(index.shape)} and "
                        f"dtype {index.dtype.name}")
    for k, b in enumerate(branches):
        _check_inputs("cond", f"branch {k}", avals, b)
    outs = branches[0].out_avals()
    for k, b in enumerate(branches[1:], 1):
        other = b.out_avals()
        if len(other) != len(outs) or not all(map(same_type, outs, other)):
            raise TypeError(f"cond: branch 0 returns {_avals_str(outs)} but branch {k} returns {_avals_str(other)}")
    return tuple(outs)


def _avals_str(avals) -> str:
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def _cond_impl(index, *args, branches):
    i = min(max(int(np.asarray(index).reshape(-1)[0]), 0), len(branches) - 1)
    return _get_executable(branches[i])(list(args))


def _cond_vjp(cts, index, *rest, branches):
    n = len(branches[0].invars)
    args = rest[:n]
    result: list = [None] * (1 + n)
    outs = branches[0].outvars
    ct_outs = [i for i, c in enumerate(cts) if c is not None and outs[i].aval.dtype.is_floating]
    wrt = [i for i, v in enumerate(branches[0].invars) if v.aval.dtype.is_floating]
    if not ct_outs or not wrt:
        return result
    from ..transforms.vjp import vjp_graph
    bwds = [vjp_graph(b, wrt, ct_outs, keep_outputs=False) for b in branches]
    gs, consts = share_consts(bwds)
    grads = bind(cond_p, [index, *consts, *args, *[cts[i] for i in ct_outs]], {"branches": tuple(gs)})
    for i, g in zip(wrt, grads):
        result[1 + i] = g
    return result


cond_p = Primitive("cond", _cond_abstract_eval, _cond_impl, _cond_vjp, multiple_results=True)


def cond(index, branches: Sequence[Graph], args: Sequence) -> list:
    """Bind ``cond_p``: ``branches`` (Graphs with the same inputs, possibly with captured constants) on
    ``args``; ``index`` a scalar int32 tensor."""
    gs, consts = share_consts(list(branches))
    return bind(cond_p, [index, *consts, *args], {"branches": tuple(gs)})


# ---------------------------------------------------------------------------
# while
# ---------------------------------------------------------------------------
def _while_abstract_eval(*avals, cond_graph, body_graph, cond_nconsts, body_nconsts):
    carry = avals[cond_nconsts + body_nconsts:]
    _check_inputs("while_loop", "condition", avals[:cond_nconsts] + carry, cond_graph)
    _check_inputs("while_loop", "body", avals[cond_nconsts:], body_graph)
    c = cond_graph.out_avals()
    if len(c) != 1 or tuple(c[0].shape) != () or not c[0].dtype.is_bool:
        raise TypeError(f"while_loop: the condition must return one scalar bool, got {_avals_str(c)}")
    outs = body_graph.out_avals()
    if len(outs) != len(carry) or not all(map(same_type, outs, carry)):
        raise TypeError(f"while_loop: the body returns {_avals_str(outs)} for a carry of {_avals_str(carry)}")
    return tuple(outs)


def _while_impl(*args, cond_graph, body_graph, cond_nconsts, body_nconsts):
    cc = list(args[:cond_nconsts])
    bc = list(args[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(args[cond_nconsts + body_nconsts:])
    ce, be = _get_executable(cond_graph), _get_executable(body_graph)
    while bool(np.asarray(ce(cc + carry)[0]).reshape(-1)[0]):
        carry = be(bc + carry)
    return carry


def _while_vjp(cts, *args, **params):
    raise ValueError("grad: reverse-mode differentiation through while_loop is not supported: its number of "
                     "iterations is known only at run time, so the values of every iteration cannot be saved "
                     "for the backward pass. Use fori_loop with static (Python int) bounds, or scan, which "
                     "have a trip count known when tracing.")


while_p = Primitive("while", _while_abstract_eval, _while_impl, _while_vjp, multiple_results=True)


def while_loop(cond_graph: Graph, body_graph: Graph, init: Sequence) -> list:
    """Bind ``while_p``: ``cond_graph(carry) -> bool``, ``body_graph(carry) -> carry`` (captured constants
    allowed)."""
    cg, cc = closed(cond_graph)
    bg, bc = closed(body_graph)
    return bind(while_p, [*cc, *bc, *init], {"cond_graph": cg, "body_graph": bg, "cond_nconsts": len(cc),
                                             "body_nconsts": len(bc)})


# ---------------------------------------------------------------------------
# scan
# ---------------------------------------------------------------------------
def _scan_split(args, num_consts, num_carry):
    return (list(args[:num_consts]), list(args[num_consts:num_consts + num_carry]),
            list(args[num_consts + num_carry:]))


def _scan_abstract_eval(*avals, body, length, reverse, num_consts, num_carry):
    consts, carry, xs = _scan_split(avals, num_consts, num_carry)
    for k, x in enumerate(xs):
        if not x.shape or x.shape[0] != length:
            raise TypeError(f"scan: xs leaf {k} has shape {tuple(x.shape)}, but the scan has length {length}")
    slices = [ShapedArray(tuple(x.shape[1:]), x.dtype, x.weak_type) for x in xs]
    _check_inputs("scan", "body", consts + carry + slices, body)
    outs = body.out_avals()
    if len(outs) < num_carry or not all(map(same_type, outs[:num_carry], carry)):
        raise TypeError(f"scan: the body returns the carry {_avals_str(outs[:num_carry])} for a carry of "
                        f"{_avals_str(carry)}")
    ys = [ShapedArray((length, *y.shape), y.dtype, y.weak_type) for y in outs[num_carry:]]
    return tuple(outs[:num_carry] + ys)


def _scan_impl(*args, body, length, reverse, num_consts, num_carry):
    consts, carry, xs = _scan_split(args, num_consts, num_carry)
    exe = _get_executable(body)
    ys = [np.empty((length, *v.aval.shape), v.aval.dtype.np) for v in body.outvars[num_carry:]]
    for k in range(length):
        t = length - 1 - k if reverse else k
        outs = exe(consts + carry + [x[t] for x in xs])
        carry = list(outs[:num_carry])
        for y, o in zip(ys, outs[num_carry:]):
            y[t] = o
    return carry + ys


def scan(body: Graph, consts: Sequence, init: Sequence, xs: Sequence, length: int, reverse: bool = False) -> list:
    """Bind ``scan_p``: ``body(*consts, *carry, *x_slices) -> (*carry, *ys)`` (captured constants allowed, as
    leading consts)."""
    g, cc = closed(body)
    return bind(scan_p, [*cc, *consts, *init, *xs], {"body": g, "length": int(length), "reverse": bool(reverse),
                                                     "num_consts": len(cc) + len(consts), "num_carry": len(init)})


def _float_positions(vars_) -> list:
    return [i for i, v in enumerate(vars_) if v.aval.dtype.is_floating]


def _scan_vjp_forward(ins, body, length, reverse, num_consts, num_carry):
    """The forward pass under differentiation: one scan of the known half of the body's VJP graph, which
    computes the outputs and stacks the residuals the backward half needs. Returns ``(outputs, residuals)``."""
    from ..transforms.partial_eval import split_known
    from ..transforms.vjp import vjp_graph
    n_in = len(body.invars)
    wrt = _float_positions(body.invars)
    ct_outs = _float_positions(body.outvars)
    if not wrt or not ct_outs:  # nothing to differentiate: the plain scan
        return bind(scan_p, list(ins), {"body": body, "length": length, "reverse": reverse,
                                        "num_consts": num_consts, "num_carry": num_carry}), None
    bwd = vjp_graph(body, wrt, ct_outs, keep_outputs=True)
    bwd, bconsts = closed(bwd)
    n_lead = len(bconsts)
    # the known inputs: the VJP graph's constants and the body's inputs; loop-invariant ones are the leading
    # n_lead + num_consts
    split = split_known(bwd, n_lead + n_in, n_lead + num_consts, n_lead + num_consts + num_carry,
                        len(body.outvars))
    consts, init, xs = _scan_split(ins, num_consts, num_carry)
    outs = bind(scan_p, [*bconsts, *consts, *init, *xs],
                {"body": split.known, "length": length, "reverse": reverse, "num_consts": n_lead + num_consts,
                 "num_carry": num_carry})
    n_out = len(body.outvars)
    invariant = [*bconsts, *consts]
    residuals = {"split": split, "stacked": [xs[i] for i in split.xs_inputs] + outs[n_out:],
                 "invariant": [invariant[i] for i in split.const_inputs], "wrt": wrt, "ct_outs": ct_outs}
    return outs[:n_out], residuals


def _scan_vjp(cts, *rest, body, length, reverse, num_consts, num_carry, residuals=None):
    n_in = len(body.invars)
    n_xs = n_in - num_consts - num_carry
    ins = list(rest[:num_consts + num_carry + n_xs])
    if residuals is None:
        _, residuals = _scan_vjp_forward(ins, body, length, reverse, num_consts, num_carry)
    if residuals is None:  # no float input (or output): nothing to differentiate
        return [None] * len(ins)
    split, wrt, ct_outs = residuals["split"], residuals["wrt"], residuals["ct_outs"]
    # cotangents, zeros for symbolic zeros: of the final carry (the backward carry) and of the stacked ys
    out_avals = _scan_abstract_eval(*[v.aval for v in rest[:len(ins)]], body=body, length=length,
                                    reverse=reverse, num_consts=num_consts, num_carry=num_carry)
    ct_full = [(_strong(c) if c is not None else _zeros(out_avals[i].strip_weak())) for i, c in enumerate(cts)]
    ct_carry = [ct_full[i] for i in ct_outs if i < num_carry]
    ct_ys = [ct_full[i] for i in ct_outs if i >= num_carry]
    w_consts = [i for i in wrt if i < num_consts]
    w_carry = [i for i in wrt if num_consts <= i < num_consts + num_carry]
    w_xs = [i for i in wrt if i >= num_consts + num_carry]
    # the carried cotangents are those of the float carries: the body's float carry outputs are its float carry
    # inputs (same avals), so both lists name the same positions
    assert [i - num_consts for i in w_carry] == [i for i in ct_outs if i < num_carry]
    accs = [_zeros(body.invars[i].aval.strip_weak()) for i in w_consts]
    invariant, stacked = residuals["invariant"], residuals["stacked"]
    n_inv, n_acc, n_cc, n_st = len(invariant), len(accs), len(ct_carry), len(stacked)
    bwd_graph = split.unknown

    def step(*a):
        inv = list(a[:n_inv])
        acc = list(a[n_inv:n_inv + n_acc])
        cc = list(a[n_inv + n_acc:n_inv + n_acc + n_cc])
        st = list(a[n_inv + n_acc + n_cc:n_inv + n_acc + n_cc + n_st])
        cy = list(a[n_inv + n_acc + n_cc + n_st:])
        from .interpret import eval_graph
        grads = eval_graph(bwd_graph, inv + st + cc + cy)
        g_consts, g_carry, g_xs = grads[:n_acc], grads[n_acc:n_acc + n_cc], grads[n_acc + n_cc:]
        new_acc = [bind_add(x, g) for x, g in zip(acc, g_consts)]
        return new_acc + [_strong(g) for g in g_carry] + [_strong(g) for g in g_xs]

    avals = ([v.aval for v in invariant] + [v.aval for v in accs] + [v.aval.strip_weak() for v in ct_carry]
             + [_slice_aval(v.aval) for v in stacked] + [_slice_aval(v.aval) for v in ct_ys])
    g = trace_flat(step, avals, "the backward pass of scan")
    outs = scan(g, invariant, accs + ct_carry, stacked + ct_ys, length, not reverse)
    result: list = [None] * len(ins)
    for i, v in zip(w_consts, outs[:n_acc]):
        result[i] = v
    for i, v in zip(w_carry, outs[n_acc:n_acc + n_cc]):
        result[i] = v
    for i, v in zip(w_xs, outs[n_acc + n_cc:]):
        result[i] = v
    return result


def _slice_aval(aval: ShapedArray) -> ShapedArray:
    return ShapedArray(tuple(aval.shape[1:]), aval.dtype, False)


def bind_add(a, b):
    from ..primitives.elementwise import add_p
    return bind(add_p, [a, b], {})


scan_p = Primitive("scan", _scan_abstract_eval, _scan_impl, _scan_vjp, multiple_results=True,
                   vjp_forward=_scan_vjp_forward)


__all__ = ["cond_p", "while_p", "scan_p", "cond", "while_loop", "scan", "share_consts", "trace_flat",
           "same_type"]
