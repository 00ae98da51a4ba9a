"""User-defined differentiation rules: :class:`custom_vjp` and :class:`custom_jvp`, as in JAX.

The function, and its rule, are traced into graphs and bound as one ``call``
node that carries the rule's graphs as parameters (``custom_fwd`` and
``custom_bwd``, or ``custom_jvp``; ``core/call.py``). Transforms keep the node
and differentiate it with the rule (``call``'s VJP rule); the backward graph
it produces is ordinary IR, so it is differentiated again by the ordinary
rules; for execution the node is inlined like any call (fused, compiled).
Forward mode transposes the rule: ``jvp`` of a ``custom_vjp`` function
transposes ``bwd`` (linear in the cotangent), and a ``custom_jvp`` rule is
transposed for reverse mode (it must be linear in the tangents, as JAX requires).
"""
from __future__ import annotations

import functools
import threading
from typing import Callable

import numpy as np
import optree

from .core import GraphTrace, Tensor, bind, is_variable, read_variable
from .core.call import call_p
from .ir import Graph, Var
from .tracing import leaf_value
from .tree_util import NAMESPACE, tree_flatten, tree_map, tree_unflatten

_IN_RULE = threading.local()  # .ids: the custom functions whose rule is being traced (they call themselves)


class _in_rule:
    """While a rule of ``obj`` is traced, calling ``obj`` inside it means its plain function (``fwd`` usually
    calls the function itself)."""

    def __init__(self, obj):
        self.key = id(obj)

    def __enter__(self):
        ids = getattr(_IN_RULE, "ids", None)
        if ids is None:
            ids = _IN_RULE.ids = []
        ids.append(self.key)

    def __exit__(self, *exc):
        _IN_RULE.ids.remove(self.key)


def _inside_own_rule(obj) -> bool:
    return id(obj) in getattr(_IN_RULE, "ids", ())


def _values(tree):
    return tree_map(lambda x: read_variable(x) if is_variable(x) else x, tree)


def _zeros(aval) -> Tensor:
    return Tensor(np.zeros(aval.shape, aval.dtype.np))


def _check_closed(t: GraphTrace, variables, assigned, what: str) -> None:
    if variables or assigned or t.rng_var is not None:
        raise TypeError(f"{what} reads or assigns a Variable or draws random numbers; a function with a custom "
                        f"rule must be a pure function of its arguments (pass Variables' values as arguments)")


def _graph(fn: Callable, in_tree, in_avals: list, what: str, post: Callable | None = None) -> tuple:
    """``(graph, out_tree)`` of ``fn`` traced on ``in_avals`` (``post`` maps the output to the list of
    output tensors and the tree to return)."""
    with GraphTrace(name=what) as t:
        tracers = [t.new_arg(a, f"argument {i}") for i, a in enumerate(in_avals)]
        out = fn(*tree_unflatten(in_tree, tracers))
        leaves, tree = post(out) if post is not None else tree_flatten(out)
        graph, variables, assigned = t.finish(leaves)
    _check_closed(t, variables, assigned, what)
    return graph, tree


def _share_consts(graphs: list) -> tuple:
    """The graphs with all their captured constants as the same leading inputs: ``(graphs, consts)``."""
    consts = [c for g in graphs for c in g.consts]
    out, off = [], 0
    for g in graphs:
        lead = [Var(c.aval) for c in consts]
        lead[off:off + len(g.consts)] = list(g.constvars)
        out.append(Graph(lead + list(g.invars), g.nodes, g.outvars))
        off += len(g.consts)
    return out, consts


def _same_avals(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and x.dtype == y.dtype for x, y in zip(a, b))


class custom_vjp:
    """A function with a user-supplied VJP, as JAX's ``jax.custom_vjp``.

    Examples
    --------
    >>> @jaxish.custom_vjp
    ... def softplus(x):
    ...     return jaxish.math.log1p(jaxish.exp(x))
    >>> def fwd(x):
    ...     return softplus(x), x
    >>> def bwd(x, g):
    ...     return (g * jaxish.sigmoid(x),)
    >>> softplus.defvjp(fwd, bwd)

    ``fwd(*args)`` returns ``(output, residuals)``; ``bwd(residuals, ct)`` returns
    a tuple with one cotangent per argument (its structure; ``None`` for zero).
    The function, ``fwd`` and ``bwd`` must be pure functions of their arguments.
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        if nondiff_argnums:
            raise NotImplementedError("custom_vjp: nondiff_argnums is not supported; close over the value instead")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> "custom_vjp":
        """Set the rule: ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, ct) -> tuple of cotangents``."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError("custom_vjp.defvjp: fwd and bwd must be functions")
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        name = getattr(self.fun, "__name__", "f")
        if self.fwd is None:
            raise TypeError(f"custom_vjp {name}: define the rule with {name}.defvjp(fwd, bwd) before calling it")
        if _inside_own_rule(self):
            return self.fun(*args)
        args = _values(args)
        leaves, in_tree = tree_flatten(args)
        vals = [leaf_value(x) for x in leaves]
        avals = [v.aval for v in vals]
        g, out_tree = _graph(self.fun, in_tree, avals, f"custom_vjp {name}")
        n_out = len(g.outvars)
        res_tree = []

        def split(pair):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"custom_vjp {name}: fwd must return a pair (output, residuals), got "
                                f"{type(pair).__name__}")
            o_leaves, o_tree = tree_flatten(pair[0])
            r_leaves, r_tree = tree_flatten(pair[1])
            res_tree.append(r_tree)
            return list(o_leaves) + list(r_leaves), o_tree
        with _in_rule(self):
            f, fo_tree = _graph(self.fwd, in_tree, avals, f"custom_vjp {name} fwd", split)
        out_avals = [v.aval for v in g.outvars]
        if fo_tree != out_tree or not _same_avals([v.aval for v in f.outvars[:n_out]], out_avals):
            raise TypeError(f"custom_vjp {name}: fwd's output {fo_tree} must have the structure, shapes and "
                            f"dtypes of the function's output {out_tree}")
        res_avals = [v.aval for v in f.outvars[n_out:]]
        float_outs = [i for i, a in enumerate(out_avals) if a.dtype.is_floating]
        in_trees = [tree_flatten(a)[1] for a in args]

        def bwd_fn(*flat):
            res = tree_unflatten(res_tree[0], list(flat[:len(res_avals)]))
            cts = dict(zip(float_outs, flat[len(res_avals):]))
            ct = tree_unflatten(out_tree, [cts[i] if i in cts else _zeros(a) for i, a in enumerate(out_avals)])
            return self.bwd(res, ct)

        def flatten_cts(out):
            if not isinstance(out, (tuple, list)) or len(out) != len(args):
                raise TypeError(f"custom_vjp {name}: bwd must return a tuple with one cotangent per argument "
                                f"({len(args)}), got {type(out).__name__}"
                                f"{f' of length {len(out)}' if isinstance(out, (tuple, list)) else ''}")
            flat = []
            for i, (c, tree) in enumerate(zip(out, in_trees)):
                n = tree.num_leaves
                if c is None:
                    flat += [None] * n
                    continue
                c_leaves, c_tree = optree.tree_flatten(c, none_is_leaf=True, namespace=NAMESPACE)  # None: zero
                if c_tree.num_leaves != n or (n and c_tree != optree.tree_structure(
                        tree_unflatten(tree, [0] * n), none_is_leaf=True, namespace=NAMESPACE)):
                    raise TypeError(f"custom_vjp {name}: bwd's cotangent {i} has structure {c_tree}, but argument "
                                    f"{i} has {tree}")
                flat += c_leaves
            res = []
            for k, (c, a) in enumerate(zip(flat, avals)):
                if c is None or not a.dtype.is_floating:
                    res.append(_zeros(a.strip_weak()))
                    continue
                if tuple(c.shape) != tuple(a.shape):
                    raise ValueError(f"custom_vjp {name}: bwd's cotangent for input leaf {k} has shape "
                                     f"{tuple(c.shape)}, but the input has shape {tuple(a.shape)}")
                from .ops import cast
                res.append(cast(c, a.dtype))
            return res, None
        b_in = [a.strip_weak() for a in res_avals] + [out_avals[i].strip_weak() for i in float_outs]
        flat_tree = tree_flatten(tuple(range(len(b_in))))[1]
        b, _ = _graph(bwd_fn, flat_tree, b_in, f"custom_vjp {name} bwd", flatten_cts)
        (g, f, b), consts = _share_consts([g, f, b])
        outs = bind(call_p, consts + vals, {"graph": g, "custom_fwd": f, "custom_bwd": b,
                                            "custom_consts": len(consts)})
        return tree_unflatten(out_tree, outs)


class custom_jvp:
    """A function with a user-supplied JVP, as JAX's ``jax.custom_jvp``.

    Examples
    --------
    >>> @jaxish.custom_jvp
    ... def clip_grad(x):
    ...     return x
    >>> @clip_grad.defjvp
    ... def _(primals, tangents):
    ...     return primals[0], jaxish.clip_by_value(tangents[0], -1.0, 1.0)

    The rule ``jvp(primals, tangents) -> (primal_out, tangent_out)`` must be
    linear in ``tangents`` (reverse mode transposes it). Integer arguments get
    zero tangents.
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        if nondiff_argnums:
            raise NotImplementedError("custom_jvp: nondiff_argnums is not supported; close over the value instead")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Set the rule ``jvp(primals, tangents) -> (primal_out, tangent_out)``; returns ``jvp`` (a decorator)."""
        if not callable(jvp):
            raise TypeError("custom_jvp.defjvp: the rule must be a function")
        self.jvp = jvp
        return jvp

    def __call__(self, *args):
        name = getattr(self.fun, "__name__", "f")
        if self.jvp is None:
            raise TypeError(f"custom_jvp {name}: define the rule with {name}.defjvp(rule) before calling it")
        if _inside_own_rule(self):
            return self.fun(*args)
        args = _values(args)
        leaves, in_tree = tree_flatten(args)
        vals = [leaf_value(x) for x in leaves]
        avals = [v.aval for v in vals]
        g, out_tree = _graph(self.fun, in_tree, avals, f"custom_jvp {name}")
        out_avals = [v.aval for v in g.outvars]
        fx = [k for k, a in enumerate(avals) if a.dtype.is_floating]
        fo = [i for i, a in enumerate(out_avals) if a.dtype.is_floating]
        n = len(avals)

        def rule(*flat):
            xs = list(flat[:n])
            ts = dict(zip(fx, flat[n:]))
            tans = [ts[k] if k in ts else _zeros(a) for k, a in enumerate(avals)]
            return self.jvp(tree_unflatten(in_tree, xs), tree_unflatten(in_tree, tans))

        def split(pair):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"custom_jvp {name}: the rule must return a pair (primal_out, tangent_out)")
            p_leaves, p_tree = tree_flatten(pair[0])
            t_leaves, t_tree = tree_flatten(pair[1])
            if p_tree != out_tree or t_tree != out_tree:
                raise TypeError(f"custom_jvp {name}: the rule returned {p_tree} and {t_tree}; both must have the "
                                f"function's output structure {out_tree}")
            from .ops import cast
            touts = []
            for i in fo:
                t = t_leaves[i]
                if tuple(getattr(t, "shape", ())) != tuple(out_avals[i].shape):
                    raise ValueError(f"custom_jvp {name}: tangent output {i} has shape {tuple(t.shape)}, but the "
                                     f"output has shape {tuple(out_avals[i].shape)}")
                touts.append(cast(t, out_avals[i].dtype))
            return list(p_leaves) + touts, p_tree
        j_in = list(avals) + [avals[k].strip_weak() for k in fx]
        flat_tree = tree_flatten(tuple(range(len(j_in))))[1]
        with _in_rule(self):
            j, _ = _graph(rule, flat_tree, j_in, f"custom_jvp {name} rule", split)
        if not _same_avals([v.aval for v in j.outvars[:len(out_avals)]], out_avals):
            raise TypeError(f"custom_jvp {name}: the rule's primal output must have the shapes and dtypes of the "
                            f"function's output")
        (g, j), consts = _share_consts([g, j])
        outs = bind(call_p, consts + vals, {"graph": g, "custom_jvp": j, "custom_consts": len(consts)})
        return tree_unflatten(out_tree, outs)
