"""Operator overloads shared by Tensor (and tracers) and Variable."""
from __future__ import annotations

from . import ops
from .core import Tensor


def _r(fn):
    return lambda self, other: fn(other, self)


def _eq(self, other):
    if other is None:
        return False
    return ops.equal(self, other)


def _ne(self, other):
    if other is None:
        return True
    return ops.not_equal(self, other)


def _and(x, y):
    return ops.logical_and(x, y) if _is_bool(x) else ops.bitwise_and(x, y)


def _or(x, y):
    return ops.logical_or(x, y) if _is_bool(x) else ops.bitwise_or(x, y)


def _xor(x, y):
    return ops.logical_xor(x, y) if _is_bool(x) else ops.bitwise_xor(x, y)


def _is_bool(x):
    return getattr(x, "dtype", None) is not None and x.dtype.is_bool


def _getitem(self, key):
    from .indexing import getitem
    return getitem(self, key)


OPERATORS = {
    "__add__": ops.add, "__radd__": _r(ops.add),
    "__sub__": ops.subtract, "__rsub__": _r(ops.subtract),
    "__mul__": ops.multiply, "__rmul__": _r(ops.multiply),
    "__truediv__": ops.divide, "__rtruediv__": _r(ops.divide),
    "__floordiv__": ops.floordiv, "__rfloordiv__": _r(ops.floordiv),
    "__mod__": ops.mod, "__rmod__": _r(ops.mod),
    "__pow__": ops.pow, "__rpow__": _r(ops.pow),
    "__matmul__": ops.matmul, "__rmatmul__": _r(ops.matmul),
    "__neg__": ops.negative, "__pos__": lambda self: self, "__abs__": ops.abs,
    "__invert__": ops.invert,
    "__and__": _and, "__rand__": _r(_and), "__or__": _or, "__ror__": _r(_or),
    "__xor__": _xor, "__rxor__": _r(_xor),
    "__eq__": _eq, "__ne__": _ne,
    "__lt__": ops.less, "__le__": ops.less_equal, "__gt__": ops.greater, "__ge__": ops.greater_equal,
    "__getitem__": _getitem,
}


def install(cls) -> None:
    """Attach the operator overloads to ``cls``."""
    for name, fn in OPERATORS.items():
        setattr(cls, name, fn)
    cls.__array_ufunc__ = None  # NumPy defers to our reflected operators
    cls.__hash__ = None


install(Tensor)
