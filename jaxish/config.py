"""Runtime configuration: every ``JAXISH_*`` environment variable, parsed once, and the cache limits.

Each setting has an environment variable that sets its initial value, read
once when ``jaxish`` is imported (an empty value counts as unset); changing
the variable later has no effect: use the setter. A value that cannot be
parsed raises a ``ValueError`` naming the variable at import.

======================================  =====================  ============================================
environment variable                    default                accessor / setter
======================================  =====================  ============================================
``JAXISH_BACKEND``                      ``cpu``                :func:`get_backend` / :func:`set_backend`
``JAXISH_COMPILE_WORKER``               on                     :func:`get_compile_worker` /
                                                               :func:`set_compile_worker`
``JAXISH_COMPILE_WORKER_TIMEOUT``       600 (seconds)          :func:`compile_worker_timeout` /
                                                               :func:`set_compile_worker_timeout`
``JAXISH_DISK_CACHE``                   on                     :func:`disk_cache_enabled` / :func:`set_disk_cache`
``JAXISH_CACHE_DIR``                    ``~/.cache/jaxish``    :func:`cache_dir` / :func:`set_cache_dir`
``JAXISH_LOG_COMPILES``                 off                    :func:`log_compiles` / :func:`set_log_compiles`
``JAXISH_STRICT_BACKEND``               off                    :func:`strict_backend` / :func:`set_strict_backend`
``JAXISH_TRACEBACK_FILTERING``          on                     :func:`traceback_filtering` /
                                                               :func:`set_traceback_filtering`
``JAXISH_<LIMIT>`` (see below)          see below              :func:`cache_limit` / :func:`set_cache_limits`
======================================  =====================  ============================================

On/off variables take ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``
(any case). ``JAXISH_CACHE_DIR``'s default is ``$XDG_CACHE_HOME/jaxish`` when
``XDG_CACHE_HOME`` is set.

Cache limits (:func:`set_cache_limits`, :func:`get_cache_limits`). Every
in-memory cache is a bounded LRU (:class:`jaxish.lru.LRU`): when an insert
makes it exceed its limit, the least recently used entries are dropped; the
limit is read on every insert, so a change takes effect at the next insert
(a cache already larger than a new limit shrinks then). A limit of 0 keeps
nothing.

* ``executable_cache_size`` (``JAXISH_EXECUTABLE_CACHE_SIZE``, default 512):
  compiled graphs kept in memory;
* ``trace_cache_size`` (``JAXISH_TRACE_CACHE_SIZE``, default 256): signatures
  kept per traced function;
* ``vjp_cache_size`` (``JAXISH_VJP_CACHE_SIZE``, default 512): backward
  (VJP) graphs kept, by the structure of the graph they differentiate;
* ``aval_cache_size`` (``JAXISH_AVAL_CACHE_SIZE``, default 50000): results
  of abstract evaluation (an op's output shape and dtype for given input
  shapes, dtypes and parameters) kept;
* ``disk_cache_max_bytes`` (``JAXISH_CACHE_MAX_BYTES``, default 1 GiB; accepts
  suffixes ``K``, ``M``, ``G``, ``T``): size of the on-disk kernel cache, beyond
  which the least recently used modules are deleted.
"""
from __future__ import annotations

import math
import os
import sys
import types
from typing import Mapping

_VALID_BACKENDS = ("cpu", "interpreter")
_LIMITS = {  # name: (environment variable, default)
    "executable_cache_size": ("JAXISH_EXECUTABLE_CACHE_SIZE", 512),
    "trace_cache_size": ("JAXISH_TRACE_CACHE_SIZE", 256),
    "vjp_cache_size": ("JAXISH_VJP_CACHE_SIZE", 512),
    "aval_cache_size": ("JAXISH_AVAL_CACHE_SIZE", 50_000),
    "disk_cache_max_bytes": ("JAXISH_CACHE_MAX_BYTES", 1 << 30),
}
_FLAGS = {  # name: (environment variable, default)
    "compile_worker": ("JAXISH_COMPILE_WORKER", True),
    "disk_cache": ("JAXISH_DISK_CACHE", True),
    "log_compiles": ("JAXISH_LOG_COMPILES", False),
    "strict_backend": ("JAXISH_STRICT_BACKEND", False),
    "traceback_filtering": ("JAXISH_TRACEBACK_FILTERING", True),
}
_DEFAULT_TIMEOUT_S = 600.0

#: Every environment variable jaxish reads (all of them here, at import).
VARIABLES = ("JAXISH_BACKEND", "JAXISH_CACHE_DIR", "JAXISH_COMPILE_WORKER_TIMEOUT",
             *(env for env, _ in _FLAGS.values()), *(env for env, _ in _LIMITS.values()))

_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


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


def _parse_flag(env: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"config: {env} must be one of {'/'.join(_TRUE)} (on) or {'/'.join(_FALSE)} (off), "
                     f"got {raw!r}")


def _parse_timeout(value, source: str = "") -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if isinstance(value, bool) or not (0 < t < math.inf):
        raise ValueError(f"config: compile_worker_timeout{source} must be a positive number of seconds, "
                         f"got {value!r}")
    return t


def _check_backend(value, source: str = "") -> str:
    if value not in _VALID_BACKENDS:
        raise ValueError(f"config: unknown backend {value!r}{source}; valid backends are {', '.join(_VALID_BACKENDS)}")
    return value


def _default_cache_dir(environ: Mapping[str, str]) -> str:
    root = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "jaxish")


class _Config:
    """The current settings; ``_Config(environ)`` parses them from ``environ`` (``os.environ`` at import)."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ

        def raw(name: str) -> str | None:
            value = env.get(name)
            return None if value is None or value.strip() == "" else value

        backend = raw("JAXISH_BACKEND")
        self._backend = "cpu" if backend is None else _check_backend(backend.strip(), " (JAXISH_BACKEND)")
        self.soft_device_placement = True
        for name, (var, default) in _FLAGS.items():
            value = raw(var)
            setattr(self, name, default if value is None else _parse_flag(var, value))
        timeout = raw("JAXISH_COMPILE_WORKER_TIMEOUT")
        self.compile_worker_timeout = (_DEFAULT_TIMEOUT_S if timeout is None else
                                       _parse_timeout(timeout.strip(), " (JAXISH_COMPILE_WORKER_TIMEOUT)"))
        self.default_cache_dir = _default_cache_dir(env)
        self.cache_dir = raw("JAXISH_CACHE_DIR") or self.default_cache_dir
        self.limits = {}
        for name, (var, default) in _LIMITS.items():
            value = raw(var)
            self.limits[name] = default if value is None else _parse_limit(name, value, f" ({var})")

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        self._backend = _check_backend(value)


_config = _Config()


def set_backend(value: str) -> None:
    """Select the backend that compiles graphs: ``'cpu'`` or ``'interpreter'`` (``JAXISH_BACKEND``)."""
    _config.backend = value


def get_backend() -> str:
    return _config.backend


def set_soft_device_placement(enabled: bool) -> None:
    """When on (the default), an op placed on an unavailable device runs on the CPU."""
    _config.soft_device_placement = bool(enabled)


def get_soft_device_placement() -> bool:
    return _config.soft_device_placement


class Device(tuple):
    """One device: ``name`` (what ``jaxish.device`` and ``Tensor.device`` use), ``device_type`` (``'CPU'``,
    ``'GPU'``) and ``description``."""

    def __new__(cls, name: str, device_type: str, description: str):
        obj = super().__new__(cls, (name, device_type, description))
        obj.name, obj.device_type, obj.description = name, device_type, description
        return obj

    def __repr__(self) -> str:
        return f"Device(name={self.name!r}, device_type={self.device_type!r}, description={self.description!r})"


def list_devices(device_type: str | None = None) -> list:
    """The devices jaxish can run on (``device_type``: ``'CPU'`` or ``'GPU'`` to list only those).

    The GPUs are those the CUDA backend can use: numba-cuda installed and a
    GPU present (or Numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``); only
    GPU 0 computes so far. ``jaxish.devices.gpu_unavailable_reason()`` says
    why there is none.
    """
    import platform

    from .backends.cuda import available, runtime
    from .core import CPU_DEVICE
    out = [Device(CPU_DEVICE, "CPU", platform.processor() or platform.machine() or "CPU")]
    if available():
        out.append(Device("/job:localhost/replica:0/task:0/device:GPU:0", "GPU", runtime.device_description(0)))
    if device_type is not None:
        out = [d for d in out if d.device_type == str(device_type).upper()]
    return out


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


def set_compile_worker_timeout(seconds: float) -> None:
    """Seconds the compile worker may take for one request, its start included (``JAXISH_COMPILE_WORKER_TIMEOUT``,
    default 600); past it the worker is killed and the graph compiled in this process."""
    _config.compile_worker_timeout = _parse_timeout(seconds)


def compile_worker_timeout() -> float:
    return _config.compile_worker_timeout


def set_disk_cache(enabled: bool) -> None:
    """Keep generated modules and their machine code on disk (the default; ``JAXISH_DISK_CACHE=0`` turns it off).

    Applies to modules loaded from now on.
    """
    _config.disk_cache = bool(enabled)


def disk_cache_enabled() -> bool:
    return _config.disk_cache


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """The directory of the on-disk kernel cache (``JAXISH_CACHE_DIR``); ``None`` restores the default,
    ``$XDG_CACHE_HOME/jaxish`` or ``~/.cache/jaxish``. Applies to modules loaded from now on."""
    path = None if path is None else os.fspath(path)
    _config.cache_dir = path or _config.default_cache_dir


def cache_dir() -> str:
    return _config.cache_dir


def set_log_compiles(enabled: bool) -> None:
    """Log each trace and compile, with its reason, on the ``jaxish`` logger (``JAXISH_LOG_COMPILES``, default off)."""
    _config.log_compiles = bool(enabled)


def log_compiles() -> bool:
    return _config.log_compiles


def set_strict_backend(enabled: bool) -> None:
    """Raise when the cpu backend fails to compile a graph instead of running it on the interpreter with a
    warning (``JAXISH_STRICT_BACKEND``, default off; the test suite turns it on)."""
    _config.strict_backend = bool(enabled)


def strict_backend() -> bool:
    return _config.strict_backend


def set_traceback_filtering(enabled: bool) -> None:
    """Hide jaxish's own frames in tracebacks of errors raised through ``@trace``d functions and ``make_graph``
    (``JAXISH_TRACEBACK_FILTERING``, default on; off shows every frame, to debug jaxish itself)."""
    _config.traceback_filtering = bool(enabled)


def traceback_filtering() -> bool:
    return _config.traceback_filtering


def set_cache_limits(executable_cache_size: int | None = None, trace_cache_size: int | None = None,
                     disk_cache_max_bytes: int | str | None = None, *, vjp_cache_size: int | None = None,
                     aval_cache_size: int | None = None) -> None:
    """Bound jaxish's caches (``None`` leaves a limit unchanged).

    In-memory caches drop their least recently used entries when an insert
    takes them past their limit (read on every insert).

    Parameters
    ----------
    executable_cache_size : int, optional
        Compiled graphs kept in memory (``JAXISH_EXECUTABLE_CACHE_SIZE``, default 512).
    trace_cache_size : int, optional
        Signatures kept per traced function (``JAXISH_TRACE_CACHE_SIZE``, default 256).
    disk_cache_max_bytes : int or str, optional
        Size of the on-disk kernel cache (``'1G'``, ``'512M'`` or bytes; ``JAXISH_CACHE_MAX_BYTES``, default 1 GiB).
    vjp_cache_size : int, optional
        Backward (VJP) graphs kept (``JAXISH_VJP_CACHE_SIZE``, default 512).
    aval_cache_size : int, optional
        Abstract-evaluation results kept (``JAXISH_AVAL_CACHE_SIZE``, default 50000).
    """
    given = {"executable_cache_size": executable_cache_size, "trace_cache_size": trace_cache_size,
             "disk_cache_max_bytes": disk_cache_max_bytes, "vjp_cache_size": vjp_cache_size,
             "aval_cache_size": aval_cache_size}
    parsed = {k: _parse_limit(k, v) for k, v in given.items() if v is not None}
    _config.limits.update(parsed)


def get_cache_limits() -> dict:
    """The current cache limits, as a dict (see :func:`set_cache_limits`)."""
    return dict(_config.limits)


def cache_limit(name: str) -> int:
    """The current value of one cache limit (a name :func:`set_cache_limits` takes)."""
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
