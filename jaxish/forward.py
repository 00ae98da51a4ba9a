"""Forward mode and batched Jacobians: ``jvp``, ``jacfwd``, ``jacrev`` (= ``jacobian``), ``hessian``.

``jvp`` runs ``transforms.jvp.jvp_graph`` (reverse mode transposed twice) as
one ``call``. ``jacfwd`` is ``vmap`` of ``jvp`` over the tangent basis and
``jacrev`` ``vmap`` of the VJP over the cotangent basis, so each builds one
batched graph (not one per row); ``hessian`` is ``jacfwd(jacrev(f))``.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from .autodiff import _argnums, _bind_inputs, _check_callable, _main_tree, _run, _vjp, _write_back, check_cotangent
from .batching import _vmap
from .core import Tensor, is_variable, read_variable
from .traceback_util import transform_boundary
from .tracing import leaf_value, trace_to_graph
from .transforms.jvp import jvp_graph
from .tree_util import tree_flatten, tree_map, tree_unflatten


def _values(tree):
    """``tree`` with Variables replaced by their values (differentiation is w.r.t. values)."""
    return tree_map(lambda x: read_variable(x) if is_variable(x) else x, tree)


@transform_boundary
def jvp(fun: Callable, primals, tangents, has_aux: bool = False) -> tuple:
    """``(fun(*primals), J @ tangents)``: the Jacobian-vector product, as JAX's ``jvp``.

    Parameters
    ----------
    fun : callable
    primals : tuple or list
        The positional arguments (pytrees allowed).
    tangents : tuple or list
        One tangent per primal, with its structure, shapes and dtypes
        (the tangent of an integer primal is ignored but must have its shape: ValueError otherwise).
    has_aux : bool
        ``fun`` returns a pair ``(output, aux)``; ``aux`` is returned third, not differentiated.

    Returns
    -------
    (primals_out, tangents_out), or (primals_out, tangents_out, aux) with ``has_aux``
        Both with the structure of ``fun``'s output; integer outputs get zero tangents.
    """
    _check_callable(fun, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp: primals and tangents must be tuples or lists, got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    fname = getattr(fun, "__name__", "f")
    primals = _values(tuple(primals))
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(_values(tuple(tangents)))
    if p_tree != t_tree:
        raise TypeError(f"jvp: the tangents have structure {t_tree}, but the primals {p_tree}")
    traced, leaves = trace_to_graph(fun, primals, {}, f"jvp({fname})")
    g = traced.graph
    wrt = [i for i in range(len(p_leaves)) if g.invars[i].aval.dtype.is_floating]
    tans = [check_cotangent(t_leaves[i], g.invars[i].aval.strip_weak(), f"jvp: tangent {i}", f"primal {i}")
            for i in wrt]
    _check_ignored_tangents(t_leaves, g, wrt, "jvp")
    main_tree = _main_tree(traced.out_tree, "jvp") if has_aux else traced.out_tree
    n_main = main_tree.num_leaves
    touts = [k for k in range(n_main) if g.outvars[k].aval.dtype.is_floating]
    fwd = jvp_graph(g, wrt, touts)
    outs = _run(fwd, traced, _bind_inputs(traced, leaves), tans)
    primal_out = _write_back(traced, outs[:len(g.outvars)])
    by_out = dict(zip(touts, outs[len(g.outvars):]))
    tangent_out = tree_unflatten(main_tree, [by_out[k] if k in by_out else _zeros_like(primal_out[k])
                                             for k in range(n_main)])
    primal_out = tree_unflatten(traced.out_tree, primal_out)
    if has_aux:
        return primal_out[0], tangent_out, primal_out[1]
    return primal_out, tangent_out


@transform_boundary
def linearize(fun: Callable, *primals) -> tuple:
    """``(fun(*primals), f_jvp)`` with ``f_jvp(*tangents) = J @ tangents`` at ``primals``, as JAX's ``linearize``.

    ``fun`` is applied once: its Variable assignments are written back once and
    every ``f_jvp`` call sees the same inputs and random draws (as ``vjp``'s
    ``vjp_fn`` does). Each ``f_jvp`` call runs the forward-mode graph (which
    recomputes what the tangents need of the forward pass; no partial evaluation).
    """
    _check_callable(fun, "linearize")
    fname = getattr(fun, "__name__", "f")
    return _linearize(fun, primals, f"linearize({fname})", run_primal=True)


def _linearize(fun: Callable, primals: tuple, name: str, run_primal: bool, has_aux: bool = False) -> tuple:
    """``linearize``: ``(primal output, f_jvp)``; with ``run_primal=False`` the primal output is None and
    ``fun``'s graph runs only if it assigns Variables (written back once, as ``jacrev`` does). With
    ``has_aux`` the primal output is ``fun``'s ``(output, aux)`` pair (the graph runs) and ``f_jvp`` pushes
    tangents to ``output`` only."""
    primals = _values(tuple(primals))
    p_leaves, p_tree = tree_flatten(primals)
    traced, leaves = trace_to_graph(fun, primals, {}, name)
    g = traced.graph
    inputs = _bind_inputs(traced, leaves)
    primal_out = None
    if run_primal or traced.assigned or has_aux:
        primal_out = _write_back(traced, _run(g, traced, inputs))
    wrt = [i for i in range(len(p_leaves)) if g.invars[i].aval.dtype.is_floating]
    main_tree = _main_tree(traced.out_tree, name) if has_aux else traced.out_tree
    n_out = main_tree.num_leaves
    touts = [k for k in range(n_out) if g.outvars[k].aval.dtype.is_floating]

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(_values(tuple(tangents)))
        if t_tree != p_tree:
            raise TypeError(f"linearize: the tangents have structure {t_tree}, but the primals {p_tree}")
        tans = [check_cotangent(t_leaves[i], g.invars[i].aval.strip_weak(), f"linearize: tangent {i}",
                                f"primal {i}") for i in wrt]
        _check_ignored_tangents(t_leaves, g, wrt, "linearize")
        outs = _run(jvp_graph(g, wrt, touts), traced, inputs, tans)
        by_out = dict(zip(touts, outs[len(g.outvars):]))
        return tree_unflatten(main_tree, [by_out[k] if k in by_out else _zeros_of(g.outvars[k].aval)
                                          for k in range(n_out)])
    return (None if primal_out is None else tree_unflatten(traced.out_tree, primal_out)), f_jvp


def _check_ignored_tangents(t_leaves: list, g, wrt: list, name: str) -> None:
    """The tangents of non-float primals are ignored, but must still have their primal's shape."""
    skip = set(wrt)
    for i, t in enumerate(t_leaves):
        if i in skip or i >= len(g.invars):
            continue
        want = tuple(g.invars[i].aval.shape)
        got = tuple(np.shape(t)) if not hasattr(t, "shape") else tuple(t.shape)
        if got != want:
            raise ValueError(f"{name}: tangent {i} has shape {got}, but primal {i} (dtype "
                             f"{g.invars[i].aval.dtype.name}) has shape {want}; the tangent of a non-float primal "
                             f"is ignored but must have its shape")


def _zeros_of(aval):
    from .creation import zeros
    return zeros(tuple(aval.shape), aval.dtype)


def _zeros_like(x):
    from .creation import zeros_like
    return zeros_like(x)


def _select(fun, args, nums, kwargs=None):
    """``fun`` as a function of the arguments in ``nums`` only (the others fixed to ``args``; keyword arguments,
    never differentiated, fixed to ``kwargs``)."""
    kwargs = kwargs or {}

    def f(*sel):
        full = list(args)
        for i, a in zip(nums, sel):
            full[i] = a
        return fun(*full, **kwargs)
    f.__name__ = getattr(fun, "__name__", "f")
    return f


def _float_leaves(tree, name: str, what: str) -> tuple:
    leaves, treedef = tree_flatten(tree)
    vals = [leaf_value(x) for x in leaves]
    for v in vals:
        if not v.aval.dtype.is_floating:
            raise TypeError(f"{name} requires floating-point {what}, got dtype {v.aval.dtype.name}; cast it with "
                            f"jaxish.cast(x, jaxish.float32)")
    return vals, treedef


def _basis(avals, n: int, last: bool = False) -> list:
    """One tensor per aval: the rows of the ``n x n`` identity that fall on that leaf, shape ``(n, *shape)``
    (``(*shape, n)`` with ``last``)."""
    out, off = [], 0
    for a in avals:
        eye = np.eye(n, dtype=a.dtype.np)
        if last:
            eye = eye[off:off + a.size, :].reshape(tuple(a.shape) + (n,))
        else:
            eye = eye[:, off:off + a.size].reshape((n,) + tuple(a.shape))
        out.append(Tensor(np.ascontiguousarray(eye)))
        off += a.size
    return out


def _per_arg(trees_by_arg: list, single: bool):
    return trees_by_arg[0] if single else tuple(trees_by_arg)


@transform_boundary
def jacfwd(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Forward-mode Jacobian, structured as in JAX's ``jacfwd``: one ``vmap`` of ``jvp`` over the tangent
    basis (one batched graph).

    Each output leaf holds, for each argument in ``argnums`` (a tuple of them
    unless ``argnums`` is an int), a pytree of that argument's structure with
    leaves of shape ``out.shape + in.shape``. Keyword arguments are passed through, not differentiated (JAX).
    A ``fun`` that assigns Variables is applied once (assignments written once), as in ``jacrev``. With
    ``has_aux``, ``fun`` returns ``(output, aux)`` and the result is ``(jacobian of output, aux)``.
    """
    _check_callable(fun, "jacfwd")

    @functools.wraps(fun)
    def jac(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "jacfwd")
        args = _values(args)
        sel = tuple(args[i] for i in nums)
        s_vals, s_tree = _float_leaves(sel, "jacfwd", "inputs")
        avals = [v.aval for v in s_vals]
        n = sum(a.size for a in avals)
        f = _select(fun, args, nums, kwargs)
        sel_vals = tree_unflatten(s_tree, s_vals)

        # f traced and linearized once (a function that assigns Variables is applied once, as jacrev does);
        # its forward-mode graph pushes the whole basis as one batch
        primal, f_jvp = _linearize(f, tuple(sel_vals), f"jacfwd({getattr(fun, '__name__', 'f')})",
                                   run_primal=False, has_aux=has_aux)

        def push(*basis):
            return f_jvp(*tree_unflatten(s_tree, list(basis)))
        # the basis on the last axis, and the results there: the batched loops run over it innermost, and the
        # blocks are reshapes (no transposes)
        out = _vmap(push, -1, -1, None, shared_random=True)(*_basis(avals, n, last=True))  # (*out shape, n)
        o_leaves, o_tree = tree_flatten(out)
        blocks = []
        for o in o_leaves:
            oshape = tuple(o.shape[:-1])
            per_leaf, off = [], 0
            for a in avals:
                part = o[..., off:off + a.size] if (off, a.size) != (0, n) else o
                per_leaf.append(_reshape(part, oshape + tuple(a.shape)))
                off += a.size
            trees = tree_unflatten(s_tree, per_leaf)
            blocks.append(_per_arg(list(trees), single))
        out = tree_unflatten(o_tree, blocks)
        return (out, primal[1]) if has_aux else out
    return jac


def _reshape(x, shape):
    from .ops import reshape
    return reshape(x, shape)


@transform_boundary
def jacrev(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Reverse-mode Jacobian, structured as in JAX's ``jacrev``: one ``vmap`` of the VJP over the cotangent
    basis (one batched graph). ``fun`` is applied once (one random draw, Variable assignments written once).

    Each output leaf holds, for each argument in ``argnums`` (a tuple of them
    unless ``argnums`` is an int), a pytree of that argument's structure with
    leaves of shape ``out.shape + in.shape``. Keyword arguments are passed through, not differentiated (JAX).
    With ``has_aux``, ``fun`` returns ``(output, aux)`` and the result is ``(jacobian of output, aux)``.
    """
    _check_callable(fun, "jacrev (jacobian)")
    return _jacrev(fun, argnums, has_aux, "jacobian")


def _jacrev(fun: Callable, argnums, has_aux: bool, name: str) -> Callable:
    """:func:`jacrev`; ``name`` is the transform its errors name (``hessian`` for the Hessian's inner one)."""
    @functools.wraps(fun)
    def jac(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "jacobian")
        args = tuple(args)
        sel = tuple(args[i] for i in nums)
        f = _select(fun, args, nums, kwargs)
        y, pullback, *aux = _vjp(f, sel, has_aux, name)
        y_vals, y_tree = _float_leaves(y, "jacobian", "outputs")
        avals = [v.aval for v in y_vals]
        m = sum(a.size for a in avals)
        if m == 1 and len(avals) == 1:  # a scalar function: one backward pass, no batch axis
            rows = pullback(tree_unflatten(y_tree, [Tensor(np.ones(avals[0].shape, avals[0].dtype.np))]))
            rows = tree_map(lambda r: _reshape(r, (1,) + tuple(r.shape)), rows)
        else:
            basis = tree_unflatten(y_tree, _basis(avals, m))
            rows = _vmap(pullback, 0, 0, None, shared_random=True)(basis)   # per arg: leaves (m, *in shape)
        r_leaves, r_tree = tree_flatten(rows)
        blocks, off = [], 0
        for a in avals:
            per_leaf = []
            for r in r_leaves:
                part = r[off:off + a.size] if (off, a.size) != (0, m) else r
                per_leaf.append(_reshape(part, tuple(a.shape) + tuple(r.shape[1:])))
            blocks.append(_per_arg(list(tree_unflatten(r_tree, per_leaf)), single))
            off += a.size
        out = tree_unflatten(y_tree, blocks)
        return (out, aux[0]) if has_aux else out
    return jac


jacobian = jacrev


@transform_boundary
def hessian(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """The Hessian of ``fun``: ``jacfwd(jacrev(fun))`` (forward over reverse), one batched graph, as JAX's
    ``hessian``: for an output of shape ``out`` and an input of shape ``in``, shape ``out + in + in`` (a scalar
    ``fun`` gives ``in + in``). With ``has_aux``, ``fun`` returns ``(output, aux)`` and the result is
    ``(hessian of output, aux)``."""
    _check_callable(fun, "hessian")
    inner = jacfwd(_jacrev(fun, argnums, has_aux, "hessian"), argnums, has_aux=has_aux)

    @functools.wraps(fun)
    def hess(*args, **kwargs):
        nums, _ = _argnums(argnums, len(args), "hessian")   # (errors that name hessian, not jacfwd)
        _float_leaves(tuple(_values(tuple(args))[i] for i in nums), "hessian", "inputs")
        return inner(*args, **kwargs)
    return hess
