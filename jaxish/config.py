"""Runtime configuration: backend choice, soft device placement and cache limits.

``jaxish.config.backend`` is ``'cpu'`` (Numba, the default) or
``'interpreter'`` (the NumPy reference); the environment variable
``JAXISH_BACKEND`` sets the initial value.

``set_compile_worker`` (``JAXISH_COMPILE_WORKER``, default on) compiles cold
graphs in a helper process (see :mod:`jaxish.backends.cpu.compile_worker`).

Cache limits (see :func:`set_cache_limits`; each has an environment variable
that sets its initial value):

* ``executable_cache_size`` (``JAXISH_EXECUTABLE_CACHE_SIZE``, default 512):
  compiled graphs kept in memory, least recently used dropped first;
* ``trace_cache_size`` (``JAXISH_TRACE_CACHE_SIZE``, default 256): signatures
  kept per traced function;
* ``disk_cache_max_bytes`` (``JAXISH_CACHE_MAX_BYTES``, default 1 GiB; accepts
  suffixes ``K``, ``M``, ``G``): size of the on-disk kernel cache, beyond which
  the least recently used modules are deleted.
"""
from __future__ import annotations

import os
import sys
import types

_VALID_BACKENDS = ("cpu", "interpreter")
_LIMITS = {  # name: (environment variable, default)
    "executable_cache_size": ("JAXISH_EXECUTABLE_CACHE_SIZE", 512),
    "trace_cache_size": ("JAXISH_TRACE_CACHE_SIZE", 256),
    "disk_cache_max_bytes": ("JAXISH_CACHE_MAX_BYTES", 1 << 30),
}
_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_limit(name: str, value, source: str = "") -> int:
    """A non-negative int from an int or a string such as ``'512M'`` (``source``: where it came from)."""
    text = str(value).strip()
    scale = 1
    if name == "disk_cache_max_bytes" and text[-1:].upper() in _SUFFIXES:
        text, scale = text[:-1], _SUFFIXES[text[-1].upper()]
    try:
        n = int(text) * scale
    except ValueError:
        n = -1
    if n < 0 or isinstance(value, bool):
        raise ValueError(f"config: {name}{source} must be a non-negative integer, got {value!r}")
    return n


class _Config:
    def __init__(self):
        self._backend = os.environ.get("JAXISH_BACKEND", "cpu")
        if self._backend not in _VALID_BACKENDS:
            raise ValueError(f"JAXISH_BACKEND={self._backend!r} is not one of {_VALID_BACKENDS}")
        self.soft_device_placement = True
        self.compile_worker = os.environ.get("JAXISH_COMPILE_WORKER", "1").strip().lower() not in (
            "0", "false", "no", "off")
        self.limits = {}
        for name, (env, default) in _LIMITS.items():
            raw = os.environ.get(env)
            self.limits[name] = default if raw in (None, "") else _parse_limit(name, raw, f" ({env})")

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


def set_compile_worker(enabled: bool) -> None:
    """Compile cold graphs in a helper process (the default; ``JAXISH_COMPILE_WORKER=0`` turns it off).

    With the disk cache enabled and writable, a graph whose machine code is not
    on disk yet is compiled by a long-lived worker process and loaded from the
    cache, so that LLVM's compile-time memory (about 1 MB per compilation,
    never freed) is not kept by this process. Any failure of the worker falls
    back to compiling in this process.
    """
    _config.compile_worker = bool(enabled)


def get_compile_worker() -> bool:
    return _config.compile_worker


def set_cache_limits(executable_cache_size: int | None = None, trace_cache_size: int | None = None,
                     disk_cache_max_bytes: int | str | None = None) -> None:
    """Bound jaxish's caches (``None`` leaves a limit unchanged).

    Parameters
    ----------
    executable_cache_size : int, optional
        Compiled graphs kept in memory (least recently used dropped first).
    trace_cache_size : int, optional
        Signatures kept per traced function.
    disk_cache_max_bytes : int or str, optional
        Size of the on-disk kernel cache (``'1G'``, ``'512M'`` or bytes).
    """
    given = {"executable_cache_size": executable_cache_size, "trace_cache_size": trace_cache_size,
             "disk_cache_max_bytes": disk_cache_max_bytes}
    parsed = {k: _parse_limit(k, v) for k, v in given.items() if v is not None}
    _config.limits.update(parsed)


def get_cache_limits() -> dict:
    """The current cache limits, as a dict (see :func:`set_cache_limits`)."""
    return dict(_config.limits)


def cache_limit(name: str) -> int:
    return _config.limits[name]


class _ConfigModule(types.ModuleType):
    """Lets ``jaxish.config.backend = 'interpreter'`` validate and take effect."""

    @property
    def backend(self) -> str:
        return _config.backend

    @backend.setter
    def backend(self, value: str) -> None:
        _config.backend = value


sys.modules[__name__].__class__ = _ConfigModule
