"""Traceback filtering: an exception that leaves a jaxish API call (a ``@trace``d function, ``make_graph``)
shows the user's frames only, as JAX's traceback filtering does.

The frames of files inside the jaxish package are removed from the exception's ``__traceback__`` where it
crosses the API boundary; the user's lines (the call, the traced function's own code, the line of an op
with bad input) stay. ``JAXISH_TRACEBACK_FILTERING=off`` (or
``jaxish.config.set_traceback_filtering(False)``) keeps every frame, for debugging jaxish itself. The
boundary's own re-raising frame (one line, in ``tracing.py``) is the one jaxish frame left.
"""
from __future__ import annotations

import os
import types

from .config import traceback_filtering

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_internal(frame) -> bool:
    return os.path.abspath(frame.f_code.co_filename).startswith(PACKAGE_DIR)


def filter_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback without the frames of jaxish's own files (None when nothing is left)."""
    kept = []
    while tb is not None:
        if not _is_internal(tb.tb_frame):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for entry in reversed(kept):
        out = types.TracebackType(out, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return out


def filtered(e: BaseException) -> BaseException:
    """``e`` with its traceback filtered when filtering is on (and some frame of the user's is left: an error
    with none, a jaxish bug, keeps its traceback), for the API boundary to re-raise (``raise filtered(e)``).
    Nested boundaries filter again what the outer frames added."""
    if traceback_filtering():
        tb = filter_traceback(e.__traceback__)
        if tb is not None:
            e.__traceback__ = tb
    return e
