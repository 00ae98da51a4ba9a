"""Operator overloads and array methods shared by Tensor (and tracers) and Variable."""
from __future__ import annotations

import numpy as np

from . import ops
from .core import STATE, Tensor
from .core.convert import holds_tensor
from .errors import invalid_argument


def _r(fn):
    """The reflected operator of ``fn`` (``__rsub__``: ``fn(other, self)``); an op of ``ops._binary`` has its
    own, with the Python-scalar case first."""
    r = getattr(fn, "reflected", None)
    return r if r is not None else (lambda self, other: fn(other, self))


def _eq(self, other):
    if other is None:
        return False
    if _unbroadcastable(self, other):
        return _bool_scalar(False)
    return ops.equal(self, other)


def _ne(self, other):
    if other is None:
        return True
    if _unbroadcastable(self, other):
        return _bool_scalar(True)
    return ops.not_equal(self, other)


def _unbroadcastable(x, y) -> bool:
    """Shapes that do not broadcast: ``x == y`` is then one False (``x != y`` one True), as TensorFlow's
    operators (``equal(..., incompatible_shape_error=False)``); ``jaxish.equal`` raises."""
    a = x.aval.shape
    if hasattr(y, "aval"):
        b = y.aval.shape
    elif isinstance(y, (list, tuple)) and holds_tensor(y):
        return False  # the op stacks the list (np.shape here would read traced elements)
    else:
        b = np.shape(y)
    return any(m != n and m != 1 and n != 1 for m, n in zip(reversed(a), reversed(b)))


def _bool_scalar(value: bool):
    from .devices import place
    return place(np.array(value))


def _and(x, y):
    return ops.logical_and(x, y) if _is_bool(x) else ops.bitwise_and(x, y)


def _or(x, y):
    return ops.logical_or(x, y) if _is_bool(x) else ops.bitwise_or(x, y)


def _xor(x, y):
    return ops.logical_xor(x, y) if _is_bool(x) else ops.bitwise_xor(x, y)


def _is_bool(x):
    dt = getattr(x, "dtype", None)  # a DType, or a NumPy dtype (np.bool_(True) & t calls t.__rand__)
    return dt is not None and (dt.is_bool if hasattr(dt, "is_bool") else dt == np.bool_)


def _getitem(self, key):
    from .indexing import getitem
    try:
        return getitem(self, key)
    except (IndexError, ValueError) as e:
        if STATE.main is not None or type(e) not in (IndexError, ValueError):
            raise
        # eagerly, TensorFlow's InvalidArgumentError (an index out of range, too many indices, a zero step),
        # which is also the IndexError/ValueError raised while tracing
        raise invalid_argument(type(e))(str(e)) from None


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


# -- array methods JAX and NumPy users expect (x.T, x.reshape(2, 3), x.sum(axis=0), x.item()) --
def _reshape(self, *shape):
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))`` (``-1`` infers one dimension)."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return ops.reshape(self, shape)


def _astype(self, dtype):
    """``x.astype(dtype)``: ``jaxish.cast(x, dtype)``."""
    return ops.cast(self, dtype)


def _reduction(fn, name):
    def method(self, axis=None, keepdims=False, dtype=None, out=None):
        if out is not None:
            raise TypeError(f"{name}: out= is not supported (Tensors are immutable)")
        x = self if dtype is None else ops.cast(self, dtype)
        return fn(x, axis=axis, keepdims=keepdims)
    method.__name__ = name
    method.__doc__ = (f"``x.{name}(axis=None, keepdims=False, dtype=None)``: ``jaxish.{fn.__name__}`` (of ``x`` cast "
                      f"to ``dtype`` when given). ``np.{name}(x)`` calls it too and returns a Tensor.")
    return method


def _item(self, *args):
    """The value of a one-element tensor (or of the element at ``args``) as a Python number."""
    v = self.numpy()
    if not args and v.size != 1:
        raise ValueError(f"item: only a Tensor with one element converts to a Python scalar, got shape {v.shape}")
    return v.item(*args)


def _tolist(self):
    """The values as nested Python lists (a number for a 0-d tensor)."""
    return self.numpy().tolist()


def get_shape(self):
    """The shape, as ``x.shape`` (TensorFlow's ``get_shape()``)."""
    return self.shape


_get_shape = get_shape

METHODS = {
    "reshape": _reshape, "astype": _astype, "item": _item, "tolist": _tolist,
    "sum": _reduction(ops.reduce_sum, "sum"), "mean": _reduction(ops.reduce_mean, "mean"),
    "max": _reduction(ops.reduce_max, "max"), "min": _reduction(ops.reduce_min, "min"),
    "T": property(lambda self: ops.transpose(self), doc="The transpose (axes reversed), as NumPy's ``.T``."),
    "get_shape": _get_shape,
}


def _unhashable(self):
    """Elementwise ``==`` makes tensors and Variables unhashable; TensorFlow's message names the way out."""
    kind = "Variable" if ops.is_variable(self) else "Tensor"
    raise TypeError(f"{kind} is unhashable. Instead, use {kind.lower()}.ref() as the key.")


def install(cls) -> None:
    """Attach the operator overloads and array methods to ``cls``.

    ``cls`` defines no ``__array_ufunc__``: a NumPy function on a concrete tensor converts it with ``__array__``
    and returns a NumPy array (``np.sin(t)``), while ``ndarray + t`` calls our reflected operator, because
    ``__array_priority__`` is higher than ndarray's (as with TensorFlow's tensors). Tracers define
    ``__array_ufunc__`` and ``__array_function__`` to say which jaxish function to use (``jaxish/interop.py``).
    """
    for name, fn in {**OPERATORS, **METHODS}.items():
        setattr(cls, name, fn)
    cls.__array_priority__ = 100
    cls.__hash__ = _unhashable


install(Tensor)
