"""Turning op arguments into Tensors: Python scalars, Variables and registered types."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes as _dt
from .state import STATE
from .tensor import CPU_DEVICE, Tensor, VariableBase, shaped_array_of

_CONVERTERS: list = []  # (type, function) registered by the front end, tried in order


def register_converter(cls: type, fn: Callable[[Any], Tensor]) -> None:
    """Let ops accept values of ``cls`` (and subclasses): ``fn(value)`` returns a Tensor.

    The front end registers nested lists and NumPy arrays (``jaxish.constant``);
    the core itself knows only Tensors, Python scalars and Variables.
    """
    _CONVERTERS.append((cls, fn))


def literal_tensor(value, dtype: _dt.DType | None = None) -> Tensor:
    """A weakly typed 0-d tensor for a Python scalar."""
    if dtype is None:
        dtype = _dt.default_for_python(value)
        weak = not isinstance(value, (bool, np.bool_))
        if isinstance(value, np.generic):
            dtype, weak = _dt.as_dtype(value.dtype), False
    else:
        weak = True
    if isinstance(value, float) and abs(value) > 65504.0:  # may overflow a narrower float to +-inf, silently (JAX)
        with np.errstate(over="ignore"):
            value = np.asarray(value, dtype=dtype.np)
    else:
        value = np.asarray(value, dtype=dtype.np)
    return Tensor(value, weak, CPU_DEVICE, shaped_array_of(value, weak))


def holds_tensor(value) -> bool:
    """Is ``value`` a Tensor or Variable, or a (nested) list or tuple holding one?"""
    return isinstance(value, (Tensor, VariableBase)) or \
        (isinstance(value, (list, tuple)) and any(holds_tensor(v) for v in value))


def is_variable(x) -> bool:
    """Is ``x`` a Variable?"""
    return isinstance(x, VariableBase)


def read_variable(v) -> Tensor:
    """The value of Variable ``v``: its Tensor, or inside a trace the trace's view of it."""
    trace = STATE.main
    if trace is not None:
        return trace.read_variable(v)
    return v._value


def to_tensor_arg(x) -> Tensor:
    """Convert an op argument to a Tensor (or Tracer) without copying tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, VariableBase):
        return read_variable(x)
    if isinstance(x, (bool, int, float, np.generic)):
        if isinstance(x, int) and not isinstance(x, bool) and not -2**31 <= x < 2**31:
            return Tensor(np.asarray(x, dtype=np.int64), weak=False)
        return literal_tensor(x)
    for cls, fn in _CONVERTERS:
        if isinstance(x, cls):
            return fn(x)
    raise TypeError(f"cannot convert a value of type {type(x).__name__} to a Tensor")
