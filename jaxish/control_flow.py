"""Control flow with JAX's semantics and argument order: ``cond``, ``fori_loop``, ``while_loop``, ``scan``.

Each branch or body is traced once into a sub-graph (a ``GraphTrace`` above
the caller's context: values it closes over, concrete or traced, become
captured constants) and bound as one primitive of ``core/control_flow.py``:
eagerly it runs now, inside ``@trace`` it is one node, under a tape one
recorded op. Carries and operands are pytrees. Variables read inside are
operands; Variables assigned inside a loop body are carried and written back
once after the loop (in a ``cond``, after the chosen branch). Random ops may
appear in loop bodies, a ``while_loop``'s condition and ``cond`` branches (see
``_loop_state``, ``_next_state`` and ``_COND_FUN_STREAMS``).
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import dtypes as _dt
from .core import GraphTrace, Tensor, Tracer, is_variable, to_tensor_arg, user_line
from .core import control_flow as _cf
from .ir import Graph, Literal, Node, ShapedArray, Var
from .primitives import elementwise as _ew
from .primitives import shape_ops as _so
from .traceback_util import api_boundary
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["cond", "fori_loop", "while_loop", "scan"]


def _error(cls, op: str, msg: str):
    return cls(f"{op}: {msg}\n  At {user_line()}")


def _leaf(x, op: str, what: str) -> Tensor:
    if is_variable(x):
        return x.read_value()
    try:
        return to_tensor_arg(x)
    except TypeError:
        raise _error(TypeError, op, f"{what} has a leaf of type {type(x).__name__} ({x!r:.60}); use tensors, "
                                    f"arrays, Python scalars or pytrees of them") from None


def _types(avals) -> str:
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


@dataclass
class _Body:
    """A function traced at some input avals: ``graph`` takes the explicit leaves, then the Variables it reads
    (``variables``), and returns its output leaves, then the new values of the Variables it assigns."""

    graph: Graph
    n_in: int
    n_out: int
    variables: list
    assigned: list
    out_tree: Any
    extra: Any = None   # what the wrapper recorded (scan: the carry's and ys' structures)
    rng: bool = False   # it draws random numbers: its last input is the random state (a loop body's last output
    #                     is the next iteration's state; a cond branch returns none)

    @property
    def rng_in(self) -> list:
        """``[the random state input]`` of a body that draws random numbers, else ``[]``."""
        return [self.graph.invars[-1]] if self.rng else []

    @property
    def rng_out(self) -> list:
        """``[the next iteration's random state]`` of a loop body that draws random numbers, else ``[]``."""
        return [self.graph.outvars[-1]] if self.rng else []

    @property
    def out_avals(self) -> list:
        return [v.aval for v in self.graph.outvars[:self.n_out]]

    def var_inputs(self, variables: list) -> list:
        """For each Variable in ``variables``: the graph's input for it, or a new (unused) Var."""
        pos = {id(v): self.graph.invars[self.n_in + k] for k, v in enumerate(self.variables)}
        return [pos.get(id(v)) or Var(_var_aval(v)) for v in variables]

    def var_outputs(self, variables: list, inputs: list) -> list:
        """For each Variable in ``variables``: its new value if the function assigns it, else ``inputs``'."""
        new = {id(v): self.graph.outvars[self.n_out + k] for k, v in enumerate(self.assigned)}
        return [new.get(id(v), i) for v, i in zip(variables, inputs)]


def _var_aval(v) -> ShapedArray:
    return v._value.aval.strip_weak()


def _trace_body(fn: Callable, in_tree, avals: list, op: str, what: str, loop: bool = False,
                always_rng: bool = False, first_stream: int = 0) -> _Body:
    """Trace ``fn(*unflatten(in_tree, tracers))`` at ``avals``. A function that draws random numbers takes the
    random state as its last input; a loop body (``loop``) also returns the next iteration's state
    (:func:`_next_state`) as its last output, a cond branch or a while_loop's condition only reads it.
    ``always_rng``: a loop body takes and advances the state even if it draws nothing (its condition draws).
    ``first_stream``: the random ops' stream numbers start after it (a while_loop's condition reads the state
    its body reads: its ops are numbered far from the body's, so that they draw other numbers)."""
    with GraphTrace(name=f"the {what} of {op}") as t:
        t.rng_count = first_stream
        tracers = [t.new_arg(a, f"{what} argument {i}") for i, a in enumerate(avals)]
        args = tree_unflatten(in_tree, tracers)
        _check_arity(fn, args, op, what)
        out = fn(*args)
        leaves, out_tree = tree_flatten(out)
        vals = [_leaf(o, op, f"the {what}'s result") for o in leaves]
        if always_rng and t.rng_var is None:
            t.rng_state()
        rng = t.rng_var is not None
        if rng and loop:
            vals.append(_next_state(Tracer(t, t.rng_var)))
        graph, variables, assigned = t.finish(vals)
    if rng and loop:  # the next state goes last, after the assigned Variables' values
        outs = list(graph.outvars)
        outs.append(outs.pop(len(vals) - 1))
        graph = Graph(graph.invars, graph.nodes, outs, graph.constvars, graph.consts)
        vals = vals[:-1]
    return _Body(graph, len(avals), len(vals), variables, assigned, out_tree, rng=rng)


# The random state of a loop whose body draws random numbers is carried: iteration 0 uses the loop's own state
# (``_loop_state``), each iteration the next one, ``[key * A + C, counter]`` (wrapping int64: an LCG of full
# period 2**64, so every iteration's Philox key is distinct, and Philox's streams under distinct keys are
# independent). This is JAX's ``split`` of a carried key, done implicitly.
# A while_loop's condition reads the iteration's state too: its random ops are numbered from this stream on
# (random._stream_state folds the part of the number above 2**15 into the key), so they draw other numbers than
# the body's ops (which would need 2**50 random ops to reach it).
_COND_FUN_STREAMS = 1 << 50
_LCG_A = 0x5851F42D4C957F2D   # odd (Knuth's MMIX multiplier; A - 1 divisible by 4)
_LCG_C = 0x14057B7EF767814F   # odd


def _next_state(state):
    # ``state * [A, 1] + [C, 0]``, its multipliers built from an iota and 0-d literals: no array constant,
    # which the loop would capture on the CPU (an eager loop on accelerator operands could not read it)
    first = _ew.sub_p.bind(Tensor(np.int64(1)), _so.iota_p.bind(n=2, dtype=_dt.int64))   # [1, 0]
    mul = _ew.add_p.bind(_ew.mul_p.bind(first, Tensor(np.int64(_LCG_A - 1))), Tensor(np.int64(1)))
    inc = _ew.mul_p.bind(first, Tensor(np.int64(_LCG_C)))
    return _ew.add_p.bind(_ew.mul_p.bind(state, mul), inc)


def _loop_state(operands):
    """The state a loop whose body draws random numbers starts from (and the one state the branches of a
    ``cond`` that draws random numbers read): what a traced call that draws random numbers gets
    (``tracing._rng_input``): a fresh one per eager call (the global generator advances), made on the device of
    the ``operands``, and inside a trace a key of its own derived from the trace's state and the position of the
    loop (or cond), so every call of the traced function draws anew."""
    from .tracing import _rng_input
    return _rng_input(operands)


def _check_arity(fn: Callable, args: tuple, op: str, what: str) -> None:
    """A ``TypeError`` naming ``op`` and the user's line if ``fn`` cannot take ``len(args)`` arguments."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args)
    except TypeError as ex:
        name = getattr(fn, "__qualname__", type(fn).__name__)
        raise _error(TypeError, op, f"{what} {name}{sig} cannot be called with {len(args)} argument(s): "
                                    f"{ex}") from None


def _strengthen(graph: Graph, positions) -> Graph:
    """``graph`` with the outputs at ``positions`` converted to strong types."""
    if not positions:
        return graph
    nodes, outs = list(graph.nodes), list(graph.outvars)
    for i in positions:
        o = outs[i]
        aval = o.aval.strip_weak()
        if isinstance(o, Literal):
            outs[i] = Literal(o.val, aval)
        else:
            v = Var(aval)
            nodes.append(Node(_ew.convert_p, [o], {"dtype": aval.dtype, "weak_type": False}, [v]))
            outs[i] = v
    return Graph(graph.invars, nodes, outs, graph.constvars, graph.consts)


def _tree_str(tree) -> str:
    """A pytree structure as Python-like text with ``*`` for each leaf: ``{'k': *, 'v': (*, *)}``."""
    class Leaf:
        def __repr__(self):
            return "*"
    return repr(tree_unflatten(tree, [Leaf()] * tree.num_leaves))


def _check_same(op: str, a_name: str, a_tree, a_avals, b_name: str, b_tree, b_avals) -> None:
    if a_tree != b_tree:
        raise _error(TypeError, op, f"{a_name} has the structure {_tree_str(a_tree)}, but {b_name} has the "
                                    f"structure {_tree_str(b_tree)}; they must be the same")
    for k, (a, b) in enumerate(zip(a_avals, b_avals)):
        if not _cf.same_type(a, b):
            raise _error(TypeError, op, f"{a_name} is {_types(a_avals)}, but {b_name} is {_types(b_avals)}: leaf "
                                        f"{k} has shape {tuple(a.shape)} and dtype {a.dtype.name} in one and shape "
                                        f"{tuple(b.shape)} and dtype {b.dtype.name} in the other; they must be the "
                                        f"same")


def _union(*lists) -> list:
    seen, out = set(), []
    for lst in lists:
        for v in lst:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


# ---------------------------------------------------------------------------
# cond
# ---------------------------------------------------------------------------
@api_boundary
def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, with the branch chosen at run time.

    Parameters
    ----------
    pred : scalar tensor (bool or number; nonzero is true)
    true_fun, false_fun : callable
        Traced once each; they must return the same pytree structure with the same shapes and dtypes.
    *operands : pytrees of tensors passed to the branch.

    Returns
    -------
    The chosen branch's result. Differentiable (a ``cond`` of the branches' VJPs). Variables assigned in
    either branch are written after it (unchanged where the chosen branch does not assign them). Random ops in
    a branch draw from a key of the cond's own (fresh per eager call and per call of a traced function): the
    taken branch draws what it would draw called as a nested traced function, and the numbers drawn after the
    cond do not depend on the branch taken. Under ``vmap`` with a per-example ``pred`` every branch runs and
    each example takes its branch's numbers.

    Examples
    --------
    >>> jaxish.cond(x > 0, lambda v: v * 2.0, lambda v: -v, x)
    """
    op = "cond"
    p = _leaf(pred, op, "pred")
    if tuple(p.aval.shape) != ():
        raise _error(TypeError, op, f"pred must be a scalar, got shape {tuple(p.aval.shape)}")
    if not (p.dtype.is_bool or p.dtype.is_integer or p.dtype.is_floating):
        raise _error(TypeError, op, f"pred must be a bool or a number, got dtype {p.dtype.name}")
    if not p.dtype.is_bool:
        p = _ew.ne_p.bind(p, Tensor(np.zeros((), p.dtype.np)))
    index = _ew.convert(p, _dt.int32)
    leaves, in_tree = tree_flatten(operands)
    args = [_leaf(x, op, "an operand") for x in leaves]
    avals = [a.aval for a in args]
    bodies = [_trace_body(fn, in_tree, avals, op, what) for fn, what in ((false_fun, "false_fun"),
                                                                           (true_fun, "true_fun"))]
    f, t = bodies
    _check_same(op, "true_fun's result", t.out_tree, t.out_avals, "false_fun's result", f.out_tree, f.out_avals)
    weak = [i for i, (a, b) in enumerate(zip(t.out_avals, f.out_avals)) if a.weak_type != b.weak_type]
    variables = _union(f.variables, t.variables)
    assigned = _union(f.assigned, t.assigned)
    rng = f.rng or t.rng  # then every branch takes the random state as its last input (read by those that draw)
    graphs = []
    for b in bodies:
        g = _strengthen(b.graph, weak)
        var_in = b.var_inputs(variables)
        outs = list(g.outvars[:b.n_out]) + b.var_outputs(assigned, [var_in[variables.index(v)] for v in assigned])
        rng_in = (b.rng_in or [Var(ShapedArray((2,), _dt.int64))]) if rng else []
        graphs.append(Graph(list(g.invars[:b.n_in]) + var_in + rng_in, g.nodes, outs, g.constvars, g.consts))
    state = [_loop_state(args + variables)] if rng else []
    outs = _cf.cond(index, graphs, args + variables + state)
    n = t.n_out
    for v, val in zip(assigned, outs[n:]):
        v.assign(val)
    return tree_unflatten(t.out_tree, outs[:n])


# ---------------------------------------------------------------------------
# loops
# ---------------------------------------------------------------------------
def _trace_carry(fn: Callable, in_tree, carry_avals: list, other_avals: list, op: str, what: str,
                 n_carry_out: Callable, always_rng: bool = False) -> tuple:
    """Trace a loop body whose first ``len(carry_avals)`` inputs are the carry; a weakly typed carry the
    body makes strong is made strong and the body traced again (as JAX does). Returns ``(body, carry avals)``;
    the body's carry outputs have the carry's types. ``always_rng``: see :func:`_trace_body`."""
    avals = list(carry_avals)
    for _ in range(3):
        body = _trace_body(fn, in_tree, avals + other_avals, op, what, loop=True, always_rng=always_rng)
        nc = n_carry_out(body)
        outs = body.out_avals[:nc]
        if nc != len(avals):
            break  # the caller reports the structure
        changed = False
        for k, (a, o) in enumerate(zip(avals, outs)):
            p = _promoted(a, o)
            if p is not None:
                avals[k], changed = p, True
        if not changed:
            break
    body.graph = _strengthen(body.graph, [k for k, (a, o) in enumerate(zip(avals, body.out_avals[:len(avals)]))
                                          if o.weak_type and not a.weak_type])
    return body, avals


def _promoted(a: ShapedArray, o: ShapedArray) -> ShapedArray | None:
    """The strong type a weakly typed carry ``a`` takes when the body returns ``o`` for it (JAX promotes it to
    the join of both types, e.g. a Python ``0`` carry to float32 when the body adds a float32), or None."""
    if not a.weak_type or tuple(a.shape) != tuple(o.shape) or (a.dtype is o.dtype and o.weak_type):
        return None
    dtype, _ = _dt.result_type((a.dtype, True), (o.dtype, o.weak_type))
    return ShapedArray(tuple(a.shape), dtype, False)


def _as_carry(init: list, avals: list) -> list:
    return [_ew.convert(x, a.dtype, False) if x.aval.weak_type and not a.weak_type else x
            for x, a in zip(init, avals)]


@api_boundary
def while_loop(cond_fun: Callable, body_fun: Callable, init_val):
    """``val = init_val; while cond_fun(val): val = body_fun(val)``, as one node (a loop in compiled code).

    Parameters
    ----------
    cond_fun : callable
        ``carry -> scalar bool``.
    body_fun : callable
        ``carry -> carry`` with the same pytree structure, shapes and dtypes.
    init_val : pytree of tensors

    Returns
    -------
    The final carry. Not differentiable in reverse mode (the trip count is known only at run time): use
    :func:`fori_loop` with static bounds or :func:`scan`. Variables assigned in ``body_fun`` are carried and
    written once after the loop. Random ops may appear in ``body_fun`` and ``cond_fun``: each iteration draws
    new numbers (the random state is carried and advanced), the condition under other keys than the body.
    Under ``vmap`` with a trip count that differs per example, the state is the same for every example and
    advances once per iteration of the batched loop: an example's ``t``-th iteration draws its own slice of
    one batched draw from the ``t``-th state, so its numbers do not depend on the other examples' trip counts
    (they are those of the same loop run to its trip count by every example; example 0's are the un-vmapped
    traced function's), on every backend.
    """
    op = "while_loop"
    leaves, tree = tree_flatten(init_val)
    init = [_leaf(x, op, "init_val") for x in leaves]
    _, args_tree = tree_flatten((init_val,))
    body, avals = _trace_carry(body_fun, args_tree, [x.aval for x in init], [], op, "body_fun",
                               lambda b: b.n_out)
    _check_same(op, "body_fun's result", body.out_tree, body.out_avals, "init_val", tree, avals)
    init = _as_carry(init, avals)
    c = _trace_body(cond_fun, args_tree, avals, op, "cond_fun", first_stream=_COND_FUN_STREAMS)
    ca = c.out_avals
    if c.n_out != 1 or tuple(ca[0].shape) != () or not ca[0].dtype.is_bool:
        raise _error(TypeError, op, f"cond_fun must return a scalar bool, got {_types(ca)}")
    if c.assigned:
        raise _error(TypeError, op, f"cond_fun assigns the Variable {c.assigned[0].name!r}; assign Variables in "
                                    f"body_fun")
    if c.rng and not body.rng:  # the condition draws: the loop carries a random state, which the body advances
        body, _ = _trace_carry(body_fun, args_tree, avals, [], op, "body_fun", lambda b: b.n_out, always_rng=True)
    carried = list(body.assigned)
    readonly = [v for v in _union(body.variables, c.variables) if id(v) not in {id(a) for a in carried}]
    n = len(init)
    b_ro, b_car = body.var_inputs(readonly), body.var_inputs(carried)
    g = body.graph
    body_graph = Graph(b_ro + list(g.invars[:n]) + b_car + body.rng_in, g.nodes,
                       list(g.outvars[:n]) + body.var_outputs(carried, b_car) + body.rng_out, g.constvars,
                       g.consts)
    c_ro, c_car = c.var_inputs(readonly), c.var_inputs(carried)
    cg = c.graph
    c_rng = c.rng_in or [Var(v.aval) for v in body.rng_in]  # the carried random state (read if it draws)
    cond_graph = Graph(c_ro + list(cg.invars[:n]) + c_car + c_rng, cg.nodes, list(cg.outvars[:1]), cg.constvars,
                       cg.consts)
    state = [_loop_state(init + carried)] if body.rng else []
    # the read-only Variables are leading constants of both graphs
    cgc, cc = _cf.closed(cond_graph)
    bgc, bc = _cf.closed(body_graph)
    outs = _cf.bind(_cf.while_p, [*cc, *readonly, *bc, *readonly, *init, *carried, *state],
                    {"cond_graph": cgc, "body_graph": bgc, "cond_nconsts": len(cc) + len(readonly),
                     "body_nconsts": len(bc) + len(readonly), "rng_carry": n + len(carried) if state else None})
    for v, val in zip(carried, outs[n:]):
        v.assign(val)
    return tree_unflatten(tree, outs[:n])


def _static_int(x):
    """``x`` as a Python int if it is known now (a Python or NumPy integer, a concrete integer tensor)."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, Tensor) and not isinstance(x, Tracer) and type(x) is Tensor and x.dtype.is_integer \
            and tuple(x.aval.shape) == ():
        return int(x._value)
    return None


@api_boundary
def fori_loop(lower, upper, body_fun: Callable, init_val):
    """``val = init_val; for i in range(lower, upper): val = body_fun(i, val)``, as one node.

    With bounds known when tracing (Python ints, concrete tensors) the loop is a :func:`scan`, differentiable
    in reverse mode; with traced bounds it is a :func:`while_loop` (not differentiable in reverse mode).
    ``i`` is an int32 tensor, weakly typed when both bounds are Python ints (as in JAX: ``c + i`` keeps an
    int8 carry int8), else of the tensor bounds' dtype.

    Examples
    --------
    >>> jaxish.fori_loop(0, 10, lambda i, x: x * 2.0, x)
    """
    lo, hi = _static_int(lower), _static_int(upper)
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = [_leaf(x, "fori_loop", "init_val").aval for x in init_leaves]

    def checked(i, x):
        _check_arity(body_fun, (i, x), "fori_loop", "body_fun")
        out = body_fun(i, x)
        leaves, tree = tree_flatten(out)
        avals = [_leaf(o, "fori_loop", "body_fun's result").aval for o in leaves]
        # a weakly typed init the body promotes is promoted by the loop (and the body traced again)
        expect = [o if getattr(_promoted(a, o), "dtype", None) is o.dtype else a
                  for a, o in zip(init_avals, avals)] if len(avals) == len(init_avals) else init_avals
        _check_same("fori_loop", "body_fun's result", tree, avals, "init_val", init_tree, expect)
        return out
    weak = not isinstance(lower, Tensor) and not isinstance(upper, Tensor)
    if lo is not None and hi is not None and hi - lo > _IOTA_MAX:  # a scan carrying i (memory O(1) in hi - lo)
        dtype = _bounds_dtype(lower, upper, (lo, hi - 1))

        def count(c, _):
            i, x = c
            return (i + 1, checked(i, x)), None
        start = Tensor(np.asarray(lo, dtype.np), weak=weak)
        (_, out), _ = scan(count, (start, init_val), None, length=hi - lo)
        return out
    if lo is not None and hi is not None:  # a scan over the indices (no counter to carry)
        dtype = _bounds_dtype(lower, upper, (lo, hi - 1) if hi > lo else ())   # the values i takes
        with _operands_device(init_leaves):
            idx = _so.iota_p.bind(n=max(hi - lo, 0), dtype=dtype)
            if lo:
                idx = _ew.add_p.bind(idx, Tensor(np.asarray(lo, dtype.np)))
            idx = _ew.convert(idx, dtype, weak_type=weak)
        out, _ = scan(lambda x, i: (checked(i, x), None), init_val, idx)
        return out
    lo_t, hi_t = _leaf(lower, "fori_loop", "lower"), _leaf(upper, "fori_loop", "upper")
    for name, b in (("lower", lo_t), ("upper", hi_t)):
        if tuple(b.aval.shape) != () or not b.dtype.is_integer:
            raise _error(TypeError, "fori_loop", f"{name} must be a scalar integer, got shape "
                                                 f"{tuple(b.aval.shape)} and dtype {b.dtype.name}")
    dtype = _bounds_dtype(lo_t, hi_t, tuple(v for v in (lo, hi) if v is not None))
    lo_t, hi_t = _ew.convert(lo_t, dtype), _ew.convert(hi_t, dtype)

    def cond_fun(c):
        return c[0] < c[1]

    def body(c):
        i, u, x = c
        return i + 1, u, checked(i, x)
    return while_loop(cond_fun, body, (lo_t, hi_t, init_val))[2]


def _operands_device(leaves):
    """The device scope for the indices an eager loop makes: that of an operand on an accelerator (as
    ``zeros_like`` makes its result on its input's device), so that they need no implicit copy there (refused
    without soft device placement); none when tracing, inside a device scope, or on the CPU."""
    from .core import STATE
    from .devices import accelerator_of, device
    dev = accelerator_of(leaves) if STATE.device is None and STATE.main is None else None
    return contextlib.nullcontext() if dev is None else device(dev)


# the most iterations of a fori_loop with static bounds that scans an iota of its indices (4 MiB of int32);
# above, it carries i instead (a little slower per iteration, but memory that does not grow with the trip count)
_IOTA_MAX = 1 << 20


def _bounds_dtype(lower, upper, values: tuple = ()) -> _dt.DType:
    """The dtype of ``i``: that of the (strongly typed) tensor bounds, which must agree (as in JAX), else int32;
    ``values`` (the bounds, when known) must fit in it."""
    dts = [b.dtype for b in (lower, upper) if isinstance(b, Tensor) and not b.aval.weak_type]
    if len(dts) == 2 and dts[0] is not dts[1]:
        raise _error(TypeError, "fori_loop", f"lower and upper must have the same dtype, got {dts[0].name} and "
                                             f"{dts[1].name} (cast one of them)")
    dtype = dts[0] if dts else _dt.int32
    info = np.iinfo(dtype.np)
    for v in values:
        if not info.min <= v <= info.max:
            raise _error(TypeError, "fori_loop", f"the bound {v} does not fit in the index dtype {dtype.name}")
    return dtype


@api_boundary
def scan(f: Callable, init, xs, length: int | None = None, reverse: bool = False, unroll: int | bool = 1):
    """Loop ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``, stacking the ``y``\\ s.

    Parameters
    ----------
    f : callable
        ``(carry, x) -> (carry, y)``; the carry keeps its pytree structure, shapes and dtypes.
    init : pytree of tensors
        The initial carry.
    xs : pytree of tensors (or None)
        Sliced along axis 0; every leaf has the same leading length.
    length : int, optional
        The number of iterations; required when ``xs`` is None.
    reverse : bool
        Run from the last slice to the first (ys are still stored at their slice's position).
    unroll : int or bool
        Accepted for JAX compatibility (a positive int, or a bool); the compiled loop's unrolling is the
        backend's choice, so it does not change the result or the code.

    Returns
    -------
    ``(final carry, stacked ys)``. Differentiable in reverse mode (the forward pass saves the residuals of
    each iteration). Variables assigned in ``f`` are carried and written once after the loop.
    """
    op = "scan"
    if not isinstance(unroll, (bool, int, np.integer)) or (not isinstance(unroll, bool) and unroll < 1):
        raise _error(TypeError, op, f"unroll must be a positive int or a bool, got {unroll!r}")
    c_leaves, c_tree = tree_flatten(init)
    carry = [_leaf(x, op, "init") for x in c_leaves]
    x_leaves, _ = tree_flatten(xs)
    xs_t = [_leaf(x, op, "xs") for x in x_leaves]
    for k, x in enumerate(xs_t):
        if not x.aval.shape:
            raise _error(TypeError, op, f"xs leaf {k} is a scalar; every xs leaf needs a leading axis to scan over")
    lengths = sorted({int(x.aval.shape[0]) for x in xs_t})
    if len(lengths) > 1:
        raise _error(ValueError, op, f"the xs leaves have different leading lengths "
                                     f"{[tuple(x.aval.shape) for x in xs_t]}; they must be the same")
    if length is not None:
        if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 0:
            raise _error(TypeError, op, f"length must be a non-negative Python int, got {length!r}")
        if lengths and lengths[0] != int(length):
            raise _error(ValueError, op, f"length={length} but the xs leaves have leading length {lengths[0]}")
        n = int(length)
    elif lengths:
        n = lengths[0]
    else:
        raise _error(TypeError, op, "length must be given when xs is None (or has no leaves)")
    x_avals = [ShapedArray(tuple(x.aval.shape[1:]), x.dtype, x.aval.weak_type) for x in xs_t]
    _, args_tree = tree_flatten((init, xs))
    trees: list = []

    def body_fn(c, x):
        _check_arity(f, (c, x), op, "f")
        out = f(c, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise _error(TypeError, op, f"f must return a pair (carry, y), got {type(out).__name__}")
        trees[:] = [tree_flatten(out[0])[1]]
        return tuple(out)

    body, avals = _trace_carry(body_fn, args_tree, [x.aval for x in carry], x_avals, op, "f",
                               lambda b: trees[0].num_leaves)
    nc = len(carry)
    _check_same(op, "the carry f returns", trees[0], body.out_avals[:trees[0].num_leaves], "init", c_tree, avals)
    carry = _as_carry(carry, avals)
    carried = list(body.assigned)
    readonly = [v for v in body.variables if id(v) not in {id(a) for a in carried}]
    ro, car = body.var_inputs(readonly), body.var_inputs(carried)
    g = body.graph
    outs_v = list(g.outvars[:body.n_out])
    graph = Graph(ro + list(g.invars[:nc]) + car + body.rng_in + list(g.invars[nc:body.n_in]), g.nodes,
                  outs_v[:nc] + body.var_outputs(carried, car) + body.rng_out + outs_v[nc:], g.constvars, g.consts)
    state = [_loop_state(carry + carried + xs_t)] if body.rng else []
    outs = _cf.scan(graph, readonly, carry + carried + state, xs_t, n, reverse)
    na = len(carried)
    for v, val in zip(carried, outs[nc:nc + na]):
        v.assign(val)
    final = tree_unflatten(body.out_tree, outs[:nc] + outs[nc + na + len(state):])  # (carry, y)
    return final[0], final[1]
