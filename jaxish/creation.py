"""Creating tensors: constant, zeros, ones, fill, eye, range, linspace."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes as _dt
from .core import Tensor, Tracer, current_trace, to_tensor_arg
from .devices import resolve_current
from .ops import broadcast_to, cast, int_list, reshape


def _python_to_numpy(value: Any, op: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{op}: cannot convert None to a Tensor")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{op}: string values are not supported (got {value!r})")
    try:
        arr = np.array(value)
    except ValueError as e:
        raise ValueError(f"{op}: cannot build a tensor from a ragged nested sequence ({e})") from None
    if arr.dtype == object and not isinstance(value, (list, tuple)):
        raise TypeError(f"{op}: cannot convert a value of type {type(value).__name__} to a Tensor")
    if arr.dtype == object:
        raise ValueError(f"{op}: cannot build a tensor from a ragged or mixed nested sequence: {value!r}"[:300])
    if arr.dtype.kind in "US":
        raise TypeError(f"{op}: string values are not supported")
    return arr


def _default_np(arr: np.ndarray, from_numpy: bool) -> np.dtype:
    if from_numpy:
        return arr.dtype
    if arr.dtype.kind == "f":
        return np.dtype(np.float32)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < -2**31 or arr.max() >= 2**31):
            return np.dtype(np.int64)
        return np.dtype(np.int32)
    return arr.dtype


def _to_array(value: Any, dtype: _dt.DType | None, op: str) -> np.ndarray:
    from_numpy = isinstance(value, (np.ndarray, np.generic))
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        value = [np.asarray(v) if isinstance(v, Tensor) else v for v in value]
    arr = np.asarray(value) if from_numpy else _python_to_numpy(value, op)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: unsupported value of dtype {arr.dtype}")
    target = dtype.np if dtype is not None else _default_np(arr, from_numpy)
    if target not in _dt._BY_NP:
        raise TypeError(f"{op}: unsupported dtype {target}")
    if not from_numpy and dtype is not None and arr.dtype.kind == "f" and dtype.is_integer:
        if not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"{op}: cannot convert non-integer values {value!r} to {dtype.name}"[:300])
    if arr.dtype != target:
        if dtype is not None and dtype.is_integer and arr.dtype.kind in "iu" and arr.size:
            info = np.iinfo(target)
            if arr.min() < info.min or arr.max() > info.max:
                raise ValueError(f"{op}: values out of range for {dtype.name}")
        with np.errstate(all="ignore"):
            arr = arr.astype(target)
    elif from_numpy:
        arr = arr.copy()
    return arr


def tensor_from_value(value: Any, op: str) -> Tensor:
    """The operand ``value`` of ``op`` (a nested list, an array …) as a Tensor; errors name ``op``."""
    return Tensor(_to_array(value, None, op), device=resolve_current())


def constant(value: Any, dtype=None, shape=None, name=None) -> Tensor:
    """Create a tensor from a Python value, a NumPy array or a Tensor.

    Parameters
    ----------
    value : scalar, nested list, ndarray or Tensor
    dtype : DType or str, optional
        Defaults: Python float -> float32, int -> int32, NumPy keeps its dtype.
    shape : tuple of int, optional
        Reshape (same size) or fill (scalar value) to this shape.
    """
    dtype = None if dtype is None else _dt.as_dtype(dtype)
    if hasattr(value, "_is_variable"):
        value = value.read_value()
    if isinstance(value, Tensor):
        t = value if dtype is None else cast(value, dtype)
    else:
        t = Tensor(_to_array(value, dtype, "constant"), device=resolve_current())
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if t.aval.size == int(np.prod(shape, dtype=np.int64)):
            t = reshape(t, shape)
        elif t.aval.size == 1:
            t = broadcast_to(reshape(t, ()), shape)
            if not isinstance(t, Tracer):
                t = Tensor(np.ascontiguousarray(t._value), device=t._device)
        else:
            raise ValueError(f"constant: cannot make a tensor of shape {shape} from {t.aval.size} values")
    return t


def convert_to_tensor(value: Any, dtype=None, dtype_hint=None, name=None) -> Tensor:
    """Like :func:`constant`, but a Tensor of a different dtype is an error."""
    if hasattr(value, "_is_variable"):
        value = value.read_value()
    if isinstance(value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) != value.dtype:
            raise TypeError(f"convert_to_tensor: tensor of dtype {value.dtype.name} requested as "
                            f"{_dt.as_dtype(dtype).name}")
        return value
    return constant(value, dtype if dtype is not None else None if dtype_hint is None else dtype_hint)


def _shape(shape, op) -> tuple:
    shape = tuple(int_list(op, shape))
    if any(d < 0 for d in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def _filled(shape, value, dtype, op) -> Tensor:
    dt = _dt.as_dtype(dtype)
    return Tensor(np.full(_shape(shape, op), value, dtype=dt.np), device=resolve_current())


def zeros(shape, dtype=_dt.float32, name=None) -> Tensor:
    """A tensor of zeros."""
    return _filled(shape, 0, dtype, "zeros")


def ones(shape, dtype=_dt.float32, name=None) -> Tensor:
    """A tensor of ones."""
    return _filled(shape, 1, dtype, "ones")


def _like(x, value, dtype, op):
    x = to_tensor_arg(x)
    dt = x.dtype if dtype is None else _dt.as_dtype(dtype)
    if isinstance(x, Tracer) or current_trace() is not None:
        return cast(broadcast_to(cast(value, dt), x.aval.shape), dt)
    return _filled(x.aval.shape, value, dt, op)


def zeros_like(input, dtype=None, name=None) -> Tensor:  # noqa: A002
    """Zeros with the shape (and by default the dtype) of ``input``."""
    return _like(input, 0, dtype, "zeros_like")


def ones_like(input, dtype=None, name=None) -> Tensor:  # noqa: A002
    """Ones with the shape (and by default the dtype) of ``input``."""
    return _like(input, 1, dtype, "ones_like")


def fill(dims, value, name=None) -> Tensor:
    """A tensor of shape ``dims`` filled with ``value`` (its dtype)."""
    v = constant(value)
    if v.ndim:
        raise ValueError(f"fill: value must be a scalar, got shape {v.aval.shape}")
    return constant(v, shape=_shape(dims, "fill"))


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None) -> Tensor:
    """Identity matrix (optionally batched)."""
    m = np.eye(int(num_rows), int(num_rows if num_columns is None else num_columns), dtype=_dt.as_dtype(dtype).np)
    if batch_shape:
        m = np.broadcast_to(m, tuple(batch_shape) + m.shape).copy()
    return Tensor(m, device=resolve_current())


def range(start, limit=None, delta=1, dtype=None, name="range") -> Tensor:  # noqa: A001
    """Like Python's range: ``range(5)``, ``range(1, 10, 2)``; floats allowed."""
    if limit is None:
        start, limit = 0, start
    vals = [float(v) if isinstance(v, Tensor) and v.dtype.is_floating else v for v in (start, limit, delta)]
    vals = [v.numpy().item() if isinstance(v, Tensor) else v for v in vals]
    if vals[2] == 0:
        raise ValueError("range: delta must not be zero")
    if dtype is None:
        dtype = _dt.float32 if any(isinstance(v, float) for v in vals) else _dt.int32
    return Tensor(np.arange(*vals).astype(_dt.as_dtype(dtype).np), device=resolve_current())


def linspace(start, stop, num, name=None, axis=0) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    s = constant(start)
    dt = s.dtype if s.dtype.is_floating else _dt.float32
    out = np.linspace(np.asarray(start), np.asarray(stop), int(num), axis=axis).astype(dt.np)
    return Tensor(out, device=resolve_current())


