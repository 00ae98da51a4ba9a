"""The :class:`Primitive`: an operation of the IR, declared once with all its facets.

Passes and backends ask a primitive for typed facts (``effects``,
``fusible``, ``may_warn``, ``reduce``) or compare the objects themselves
(``node.prim is mul_p``); they never compare names.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable

from ..dtypes import DType


class Effect(enum.Enum):
    """Something a primitive depends on or does besides computing its outputs from its inputs' values."""

    RANDOM = "random"
    """Consumes the random generator state (its ``state`` operand): never folded to a constant."""
    VARIABLE = "variable"
    """Stands for a read of a Variable's state (``read_after_assign``): kept as a node until execution."""


RANDOM = Effect.RANDOM
VARIABLE = Effect.VARIABLE


@dataclass(frozen=True)
class ReduceSpec:
    """How code generators lower a reduction: an accumulator started at ``init`` and updated by ``combine``.

    Parameters
    ----------
    init : value or callable
        The accumulator's start (the reduction's identity): a Python value (``0``, ``True``), or a function of
        the input :class:`~jaxish.dtypes.DType` returning one (``-inf`` for floats, the lowest integer …).
    combine : str
        Scalar template of the update, ``{acc}`` the accumulator and ``{0}`` the new element
        (``'{acc} + {0}'``).
    accumulator : callable, optional
        ``DType -> DType``: the dtype the reduction accumulates in for a given input dtype (wider for sums and
        products); ``None`` means the input dtype. The NumPy reference uses the same rule, so every backend
        agrees.
    """

    init: Any
    combine: str
    accumulator: Callable[[DType], DType] | None = None

    def initial(self, dtype: DType):
        """The start value for an input of ``dtype``."""
        return self.init(dtype) if callable(self.init) else self.init

    def accumulator_dtype(self, dtype: DType) -> DType:
        """The dtype an input of ``dtype`` accumulates in."""
        return dtype if self.accumulator is None else self.accumulator(dtype)


class Primitive:
    """An operation of the IR, declared once.

    Parameters
    ----------
    name : str
        Name printed in graphs (unique; ``PRIMITIVES[name]`` is for users and tests only).
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
        ``'elementwise'``, ``'reduce'`` or ``'other'``.
    scalar : str or callable, optional
        For elementwise primitives, the scalar expression template shared by
        the code generators, e.g. ``'np.exp({0})'``, or a function
        ``(arg names, input avals, output aval) -> template``.
    multiple_results : bool
        The primitive returns several values (``call``, control flow).
    effects : frozenset of Effect
        What the primitive depends on besides its operands' values (``{RANDOM}``);
        passes never fold or drop such a node on their own.
    fusible : bool, optional
        Code generators may compute it inside a fused elementwise loop (its
        ``scalar`` template, operands read with broadcast indexing). Defaults to
        ``kind == 'elementwise'``.
    may_warn : bool, optional
        Its NumPy implementation can emit floating-point warnings (overflow,
        divide by zero), which eager execution silences. Defaults to ``kind in
        ('elementwise', 'reduce')``.
    reduce : ReduceSpec, optional
        For ``kind='reduce'``: the accumulator's start, update and dtype.
    scalar_keeps_dtype : bool
        The ``scalar`` template applied to float operands of the output's dtype
        yields that dtype (Numba keeps ``float32 + float32`` in float32), so code
        generators need not wrap it in a dtype constructor.
    vjp_forward : callable, optional
        ``(ins, **params) -> (outputs, residuals)``: how ``transforms.vjp`` evaluates the node in the forward
        pass of a backward graph when the primitive saves values for its VJP (``scan`` stacks per-iteration
        residuals); ``vjp`` then receives ``residuals=`` too.
    batch : callable, optional
        The batching rule (``vmap``): ``(args, dims, size, **params) -> (out, dim)`` (lists of outputs and
        dims with ``multiple_results``), where ``dims[i]`` is the batch axis of ``args[i]`` (``None``: not
        batched, at least one is batched) and ``size`` the batch size; written with other primitives, like
        ``vjp``. ``dim`` is the batch axis of the result (``None``: the same for every example).
        ``transforms/batching.py`` calls it; a primitive without one cannot be batched (an error names it).
    jvp : callable, optional
        ``(ins, tangents, **params) -> (outputs, output tangents)`` (``None``: a zero tangent): a forward-mode
        rule, for primitives without reverse mode (``reverse=False``: ``while``) and for the primitives whose
        sub-graphs may contain one (``cond``, ``scan``). Forward mode uses these rules only in a graph that
        contains a primitive without reverse mode; otherwise it transposes the VJP rules twice
        (``transforms/jvp.py``).
    reverse : bool
        False: the primitive has no reverse mode (its VJP rule raises an error that says why: ``while``).
    """

    def __init__(self, name: str, abstract_eval: Callable, impl: Callable, vjp: Callable | None = None,
                 kind: str = "other", scalar: str | Callable | None = None, multiple_results: bool = False, *,
                 effects: frozenset = frozenset(), fusible: bool | None = None, may_warn: bool | None = None,
                 reduce: ReduceSpec | None = None, scalar_keeps_dtype: bool = False,
                 vjp_forward: Callable | None = None, batch: Callable | None = None, jvp: Callable | None = None,
                 reverse: bool = True):
        if (kind == "reduce") != (reduce is not None):
            raise TypeError(f"Primitive {name!r}: a reduction (kind='reduce') needs a ReduceSpec, and only a "
                            f"reduction has one")
        if not all(isinstance(e, Effect) for e in effects):
            raise TypeError(f"Primitive {name!r}: effects must be Effect members, got {effects!r}")
        self.name = name
        self.abstract_eval = abstract_eval
        self.impl = impl
        self.vjp = vjp
        self.kind = kind
        self.scalar = scalar
        self.multiple_results = multiple_results
        self.effects = frozenset(effects)
        self.fusible = kind == "elementwise" if fusible is None else bool(fusible)
        # read on every eager call (core.trace.eval_primitive): a plain attribute
        self.may_warn = kind in ("elementwise", "reduce") if may_warn is None else bool(may_warn)
        self.reduce = reduce
        self.scalar_keeps_dtype = scalar_keeps_dtype
        self.vjp_forward = vjp_forward
        self.batch = batch
        self.jvp = jvp
        self.reverse = bool(reverse)
        if self.fusible and scalar is None:
            raise TypeError(f"Primitive {name!r}: a fusible primitive needs a scalar template")
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        return _bind(self, args, params)

    def __repr__(self) -> str:
        return self.name


def _bind(prim, args, params):
    """``core.trace.bind`` (whose module imports this one): looked up on the first call, then called directly."""
    global _bind
    from .trace import bind
    _bind = bind
    return bind(prim, args, params)


PRIMITIVES: dict[str, Primitive] = {}
"""Every primitive by name (for users and tests; the library itself refers to primitive objects)."""
