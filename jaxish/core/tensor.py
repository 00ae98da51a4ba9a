"""Tensors (concrete, immutable arrays) and Tracers (symbolic tensors of a graph trace)."""
from __future__ import annotations

import threading

import numpy as np

from .. import dtypes as _dt
from ..errors import ConcretizationError
from ..ir import ShapedArray, Var

CPU_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"


class Tensor:
    """An immutable n-dimensional array with a dtype and a device."""

    __slots__ = ("_value", "_weak", "_device", "_aval", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value: np.ndarray, weak: bool = False, device: str = CPU_DEVICE, aval=None):
        # ``aval``: the abstract value, when the caller knows it equals ``value``'s (shape, dtype) with ``weak``
        self._value = value
        self._weak = weak
        self._device = device
        self._aval = aval

    # -- abstract properties (shared with tracers) --
    @property
    def aval(self) -> ShapedArray:
        a = self._aval
        if a is None:
            a = self._aval = shaped_array_of(self._value, self._weak)
        return a

    @property
    def shape(self):
        from ..tensor_shape import TensorShape
        return TensorShape(self.aval.shape)

    @property
    def dtype(self) -> _dt.DType:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    @property
    def device(self) -> str:
        return self._device

    # -- concrete access --
    def numpy(self) -> np.ndarray:
        """A copy of the value as a NumPy array, a NumPy scalar (``np.float32(5.0)``) for a 0-d tensor, as
        ``tf.Tensor.numpy``; the Tensor stays immutable."""
        v = self._value
        return v[()] if v.ndim == 0 else v.copy()

    def __array__(self, dtype=None, copy=None):
        v = self._value
        if dtype is not None:
            return v.astype(dtype)
        if copy:
            return v.copy()
        # no copy, but read-only for good: a view of a read-only buffer cannot be made writeable again
        # (``view.flags.writeable = True`` on a plain view would hand out the Tensor's memory, which
        # compiled executables may share between calls, e.g. for a constant output)
        return np.asarray(memoryview(v).toreadonly())

    def __len__(self) -> int:
        if not self.aval.shape:
            raise TypeError("len() of unsized object: a scalar Tensor has no len()")
        return self.aval.shape[0]

    def __iter__(self):
        if not self.aval.shape:
            raise TypeError("iteration over a 0-d Tensor")
        return (self[i] for i in range(self.aval.shape[0]))

    # NumPy's conversions of the value, as TensorFlow's: bool() of one element (ValueError for more),
    # float(), int() and index of a 0-d tensor only (TypeError otherwise)
    def __bool__(self) -> bool:
        v = self._value
        if v.size != 1:
            raise ValueError(f"bool() of a Tensor of shape {self.aval.shape} is ambiguous: it needs exactly one "
                             f"element (use reduce_any or reduce_all)")
        return bool(v.reshape(()).item())

    def _scalar(self, what: str):
        v = self._value
        if v.ndim != 0:
            raise TypeError(f"{what}() only converts a 0-d Tensor to a Python scalar, got shape {self.aval.shape}")
        return v.item()

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if not self.dtype.is_integer:
            raise TypeError(f"only integer Tensors can be used as an index, got {self.dtype}")
        return int(self._scalar("index"))

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        if spec:
            raise TypeError(f"format: the format spec {spec!r} needs a 0-d Tensor, got shape {self.aval.shape}")
        return str(self._value)

    def __repr__(self) -> str:
        from ..printing import tensor_repr
        return tensor_repr(self)

    def __str__(self) -> str:
        from ..printing import tensor_str
        return tensor_str(self)

    __hash__ = None  # elementwise __eq__ makes a Tensor unhashable (as in TensorFlow)

    def ref(self):
        """A hashable reference to this tensor, usable as a dict key."""
        from ..tensor_shape import Reference
        return Reference(self)

    def experimental_ref(self):
        return self.ref()

    def _with_weak(self, weak: bool) -> "Tensor":
        """The same value (the same buffer, on the same device) with another weak-type flag."""
        return Tensor(self._value, weak, self._device)


TRANSFERS = {"to_host": 0, "to_device": 0}
"""Copies between the host and an accelerator, counted by the device backend's copy functions (the only
ones it calls: ``backends/cuda/runtime.to_device``/``to_host``), which ``DeviceTensor._value`` (``numpy()``,
printing, ...) and the placement of host values on a device go through."""
_TRANSFERS_LOCK = threading.Lock()


def count_transfer(kind: str) -> None:
    with _TRANSFERS_LOCK:
        TRANSFERS[kind] += 1


class DeviceTensor(Tensor):
    """A Tensor whose value lives in an accelerator's memory.

    ``_dev`` is the device array (for the CUDA backend a ``numba.cuda`` device
    array, exactly of the tensor's shape, C-contiguous); ``_device`` the full
    device name. Ops on it run on its device (``core.trace.eval_primitive``
    hands them to the backend registered with :func:`set_device_evaluator`),
    so data stays there. Everything that needs the values on the host
    (``numpy()``, printing, ``float(x)``, and any code that reads ``_value``)
    gets a fresh host copy, counted in :data:`TRANSFERS`.
    """

    __slots__ = ("_dev",)

    def __init__(self, dev, aval: ShapedArray, device: str):
        self._dev = dev
        self._aval = aval
        self._weak = aval.weak_type
        self._device = device

    @property
    def _value(self) -> np.ndarray:
        """A host copy of the value (a device-to-host transfer, counted by the backend's copy function)."""
        from .placement import to_host
        return np.asarray(to_host(self._dev)).reshape(self._aval.shape)

    @property
    def __cuda_array_interface__(self) -> dict:
        """The device buffer, for CuPy, PyTorch and Numba (no copy; read it, never write it)."""
        cai = getattr(self._dev, "__cuda_array_interface__", None)
        if cai is None:  # Numba's CUDA simulator keeps "device" arrays in host memory: describe that buffer
            ai = self._dev.__array_interface__
            cai = {"shape": ai["shape"], "strides": ai["strides"], "typestr": ai["typestr"], "data": ai["data"],
                   "version": 3, "stream": None}
        return cai

    def numpy(self) -> np.ndarray:
        v = self._value
        return v[()] if v.ndim == 0 else v

    def __array__(self, dtype=None, copy=None):
        v = self._value  # a fresh copy: nothing else holds it
        return v if dtype is None else v.astype(dtype)

    def _with_weak(self, weak: bool) -> "Tensor":
        return DeviceTensor(self._dev, self._aval.strip_weak() if not weak else
                            ShapedArray(self._aval.shape, self._aval.dtype, True), self._device)


_AVALS: dict = {}  # (shape, NumPy dtype, weak) -> ShapedArray: one object per abstract value in use


def shaped_array_of(value: np.ndarray, weak: bool) -> ShapedArray:
    """The abstract value of an array, the same object for equal ones (caches keyed by avals then find their
    entries by identity); the table is emptied when it holds 4096 of them."""
    key = (value.shape, value.dtype, weak)
    a = _AVALS.get(key)
    if a is None:
        a = _intern(key, ShapedArray(value.shape, _dt.from_numpy(value.dtype), weak))
    return a


def _intern(key: tuple, aval: ShapedArray) -> ShapedArray:
    """``_AVALS``'s object for ``key``, ``aval`` if it has none (the table is emptied at 4096 entries)."""
    if len(_AVALS) >= 4096:
        _AVALS.clear()
    return _AVALS.setdefault(key, aval)


def interned(aval: ShapedArray) -> ShapedArray:
    """The object :func:`shaped_array_of` gives for arrays of ``aval``'s shape, dtype and weak type (``aval``
    itself if there is none yet): a Tensor made with it compares by identity with one whose aval was computed."""
    key = (aval.shape, aval.dtype.np, aval.weak_type)
    a = _AVALS.get(key)
    if a is None:
        a = _intern(key, aval)
    return a if a.dtype is aval.dtype else aval


class Tracer(Tensor):
    """A symbolic tensor inside a graph trace: it has an abstract value only."""

    __slots__ = ("_trace", "_var")

    def __init__(self, trace, var: Var):
        self._trace = trace
        self._var = var
        self._weak = var.aval.weak_type
        self._device = trace.device
        self._aval = var.aval

    def _concrete(self, what: str):
        self._trace.check_alive(self)
        raise ConcretizationError(self._trace.concretization_message(self, what))

    def numpy(self):
        self._concrete("x.numpy()")

    def __array__(self, dtype=None, copy=None):
        self._concrete("np.asarray(x)")

    def __bool__(self):
        self._concrete("bool(x) (an `if` or `while` on a traced value)")

    def __float__(self):
        self._concrete("float(x)")

    def __int__(self):
        self._concrete("int(x)")

    def __index__(self):
        self._concrete("using a traced value as a Python index")

    def __format__(self, spec):
        if spec:
            self._concrete("formatting a traced value")
        return repr(self)

    def __repr__(self) -> str:
        return f"<jaxish.Tracer: shape={self.aval.shape}, dtype={self.dtype.name}, in trace of {self._trace.name}>"

    __str__ = __repr__


class VariableBase:
    """What the core knows of a mutable Variable (``jaxish.Variable`` derives from it).

    The core never imports the front end: it recognises Variables by this base
    class and reads them with :func:`jaxish.core.convert.read_variable`, which
    uses ``_value`` (the current value, a Tensor) outside traces.
    """

    __slots__ = ()
    _value: Tensor
