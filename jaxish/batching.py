"""``vmap``: map a function over a batch axis of its arguments, as one batched graph.

``vmap(f)(xs)`` traces ``f`` on one example's shapes, rewrites the graph with
the primitives' batching rules (``transforms.batching.batch_graph``) and runs
the batched graph as one ``call`` (compiled when eager, a nested node inside a
trace, one recorded call under a tape), so it composes with ``grad``,
``@trace``, ``GradientTape`` and ``vmap`` itself.
"""
from __future__ import annotations

import functools
import numbers
from typing import Any, Callable

import numpy as np
import optree

from .core import is_variable
from .core.trace import user_line
from .traceback_util import transform_boundary
from .tracing import _arg_labels, _rng_input, leaf_value, run_graph, trace_to_graph
from .transforms.batching import batch_graph
from .tree_util import NAMESPACE, tree_flatten, tree_unflatten

_UNMAPPED = object()  # None inside an axis specification (None is an empty subtree to optree)


def _is_axis(a) -> bool:
    return a is None or (isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_)))


def _leaf_axes(spec, tree, what: str) -> list:
    """One axis (int or None) per leaf of ``tree`` from ``spec``, a pytree prefix of ``tree`` (JAX's rule)."""
    if _is_axis(spec):
        return [spec] * len(tree_flatten(tree)[0])
    marked = optree.tree_map(lambda a: _UNMAPPED if a is None else a, spec, none_is_leaf=True, namespace=NAMESPACE)
    try:
        full = optree.tree_broadcast_prefix(marked, tree, is_leaf=is_variable, none_is_leaf=False,
                                            namespace=NAMESPACE)
    except (ValueError, TypeError) as e:
        raise ValueError(f"vmap: {what} {spec!r} is not a prefix of the structure it applies to "
                         f"({tree_flatten(tree)[1]}): {e}") from None
    axes = optree.tree_leaves(full, none_is_leaf=False, namespace=NAMESPACE)
    out = []
    for a in axes:
        a = None if a is _UNMAPPED else a
        if not _is_axis(a):
            raise TypeError(f"vmap: {what} entries must be ints or None, got {a!r}")
        out.append(a)
    return out


@transform_boundary
def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None) -> Callable:
    """Vectorise ``fun`` over a batch axis, as JAX's ``vmap``.

    Parameters
    ----------
    fun : callable
        A function of tensors (pytrees allowed) to apply to each example.
    in_axes : int, None, or a tuple with one entry per positional argument
        The batch axis of each argument (negative axes count from the end);
        ``None``: the argument is the same for every example. An entry may be a
        pytree prefix of its argument. Keyword arguments are mapped over axis 0.
    out_axes : int, None, or a pytree prefix of the output
        Where the batch axis goes in each output (``None``: the output is the
        same for every example; an error if it is not).
    axis_size : int, optional
        The batch size, needed only when no argument is batched.

    Returns
    -------
    callable
        The batched function. Variables read inside are the same for every
        example; assigning one inside raises ``ValueError``. Random numbers
        drawn inside differ per example (one draw of the batched shape, from
        the one random state of the call: independent across examples, like a
        loop's, though not the loop's values; example 0 draws what the
        un-vmapped traced function draws). In a loop whose trip count differs
        per example the state stays the same for every example and advances
        once per iteration of the batched loop: an example's ``t``-th
        iteration draws its slice of the batch's draw from the loop's ``t``-th
        state, so its numbers depend on its own trip count only (they are
        those of the same loop run to that count by every example).

    Examples
    --------
    >>> per_example = jaxish.vmap(jaxish.grad(loss), in_axes=(None, 0, 0))
    """
    return _vmap(fun, in_axes, out_axes, axis_size, shared_random=False)


def _vmap(fun: Callable, in_axes: Any, out_axes: Any, axis_size: int | None, shared_random: bool) -> Callable:
    """``vmap``; with ``shared_random`` every example sees the same random draws (the Jacobians' batch is a
    basis applied to one evaluation of the function)."""
    if not callable(fun):
        raise TypeError(f"vmap: expected a function, got {fun!r:.60} of type {type(fun).__name__}")
    if not (_is_axis(in_axes) or isinstance(in_axes, (tuple, list))):
        raise TypeError(f"vmap: in_axes must be an int, None or a tuple of them (one per positional argument), "
                        f"got {in_axes!r}")
    if axis_size is not None and (not _is_axis(axis_size) or axis_size < 0):
        raise ValueError(f"vmap: axis_size must be a non-negative int, got {axis_size!r}")
    fname = getattr(fun, "__name__", "<function>")

    @functools.wraps(fun)
    def batched(*args, **kwargs):
        try:
            return _batched_call(fun, fname, in_axes, out_axes, axis_size, shared_random, args, kwargs)
        except (ValueError, TypeError) as e:   # vmap's own errors: say where vmap was called (once)
            msg = str(e)
            if type(e) not in (ValueError, TypeError) or not msg.startswith("vmap") or "\n  (vmap called at " in msg:
                raise
            raise type(e)(f"{msg}\n  (vmap called at {user_line()})") from None
    return batched


def _batched_call(fun, fname: str, in_axes, out_axes, axis_size, shared_random: bool, args: tuple, kwargs: dict):
    """One call of ``vmap(fun)``: trace one example, batch the graph, run it."""
    name = f"vmap({fname})"
    if isinstance(in_axes, (tuple, list)):
        if len(in_axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(in_axes)} entries but {fname} was called with "
                             f"{len(args)} positional arguments")
        specs = list(in_axes)
    else:
        specs = [in_axes] * len(args)
    axes = []
    for i, (a, spec) in enumerate(zip(args, specs)):
        axes += _leaf_axes(spec, a, f"in_axes[{i}]" if isinstance(in_axes, (tuple, list)) else "in_axes")
    for k in sorted(kwargs):
        axes += [0] * len(tree_flatten(kwargs[k])[0])
    leaves, _ = tree_flatten((args, kwargs))
    labels = _arg_labels(fun, args, kwargs)
    values, avals, dims, sizes = [], [], [], []
    for i, (x, ax) in enumerate(zip(leaves, axes)):
        label = labels[i] if i < len(labels) else f"argument {i}"
        if is_variable(x):
            if ax is not None:
                raise ValueError(f"vmap: {label} is a Variable and cannot be mapped over; give it in_axes "
                                 f"None (it is then the same for every example) or pass its value")
            values.append(x)
            avals.append(None)
            continue
        v = leaf_value(x)
        values.append(v)
        if ax is None:
            avals.append(v.aval)
            dims.append(None)
            continue
        nd = v.aval.ndim
        if not -nd <= ax < nd:
            raise ValueError(f"vmap: in_axes {ax} is out of range for {label} of shape {tuple(v.shape)} "
                             f"(rank {nd})")
        ax %= nd
        sizes.append((label, int(v.aval.shape[ax]), ax))
        shape = tuple(d for j, d in enumerate(v.aval.shape) if j != ax)
        avals.append(type(v.aval)(shape, v.aval.dtype, v.aval.weak_type))
        dims.append(ax)
    size = _batch_size(sizes, axis_size, fname)
    traced, _ = trace_to_graph(fun, args, kwargs, name, avals=avals)
    if traced.assigned:
        names = ", ".join(repr(v.name) for v in traced.assigned)
        raise ValueError(f"vmap: {fname} assigns the Variable(s) {names}; inside vmap each example would "
                         f"assign its own value. Return the new value and assign it outside vmap")
    # (traced on every call: a 0-d tensor it closes over that an active tape tracks is a constant the tape sees)
    graph = traced.graph
    in_dims = dims + [None] * (len(graph.invars) - len(dims))
    out_leaves = tree_unflatten(traced.out_tree, list(range(len(graph.outvars))))
    want = _leaf_axes(out_axes, out_leaves, "out_axes")
    out_dims = []
    for k, d in enumerate(want):
        if d is not None:
            nd = graph.outvars[k].aval.ndim + 1
            if not -nd <= d < nd:
                raise ValueError(f"vmap: out_axes {d} is out of range for output {k} of {fname}, of batched "
                                 f"rank {nd}")
            d %= nd
        out_dims.append(d)
    try:
        bgraph, _ = batch_graph(graph, in_dims, size, out_dims, shared_random=shared_random)
    except ValueError as e:
        if str(e).startswith("vmap: output "):   # name the function whose output it is
            raise ValueError(f"vmap({fname}): {str(e)[len('vmap: '):]}") from None
        raise
    inputs = [x for x in values if not is_variable(x)] + list(traced.variables)
    if traced.uses_rng:
        inputs.append(_rng_input(inputs))
    return tree_unflatten(traced.out_tree, run_graph(bgraph, inputs))


def _batch_size(sizes: list, axis_size, fname: str) -> int:
    """The common size of the mapped axes (or ``axis_size``); a ValueError lists each argument's size."""
    found = {s for _, s, _ in sizes}
    if axis_size is not None:
        found.add(int(axis_size))
    if len(found) > 1:
        shown = "; ".join(f"{label} has size {s} at axis {ax}" for label, s, ax in sizes)
        extra = f"; axis_size is {axis_size}" if axis_size is not None else ""
        raise ValueError(f"vmap: the mapped axes of {fname}'s arguments have different sizes: {shown}{extra}")
    if not found:
        raise ValueError(f"vmap: no argument of {fname} is mapped (every in_axes is None); pass axis_size to "
                         f"say the batch size")
    return found.pop()
