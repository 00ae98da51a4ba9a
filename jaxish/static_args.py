"""Checking and resolving ``static_argnums`` / ``static_argnames`` of a traced function (as ``jax.jit`` does)."""
from __future__ import annotations

import inspect
from typing import Callable

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def normalize(fn: Callable, static_argnums, static_argnames) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``(argnums, argnames)`` as tuples, checked against ``fn``'s signature when it has one.

    A position the function does not have (counting negative numbers from the end) or a name it does not
    take raises ValueError at decoration time, as ``jax.jit`` does; ``*args`` / ``**kwargs`` accept any.
    """
    if not callable(fn):
        raise TypeError(f"trace: expected a function, got {fn!r:.60} of type {type(fn).__name__}")
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    bad = [i for i in nums if isinstance(i, bool) or not isinstance(i, int)]
    if bad:
        raise TypeError(f"trace: static_argnums must be integers, got {nums!r}")
    if any(not isinstance(n, str) for n in names):
        raise TypeError(f"trace: static_argnames must be strings, got {names!r}")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): nothing to check
        return nums, names
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "<function>"))
    _check_nums(name, params, nums)
    _check_names(name, params, names)
    return nums, names


def _check_nums(name: str, params, nums) -> None:
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return
    n = sum(p.kind in _POSITIONAL for p in params)
    bad = [i for i in nums if not -n <= i < n]
    if bad:
        raise ValueError(f"trace: {name} has static_argnums={nums}, but it only accepts {n} positional "
                         f"argument{'' if n == 1 else 's'}")


def _check_names(name: str, params, names) -> None:
    positional_only = {p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY}
    if positional_only & set(names):
        raise ValueError(f"trace: {name} has static_argnames {sorted(positional_only & set(names))} that are "
                         f"positional-only parameters")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    unknown = set(names) - {p.name for p in params if p.kind in _KEYWORD}
    if unknown:
        raise ValueError(f"trace: {name} has static_argnames {sorted(unknown)}, but it takes no such "
                         f"argument{'' if len(unknown) == 1 else 's'}")


def resolve(nums: tuple[int, ...], nargs: int) -> tuple[int, ...]:
    """The static positions among ``nargs`` positional arguments (negative numbers count from the end)."""
    return tuple(i % nargs for i in nums if -nargs <= i < nargs)
