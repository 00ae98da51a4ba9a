"""Runtime configuration: backend choice and soft device placement.

``jaxish.config.backend`` is ``'cpu'`` (Numba, the default) or
``'interpreter'`` (the NumPy reference); the environment variable
``JAXISH_BACKEND`` sets the initial value.
"""
from __future__ import annotations

import os
import sys
import types

_VALID_BACKENDS = ("cpu", "interpreter")


class _Config:
    def __init__(self):
        self._backend = os.environ.get("JAXISH_BACKEND", "cpu")
        if self._backend not in _VALID_BACKENDS:
            raise ValueError(f"JAXISH_BACKEND={self._backend!r} is not one of {_VALID_BACKENDS}")
        self.soft_device_placement = True

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in _VALID_BACKENDS:
            raise ValueError(f"unknown backend {value!r}; valid backends are {', '.join(_VALID_BACKENDS)}")
        self._backend = value


_config = _Config()


def set_backend(value: str) -> None:
    """Select the backend that compiles graphs: ``'cpu'`` or ``'interpreter'``."""
    _config.backend = value


def get_backend() -> str:
    return _config.backend


def set_soft_device_placement(enabled: bool) -> None:
    """When on (the default), an op placed on an unavailable device runs on the CPU."""
    _config.soft_device_placement = bool(enabled)


def get_soft_device_placement() -> bool:
    return _config.soft_device_placement


class _ConfigModule(types.ModuleType):
    """Lets ``jaxish.config.backend = 'interpreter'`` validate and take effect."""

    @property
    def backend(self) -> str:
        return _config.backend

    @backend.setter
    def backend(self, value: str) -> None:
        _config.backend = value


sys.modules[__name__].__class__ = _ConfigModule
