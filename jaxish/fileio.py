"""Atomic file writes: the one temp-file + fsync + ``os.replace`` writer that checkpoints
(``checkpoint.save``) and the kernel disk cache (``backends/cpu/disk_cache.py``) use.

It imports nothing of jaxish, so every layer may use it.
"""
from __future__ import annotations

import os
import tempfile
from typing import IO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[IO], object], mode: str = "wb", *,
                 permissions: int | None = None, prefix: str | None = None, suffix: str = ".tmp") -> None:
    """Write ``path`` through a temporary file in the same directory, renamed over it once complete.

    Readers see the old file or the new one, never a half-written file: ``write(f)`` fills the
    temporary file ``f`` (opened with ``mode``), which is flushed, fsync'ed and moved over ``path``
    with ``os.replace``. If anything raises before the rename — ``write`` included, and
    ``KeyboardInterrupt`` too — the temporary file is removed, ``path`` is left as it was and the
    exception propagates.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace.
    write : callable
        Called once with the open temporary file; what it returns is ignored.
    mode : {"wb", "w"}
        Binary or text (the locale's encoding, as ``open``).
    permissions : int, optional
        ``None`` keeps ``tempfile.mkstemp``'s private mode (0600); an int (``0o666``) gives the
        file that mode less the process's umask, as ``open`` would create it.
    prefix, suffix : str, optional
        The temporary file's name around its random part (by default ``.<name>.`` and ``.tmp``),
        for callers whose cleanup recognises their own temporary files.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if prefix is None:
        prefix = f".{os.path.basename(path)}."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, mode) as f:  # owns fd from here: closed on any error
            if permissions is not None:
                os.fchmod(f.fileno(), permissions & ~umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def umask() -> int:
    """The process's umask: read from /proc where it can be (setting it to read it, the fallback,
    changes it for every thread for a moment)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
