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

from .autodiff import _argnums, _bind_inputs, _check_callable, _run, _write_back, check_cotangent, vjp
from .batching import _vmap
from .core import Tensor, is_variable, read_variable
from .tracing import leaf_value, trace_to_graph
from .transforms.jvp import jvp_graph
from .tree_util import tree_flatten, tree_map, tree_unflatten


def _values(tree):
    """``tree`` with Variables replaced by their values (differentiation is w.r.t. values)."""
    return tree_map(lambda x: read_variable(x) if is_variable(x) else x, tree)


def jvp(fun: Callable, primals, tangents) -> tuple:
    """``(fun(*primals), J @ tangents)``: the Jacobian-vector product, as JAX's ``jvp``.

    Parameters
    ----------
    fun : callable
    primals : tuple or list
        The positional arguments (pytrees allowed).
    tangents : tuple or list
        One tangent per primal, with its structure, shapes and dtypes
        (integer primals take any tangent of their shape; it is ignored).

    Returns
    -------
    (primals_out, tangents_out)
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
    n_out = len(g.outvars) - len(traced.assigned)
    touts = [k for k in range(n_out) if g.outvars[k].aval.dtype.is_floating]
    fwd = jvp_graph(g, wrt, touts)
    outs = _run(fwd, traced, _bind_inputs(traced, leaves), tans)
    primal_out = _write_back(traced, outs[:len(g.outvars)])
    by_out = dict(zip(touts, outs[len(g.outvars):]))
    tangent_out = [by_out[k] if k in by_out else _zeros_like(primal_out[k]) for k in range(n_out)]
    return tree_unflatten(traced.out_tree, primal_out), tree_unflatten(traced.out_tree, tangent_out)


def linearize(fun: Callable, *primals) -> tuple:
    """``(fun(*primals), f_jvp)`` with ``f_jvp(*tangents) = J @ tangents`` at ``primals``, as JAX's ``linearize``.

    ``fun`` is applied once: its Variable assignments are written back once and
    every ``f_jvp`` call sees the same inputs and random draws (as ``vjp``'s
    ``vjp_fn`` does). Each ``f_jvp`` call runs the forward-mode graph (which
    recomputes what the tangents need of the forward pass; no partial evaluation).
    """
    _check_callable(fun, "linearize")
    fname = getattr(fun, "__name__", "f")
    primals = _values(tuple(primals))
    p_leaves, p_tree = tree_flatten(primals)
    traced, leaves = trace_to_graph(fun, primals, {}, f"linearize({fname})")
    g = traced.graph
    inputs = _bind_inputs(traced, leaves)
    primal_out = _write_back(traced, _run(g, traced, inputs))
    wrt = [i for i in range(len(p_leaves)) if g.invars[i].aval.dtype.is_floating]
    n_out = len(g.outvars) - len(traced.assigned)
    touts = [k for k in range(n_out) if g.outvars[k].aval.dtype.is_floating]

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(_values(tuple(tangents)))
        if t_tree != p_tree:
            raise TypeError(f"linearize: the tangents have structure {t_tree}, but the primals {p_tree}")
        tans = [check_cotangent(t_leaves[i], g.invars[i].aval.strip_weak(), f"linearize: tangent {i}",
                                f"primal {i}") for i in wrt]
        outs = _run(jvp_graph(g, wrt, touts), traced, inputs, tans)
        by_out = dict(zip(touts, outs[len(g.outvars):]))
        return tree_unflatten(traced.out_tree, [by_out[k] if k in by_out else _zeros_like(primal_out[k])
                                                for k in range(n_out)])
    return tree_unflatten(traced.out_tree, primal_out), f_jvp


def _zeros_like(x):
    from .creation import zeros_like
    return zeros_like(x)


def _select(fun, args, nums):
    """``fun`` as a function of the arguments in ``nums`` only (the others fixed to ``args``)."""
    def f(*sel):
        full = list(args)
        for i, a in zip(nums, sel):
            full[i] = a
        return fun(*full)
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


def jacfwd(fun: Callable, argnums=0) -> Callable:
    """Forward-mode Jacobian, structured as in JAX's ``jacfwd``: one ``vmap`` of ``jvp`` over the tangent
    basis (one batched graph).

    Each output leaf holds, for each argument in ``argnums`` (a tuple of them
    unless ``argnums`` is an int), a pytree of that argument's structure with
    leaves of shape ``out.shape + in.shape``.
    """
    _check_callable(fun, "jacfwd")

    @functools.wraps(fun)
    def jac(*args):
        nums, single = _argnums(argnums, len(args), "jacfwd")
        args = _values(args)
        sel = tuple(args[i] for i in nums)
        s_vals, s_tree = _float_leaves(sel, "jacfwd", "inputs")
        avals = [v.aval for v in s_vals]
        n = sum(a.size for a in avals)
        f = _select(fun, args, nums)
        sel_vals = tree_unflatten(s_tree, s_vals)

        def push(*basis):
            return jvp(f, sel_vals, tree_unflatten(s_tree, list(basis)))[1]
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
        return tree_unflatten(o_tree, blocks)
    return jac


def _reshape(x, shape):
    from .ops import reshape
    return reshape(x, shape)


def jacrev(fun: Callable, argnums=0) -> Callable:
    """Reverse-mode Jacobian, structured as in JAX's ``jacrev``: one ``vmap`` of the VJP over the cotangent
    basis (one batched graph). ``fun`` is applied once (one random draw, Variable assignments written once).

    Each output leaf holds, for each argument in ``argnums`` (a tuple of them
    unless ``argnums`` is an int), a pytree of that argument's structure with
    leaves of shape ``out.shape + in.shape``.
    """
    _check_callable(fun, "jacrev (jacobian)")

    @functools.wraps(fun)
    def jac(*args):
        nums, single = _argnums(argnums, len(args), "jacobian")
        args = tuple(args)
        sel = tuple(args[i] for i in nums)
        f = _select(fun, args, nums)
        y, pullback = vjp(f, *sel)
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
        return tree_unflatten(y_tree, blocks)
    return jac


jacobian = jacrev


def hessian(fun: Callable, argnums=0) -> Callable:
    """The Hessian of scalar ``fun``: ``jacfwd(jacrev(fun))`` (forward over reverse), one batched graph."""
    _check_callable(fun, "hessian")

    @functools.wraps(fun)
    def scalar_fun(*args, **kwargs):
        out = fun(*args, **kwargs)
        leaves, tree = tree_flatten(out)
        if len(leaves) != 1 or not tree.is_leaf():
            raise TypeError(f"hessian requires the function to return a single scalar, got {tree}")
        shape = tuple(getattr(leaves[0], "shape", ()))
        if shape != ():
            raise TypeError(f"hessian requires a scalar output, got shape {shape}; reduce the output (e.g. "
                            f"jaxish.reduce_sum) or use jacobian")
        return out
    return jacfwd(jacrev(scalar_fun, argnums), argnums)
