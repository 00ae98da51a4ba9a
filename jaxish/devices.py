"""Device names and the ``with jaxish.device(...)`` scope."""
from __future__ import annotations

import re
import warnings

from .core import CPU_DEVICE, STATE

_GPU_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:{}"
_PATTERN = re.compile(r"^(?:/job:localhost/replica:0/task:0)?(?:/device:|/)?(cpu|gpu|CPU|GPU):(\d+)$")
_VALID = "'/cpu:0', '/gpu:0', '/device:CPU:0', '/device:GPU:0', 'CPU:0', 'GPU:0'"
_warned = set()


def gpu_available() -> bool:
    return False  # the CUDA backend lands in a later issue


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
    if gpu_available():  # pragma: no cover
        return _GPU_DEVICE.format(idx)
    from . import config
    if not config.get_soft_device_placement():
        raise RuntimeError(f"device: {name!r} was requested but no GPU is available and soft device placement "
                           f"is off (jaxish.config.set_soft_device_placement(True) places it on the CPU)")
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"No GPU is available: ops placed on {name!r} run on the CPU (soft device placement).",
                      RuntimeWarning, stacklevel=3)
    return CPU_DEVICE


class device:
    """Context manager placing the results of ops on a device.

    Examples
    --------
    >>> with jaxish.device('/cpu:0'):
    ...     y = jaxish.identity(x)
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
