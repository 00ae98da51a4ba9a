"""Device names, the ``with jaxish.device(...)`` scope and placing host values on a device.

``'/gpu:N'`` names a GPU run by the CUDA backend (``backends/cuda``) when the
numba-cuda package is installed and finds a GPU (or Numba's CUDA simulator,
``NUMBA_ENABLE_CUDASIM=1``); jaxish computes on GPU 0 only so far. Without
one, soft device placement (the default) puts such ops on the CPU with a
one-time warning that says why, and turns it into an error when off.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from .core import CPU_DEVICE, STATE, Tensor, is_variable

_GPU_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:{}"
_PATTERN = re.compile(r"^(?:/job:localhost/replica:0/task:0)?(?:/device:|/)?(cpu|gpu|CPU|GPU):(\d+)$")
_VALID = "'/cpu:0', '/gpu:0', '/device:CPU:0', '/device:GPU:0', 'CPU:0', 'GPU:0'"
_warned = set()


def gpu_available() -> bool:
    """Is GPU 0 usable (numba-cuda installed and a GPU, or its simulator, present)?"""
    from .backends.cuda import available
    return available()


def gpu_unavailable_reason() -> str:
    """Why no GPU is usable ('' when one is)."""
    from .backends.cuda import status
    return status()[1]


def _gpu_reason(idx: int) -> str:
    """Why ``GPU:idx`` cannot be used ('' when it can)."""
    if not gpu_available():
        return gpu_unavailable_reason()
    if idx != 0:
        return f"jaxish computes on GPU 0 only so far, GPU {idx} was requested"
    return ""


def canonical(name: str) -> str:
    """The full device name for ``name``; raises ValueError for an unknown device."""
    if not isinstance(name, str):
        raise TypeError(f"device: expected a device string, got {name!r}")
    m = _PATTERN.match(name.strip())
    if not m:
        raise ValueError(f"device: unknown device {name!r}; valid devices look like {_VALID}")
    kind, idx = m.group(1).upper(), int(m.group(2))
    if kind == "CPU":
        if idx != 0:
            raise ValueError(f"device: there is only one CPU device ('/cpu:0'), got {name!r}")
        return CPU_DEVICE
    why = _gpu_reason(idx)
    if not why:
        return _GPU_DEVICE.format(idx)
    from . import config
    if not config.get_soft_device_placement():
        raise RuntimeError(f"device: {name!r} was requested but no GPU is usable for it ({why}), and soft device "
                           f"placement is off (jaxish.config.set_soft_device_placement(True) places it on the CPU)")
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"No usable GPU for {name!r} ({why}): ops placed on it run on the CPU (soft device "
                      f"placement).", RuntimeWarning, stacklevel=3)
    return CPU_DEVICE


class device:
    """Context manager placing ops and the tensors they create on a device.

    Examples
    --------
    >>> with jaxish.device('/gpu:0'):
    ...     y = jaxish.identity(x)      # a copy of x on the GPU
    """

    def __init__(self, name: str):
        self.name = canonical(name) if name is not None else None

    def __enter__(self):
        self._saved = STATE.device
        STATE.device = self.name
        return self

    def __exit__(self, *exc):
        STATE.device = self._saved


def resolve_current() -> str:
    return STATE.device or CPU_DEVICE


def accelerator_of(values) -> str | None:
    """The device of the first of ``values`` (Tensors or Variables; other values count as host values) that is
    on an accelerator, or None: where values a computation makes for them belong (its indices, its random
    state), so that they need no implicit copy there."""
    for x in values:
        dev = x.device if isinstance(x, Tensor) or is_variable(x) else CPU_DEVICE
        if dev != CPU_DEVICE:
            return dev
    return None


def place(array: np.ndarray, weak: bool = False) -> Tensor:
    """A Tensor holding ``array`` (which it owns from now on) on the current device."""
    dev = STATE.device
    if dev is None or dev == CPU_DEVICE:
        return Tensor(array, weak, CPU_DEVICE)
    from .backends.cuda.placement import to_device_tensor
    return to_device_tensor(array, weak, dev)


def copy_to(t: Tensor, device_name: str) -> Tensor:
    """``t`` on the device ``device_name`` (a full name; ``t`` itself when it is there)."""
    if t._device == device_name:
        return t
    from .backends.cuda.placement import copy_to as _copy_to
    return _copy_to(t, device_name)
