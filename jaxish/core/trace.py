"""``bind`` and the trace stack: every primitive call is processed by the innermost trace.

* :class:`EvalTrace` (the bottom of every thread's stack) runs the
  primitive's NumPy reference implementation now (eager execution);
* a :class:`~jaxish.core.graph_trace.GraphTrace` records a node of the graph
  being built (``@trace``, ``make_graph``, ``grad``);
* a recording ``GradientTape`` hands the call to the trace below it and
  records it into its own graph when it reads something the tape watches.
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

from ..config import cache_limit
from ..errors import EscapedTracerError
from ..lru import LRU
from .convert import to_tensor_arg
from .placement import eval_on_device
from .state import EVAL, STATE, EvalTrace, Trace  # noqa: F401
from .tensor import CPU_DEVICE, Tensor, Tracer

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bind(prim, args: Sequence, params: dict):
    """Process one primitive call in the current context; returns a Tensor (a list for multiple results)."""
    vals = [a if type(a) is Tensor else to_tensor_arg(a) for a in args]
    stack = STATE.stack
    if len(stack) == 1:
        return eval_primitive(prim, vals, params)
    return stack[-1].process(prim, vals, params, args, len(stack) - 1)


def eval_primitive(prim, vals: list, params: dict):
    """Run ``prim`` eagerly on concrete tensors (the hot path of eager code: keep it flat)."""
    for v in vals:
        if type(v) is not Tensor:
            if isinstance(v, Tracer):
                v._trace.check_alive(v)
                raise EscapedTracerError(v._trace.escaped_message(v))
            return eval_on_device(prim, vals, params)  # a DeviceTensor: the op runs on an accelerator
    device = STATE.device
    if device is not None and device != CPU_DEVICE:
        return eval_on_device(prim, vals, params)  # a device scope places it on an accelerator
    try:
        out_aval = _AVAL_CACHE.get((prim, tuple([v.aval for v in vals]), tuple(params.items()) if params else ()))
    except TypeError:  # unhashable params
        out_aval = None
    if out_aval is None:
        out_aval = abstract_eval(prim, vals, params, None)
    if prim.may_warn:  # floating-point warnings are silenced (as in TensorFlow)
        with np.errstate(all="ignore"):
            out = prim.impl(*[v._value for v in vals], **params)
    else:
        out = prim.impl(*[v._value for v in vals], **params)
    if device is None:
        device = _result_device(vals)
    if prim.multiple_results:
        return [_as_tensor(o, a, device) for o, a in zip(out, out_aval)]
    if type(out) is not np.ndarray or out.dtype != out_aval.dtype.np:
        out = np.asarray(out, dtype=out_aval.dtype.np)
    t = Tensor(out, out_aval.weak_type, device)
    if out.shape == out_aval.shape:
        # the cached aval object itself: the next op's cache key then compares equal by identity
        t._aval = out_aval
    return t


def _as_tensor(out, aval, device) -> Tensor:
    if not isinstance(out, np.ndarray) or out.dtype != aval.dtype.np:
        out = np.asarray(out, dtype=aval.dtype.np)
    return Tensor(out, aval.weak_type, device)


_AVAL_CACHE = LRU(lambda: cache_limit("aval_cache_size"))  # (prim, input avals, params) -> output aval(s)


def abstract_eval(prim, vals, params, trace):
    """The output's abstract value (from a cache when these avals and params were seen); errors name the op
    and, inside a trace, the user's line."""
    avals = tuple(v.aval for v in vals)
    try:
        key = (prim, avals, tuple(params.items()) if params else ())
        out = _AVAL_CACHE.get(key)
    except TypeError:  # unhashable params
        key = out = None
    if out is not None:
        return out
    try:
        out = prim.abstract_eval(*avals, **params)
    except (TypeError, ValueError) as e:
        msg = str(e)
        if not msg.startswith(prim.name) and ":" not in msg.split(" ")[0]:
            msg = f"{prim.name}: {msg}"
        if trace is not None:
            msg = f"{msg}\n  (while tracing {trace.name}, at {user_line()})"
        raise type(e)(msg) from None
    if key is not None:
        _AVAL_CACHE[key] = out
    return out


def _result_device(vals) -> str:
    for v in vals:
        if not v._weak:
            return v._device
    return CPU_DEVICE


def user_line() -> str:
    """The innermost stack frame outside the jaxish package, as text."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
        f = f.f_back
    if f is None:
        return "<unknown>"
    import linecache
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f'{f.f_code.co_filename}:{f.f_lineno}: "{line}"'
