"""Pytrees (nested tuples, lists, dicts, None and registered classes), via optree."""
from __future__ import annotations

from typing import Any, Callable

import optree

from .core.convert import is_variable

NAMESPACE = "jaxish"


def _is_leaf(x) -> bool:
    return is_variable(x)


def tree_flatten(tree: Any) -> tuple:
    """Leaves and structure of ``tree`` (Variables are leaves)."""
    return optree.tree_flatten(tree, is_leaf=_is_leaf, none_is_leaf=False, namespace=NAMESPACE)


def tree_unflatten(treedef, leaves) -> Any:
    return optree.tree_unflatten(treedef, leaves)


def tree_map(fn: Callable, tree: Any, *rest) -> Any:
    return optree.tree_map(fn, tree, *rest, is_leaf=_is_leaf, none_is_leaf=False, namespace=NAMESPACE)


def tree_leaves(tree: Any) -> list:
    return optree.tree_leaves(tree, is_leaf=_is_leaf, none_is_leaf=False, namespace=NAMESPACE)


def register_pytree_node(cls: type, flatten_func: Callable, unflatten_func: Callable) -> None:
    """Register ``cls`` as a pytree node.

    ``flatten_func(obj) -> (children, aux_data)`` and
    ``unflatten_func(aux_data, children) -> obj``, as in JAX.
    """
    optree.register_pytree_node(cls, flatten_func, lambda aux, children: unflatten_func(aux, children),
                                namespace=NAMESPACE)
