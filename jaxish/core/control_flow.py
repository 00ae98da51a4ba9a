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
  cond_nconsts, body_nconsts, rng_carry)``: ``while cond(cond_consts, carry):
  carry = body(body_consts, carry)``; ``rng_carry`` is the position in the
  carry of the random state of a body that draws random numbers (None when it
  draws none). Only the batching rule reads it: the state is never batched,
  it advances once per iteration of the batched loop (see ``_while_batch``).
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
from .trace import bind, user_line


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
def _while_abstract_eval(*avals, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    carry = avals[cond_nconsts + body_nconsts:]
    if rng_carry is not None and not (0 <= rng_carry < len(carry) and tuple(carry[rng_carry].shape) == (2,)
                                      and carry[rng_carry].dtype is _dt.int64):
        raise TypeError(f"while_loop: rng_carry={rng_carry} does not name an int64[2] random state in the carry "
                        f"{_avals_str(carry)}")
    _check_inputs("while_loop", "condition", avals[:cond_nconsts] + carry, cond_graph)
    _check_inputs("while_loop", "body", avals[cond_nconsts:], body_graph)
    c = cond_graph.out_avals()
    if len(c) != 1 or tuple(c[0].shape) != () or not c[0].dtype.is_bool:
        raise TypeError(f"while_loop: the condition must return one scalar bool, got {_avals_str(c)}")
    outs = body_graph.out_avals()
    if len(outs) != len(carry) or not all(map(same_type, outs, carry)):
        raise TypeError(f"while_loop: the body returns {_avals_str(outs)} for a carry of {_avals_str(carry)}")
    return tuple(outs)


def _while_impl(*args, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    cc = list(args[:cond_nconsts])
    bc = list(args[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(args[cond_nconsts + body_nconsts:])
    ce, be = _get_executable(cond_graph), _get_executable(body_graph)
    while bool(np.asarray(ce(cc + carry)[0]).reshape(-1)[0]):
        carry = be(bc + carry)
    return carry


def _while_vjp(cts, *args, **params):
    raise ValueError("grad: differentiation through while_loop is not supported: its number of iterations is "
                     "known only at run time, so the values of every iteration cannot be saved for the backward "
                     "pass (forward mode, jvp and jacfwd, works; hessian and jacrev need reverse mode). Use "
                     "fori_loop with static (Python int) bounds, or scan, which have a trip count known when "
                     f"tracing.\n  At {user_line()}")


def _while_jvp(ins, tangents, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    """Forward mode: a ``while`` carrying the float carries' tangents too, its body the body's JVP graph (the
    condition reads only the primal carry). Tangents of the condition's constants do not matter."""
    from ..transforms.jvp import jvp_graph
    nc, nb = cond_nconsts, body_nconsts
    cc, bc, carry = list(ins[:nc]), list(ins[nc:nc + nb]), list(ins[nc + nb:])
    tb, tc = list(tangents[nc:nc + nb]), list(tangents[nc + nb:])
    wb = [k for k in range(nb) if tb[k] is not None and bc[k].aval.dtype.is_floating]
    fc = _float_positions(body_graph.outvars)
    if not fc:
        return bind(while_p, list(ins), {"cond_graph": cond_graph, "body_graph": body_graph,
                                         "cond_nconsts": nc, "body_nconsts": nb, "rng_carry": rng_carry}), \
            [None] * len(carry)
    jg = jvp_graph(body_graph, wb + [nb + k for k in fc], fc)
    t_b = [_strong(tb[k]) for k in wb]
    t_c = [_zeros(carry[k].aval.strip_weak()) if tc[k] is None else _strong(tc[k]) for k in fc]
    n_tb, n_carry = len(t_b), len(carry)

    def body(*a):
        b, t, c, dc = a[:nb], a[nb:nb + n_tb], a[nb + n_tb:nb + n_tb + n_carry], a[nb + n_tb + n_carry:]
        return eval_graph(jg, [*b, *c, *t, *dc])

    def cond_fn(*a):
        return eval_graph(cond_graph, list(a[:nc + n_carry]))
    from .interpret import eval_graph
    c_avals = [v.aval for v in carry] + [v.aval for v in t_c]
    gb = trace_flat(body, [v.aval for v in bc + t_b] + c_avals, "the forward-mode body of while_loop")
    gc = trace_flat(cond_fn, [v.aval for v in cc] + c_avals, "the forward-mode condition of while_loop")
    outs = while_loop_closed(gc, gb, cc, bc + t_b, carry + t_c, rng_carry)   # (tangents after the carry)
    out_t: list = [None] * n_carry
    for k, t in zip(fc, outs[n_carry:]):
        out_t[k] = t
    return outs[:n_carry], out_t


while_p = Primitive("while", _while_abstract_eval, _while_impl, _while_vjp, multiple_results=True,
                    jvp=_while_jvp, reverse=False)


def while_loop(cond_graph: Graph, body_graph: Graph, init: Sequence, rng_carry: int | None = None) -> list:
    """Bind ``while_p``: ``cond_graph(carry) -> bool``, ``body_graph(carry) -> carry`` (captured constants
    allowed); ``rng_carry``: the position of the random state in the carry, if the body draws."""
    return while_loop_closed(cond_graph, body_graph, [], [], init, rng_carry)


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


# ---------------------------------------------------------------------------
# batching (vmap): the rules batch the sub-graphs with transforms.batching.batch_graph
# ---------------------------------------------------------------------------
def _batch_sub(graph: Graph, in_dims, size: int, out_dims=None) -> tuple:
    from ..transforms.batching import batch_graph
    return batch_graph(graph, in_dims, size, out_dims)


def _at(x, d, want, size: int):
    """``x`` (batch axis ``d`` or unbatched) with its batch axis at ``want`` (``None``: left unbatched)."""
    from ..primitives._batching import front, move_axis
    if want is None:
        return x
    if d is None:
        x, d = front(x, None, size), 0
    return move_axis(x, d, want)


def _select_batched(pred, on_true, on_false):
    """``select`` of two batch-first values by a per-example bool ``pred`` (shape ``(size,)``)."""
    from ..primitives.elementwise import select_p
    from ..primitives.shape_ops import reshape_p
    rank = on_true.aval.ndim
    p = reshape_p.bind(pred, shape=tuple(pred.aval.shape) + (1,) * (rank - 1)) if rank > 1 else pred
    return select_p.bind(p, on_true, on_false)


def _cond_batch(args, dims, size, branches):
    """Unbatched index: a ``cond`` of the batched branches (an output batched in any branch is batched, axis
    0, in all). Batched index: every branch runs (batched) and ``select`` picks each example's result, by the
    clamped index (as JAX does with a batched predicate)."""
    from ..primitives import elementwise as ew
    from ..primitives._batching import move_to_front
    index, ops = args[0], list(args[1:])
    idims, odims = dims[0], list(dims[1:])
    n_out = len(branches[0].outvars)
    if idims is None:
        batched = [False] * n_out
        for b in branches:
            _, ds = _batch_sub(b, odims, size)
            batched = [x or d is not None for x, d in zip(batched, ds)]
        want = [0 if x else None for x in batched]
        gs = [_batch_sub(b, odims, size, want)[0] for b in branches]
        return cond(index, gs, ops), want
    from ..core.tensor import Tensor
    from .call import call
    want = [0] * n_out
    outs = [call(_batch_sub(b, odims, size, want)[0], ops) for b in branches]
    idx = move_to_front(index, idims)
    idx = ew.max_p.bind(ew.min_p.bind(idx, Tensor(np.int32(len(branches) - 1))), Tensor(np.int32(0)))
    result = list(outs[0])
    for k in range(1, len(branches)):
        pick = ew.eq_p.bind(idx, Tensor(np.int32(k)))
        result = [_select_batched(pick, o, r) for o, r in zip(outs[k], result)]
    return result, want


def _carry_fixed_point(step, carry_batched: list) -> list:
    """Iterate ``step(carry batched flags) -> body output carry flags`` until no carry becomes batched (a carry
    that the body makes batched must be batched from the start)."""
    while True:
        out = step(carry_batched)
        new = [a or b for a, b in zip(carry_batched, out)]
        if new == carry_batched:
            return carry_batched
        carry_batched = new


def _while_batch(args, dims, size, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    """A ``while`` of the batched body; with a predicate that differs per example, the loop runs while any
    example's is true and a ``select`` keeps the carries of the finished examples (every carry batched, except
    the random state).

    The random state of a body that draws (the carry at ``rng_carry``) is never batched: it advances once per
    iteration of the batched loop, finished examples or not, so every example's ``t``-th iteration draws, as
    any random op under ``vmap`` does, its own slice of one draw of the batched shape from the loop's ``t``-th
    state. An example's numbers therefore depend on its own trip count only, not on the other examples' (they
    are those of the same loop with that trip count for every example), and the state is the same on every
    backend."""
    cc, bc = list(args[:cond_nconsts]), list(args[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(args[cond_nconsts + body_nconsts:])
    ccd, bcd = list(dims[:cond_nconsts]), list(dims[cond_nconsts:cond_nconsts + body_nconsts])
    cd = list(dims[cond_nconsts + body_nconsts:])
    if rng_carry is not None and cd[rng_carry] is not None:
        raise NotImplementedError("vmap: a while_loop whose body draws random numbers, with a random state that "
                                  "differs per example (a batched state), is not supported")

    def body_flags(flags):
        _, ds = _batch_sub(body_graph, bcd + [0 if f else None for f in flags], size)
        return [d is not None for d in ds]
    flags = _carry_fixed_point(body_flags, [d is not None for d in cd])
    if rng_carry is not None and flags[rng_carry]:  # pragma: no cover - the state is advanced by constants only
        raise AssertionError("vmap: the batched body of a while_loop made its random state batched")
    _, (pd,) = _batch_sub(cond_graph, ccd + [0 if f else None for f in flags], size)
    if pd is not None:
        flags = [k != rng_carry for k in range(len(carry))]
    cdims = [0 if f else None for f in flags]
    carry = [_at(x, d, w, size) for x, d, w in zip(carry, cd, cdims)]
    bbody, _ = _batch_sub(body_graph, bcd + cdims, size, cdims)
    if pd is None:
        bcond, _ = _batch_sub(cond_graph, ccd + cdims, size, [None])
        return while_loop_closed(bcond, bbody, cc, bc, carry, rng_carry), cdims
    bcond, _ = _batch_sub(cond_graph, ccd + cdims, size, [0])
    from ..core.tensor import Tensor
    from ..primitives.elementwise import and_p
    from ..primitives.reductions import reduce_or_p
    from .interpret import eval_graph
    nc, nb, n = len(cc), len(bc), len(carry)
    # a condition that draws random numbers draws anew each iteration, so a finished example's predicate could
    # become true again: then a per-example "still running" flag is carried too (last), and ANDed in
    reads = rng_carry is not None and _reads_input(cond_graph, cond_nconsts + rng_carry)
    active = [_at(Tensor(np.bool_(True)), None, 0, size)] if reads else []
    cc_avals = [v.aval for v in cc]
    all_avals = cc_avals + [v.aval for v in bc] + [v.aval for v in carry + active]

    def predicate(consts, c):
        (p,) = eval_graph(bcond, consts + c[:n])
        return and_p.bind(p, c[n]) if active else p

    def any_cond(*a):
        a = list(a)
        return [reduce_or_p.bind(predicate(a[:nc], a[nc:]), axes=(0,))]

    def masked_body(*a):
        a = list(a)
        p = predicate(a[:nc], a[nc + nb:])
        new = eval_graph(bbody, a[nc:nc + nb + n])
        return [o if k == rng_carry else _select_batched(p, o, c)
                for k, (o, c) in enumerate(zip(new, a[nc + nb:]))] + ([p] if active else [])
    gc = trace_flat(any_cond, cc_avals + [v.aval for v in carry + active], "the batched condition of while_loop")
    gb = trace_flat(masked_body, all_avals, "the batched body of while_loop")
    return while_loop_closed(gc, gb, cc, cc + bc, carry + active, rng_carry)[:n], cdims


def _reads_input(graph: Graph, k: int) -> bool:
    """``graph`` reads its input ``k`` (a node's operand or an output)."""
    v = graph.invars[k]
    return any(v is a for n in graph.nodes for a in n.invars) or any(v is a for a in graph.outvars)


def while_loop_closed(cond_graph: Graph, body_graph: Graph, cond_consts: Sequence, body_consts: Sequence,
                      init: Sequence, rng_carry: int | None = None) -> list:
    """Bind ``while_p`` with explicit leading constants (the graphs may capture more); ``rng_carry``: the
    position of the random state in ``init``, if the body draws random numbers."""
    cg, c1 = closed(cond_graph)
    bg, c2 = closed(body_graph)
    cc, bc = [*c1, *cond_consts], [*c2, *body_consts]
    return bind(while_p, [*cc, *bc, *init], {"cond_graph": cg, "body_graph": bg, "cond_nconsts": len(cc),
                                             "body_nconsts": len(bc), "rng_carry": rng_carry})


def _scan_batch(args, dims, size, body, length, reverse, num_consts, num_carry):
    """A ``scan`` of the batched body: batched ``xs`` get the batch axis second (axis 0 is scanned, so each
    slice is batch-first), carries batch-first (made batched from the start when the body makes them batched,
    to a fixed point) and batched ``ys`` come out with the batch axis second."""
    consts, init, xs = _scan_split(args, num_consts, num_carry)
    kd, cd, xd = _scan_split(dims, num_consts, num_carry)
    xs = [x if d is None else _at(x, d, 1, size) for x, d in zip(xs, xd)]
    sd = [None if d is None else 0 for d in xd]

    def body_flags(flags):
        _, ds = _batch_sub(body, kd + [0 if f else None for f in flags] + sd, size)
        return [d is not None for d in ds[:num_carry]]
    flags = _carry_fixed_point(body_flags, [d is not None for d in cd])
    cdims = [0 if f else None for f in flags]
    _, ds = _batch_sub(body, kd + cdims + sd, size)
    ydims = [None if d is None else 0 for d in ds[num_carry:]]
    g, _ = _batch_sub(body, kd + cdims + sd, size, cdims + ydims)
    init = [_at(x, d, w, size) for x, d, w in zip(init, cd, cdims)]
    outs = scan(g, consts, init, xs, length, reverse)
    return outs, cdims + [None if d is None else 1 for d in ydims]


cond_p.batch = _cond_batch
while_p.batch = _while_batch
scan_p.batch = _scan_batch


# ---------------------------------------------------------------------------
# forward-mode rules of cond and scan (used only when a body contains a while: see transforms/jvp.py)
# ---------------------------------------------------------------------------
def _scatter(positions, values, n: int) -> list:
    out: list = [None] * n
    for i, v in zip(positions, values):
        out[i] = v
    return out


def _cond_jvp(ins, tangents, branches):
    """A ``cond`` of the branches' JVP graphs, on the operands and their (non-zero, float) tangents."""
    from ..transforms.jvp import jvp_graph
    index, args, targs = ins[0], list(ins[1:]), list(tangents[1:])
    n = len(branches[0].outvars)
    wrt = [k for k, (a, t) in enumerate(zip(args, targs)) if t is not None and a.aval.dtype.is_floating]
    fo = _float_positions(branches[0].outvars)
    if not wrt or not fo:
        return bind(cond_p, list(ins), {"branches": branches}), [None] * n
    outs = cond(index, [jvp_graph(b, wrt, fo) for b in branches], args + [_strong(targs[k]) for k in wrt])
    return outs[:n], _scatter(fo, outs[n:], n)


def _scan_jvp(ins, tangents, body, length, reverse, num_consts, num_carry):
    """A ``scan`` of the body's JVP graph: the float carries' tangents are carried, the tangents of the
    constants are constants, those of ``xs`` scanned, the tangents of the float ``ys`` stacked."""
    from ..transforms.jvp import jvp_graph
    from .interpret import eval_graph
    consts, carry, xs = _scan_split(ins, num_consts, num_carry)
    tk, _, tx = _scan_split(tangents, num_consts, num_carry)
    tcarry = tangents[num_consts:num_consts + num_carry]
    nk, nx, n_out = len(consts), len(xs), len(body.outvars)
    wk = [k for k in range(nk) if tk[k] is not None and consts[k].aval.dtype.is_floating]
    wx = [k for k in range(nx) if tx[k] is not None and xs[k].aval.dtype.is_floating]
    fc = [k for k in range(num_carry) if carry[k].aval.dtype.is_floating]
    fo = _float_positions(body.outvars)
    fy = [j for j in fo if j >= num_carry]
    if not (wk or wx or any(tcarry[k] is not None for k in fc)) or not fo:
        return bind(scan_p, list(ins), {"body": body, "length": length, "reverse": reverse,
                                        "num_consts": num_consts, "num_carry": num_carry}), [None] * n_out
    jg = jvp_graph(body, wk + [nk + k for k in fc] + [nk + num_carry + k for k in wx], fo)
    t_k = [_strong(tk[k]) for k in wk]
    t_c = [_zeros(carry[k].aval.strip_weak()) if tcarry[k] is None else _strong(tcarry[k]) for k in fc]
    t_x = [_strong(tx[k]) for k in wx]
    sizes = [nk, len(t_k), num_carry, len(t_c), nx, len(t_x)]

    def step(*a):
        parts, at = [], 0
        for size in sizes:
            parts.append(list(a[at:at + size]))
            at += size
        k, tk_, c, tc_, x, tx_ = parts
        outs = eval_graph(jg, k + c + x + tk_ + tc_ + tx_)
        prim, tans = outs[:n_out], [_strong(t) for t in outs[n_out:]]
        return prim[:num_carry] + tans[:len(fc)] + prim[num_carry:] + tans[len(fc):]
    avals = ([v.aval for v in consts + t_k + carry + t_c] + [_slice_aval(v.aval) for v in xs + t_x])
    g = trace_flat(step, avals, "the forward-mode body of scan")
    outs = scan(g, consts + t_k, carry + t_c, xs + t_x, length, reverse)
    nc, nfc, ny = num_carry, len(fc), n_out - num_carry
    primal = outs[:nc] + outs[nc + nfc:nc + nfc + ny]
    return primal, _scatter(fc + fy, outs[nc:nc + nfc] + outs[nc + nfc + ny:], n_out)


cond_p.jvp = _cond_jvp
scan_p.jvp = _scan_jvp


__all__ = ["cond_p", "while_p", "scan_p", "cond", "while_loop", "scan", "share_consts", "trace_flat",
           "same_type"]
