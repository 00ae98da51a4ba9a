"""The :class:`Primitive`: an operation of the IR, declared once with all its facets."""
from __future__ import annotations

from typing import Callable


class Primitive:
    """An operation of the IR, declared once.

    Parameters
    ----------
    name : str
        Name printed in graphs.
    abstract_eval : callable
        ``(*avals, **params) -> ShapedArray`` (a tuple of them when
        ``multiple_results``); raises ValueError/TypeError for bad shapes or dtypes.
    impl : callable
        NumPy reference implementation ``(*arrays, **params) -> ndarray`` (a list
        of them when ``multiple_results``).
    vjp : callable, optional
        ``(ct, *inputs, out, **params) -> tuple`` of input cotangents (``None``
        for a symbolic zero), written with jaxish ops. With ``multiple_results``,
        ``ct`` and ``out`` are lists (``None`` entries are symbolic zeros).
    kind : str
        ``'elementwise'``, ``'reduce'`` or ``'other'``; decides fusion.
    scalar : str, optional
        For elementwise primitives, the scalar expression template shared by
        the code generators, e.g. ``'np.exp({0})'``.
    multiple_results : bool
        The primitive returns several values (``call``, control flow).
    """

    def __init__(self, name: str, abstract_eval: Callable, impl: Callable, vjp: Callable | None = None,
                 kind: str = "other", scalar: str | Callable | None = None, multiple_results: bool = False):
        self.name = name
        self.abstract_eval = abstract_eval
        self.impl = impl
        self.vjp = vjp
        self.kind = kind
        self.scalar = scalar
        self.multiple_results = multiple_results
        # can its NumPy implementation emit floating-point warnings (overflow, divide by zero)?
        self.may_warn = kind in ("elementwise", "reduce") or name == "matmul"
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        from .trace import bind
        return bind(self, args, params)

    def __repr__(self) -> str:
        return self.name


PRIMITIVES: dict[str, Primitive] = {}
"""Every primitive by name (for users and tests; the library itself refers to primitive objects)."""
