"""Traceback filtering: an exception that leaves a jaxish API call shows the user's frames only, as JAX's
traceback filtering does.

The API boundaries are every public entry point where user code is traced or run: a ``@trace``d function and
``make_graph`` (``tracing.py``), ``grad``, ``value_and_grad``, ``jacobian``, ``hessian``, ``vjp`` and the
functions they return (``autodiff.py``, decorated with :func:`transform_boundary`), ``GradientTape.gradient``
and ``.jacobian``, and ``cond``, ``fori_loop``, ``while_loop``, ``scan`` (decorated with :func:`api_boundary`).
The frames of files inside the jaxish package are removed from the exception's ``__traceback__`` where it
crosses the boundary; the user's lines (the call, the traced function's own code, the line of an op with bad
input) stay. The boundary re-raises with a bare ``raise``, which adds no frame of its own, so no jaxish frame
is left (on Python 3.10, where a bare ``raise`` would restore the unfiltered traceback, the boundary's own
frame stays). ``JAXISH_TRACEBACK_FILTERING=off`` (or ``jaxish.config.set_traceback_filtering(False)``) keeps every
frame, for debugging jaxish itself; a filtered exception says so in a one-line note (``__notes__``).
"""
from __future__ import annotations

import functools
import os
import sys
import types
from typing import Callable, TypeVar

from .config import traceback_filtering

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
BARE_RAISE_KEEPS_FILTERING = sys.version_info >= (3, 11)
"""A bare ``raise`` re-raises with the exception's (filtered) ``__traceback__`` from Python 3.11; Python 3.10
restores the traceback it caught, so there the boundary re-raises with ``raise e`` and its own frame stays."""


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


NOTE = "(jaxish's own frames are hidden from this traceback; JAXISH_TRACEBACK_FILTERING=off shows them)"


def filtered(e: BaseException) -> BaseException:
    """``e`` with its traceback filtered when filtering is on, for the API boundary to re-raise with a bare
    ``raise`` (in its ``except`` clause: ``filtered(e); raise``, which adds no frame of the boundary's own).
    Nested boundaries filter again what the outer frames added. When frames were removed, the exception gets
    a one-line note saying how to see them (an error raised by jaxish itself, an argument check or a bug, has
    no frame of the user's below the boundary: its traceback then shows the caller's lines only)."""
    if traceback_filtering():
        tb = e.__traceback__
        kept = filter_traceback(tb)
        if _length(kept) != _length(tb):
            e.__traceback__ = kept
            if NOTE not in getattr(e, "__notes__", ()) and hasattr(e, "add_note"):
                e.add_note(NOTE)
    return e


def _length(tb) -> int:
    n = 0
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


F = TypeVar("F", bound=Callable)


def api_boundary(fn: F) -> F:
    """Decorate a public function: an exception leaving it has jaxish's frames removed (see the module)."""
    @functools.wraps(fn)
    def jaxish_api_boundary(*args, **kwargs):
        __tracebackhide__ = True  # pytest: hide this frame where filtering is off
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            filtered(e)
            if BARE_RAISE_KEEPS_FILTERING:
                raise  # a bare raise adds no traceback entry for this frame (``raise e`` would)
            raise e
    return jaxish_api_boundary  # type: ignore[return-value]


def transform_boundary(transform: F) -> F:
    """Decorate a function transformation (``grad``, ``jacobian``, ``vjp``...): the transformation and the
    functions it returns (alone or in a tuple, as ``vjp``'s ``vjp_fn``) are API boundaries."""
    @functools.wraps(transform)
    def jaxish_api_boundary(*args, **kwargs):
        __tracebackhide__ = True
        try:
            out = transform(*args, **kwargs)
        except Exception as e:
            filtered(e)
            if BARE_RAISE_KEEPS_FILTERING:
                raise
            raise e
        if isinstance(out, types.FunctionType):
            return api_boundary(out)
        if type(out) is tuple and any(isinstance(o, types.FunctionType) for o in out):
            return tuple(api_boundary(o) if isinstance(o, types.FunctionType) else o for o in out)
        return out
    return jaxish_api_boundary  # type: ignore[return-value]
