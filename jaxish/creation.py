"""Creating tensors: constant, zeros, ones, fill, eye, range, linspace."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes as _dt
from .core import STATE, Tensor, Tracer, current_trace, is_variable, register_converter
from .core.convert import holds_tensor
from .devices import place
from .errors import invalid_argument
from .ops import axis_arg, broadcast_to, cast, dtype_arg, int_list, op_error, reshape, stack


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
    if not from_numpy and dtype is not None and (arr.dtype.kind == "f" and dtype.is_integer
                                                 or arr.dtype.kind in "iu" and dtype.is_bool):
        _python_value_error(value, arr, dtype, op)
    if arr.dtype != target:
        if dtype is not None and dtype.is_integer and arr.dtype.kind in "iuf" and arr.size and not from_numpy:
            _check_fits(arr, dtype, op)
        with np.errstate(all="ignore"):
            arr = arr.astype(target)
    elif from_numpy:
        arr = arr.copy()
    return arr


def _python_value_error(value, arr: np.ndarray, dtype: _dt.DType, op: str):
    """As TensorFlow, Python floats never become integers (1.0 neither), nor Python ints booleans: a TypeError,
    which is also a ValueError (an InvalidArgumentError) when the values are out of the dtype's range."""
    if dtype.is_integer and np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0):
        info = np.iinfo(dtype.np)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise invalid_argument(TypeError)(f"{op}: values out of range for {dtype.name} (min {arr.min()}, max "
                                              f"{arr.max()}), and Python floats do not convert to integers")
    raise TypeError(f"{op}: cannot convert {value!r:.200} to a tensor of dtype {dtype.name} (Python "
                    f"{'floats to integers' if dtype.is_integer else 'integers to bool'})")


def _check_fits(arr: np.ndarray, dtype: _dt.DType, op: str) -> None:
    info = np.iinfo(dtype.np)
    if arr.min() < info.min or arr.max() > info.max:
        raise ValueError(f"{op}: values out of range for {dtype.name} (min {arr.min()}, max {arr.max()})")


def tensor_from_value(value: Any, op: str) -> Tensor:
    """The operand ``value`` of ``op`` (a nested list, an array …) as a Tensor; errors name ``op``."""
    return place(_to_array(value, None, op))


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
    dtype = None if dtype is None else dtype_arg("constant", dtype)
    if is_variable(value):
        value = value.read_value()
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtype:
            raise TypeError(f"constant: expected a tensor of dtype {dtype.name}, but got dtype {value.dtype.name} "
                            f"(jaxish.cast converts it)")
        t = value
    else:
        t = place(_to_array(value, dtype, "constant"))
    if shape is not None:
        shape = _shape(shape, "constant")
        if t.aval.size == int(np.prod(shape, dtype=np.int64)):
            t = reshape(t, shape)
        elif t.aval.size == 1:
            t = broadcast_to(reshape(t, ()), shape)
            if type(t) is Tensor:
                t = Tensor(np.ascontiguousarray(t._value), device=t._device)
        else:
            # TensorFlow's TypeError, which is also the ValueError of a wrong shape
            raise invalid_argument(TypeError)(f"constant: cannot make a tensor of shape {shape} from "
                                              f"{t.aval.size} values")
    return t


def _first_tensor_dtype(value):
    if isinstance(value, Tensor) or is_variable(value):
        return value.dtype
    for v in value if isinstance(value, (list, tuple)) else ():
        dt = _first_tensor_dtype(v)
        if dt is not None:
            return dt
    return None


def _packed(value, dtype, op: str) -> Tensor:
    """A nested list holding tensors, stacked (TensorFlow's auto-packing: differentiable, traceable). The
    dtype is ``dtype`` or the first tensor's; the other elements are converted to it, and a tensor of another
    dtype is an error, as in TensorFlow."""
    dt = dtype if dtype is not None else _first_tensor_dtype(value)

    def pack(v):
        if isinstance(v, (list, tuple)):
            if not v:
                raise invalid_argument(ValueError)(f"{op}: cannot pack an empty list next to tensors")
            return stack([pack(e) for e in v])
        if is_variable(v):
            v = v.read_value()
        if isinstance(v, Tensor):
            if v.dtype != dt:
                raise invalid_argument(TypeError)(f"{op}: cannot pack a tensor of dtype {v.dtype.name} into a "
                                                  f"list of dtype {dt.name} (jaxish.cast converts it)")
            return v
        return constant(v, dt)
    return pack(value)


def _operand(value) -> Tensor:
    """An op argument that is not a Tensor, Variable or scalar: a nested list (packed when it holds tensors)
    or an array."""
    if isinstance(value, (list, tuple)) and holds_tensor(value):
        return _packed(value, None, "convert_to_tensor")
    return constant(value)


def convert_to_tensor(value: Any, dtype=None, dtype_hint=None, name=None) -> Tensor:
    """Like :func:`constant`, but a Tensor of a different dtype is an error, and a nested list holding tensors
    is stacked (differentiable and traceable, as TensorFlow's auto-packing)."""
    if is_variable(value):
        value = value.read_value()
    if isinstance(value, (list, tuple)) and holds_tensor(value):
        try:
            return _packed(value, None if dtype is None else dtype_arg("convert_to_tensor", dtype),
                           "convert_to_tensor")
        except (TypeError, ValueError) as e:
            raise op_error(e, "convert_to_tensor") from None
    if isinstance(value, Tensor):
        if dtype is not None and dtype_arg("convert_to_tensor", dtype) != value.dtype:
            # TensorFlow's ValueError, which is also the TypeError of a wrong dtype
            raise invalid_argument(TypeError)(f"convert_to_tensor: Tensor conversion requested dtype "
                                              f"{_dt.as_dtype(dtype).name} for a tensor of dtype {value.dtype.name}")
        return value
    try:
        return constant(value, dtype if dtype is not None else None if dtype_hint is None else dtype_hint)
    except (TypeError, ValueError) as e:
        raise op_error(e, "convert_to_tensor") from None


def _shape(shape, op) -> tuple:
    shape = tuple(int_list(op, shape))
    if any(d < 0 for d in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def _filled(shape, value, dtype, op) -> Tensor:
    dt = dtype_arg(op, dtype)
    return place(np.full(_shape(shape, op), value, dtype=dt.np))


def zeros(shape, dtype=_dt.float32, name=None) -> Tensor:
    """A tensor of zeros."""
    return _filled(shape, 0, dtype, "zeros")


def ones(shape, dtype=_dt.float32, name=None) -> Tensor:
    """A tensor of ones."""
    return _filled(shape, 1, dtype, "ones")


def _like(x, value, dtype, op):
    from .ops import _in
    x = _in(x, op)
    dt = x.dtype if dtype is None else dtype_arg(op, dtype)
    if isinstance(x, Tracer) or current_trace() is not None:
        return cast(broadcast_to(cast(value, dt), x.aval.shape), dt)
    if type(x) is not Tensor and STATE.device is None:
        # on an accelerator: made there, as TensorFlow runs the op on its input's device
        from .devices import device
        with device(x.device):
            return _filled(x.aval.shape, value, dt, op)
    return _filled(x.aval.shape, value, dt, op)


def zeros_like(input, dtype=None, name=None) -> Tensor:  # noqa: A002
    """Zeros with the shape (and by default the dtype) of ``input``."""
    return _like(input, 0, dtype, "zeros_like")


def ones_like(input, dtype=None, name=None) -> Tensor:  # noqa: A002
    """Ones with the shape (and by default the dtype) of ``input``."""
    return _like(input, 1, dtype, "ones_like")


def fill(dims, value, name=None) -> Tensor:
    """A tensor of shape ``dims`` filled with ``value`` (its dtype)."""
    try:
        v = constant(value)
    except (TypeError, ValueError) as e:
        raise op_error(e, "fill") from None
    if v.ndim:
        raise ValueError(f"fill: value must be a scalar, got shape {v.aval.shape}")
    return constant(v, shape=_shape(dims, "fill"))


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None) -> Tensor:
    """Identity matrix (optionally batched)."""
    rows, cols = _shape((num_rows, num_rows if num_columns is None else num_columns), "eye")
    batch = () if batch_shape is None else _shape(batch_shape, "eye")
    m = np.eye(rows, cols, dtype=dtype_arg("eye", dtype).np)
    if batch:
        m = np.broadcast_to(m, batch + m.shape).copy()
    return place(m)


def range(start, limit=None, delta=1, dtype=None, name="range") -> Tensor:  # noqa: A001
    """Like Python's range: ``range(5)``, ``range(1, 10, 2)``; floats allowed."""
    if limit is None:
        start, limit = 0, start
    args = (start, limit, delta)
    vals = [_range_value(v) for v in args]
    if vals[2] == 0:
        raise ValueError("range: delta must not be zero")
    dtype = _range_dtype(args, vals) if dtype is None else dtype_arg("range", dtype)
    if dtype.is_bool:
        raise TypeError("range: dtype must be numeric, got bool")
    if dtype.is_integer and any(isinstance(v, float) and not v.is_integer() for v in vals):
        raise TypeError(f"range: cannot use the non-integer bounds {vals} with dtype {dtype.name}")
    out = np.arange(*vals)
    if dtype.is_integer and out.size:
        _check_fits(np.array([out[0], out[-1]]), dtype, "range")
    return place(out.astype(dtype.np))


_RANGE_DTYPES = (_dt.int32, _dt.int64, _dt.float16, _dt.float32, _dt.float64)


def _range_dtype(args, vals) -> _dt.DType:
    """TensorFlow's rule: the widest of the arguments' dtypes in int32 < int64 < float16 < float32 < float64
    (a Python int is int32, or int64 when it does not fit; a Python float is float32; narrower ints int32)."""
    def of(a, v):
        if isinstance(a, (Tensor, np.generic)):  # a NumPy scalar keeps its dtype, as a tensor does
            dt = _dt.as_dtype(a.dtype)
            return dt if dt in _RANGE_DTYPES else _dt.int32  # int8, int16, uint8
        if isinstance(v, float):
            return _dt.float32
        return _dt.int32 if -2**31 <= v < 2**31 else _dt.int64
    return max((of(a, v) for a, v in zip(args, vals)), key=_RANGE_DTYPES.index)


def _range_value(v):
    """A ``range`` bound as a Python int or float (from a number or a concrete scalar tensor)."""
    if isinstance(v, Tracer):
        v._concrete("range with a traced start, limit or delta")
    if isinstance(v, Tensor) and v.ndim == 0 and not v.dtype.is_bool:
        return v._value.item()
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        return v.item() if isinstance(v, np.generic) else v
    raise TypeError(f"range: start, limit and delta must be numbers, got {v!r:.60} of type {type(v).__name__}")


def linspace(start, stop, num, name=None, axis=0) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    from .ops import _in, _is_int
    s, e = _in(start, "linspace"), _in(stop, "linspace")
    if isinstance(s, Tracer) or isinstance(e, Tracer):
        (s if isinstance(s, Tracer) else e)._concrete("linspace with a traced start or stop")
    if not _is_int(num) or int(num) < 0:
        raise (TypeError if not _is_int(num) else ValueError)(f"linspace: num must be a non-negative integer, "
                                                             f"got {num!r:.60}")
    if s.dtype.is_bool or e.dtype.is_bool:
        raise TypeError(f"linspace: start and stop must be numbers, got dtypes {s.dtype.name} and {e.dtype.name}")
    # integer bounds: float64 for 32/64-bit, float32 for 8/16-bit ones (TensorFlow's, as for division)
    dt = s.dtype if s.dtype.is_floating else _dt.float64 if s.dtype.itemsize >= 4 else _dt.float32
    try:
        out = np.linspace(s._value, e._value, int(num), axis=axis_arg("linspace", axis))
    except ValueError as err:  # start and stop that do not broadcast, or an axis out of range
        raise ValueError(f"linspace: {err} (start shape {s.aval.shape}, stop shape {e.aval.shape}, axis {axis})") \
            from None
    return place(out.astype(dt.np))




register_converter(object, _operand)  # ops accept nested lists and arrays wherever they take a tensor


def is_tensor(x: Any) -> bool:
    """Is ``x`` a jaxish tensor or Variable (``tf.is_tensor``; a NumPy array is not)?"""
    return isinstance(x, Tensor) or is_variable(x)
