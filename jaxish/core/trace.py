"""``bind`` and the trace stack: every primitive call is processed by the innermost trace.

* :class:`EvalTrace` (the bottom of every thread's stack) runs the
  primitive's NumPy reference implementation now (eager execution);
* a :class:`~jaxish.core.graph_trace.GraphTrace` records a node of the graph
  being built (``@trace``, ``make_graph``, ``grad``);
* a recording ``GradientTape`` hands the call to the trace below it and
  records it into its own graph when it reads something the tape watches.
"""
from __future__ import annotations

import operator
import os
import sys
from typing import Sequence

import numpy as np

from ..config import cache_limit
from ..errors import EscapedTracerError, invalid_argument
from ..lru import LRU
from .convert import to_tensor_arg
from .placement import eval_on_device
from .state import EVAL, STATE, EvalTrace, Trace  # noqa: F401
from .tensor import CPU_DEVICE, Tensor, Tracer

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bind(prim, args: Sequence, params: dict):
    """Process one primitive call in the current context; returns a Tensor (a list for multiple results)."""
    if len(args) == 2:  # (no list comprehension: in Python 3.11 it is a function call)
        a, b = args
        vals = [a if type(a) is Tensor else to_tensor_arg(a), b if type(b) is Tensor else to_tensor_arg(b)]
    elif len(args) == 1:
        a = args[0]
        vals = [a if type(a) is Tensor else to_tensor_arg(a)]
    else:
        vals = [a if type(a) is Tensor else to_tensor_arg(a) for a in args]
    stack = STATE.stack
    if len(stack) == 1:
        return eval_primitive(prim, vals, params)
    return stack[-1].process(prim, vals, params, args, len(stack) - 1)


def bind_binary(prim, a, b):
    """``bind(prim, (a, b), {})`` for a primitive without parameters, with the eager case of two Tensors
    handled first (the hot path of eager arithmetic)."""
    if type(a) is Tensor and type(b) is Tensor:
        stack = STATE.stack
        if len(stack) == 1:
            return eval_binary(prim, a, b)
        return stack[-1].process_binary(prim, a, b, len(stack) - 1)  # bind's second case
    return bind(prim, (a, b), {})


def bind_unary(prim, x, params: dict):
    """``bind(prim, (x,), params)`` for a primitive with one result, with the eager case of a Tensor handled
    first (reductions and shape ops of eager code)."""
    if type(x) is Tensor:
        stack = STATE.stack
        if len(stack) == 1:
            return eval_unary(prim, x, params)
        return stack[-1].process_unary(prim, x, params, len(stack) - 1)
    return bind(prim, (x,), params)


def eval_binary(prim, a: Tensor, b: Tensor) -> Tensor:
    """``eval_primitive(prim, [a, b], {})`` for two Tensors and a primitive with one result and no parameters
    (keep it flat)."""
    device = STATE.device
    if device is not None and device != CPU_DEVICE:
        return eval_on_device(prim, [a, b], {})  # a device scope places it on an accelerator
    aa = a._aval
    if aa is None:
        aa = a.aval
    ab = b._aval
    if ab is None:
        ab = b.aval
    key = (prim, (), id(aa), id(ab))
    hit = _AVAL_BY_ID.get(key)
    if hit is not None and hit[1] is aa and hit[2] is ab:
        out_aval = hit[0]
    else:
        out_aval = _aval_by_id(key, (aa, ab), abstract_eval(prim, (a, b), {}, None))
    if prim.may_warn:  # floating-point warnings are silenced (as in TensorFlow)
        if _EXTOBJ is not None:
            quiet = _QUIET.get(_EXTOBJ.get())
            token = _EXTOBJ.set(_quiet_extobj() if quiet is None else quiet)
            try:
                out = prim.impl(a._value, b._value)
            finally:
                _EXTOBJ.reset(token)
        else:
            with np.errstate(all="ignore"):
                out = prim.impl(a._value, b._value)
    else:
        out = prim.impl(a._value, b._value)
    if device is None:
        device = b._device if a._weak and not b._weak else a._device if not a._weak else CPU_DEVICE
    dtype = out_aval.dtype.np
    if type(out) is not np.ndarray or out.dtype != dtype:
        out = np.asarray(out, dtype=dtype)
    # the cached aval object itself: the next op's cache key then compares equal by identity
    return Tensor(out, out_aval.weak_type, device, out_aval if out.shape == out_aval.shape else None)


def eval_unary(prim, x: Tensor, params: dict) -> Tensor:
    """``eval_primitive(prim, [x], params)`` for one Tensor and one result (reductions, shape ops, casts; keep
    it flat)."""
    device = STATE.device
    if device is not None and device != CPU_DEVICE:
        return eval_on_device(prim, [x], params)  # a device scope places it on an accelerator
    a = x._aval
    if a is None:
        a = x.aval
    key = (prim, tuple(params.items()), id(a)) if params else (prim, (), id(a))
    try:
        hit = _AVAL_BY_ID.get(key)
    except TypeError:  # unhashable params
        out_aval = abstract_eval(prim, (x,), params, None)
    else:
        if hit is not None and hit[1] is a:
            out_aval = hit[0]
        else:
            out_aval = _aval_by_id(key, (a,), abstract_eval(prim, (x,), params, None))
    if prim.may_warn:  # floating-point warnings are silenced (as in TensorFlow)
        if _EXTOBJ is not None:
            quiet = _QUIET.get(_EXTOBJ.get())
            token = _EXTOBJ.set(_quiet_extobj() if quiet is None else quiet)
            try:
                out = prim.impl(x._value, **params)
            finally:
                _EXTOBJ.reset(token)
        else:
            with np.errstate(all="ignore"):
                out = prim.impl(x._value, **params)
    else:
        out = prim.impl(x._value, **params)
    if device is None:
        device = CPU_DEVICE if x._weak else x._device
    dtype = out_aval.dtype.np
    if type(out) is not np.ndarray or out.dtype != dtype:
        out = np.asarray(out, dtype=dtype)
    return Tensor(out, out_aval.weak_type, device, out_aval if out.shape == out_aval.shape else None)


def eval_primitive(prim, vals: list, params: dict):
    """Run ``prim`` eagerly on concrete tensors (the hot path of eager code: keep it flat)."""
    if len(vals) == 2 and not params and not prim.multiple_results:
        a, b = vals
        if type(a) is Tensor and type(b) is Tensor:
            return eval_binary(prim, a, b)
    elif len(vals) == 1 and type(vals[0]) is Tensor and not prim.multiple_results:
        return eval_unary(prim, vals[0], params)
    avals = []
    for v in vals:
        if type(v) is not Tensor:
            if isinstance(v, Tracer):
                v._trace.check_alive(v)
                raise EscapedTracerError(v._trace.escaped_message(v))
            return eval_on_device(prim, vals, params)  # a DeviceTensor: the op runs on an accelerator
        a = v._aval
        avals.append(v.aval if a is None else a)
    device = STATE.device
    if device is not None and device != CPU_DEVICE:
        return eval_on_device(prim, vals, params)  # a device scope places it on an accelerator
    # an identity lookup first: the avals of a loop's tensors are mostly the same (cached) objects
    key = (prim, tuple(params.items()) if params else (), *map(id, avals))
    try:
        hit = _AVAL_BY_ID.get(key)
    except TypeError:  # unhashable params
        out_aval = abstract_eval(prim, vals, params, None)
    else:
        if hit is not None and (hit[1] is avals[0] if len(avals) == 1 else all(map(operator.is_, hit[1:], avals))):
            out_aval = hit[0]
        else:
            out_aval = _aval_by_id(key, avals, abstract_eval(prim, vals, params, None))
    if prim.may_warn:  # floating-point warnings are silenced (as in TensorFlow)
        if _EXTOBJ is not None:
            quiet = _QUIET.get(_EXTOBJ.get())
            token = _EXTOBJ.set(_quiet_extobj() if quiet is None else quiet)
            try:
                out = prim.impl(*[v._value for v in vals], **params)
            finally:
                _EXTOBJ.reset(token)
        else:
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
    # the cached aval object itself: the next op's cache key then compares equal by identity
    return Tensor(out, out_aval.weak_type, device, out_aval if out.shape == out_aval.shape else None)


def _as_tensor(out, aval, device) -> Tensor:
    if not isinstance(out, np.ndarray) or out.dtype != aval.dtype.np:
        out = np.asarray(out, dtype=aval.dtype.np)
    return Tensor(out, aval.weak_type, device)


# NumPy >= 2 keeps its floating-point error state in a context variable: setting it to a cached "ignore
# everything" state costs a fraction of ``np.errstate`` (whose construction and enter/exit are Python code)
try:
    from numpy._core.umath import _extobj_contextvar as _EXTOBJ
    from numpy._core.umath import _make_extobj
except ImportError:  # NumPy 1.x: np.errstate
    _EXTOBJ = _make_extobj = None
_QUIET: dict = {}  # an error state (an immutable capsule, kept alive here) -> the same with every error ignored


def _quiet_extobj():
    """The current NumPy error state with every floating-point error ignored (its buffer size and error
    callback kept), as ``np.errstate(all="ignore")`` would make it."""
    cur = _EXTOBJ.get()
    quiet = _QUIET.get(cur)
    if quiet is None:
        quiet = _make_extobj(all="ignore")  # derived from the current state
        if len(_QUIET) >= 64:
            _QUIET.clear()
        _QUIET[cur] = quiet
    return quiet


# (prim, params, id of each input aval) -> (output aval, *input avals): the input avals are kept alive by the
# entry, so an id found here still names the same object. In front of _AVAL_CACHE (the same keys, avals
# compared by identity); emptied when it holds 4096 entries or the aval cache's limit.
_AVAL_BY_ID: dict = {}


def _aval_by_id(key, avals, out_aval):
    limit = min(cache_limit("aval_cache_size"), 4096)
    if len(_AVAL_BY_ID) >= limit:
        _AVAL_BY_ID.clear()
    if limit > 0:
        _AVAL_BY_ID[key] = (out_aval, *avals)
    return out_aval


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
        raise invalid_argument(type(e))(msg) from None  # eagerly, as TensorFlow's eager ops
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
