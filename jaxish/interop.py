"""Interoperability: DLPack export and import (``Tensor.__dlpack__``, :func:`from_dlpack`) and the NumPy
protocols of traced values.

* **Export** (``np.from_dlpack(t)``, ``torch.from_dlpack(t)``, ``jax.dlpack.from_dlpack(t)``, and
  ``torch.tensor(t)`` / ``torch.as_tensor(t)``, which use it): zero copy. The buffer is exported read-only
  (DLPack 1.0's flag) because Tensors are immutable; a consumer that asks for the pre-1.0 protocol, which
  cannot say read-only, gets a copy (``copy=False`` then raises ``BufferError``). PyTorch ignores the flag:
  do not write into a torch tensor that shares a jaxish tensor's memory (``torch.tensor(t)`` copies;
  ``torch.as_tensor(t)`` and ``torch.from_dlpack(t)`` share).
* **Import** (``jaxish.from_dlpack(x)``): any object with ``__dlpack__`` on the CPU (NumPy arrays, torch and
  JAX CPU tensors), zero copy unless ``copy=True``. The Tensor then shares the producer's memory: if the
  producer changes it in place (``torch_tensor.add_(1)``), the Tensor changes too -- pass ``copy=True`` to own
  the values.
* GPU tensors (``DeviceTensor``) expose ``__cuda_array_interface__`` instead (README "GPU").
* **NumPy functions on traced values** (``np.sin(x)`` inside ``@trace``) raise a ``TypeError`` that names the
  jaxish function to use. On concrete tensors NumPy functions work through ``__array__`` and return NumPy
  arrays: the result leaves jaxish (no tape records it, no graph sees it). Two exceptions keep jaxish types:
  NumPy's operators (``ndarray + t``, ``np.float32(2) * t``) call the tensor's reflected operator; and
  ``np.sum``/``np.mean``/``np.max``/``np.min`` call the tensor's method (NumPy's rule for
  objects that have one), so they return Tensors, traced or not.
"""
from __future__ import annotations

import numpy as np

from .core import Tensor, Tracer
from .core.tensor import DeviceTensor

__all__ = ["from_dlpack"]

_KDL_CPU = 1
_KDL_CUDA = 2


def _dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """The DLPack capsule of the tensor's buffer (read-only, zero copy; see :mod:`jaxish.interop`)."""
    if isinstance(self, Tracer):
        self._concrete("DLPack export (np.from_dlpack(x), torch.as_tensor(x), x.__dlpack__())")
    if isinstance(self, DeviceTensor):
        raise BufferError("__dlpack__: this tensor is on a GPU, which jaxish exports through "
                          "__cuda_array_interface__ (torch.as_tensor(t, device='cuda'), cupy.asarray(t)); "
                          "or copy it to the host with t.numpy()")
    if dl_device is not None and tuple(dl_device)[0] != _KDL_CPU:
        raise BufferError(f"__dlpack__: jaxish CPU tensors cannot be exported to device {tuple(dl_device)}")
    kwargs = {} if max_version is None else {"max_version": max_version}
    v = self._value
    if copy:
        return np.array(v, copy=True).__dlpack__(**kwargs)
    try:
        return np.asarray(memoryview(v).toreadonly()).__dlpack__(**kwargs)
    except BufferError:
        if copy is False:
            raise BufferError("__dlpack__: a jaxish Tensor is read-only, which only DLPack >= 1.0 can signal; this "
                              "consumer asked for an older version, so the tensor can only be exported as a copy "
                              "(copy=None or True)") from None
        return np.array(v, copy=True).__dlpack__(**kwargs)


def _dlpack_device(self) -> tuple:
    if isinstance(self, DeviceTensor):
        return (_KDL_CUDA, int(self._device.rsplit(":", 1)[-1]))
    return (_KDL_CPU, 0)


def from_dlpack(x, copy: bool | None = None) -> Tensor:
    """A Tensor from an object that implements DLPack on the CPU (NumPy, PyTorch, JAX, CuPy host arrays ...).

    Parameters
    ----------
    x : object with ``__dlpack__`` and ``__dlpack_device__``
    copy : bool, optional
        ``None`` (default) or ``False``: share ``x``'s memory (zero copy; ``False`` raises if that is not
        possible); ``True``: copy. A shared buffer changes when ``x`` is changed in place.
    """
    if isinstance(x, Tensor) and not isinstance(x, (Tracer, DeviceTensor)):
        return x if not copy else Tensor(np.array(x._value, copy=True), x._weak)
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(x).__name__} does not implement the DLPack protocol (__dlpack__); "
                        f"use jaxish.constant for arrays and lists")
    try:
        arr = np.from_dlpack(x, copy=copy)
    except (BufferError, RuntimeError, TypeError, ValueError) as e:
        dev = getattr(x, "__dlpack_device__", lambda: None)()
        where = f" (it is on DLPack device {dev}; only the CPU is supported: move it to the host first)" \
            if dev is not None and dev[0] != _KDL_CPU else ""
        raise type(e)(f"from_dlpack: cannot import a {type(x).__name__}{where}: {e}") from None
    return Tensor(arr)


# -- NumPy functions on traced values -------------------------------------------------------------------------------
_UFUNC_HINTS = {"true_divide": "divide", "power": "pow", "absolute": "abs", "arctan2": "atan2",
                "bitwise_and": "bitwise_and", "matmul": "matmul", "remainder": "mod", "floor_divide": "floordiv"}


def _tracer_array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy ufuncs on tracers raise with the jaxish name, except the operators' ufuncs (``ndarray + x`` and
    ``np.float32(2) * x`` call ``np.add``/``np.multiply`` here), which run as the jaxish op."""
    if method == "__call__" and ufunc.__name__ in _OPERATOR_UFUNCS and not kwargs and len(inputs) == 2:
        from . import ops
        return getattr(ops, _OPERATOR_UFUNCS[ufunc.__name__])(*inputs)
    name = _UFUNC_HINTS.get(ufunc.__name__, ufunc.__name__)
    import jaxish
    hint = f"use jaxish.{name}" if hasattr(jaxish, name) else "use the jaxish function of the same meaning"
    suffix = "" if method == "__call__" else f".{method}"
    self._trace.check_alive(self)
    raise TypeError(f"np.{ufunc.__name__}{suffix} cannot run on a traced value (shape={self.aval.shape}, "
                    f"dtype={self.dtype.name}, in trace of {self._trace.name}): NumPy needs concrete values; "
                    f"{hint}(x) instead")


_OPERATOR_UFUNCS = {"add": "add", "subtract": "subtract", "multiply": "multiply", "true_divide": "divide",
                    "divide": "divide", "floor_divide": "floordiv", "remainder": "mod", "power": "pow",
                    "matmul": "matmul", "equal": "equal", "not_equal": "not_equal", "less": "less",
                    "less_equal": "less_equal", "greater": "greater", "greater_equal": "greater_equal"}


_METHOD_FUNCTIONS = {"sum", "mean", "max", "min", "amax", "amin"}


def _tracer_array_function(self, func, types, args, kwargs):
    """NumPy functions on tracers raise with the jaxish name to use, except those NumPy implements by calling the
    array's method (``np.sum(x)`` -> ``x.sum()``), which run as the jaxish op, as they do on concrete tensors."""
    name = getattr(func, "__name__", str(func))
    impl = getattr(func, "_implementation", None)
    if name in _METHOD_FUNCTIONS and impl is not None:
        return impl(*args, **kwargs)
    import jaxish
    alt = {"mean": "reduce_mean", "sum": "reduce_sum", "max": "reduce_max", "min": "reduce_min", "amax": "reduce_max",
           "amin": "reduce_min", "prod": "reduce_prod", "concatenate": "concat", "clip": "clip_by_value",
           "argmax": "argmax", "dot": "matmul"}.get(name, name)
    hint = f"use jaxish.{alt}" if hasattr(jaxish, alt) else "use jaxish's functions"
    raise TypeError(f"np.{name} cannot run on a traced value (shape={self.aval.shape}, dtype={self.dtype.name}, "
                    f"in trace of {self._trace.name}): NumPy needs concrete values; {hint} instead")


def install() -> None:
    Tensor.__dlpack__ = _dlpack
    Tensor.__dlpack_device__ = _dlpack_device
    Tracer.__array_ufunc__ = _tracer_array_ufunc
    Tracer.__array_function__ = _tracer_array_function


install()
