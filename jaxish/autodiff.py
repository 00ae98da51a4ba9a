"""Reverse-mode autodiff as a graph-to-graph transform, and grad & friends.

:func:`vjp_graph` turns a Graph into one that also returns input
cotangents. Each primitive's VJP rule is written with other primitives, so
the result is again a Graph in the same IR: printable, compilable and
differentiable again (``grad(grad(f))``).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from .core import GraphTrace, Tensor, bind
from .ir import Graph, Literal
from .lru import LRU
from .primitives import elementwise as ew
from .primitives import shape_ops as so
from .tracing import call_traced, run_graph, trace_to_graph
from .tree_util import tree_flatten, tree_unflatten

_VJP_CACHE = LRU(512)  # thread-safe; bounded
_VJP_CACHE_SIZE = 512


def _zeros(aval):
    """A strongly typed zero of ``aval`` (a symbolic zero made concrete)."""
    z = Tensor(np.zeros((), aval.dtype.np))
    return so.broadcast_to_p.bind(z, shape=tuple(aval.shape)) if aval.shape else ew.copy_p.bind(z)


def vjp_graph(graph: Graph, wrt: Sequence[int], ct_outs: Sequence[int], keep_outputs: bool = True) -> Graph:
    """The reverse-mode graph of ``graph``.

    Inputs: ``graph``'s inputs, then one cotangent per output in ``ct_outs``.
    Outputs: ``graph``'s outputs (if ``keep_outputs``), then the cotangent of
    each input in ``wrt``. Cached by the graph's fingerprint.
    """
    key = (graph.key(), tuple(wrt), tuple(ct_outs), keep_outputs, len(graph.consts))
    hit = _VJP_CACHE.get(key)
    if hit is not None and not graph.consts:
        _VJP_CACHE.move_to_end(key)
        return hit
    with GraphTrace(name="the backward pass") as t:
        args = [t.new_arg(v.aval, f"input {i}") for i, v in enumerate(graph.invars)]
        cts = [t.new_arg(graph.outvars[i].aval.strip_weak(), f"output cotangent {i}") for i in ct_outs]
        env = {v.id: a for v, a in zip(graph.invars, args)}
        env.update((v.id, c) for v, c in zip(graph.constvars, graph.consts))

        def read(a):
            return Tensor(a.val, a.aval.weak_type) if isinstance(a, Literal) else env[a.id]

        for n in graph.nodes:
            env[n.outvars[0].id] = bind(n.prim, [read(a) for a in n.invars], n.params)

        ct_env: dict = {}

        def accumulate(var, ct):
            if ct is None or isinstance(var, Literal) or not var.aval.dtype.is_floating:
                return
            if ct.dtype != var.aval.dtype:
                ct = ew.convert(ct, var.aval.dtype)
            prev = ct_env.get(var.id)
            ct_env[var.id] = ct if prev is None else ew.add_p.bind(prev, ct)

        for i, ct in zip(ct_outs, cts):
            accumulate(graph.outvars[i], ct)
        for n in reversed(graph.nodes):
            g = ct_env.pop(n.outvars[0].id, None)
            if g is None:
                continue
            if n.prim.vjp is None:
                raise NotImplementedError(f"grad: no differentiation rule for the primitive {n.prim.name!r}")
            ins = [read(a) for a in n.invars]
            in_cts = n.prim.vjp(g, *ins, env[n.outvars[0].id], **n.params)
            for a, c in zip(n.invars, in_cts):
                accumulate(a, c)
        grads = []
        for i in wrt:
            v = graph.invars[i]
            g = ct_env.get(v.id)
            grads.append(_zeros(v.aval) if g is None else g)
        outs = ([read(o) for o in graph.outvars] if keep_outputs else []) + grads
        result, _, _ = t.finish(outs)
    from .passes import simplify_for_autodiff
    result = simplify_for_autodiff(result)
    if not graph.consts and not result.consts:
        _VJP_CACHE[key] = result
        if len(_VJP_CACHE) > _VJP_CACHE_SIZE:
            _VJP_CACHE.popitem(last=False)
    return result


# ---------------------------------------------------------------------------
# grad, value_and_grad, jacobian, hessian
# ---------------------------------------------------------------------------
def _argnums(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums} out of range for {nargs} positional arguments")
    return tuple(a % nargs for a in nums), isinstance(argnums, int)


def _prepare(fun, args, kwargs, argnums, name, has_aux):
    nums, single = _argnums(argnums, len(args), name)
    fname = getattr(fun, "__name__", "<function>")
    traced, leaves = trace_to_graph(fun, args, kwargs, f"{name}({fname})")
    # positions of the leaves that belong to the differentiated arguments
    wrt, trees, pos = [], [], 0
    for i, a in enumerate(args):
        a_leaves, a_tree = tree_flatten(a)
        n = sum(1 for x in a_leaves if not getattr(x, "_is_variable", False))
        if i in nums:
            trees.append((a_tree, list(range(pos, pos + n))))
            for j, x in zip(range(pos, pos + n), [x for x in a_leaves if not getattr(x, "_is_variable", False)]):
                aval = traced.graph.invars[j].aval
                if not aval.dtype.is_floating:
                    raise TypeError(f"{name} requires real-valued (floating-point) inputs, but argument {i} has "
                                    f"dtype {aval.dtype.name}; cast it with jaxish.cast(x, jaxish.float32)")
            wrt.extend(range(pos, pos + n))
        pos += n
    out_leaves_tree = traced.out_tree
    n_out = traced.out_tree.num_leaves
    if has_aux:
        if out_leaves_tree.num_children != 2:
            raise TypeError(f"{name}(has_aux=True): the function must return a pair (output, aux)")
    main = traced.graph.outvars[0]
    if n_out < 1 or main.aval.shape != ():
        shape = main.aval.shape if n_out else None
        raise TypeError(f"{name} requires a scalar output, got shape {shape}; use jacobian for non-scalar "
                        f"outputs or reduce the output (e.g. jaxish.reduce_sum)")
    if not has_aux and n_out != 1:
        raise TypeError(f"{name} requires the function to return a single scalar, got {n_out} outputs; "
                        f"use has_aux=True to return auxiliary data")
    if not main.aval.dtype.is_floating:
        raise TypeError(f"{name} requires a real-valued (floating-point) scalar output, got {main.aval.dtype.name}")
    return traced, leaves, wrt, trees, single


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Return a function computing ``(fun(*args), grad)`` (``((value, aux), grad)`` with ``has_aux``).

    Parameters
    ----------
    fun : callable returning a floating-point scalar
    argnums : int or tuple of int
        Which positional arguments to differentiate (pytrees allowed).
    has_aux : bool
        ``fun`` returns ``(output, aux)``; aux is returned, not differentiated.
    """
    @functools.wraps(fun)
    def vg(*args, **kwargs):
        traced, leaves, wrt, trees, single = _prepare(fun, args, kwargs, argnums, "grad", has_aux)
        g = traced.graph
        bwd = vjp_graph(g, wrt, [0])
        n_out = len(g.outvars)
        ct = Tensor(np.ones((), g.outvars[0].aval.dtype.np))
        from .tracing import Traced
        bwd_traced = Traced(bwd, traced.variables, [], None, 0, traced.uses_rng)
        # the backward graph's inputs: forward inputs (leaves, variables, rng) then the cotangent;
        # its outputs: forward outputs, new values of assigned Variables, then the gradients
        outs = _call_with_ct(bwd_traced, leaves, ct)
        n_val = n_out - len(traced.assigned)
        values, grads = outs[:n_val], outs[n_out:]
        for v, new in zip(traced.assigned, outs[n_val:n_out]):
            v.assign(new)
        value = tree_unflatten(traced.out_tree, values)
        grad_trees = [tree_unflatten(tree, [grads[wrt.index(j)] for j in idx]) for tree, idx in trees]
        return value, (grad_trees[0] if single else tuple(grad_trees))
    return vg


def _call_with_ct(bwd_traced, leaves, ct):
    """Run a backward graph whose last input is the output cotangent."""
    g = bwd_traced.graph
    # move the cotangent invar to the leaves' side so call_traced's input layout applies
    n_leaf = len(leaves)
    reordered = Graph(g.invars[:n_leaf] + [g.invars[-1]] + g.invars[n_leaf:-1], g.nodes, g.outvars,
                      g.constvars, g.consts)
    bwd_traced.graph = reordered
    outs = call_traced(bwd_traced, list(leaves) + [ct])
    return outs


def grad(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """Return a function computing the gradient of scalar ``fun`` w.r.t. ``argnums``.

    Examples
    --------
    >>> df = jaxish.grad(lambda x: jaxish.reduce_sum(x ** 3))
    >>> ddf = jaxish.grad(lambda x: jaxish.reduce_sum(df(x)))
    """
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        value, gr = vg(*args, **kwargs)
        return (gr, value[1]) if has_aux else gr
    return g


def _leaf_positions(args, nums) -> tuple:
    """For each argument in ``nums``: (its pytree structure, positions of its leaves among all leaves)."""
    trees, pos = [], 0
    for i, a in enumerate(args):
        a_leaves, a_tree = tree_flatten(a)
        n = sum(1 for x in a_leaves if not getattr(x, "_is_variable", False))
        if i in nums:
            trees.append((a_tree, list(range(pos, pos + n))))
        pos += n
    return trees


def jacobian(fun: Callable, argnums=0) -> Callable:
    """Reverse-mode Jacobian: ``out.shape + in.shape`` for each leaf of each argument in ``argnums``."""
    @functools.wraps(fun)
    def jac(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "jacobian")
        traced, leaves = trace_to_graph(fun, args, kwargs, f"jacobian({getattr(fun, '__name__', 'f')})")
        g = traced.graph
        if len(g.outvars) - len(traced.assigned) != 1:
            raise TypeError("jacobian: the function must return a single tensor")
        trees = _leaf_positions(args, nums)
        wrt = [j for _, idx in trees for j in idx]
        for j in wrt:
            if not g.invars[j].aval.dtype.is_floating:
                raise TypeError(f"jacobian requires floating-point inputs, got dtype {g.invars[j].aval.dtype.name}")
        out_aval = g.outvars[0].aval
        if not out_aval.dtype.is_floating:
            raise TypeError(f"jacobian requires a floating-point output, got {out_aval.dtype.name}")
        bwd = vjp_graph(g, wrt, [0], keep_outputs=False)
        from .creation import zeros
        from .ops import reshape, stack
        from .tracing import Traced
        m = out_aval.size
        rows = []
        for k in range(m):
            e = np.zeros(m, out_aval.dtype.np)
            e[k] = 1
            bt = Traced(bwd, traced.variables, [], None, 0, traced.uses_rng)
            rows.append(_call_with_ct(bt, leaves, Tensor(e.reshape(out_aval.shape))))
        results = []
        for tree, idx in trees:
            per_leaf = []
            for j in idx:
                in_aval = g.invars[j].aval
                col = wrt.index(j)
                if m == 0:
                    per_leaf.append(zeros(out_aval.shape + in_aval.shape, in_aval.dtype))
                else:
                    per_leaf.append(reshape(stack([r[col] for r in rows]), out_aval.shape + in_aval.shape))
            results.append(tree_unflatten(tree, per_leaf))
        return results[0] if single else tuple(results)
    return jac


def hessian(fun: Callable, argnums=0) -> Callable:
    """The Hessian of scalar ``fun``: ``jacobian(grad(fun))``."""
    return jacobian(grad(fun, argnums), argnums)


def vjp(fun: Callable, *primals):
    """``(fun(*primals), vjp_fn)`` where ``vjp_fn(ct)`` returns the input cotangents."""
    traced, leaves = trace_to_graph(fun, primals, {}, f"vjp({getattr(fun, '__name__', 'f')})")
    g = traced.graph
    n_out = len(g.outvars) - len(traced.assigned)
    bwd = vjp_graph(g, list(range(len(leaves))), list(range(n_out)), keep_outputs=False)
    out = run_graph(g, [Tensor(np.asarray(x)) if not isinstance(x, Tensor) else x for x in leaves] +
                    [v._value for v in traced.variables])
    out_tree = traced.out_tree

    def vjp_fn(ct):
        cts, _ = tree_flatten(ct)
        res = run_graph(bwd, list(leaves) + [v._value for v in traced.variables] + list(cts))
        return tuple(res)
    return tree_unflatten(out_tree, out[:n_out]), vjp_fn
