"""Per-thread interpreter state: the trace stack and the device scope.

The stack always starts with the eval trace (eager execution). ``@trace``,
``make_graph`` and ``grad`` push a :class:`~jaxish.core.graph_trace.GraphTrace`,
a recording ``GradientTape`` pushes itself. :func:`~jaxish.core.trace.bind`
hands every primitive call to the top of the stack.
"""
from __future__ import annotations

import threading
from typing import Sequence


class Trace:
    """A way of processing primitive calls; subclasses implement :meth:`process`."""

    is_graph_trace = False
    is_tape = False

    def process(self, prim, vals: list, params: dict, raw: Sequence, depth: int):
        """Process ``prim(*vals, **params)``; ``raw`` are the arguments before conversion (Variables stay
        Variables), ``depth`` the position of this trace on the stack."""
        raise NotImplementedError

    def process_binary(self, prim, a, b, depth: int):
        """``process`` of a primitive without parameters on two Tensors (``core.trace.bind_binary``); traces
        may override it with a shorter path."""
        return self.process(prim, [a, b], {}, (a, b), depth)

    def process_unary(self, prim, x, params: dict, depth: int):
        """``process`` of a primitive with one result on one Tensor (``core.trace.bind_unary``); traces may
        override it with a shorter path."""
        return self.process(prim, [x], params, (x,), depth)

    def tracks(self, x) -> bool:
        """Whether this trace follows the concrete tensor ``x`` (a tape: watched or recorded), so that a graph
        traced above it must take ``x`` as an input rather than inline its value."""
        return False

    def tracked_among(self, tensors: dict) -> frozenset:
        """The keys of ``tensors`` (``id(x) -> x``) whose tensors this trace tracks (see :meth:`tracks`)."""
        return frozenset(k for k, x in tensors.items() if self.tracks(x))

    def process_below(self, prim, vals: list, params: dict, raw: Sequence, depth: int):
        """Hand the call to the trace below this one on the stack (for traces that observe, like tapes)."""
        return STATE.stack[depth - 1].process(prim, vals, params, raw, depth - 1)


class EvalTrace(Trace):
    """Eager execution: run the primitive's NumPy implementation now (the bottom of every stack)."""

    def process(self, prim, vals, params, raw, depth):
        return _eval_primitive(prim, vals, params)


def _eval_primitive(prim, vals, params):
    """``core.trace.eval_primitive`` (whose module imports this one): looked up once."""
    global _eval_primitive
    from .trace import eval_primitive
    _eval_primitive = eval_primitive
    return eval_primitive(prim, vals, params)


EVAL = EvalTrace()


class _State(threading.local):
    def __init__(self):
        self.stack: list = [EVAL]  # every active trace, innermost last
        self.main = None           # the innermost graph trace, or None (eager)
        self.traces: list = []     # the graph traces on the stack, innermost last
        self.tapes: list = []      # the tapes on the stack
        self.device: str | None = None


STATE = _State()


def push(trace) -> None:
    """Put ``trace`` on top of this thread's stack."""
    s = STATE
    s.stack = s.stack + [trace]
    if trace.is_graph_trace:
        s.traces = s.traces + [trace]
        s.main = trace
    elif trace.is_tape:
        s.tapes = s.tapes + [trace]


def remove(trace, above: bool = False) -> None:
    """Take ``trace`` off this thread's stack (a tape may be exited out of order); with ``above``, also every
    trace above it."""
    s = STATE
    stack = s.stack
    if stack[-1] is trace:  # the usual case: the innermost trace ends
        s.stack = stack[:-1]
        if trace.is_graph_trace:
            s.traces = s.traces[:-1]
            s.main = s.traces[-1] if s.traces else None
        elif trace.is_tape:
            tapes = s.tapes
            s.tapes = tapes[:-1] if tapes and tapes[-1] is trace else [t for t in tapes if t is not trace]
        return
    if trace in stack:
        i = stack.index(trace)
        s.stack = stack[:i] if above else stack[:i] + stack[i + 1:]
    _refresh()


def _refresh() -> None:
    s = STATE
    s.traces = [t for t in s.stack if t.is_graph_trace]
    s.tapes = [t for t in s.stack if t.is_tape]
    s.main = s.traces[-1] if s.traces else None


def current_trace():
    """The innermost active graph trace, or None when running eagerly."""
    return STATE.main


def current_level() -> int:
    """The number of active graph traces."""
    return len(STATE.traces)
