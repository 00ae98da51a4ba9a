"""The on-disk cache of generated modules (and Numba's machine code beside them).

Each generated module is written to ``<cache dir>/<module>.py`` where the
module name holds the hash of its content; Numba's ``cache=True`` stores its
compiled code in ``__pycache__`` next to it, so a new process loads machine
code instead of compiling. Files are written atomically (temp file +
rename); a file whose content does not match its name (truncated, garbled
or foreign) is rewritten with a warning, never trusted.

``JAXISH_CACHE_DIR`` chooses the directory (default: the user's cache folder,
``~/.cache/jaxish``); ``JAXISH_DISK_CACHE=0`` disables the disk cache.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import types
import warnings

from ...errors import CacheWarning


def disk_cache_enabled() -> bool:
    return os.environ.get("JAXISH_DISK_CACHE", "1") not in ("0", "false", "False", "")


def cache_dir() -> str:
    base = os.environ.get("JAXISH_CACHE_DIR")
    if not base:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(root, "jaxish")
    return base


def _write_atomic(path: str, text: str) -> None:
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _ensure_file(name: str, source: str) -> str | None:
    """The path of an up-to-date file for ``name``, or None if the cache directory is unusable."""
    d = cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".py")
        try:
            with open(path) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            current = ""
        if current != source:
            if current is not None:
                warnings.warn(f"jaxish: the cache file {path} was damaged or foreign; rebuilding it", CacheWarning,
                              stacklevel=4)
                purge_numba_cache(name)
            _write_atomic(path, source)
        return path
    except OSError as e:
        warnings.warn(f"jaxish: cannot use the cache directory {d} ({e}); compiling in memory", CacheWarning,
                      stacklevel=4)
        return None


def purge_numba_cache(name: str) -> None:
    """Delete Numba's cache files for module ``name``."""
    pyc = os.path.join(cache_dir(), "__pycache__")
    try:
        for f in os.listdir(pyc):
            if f.startswith(name + "."):
                try:
                    os.unlink(os.path.join(pyc, f))
                except OSError:
                    pass
    except OSError:
        pass


def load_module(name: str, source: str, use_disk: bool | None = None) -> types.ModuleType:
    """Import generated ``source`` as module ``name`` (from the disk cache when enabled)."""
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    if use_disk is None:
        use_disk = disk_cache_enabled()
    path = _ensure_file(name, source) if use_disk else None
    if path is not None:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return mod
    mod = types.ModuleType(name)
    mod.__file__ = f"<jaxish generated {name}>"
    sys.modules[name] = mod
    try:
        exec(compile(source.replace("cache=True", "cache=False"), mod.__file__, "exec"), mod.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def forget_module(name: str) -> None:
    sys.modules.pop(name, None)


def clear_disk_cache() -> None:
    """Delete every file of the on-disk cache."""
    d = cache_dir()
    if os.path.isdir(d):
        shutil.rmtree(d, ignore_errors=True)
    for name in [n for n in sys.modules if n.startswith("_jx_")]:
        sys.modules.pop(name, None)
