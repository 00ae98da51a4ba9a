"""Reverse-mode autodiff as a graph-to-graph transform: grad, value_and_grad, vjp (Jacobians: ``forward.py``).

:func:`~jaxish.transforms.vjp.vjp_graph` turns a Graph into one that also
returns input cotangents; the functions here trace the user's function, build
that graph and run it as one ``call`` (``tracing.run_graph``), which is how
``grad(grad(f))`` and ``make_graph(grad(f))`` work.
"""
from __future__ import annotations

import functools
import numbers
from typing import Callable, Sequence

import numpy as np

from .core import Tensor, current_trace, is_variable, read_variable
from .ir import Graph
from .primitives import elementwise as ew
from .traceback_util import transform_boundary
from .tracing import Traced, _rng_input, leaf_value, run_graph, trace_to_graph
from .transforms.vjp import _VJP_CACHE, vjp_graph  # noqa: F401  (the cache is emptied by clear_cache)
from .tree_util import tree_flatten, tree_unflatten

# ---------------------------------------------------------------------------
# running a traced function's graphs with one set of inputs
# ---------------------------------------------------------------------------
_is_var = is_variable


def _bind_inputs(traced: Traced, leaves: Sequence) -> list:
    """The inputs of ``traced.graph`` for one application: the argument leaves, the
    Variables' current values and one random state. Every pass that reuses them
    (the forward, each row of a Jacobian, a later ``vjp_fn``) sees the same values
    and the same random numbers, those a call of the traced function would draw."""
    inputs = [leaf_value(x) for x in leaves] + [read_variable(v) for v in traced.variables]
    if traced.uses_rng:
        inputs.append(_rng_input(inputs))
    return inputs


def _run(graph: Graph, traced: Traced, inputs: list, extra: Sequence = ()) -> list:
    """Run ``graph`` (``traced``'s forward or backward graph) on ``inputs`` then ``extra``.

    A Variable that still holds the value in ``inputs`` is passed as the Variable,
    so that an outer tape records the read (second derivatives w.r.t. Variables).
    That includes a value read eagerly and used inside a trace begun since (a
    ``vjp_fn`` under ``vmap``: ``jacrev``) that has not assigned the Variable."""
    args = list(inputs)
    trace = current_trace()
    for i, v in enumerate(traced.variables, traced.n_leaves):
        if read_variable(v) is args[i] or (trace is not None and args[i] is v._value
                                           and id(v) not in trace.assigned):
            args[i] = v
    return run_graph(graph, args + list(extra))


def _write_back(traced: Traced, fwd_outs: Sequence) -> list:
    """Assign the new values of the Variables the function assigned; returns its explicit outputs."""
    n = len(fwd_outs) - len(traced.assigned)
    for v, new in zip(traced.assigned, fwd_outs[n:]):
        v.assign(new)
    return list(fwd_outs[:n])


def check_cotangent(ct, aval, where: str, owner: str = "its output") -> Tensor:
    """``ct`` as a tensor of exactly ``aval``'s shape and dtype, or a clear error.

    As in TensorFlow (``output_gradients``) and JAX (``vjp``), a cotangent must
    have the shape of its output: it is never broadcast (``ValueError``). A value
    with a dtype of its own (a tensor, a NumPy array) must have the output's dtype
    (``TypeError``); Python numbers and lists are converted to it. ``where`` names
    the op and the operand, e.g. ``"GradientTape.gradient: output_gradients[1]"``,
    and ``owner`` the value it belongs to.
    """
    if _is_var(ct):
        ct = read_variable(ct)
    if isinstance(ct, Tensor):
        t, own_dtype = ct, not ct.aval.weak_type
    elif isinstance(ct, (np.ndarray, np.generic)):
        t, own_dtype = Tensor(np.asarray(ct)), True
    else:
        try:
            arr = np.asarray(ct) if isinstance(ct, (bool, int, float, list, tuple)) else None
        except ValueError:  # a ragged nested list
            arr = None
        if arr is None or arr.dtype.kind not in "biuf":
            raise TypeError(f"{where} must be a tensor, an array or a number, got {type(ct).__name__} ({ct!r:.60})")
        t, own_dtype = Tensor(arr), False
    if tuple(t.shape) != tuple(aval.shape):
        raise ValueError(f"{where} has shape {tuple(t.shape)}, but {owner} has shape {tuple(aval.shape)}; "
                         f"it must have exactly that shape (cotangents are not broadcast)")
    if own_dtype and t.dtype != aval.dtype and aval.dtype.is_floating:
        raise TypeError(f"{where} has dtype {t.dtype.name}, but {owner} has dtype {aval.dtype.name}; "
                        f"cast it with jaxish.cast(value, jaxish.{aval.dtype.name})")
    return ew.convert(t, aval.dtype)


# ---------------------------------------------------------------------------
# grad, value_and_grad, vjp
# ---------------------------------------------------------------------------
def _check_callable(fun, name: str) -> None:
    if not callable(fun):
        raise TypeError(f"{name}: expected a function, got {fun!r:.60} of type {type(fun).__name__}")


def _argnums(argnums, nargs, name):
    """``argnums`` as a tuple of non-negative positions, and whether it was a single int."""
    def is_int(a):
        return isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))
    single = is_int(argnums)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, (tuple, list)) or not all(is_int(a) for a in nums):
        raise TypeError(f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}")
    nums = tuple(int(a) for a in nums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums} out of range for {nargs} positional arguments")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{name}: argnums {argnums} names an argument more than once")
    return nums, single


def _arg_sources(args: tuple, nums, traced: Traced, name: str | None) -> list:
    """For each argument in ``nums`` (in that order): ``(pytree structure, sources)``, one source per leaf.

    A source is the index of the graph input the leaf became or, for a Variable
    the function never reads, the Variable itself (its gradient is zero). A
    Variable is differentiated w.r.t. its value at the call (its graph input), so
    the gradient is a plain tensor. With ``name``, non-float sources raise.
    """
    var_input = {id(v): i for i, v in enumerate(traced.variables, traced.n_leaves)}
    per_arg, pos = [], 0
    for a in args:
        a_leaves, a_tree = tree_flatten(a)
        sources = []
        for x in a_leaves:
            if _is_var(x):
                sources.append(var_input.get(id(x), x))
            else:
                sources.append(pos)
                pos += 1
        per_arg.append((a_tree, sources))
    for i in nums:
        for s in per_arg[i][1]:
            dtype = traced.graph.invars[s].aval.dtype if isinstance(s, int) else s.dtype
            if name and not dtype.is_floating:
                raise TypeError(f"{name} requires real-valued (floating-point) inputs, but argument {i} has "
                                f"dtype {dtype.name}; cast it with jaxish.cast(x, jaxish.float32)")
    return [per_arg[i] for i in nums]


def _wrt(sources: list) -> list:
    """The distinct graph inputs among ``sources``, in order."""
    return list(dict.fromkeys(s for _, srcs in sources for s in srcs if isinstance(s, int)))


def _unflatten_sources(sources: list, single: bool, leaf: Callable):
    """One pytree per argument with ``leaf(source)`` at each leaf; the only one if ``single``."""
    trees = [tree_unflatten(tree, [leaf(s) for s in srcs]) for tree, srcs in sources]
    return trees[0] if single else tuple(trees)


def _weak_like(ct, aval):
    """The cotangent ``ct`` of an input of ``aval``, weakly typed when the input is (a Python scalar's
    gradient is weakly typed, as in JAX: ``grad(f)(2.0) * x16`` stays float16)."""
    if not aval.weak_type or ct.aval.weak_type:
        return ct
    if type(ct) is Tensor:
        return ct._with_weak(True)
    return ew.convert(ct, ct.dtype, weak_type=True)


def _zeros_for(source, shape_prefix: tuple = ()) -> Tensor:
    """The zero gradient of an unread Variable (``shape_prefix + its shape``)."""
    from .creation import zeros
    return zeros(tuple(shape_prefix) + tuple(source.shape), source.dtype)


def _prepare(fun, args, kwargs, argnums, name, has_aux):
    nums, single = _argnums(argnums, len(args), name)
    fname = getattr(fun, "__name__", "<function>")
    traced, leaves = trace_to_graph(fun, args, kwargs, f"{name}({fname})")
    sources = _arg_sources(args, nums, traced, name)
    main_tree = traced.out_tree
    if has_aux:
        main_tree = _main_tree(main_tree, name)
    if not main_tree.is_leaf():
        raise TypeError(f"{name} requires the function to return a single scalar, got {main_tree}; use "
                        f"has_aux=True to return auxiliary data, or jacobian/vjp for several outputs")
    main = traced.graph.outvars[0]
    if main.aval.shape != ():
        raise TypeError(f"{name} requires a scalar output, got shape {main.aval.shape}; use jacobian for "
                        f"non-scalar outputs or reduce the output (e.g. jaxish.reduce_sum)")
    if not main.aval.dtype.is_floating:
        raise TypeError(f"{name} requires a real-valued (floating-point) scalar output, got {main.aval.dtype.name}")
    return traced, leaves, sources, single


@transform_boundary
def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Return a function computing ``(fun(*args), grad)`` (``((value, aux), grad)`` with ``has_aux``).

    Parameters
    ----------
    fun : callable returning a floating-point scalar
    argnums : int or tuple of int
        Which positional arguments to differentiate (pytrees allowed). A
        Variable among them is differentiated w.r.t. its current value: its
        gradient is a plain tensor of its shape (zeros if ``fun`` never reads it).
    has_aux : bool
        ``fun`` returns ``(output, aux)``; aux is returned, not differentiated.
    """
    _check_callable(fun, "value_and_grad")
    return _value_and_grad(fun, argnums, has_aux, want_value=True)


def _value_and_grad(fun: Callable, argnums, has_aux: bool, want_value: bool) -> Callable:
    """``value_and_grad``; without ``want_value`` the backward graph does not compute the value (only aux)."""
    @functools.wraps(fun)
    def vg(*args, **kwargs):
        traced, leaves, sources, single = _prepare(fun, args, kwargs, argnums, "grad", has_aux)
        g = traced.graph
        n = len(g.outvars)
        wrt = _wrt(sources)
        kept = tuple(range(0 if want_value else 1, n))  # grad: the main output is not needed (aux still is)
        bwd = vjp_graph(g, wrt, [0], keep_outputs=kept)
        ct = Tensor(np.ones((), g.outvars[0].aval.dtype.np))
        # the backward graph's outputs: the kept forward outputs (with the new values of assigned Variables),
        # then the gradients
        outs = _run(bwd, traced, _bind_inputs(traced, leaves), [ct])
        fwd = list(outs[:len(kept)]) if want_value else [ct] + list(outs[:len(kept)])
        value = tree_unflatten(traced.out_tree, _write_back(traced, fwd))
        col = {j: len(kept) + k for k, j in enumerate(wrt)}
        return value, _unflatten_sources(sources, single, lambda s: _weak_like(outs[col[s]], g.invars[s].aval)
                                         if isinstance(s, int) else _zeros_for(s))
    return vg


@transform_boundary
def grad(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Return a function computing the gradient of scalar ``fun`` w.r.t. ``argnums``.

    Examples
    --------
    >>> df = jaxish.grad(lambda x: jaxish.reduce_sum(x ** 3))
    >>> ddf = jaxish.grad(lambda x: jaxish.reduce_sum(df(x)))
    """
    _check_callable(fun, "grad")
    vg = _value_and_grad(fun, argnums, has_aux, want_value=False)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        value, gr = vg(*args, **kwargs)
        return (gr, value[1]) if has_aux else gr
    return g


def jacobian_rows(out_aval, row: Callable) -> list:
    """The rows of a reverse-mode Jacobian as ONE batched row: ``vmap(row)`` over the one-hot cotangents of the
    elements of an output of ``out_aval`` (one graph, every leaf of the result with a leading axis of
    ``out_aval.size``); for an empty output, ``row`` of an all-zero cotangent (callers still learn the
    structure). ``GradientTape.jacobian`` and :func:`stack_rows` use it."""
    from .batching import _vmap
    n, dtype = out_aval.size, out_aval.dtype.np
    if n == 0:
        return [row(Tensor(np.zeros(out_aval.shape, dtype)))]
    basis = np.eye(n, dtype=dtype).reshape((n,) + tuple(out_aval.shape))
    return [_vmap(row, 0, 0, None, shared_random=True)(Tensor(basis))]


def batch_jacobian_rows(t_aval, s_shape: tuple, row: Callable):
    """``GradientTape.batch_jacobian``: ``row(seed)`` (the gradient of the target with output gradient
    ``seed`` w.r.t. the source) batched over the seeds ``e_k`` broadcast along the batch axis, for each element
    ``k`` of ``t_aval.shape[1:]``; the result ``(B, *t_aval.shape[1:], *s_shape[1:])`` (None if unconnected)."""
    from .batching import _vmap
    from .ops import reshape, transpose
    b, inner = t_aval.shape[0], tuple(t_aval.shape[1:])
    m = int(np.prod(inner, dtype=np.int64))
    out_shape = (b,) + inner + tuple(s_shape[1:])
    if m == 0 or b == 0:
        from .creation import zeros
        return zeros(out_shape, t_aval.dtype)
    eye = np.eye(m, dtype=t_aval.dtype.np).reshape((m, 1) + inner)
    seeds = np.ascontiguousarray(np.broadcast_to(eye, (m, b) + inner))
    rows = _vmap(row, 0, 0, None, shared_random=True)(Tensor(seeds))   # (m, B, *source inner)
    if rows is None:
        return None
    nd = rows.ndim
    return reshape(transpose(rows, [1, 0] + list(range(2, nd))), out_shape)


def stack_rows(rows: Sequence, out_aval, in_shape) -> Tensor:
    """One Jacobian block, ``out.shape + in_shape``, from the batched row of :func:`jacobian_rows`."""
    from .ops import reshape
    if out_aval.size == 0:
        from .creation import zeros
        return zeros(tuple(out_aval.shape) + tuple(in_shape), rows[0].dtype if rows else out_aval.dtype)
    return reshape(rows[0], tuple(out_aval.shape) + tuple(in_shape))


@transform_boundary
def vjp(fun: Callable, *primals, has_aux: bool = False):
    """``(fun(*primals), vjp_fn)``, as JAX's ``vjp``; ``(output, vjp_fn, aux)`` with ``has_aux``.

    ``fun`` is applied once (its Variable assignments happen, its random numbers
    are drawn once); ``vjp_fn(ct)`` takes a cotangent with the structure, shapes
    and dtypes of the output (no broadcasting) and returns a tuple with one
    cotangent per primal, each with that primal's structure. A Variable primal
    gets the cotangent of its value at the call, a plain tensor. With
    ``has_aux``, ``fun`` returns a pair ``(output, aux)``: ``aux`` is returned as
    the third element, not differentiated.
    """
    _check_callable(fun, "vjp")
    return _vjp(fun, primals, has_aux, "vjp")


def _vjp(fun: Callable, primals: tuple, has_aux: bool, name: str):
    """:func:`vjp`; ``name`` is the transform named by errors (``jacobian`` for ``jacrev``)."""
    fname = getattr(fun, "__name__", "f")
    traced, leaves = trace_to_graph(fun, primals, {}, f"{name}({fname})")
    sources = _arg_sources(primals, range(len(primals)), traced, None)
    g = traced.graph
    n_out = len(g.outvars) - len(traced.assigned)
    main_tree = _main_tree(traced.out_tree, name) if has_aux else traced.out_tree
    n_main = main_tree.num_leaves
    out_avals = [v.aval for v in g.outvars[:n_main]]
    inputs = _bind_inputs(traced, leaves)
    outs = tree_unflatten(traced.out_tree, _write_back(traced, _run(g, traced, inputs))[:n_out])
    primal_out = outs[0] if has_aux else outs
    wrt = _wrt(sources)

    def vjp_fn(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != main_tree:
            raise TypeError(f"vjp_fn: the cotangent has structure {ct_tree}, but {fname} returned "
                            f"{main_tree}; pass one cotangent per output, in the output's structure")
        cts = [check_cotangent(c, a, f"vjp_fn: the cotangent of output {i}", f"output {i} of {fname}")
               for i, (c, a) in enumerate(zip(ct_leaves, out_avals))]
        bwd = vjp_graph(g, wrt, list(range(n_main)), keep_outputs=False)
        grads = dict(zip(wrt, _run(bwd, traced, inputs, cts)))
        return _unflatten_sources(sources, False, lambda s: _weak_like(grads[s], g.invars[s].aval)
                                  if isinstance(s, int) else _zeros_for(s))
    return (primal_out, vjp_fn, outs[1]) if has_aux else (primal_out, vjp_fn)


def _main_tree(out_tree, name: str):
    """The structure of the differentiated part of a ``has_aux`` function's ``(output, aux)`` result."""
    if out_tree.type not in (tuple, list) or out_tree.num_children != 2:
        class Leaf:
            def __repr__(self):
                return "*"
        got = repr(tree_unflatten(out_tree, [Leaf()] * out_tree.num_leaves))
        raise TypeError(f"{name}(has_aux=True): the function must return a pair (output, aux), got {got} "
                        f"(* for each array)")
    return out_tree.children()[0]
