"""Primitives, ``bind`` and the three ways a primitive call is processed.

Every operation in jaxish ends in :func:`bind`. Depending on the context, a
call is

* evaluated eagerly with the primitive's NumPy reference implementation,
* recorded as a node of the graph being traced (inside ``@trace``, ``grad``,
  ``make_graph``), and/or
* recorded on every active :class:`~jaxish.tape.GradientTape` that watches one
  of its inputs.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Callable, Sequence

import numpy as np

from . import dtypes as _dt
from .errors import ConcretizationError, EscapedTracerError
from .ir import Graph, Literal, Node, ShapedArray, Var

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------
class Primitive:
    """An operation of the IR, declared once.

    Parameters
    ----------
    name : str
        Name printed in graphs.
    abstract_eval : callable
        ``(*avals, **params) -> ShapedArray``; raises ValueError/TypeError
        for bad shapes or dtypes.
    impl : callable
        NumPy reference implementation ``(*arrays, **params) -> ndarray``.
    vjp : callable, optional
        ``(ct, *inputs, out=..., **params) -> tuple`` of input cotangents
        (``None`` for a symbolic zero), written with jaxish ops.
    kind : str
        ``'elementwise'``, ``'reduce'`` or ``'other'``; decides fusion.
    scalar : str, optional
        For elementwise primitives, the scalar expression template shared by
        the code generators, e.g. ``'np.exp({0})'``.
    """

    def __init__(self, name: str, abstract_eval: Callable, impl: Callable, vjp: Callable | None = None,
                 kind: str = "other", scalar: str | Callable | None = None):
        self.name = name
        self.abstract_eval = abstract_eval
        self.impl = impl
        self.vjp = vjp
        self.kind = kind
        self.scalar = scalar
        # can its NumPy implementation emit floating-point warnings (overflow, divide by zero)?
        self.may_warn = kind in ("elementwise", "reduce") or name == "matmul"
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        return bind(self, args, params)

    def __repr__(self) -> str:
        return self.name


PRIMITIVES: dict[str, Primitive] = {}


# ---------------------------------------------------------------------------
# Thread-local state: graph traces and tapes
# ---------------------------------------------------------------------------
class _State(threading.local):
    def __init__(self):
        self.traces: list = []     # active GraphTraces, innermost last
        self.tapes: list = []      # active tapes
        self.device: str | None = None


STATE = _State()


def current_trace():
    t = STATE.traces
    return t[-1] if t else None


def current_level() -> int:
    return len(STATE.traces)


# ---------------------------------------------------------------------------
# Tensors and tracers
# ---------------------------------------------------------------------------
CPU_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"


class Tensor:
    """An immutable n-dimensional array with a dtype and a device."""

    __slots__ = ("_value", "_weak", "_device", "_aval", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value: np.ndarray, weak: bool = False, device: str = CPU_DEVICE):
        self._value = value
        self._weak = weak
        self._device = device
        self._aval = None

    # -- abstract properties (shared with tracers) --
    @property
    def aval(self) -> ShapedArray:
        a = self._aval
        if a is None:
            v = self._value
            a = self._aval = ShapedArray(v.shape, _dt.from_numpy(v.dtype), self._weak)
        return a

    @property
    def shape(self):
        from .tensor_shape import TensorShape
        return TensorShape(self.aval.shape)

    @property
    def dtype(self) -> _dt.DType:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    @property
    def device(self) -> str:
        return self._device

    # -- concrete access --
    def numpy(self) -> np.ndarray:
        """A copy of the value as a NumPy array (as ``tf.Tensor.numpy``); the Tensor stays immutable."""
        return self._value.copy()

    def __array__(self, dtype=None, copy=None):
        v = self._value
        if dtype is not None:
            return v.astype(dtype)
        if copy:
            return v.copy()
        # no copy, but read-only for good: a view of a read-only buffer cannot be made writeable again
        # (``view.flags.writeable = True`` on a plain view would hand out the Tensor's memory, which
        # compiled executables may share between calls, e.g. for a constant output)
        return np.asarray(memoryview(v).toreadonly())

    def __len__(self) -> int:
        if not self.aval.shape:
            raise TypeError("len() of unsized object: a scalar Tensor has no len()")
        return self.aval.shape[0]

    def __iter__(self):
        if not self.aval.shape:
            raise TypeError("iteration over a 0-d Tensor")
        return (self[i] for i in range(self.aval.shape[0]))

    def _scalar(self, what: str):
        if self._value.size != 1:
            raise TypeError(f"{what}() only works on a Tensor with one element, got shape {self.aval.shape}")
        return self._value.reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._scalar("bool"))

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if not self.dtype.is_integer:
            raise TypeError(f"only integer Tensors can be used as an index, got {self.dtype}")
        return int(self._scalar("index"))

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        if spec:
            raise TypeError(f"format: the format spec {spec!r} needs a 0-d Tensor, got shape {self.aval.shape}")
        return str(self._value)

    def __repr__(self) -> str:
        from .printing import tensor_repr
        return tensor_repr(self)

    def __str__(self) -> str:
        from .printing import tensor_str
        return tensor_str(self)

    __hash__ = None  # elementwise __eq__ makes a Tensor unhashable (as in TensorFlow)

    def ref(self):
        """A hashable reference to this tensor, usable as a dict key."""
        from .tensor_shape import Reference
        return Reference(self)

    def experimental_ref(self):
        return self.ref()


class Tracer(Tensor):
    """A symbolic tensor inside a graph trace: it has an abstract value only."""

    __slots__ = ("_trace", "_var")

    def __init__(self, trace, var: Var):
        self._trace = trace
        self._var = var
        self._weak = var.aval.weak_type
        self._device = trace.device
        self._aval = var.aval

    def _concrete(self, what: str):
        self._trace.check_alive(self)
        raise ConcretizationError(self._trace.concretization_message(self, what))

    def numpy(self):
        self._concrete("x.numpy()")

    def __array__(self, dtype=None, copy=None):
        self._concrete("np.asarray(x)")

    def __bool__(self):
        self._concrete("bool(x) (an `if` or `while` on a traced value)")

    def __float__(self):
        self._concrete("float(x)")

    def __int__(self):
        self._concrete("int(x)")

    def __index__(self):
        self._concrete("using a traced value as a Python index")

    def __format__(self, spec):
        if spec:
            self._concrete("formatting a traced value")
        return repr(self)

    def __repr__(self) -> str:
        return f"<jaxish.Tracer: shape={self.aval.shape}, dtype={self.dtype.name}, in trace of {self._trace.name}>"

    __str__ = __repr__


# ---------------------------------------------------------------------------
# Conversion of arguments
# ---------------------------------------------------------------------------
def _is_variable(x) -> bool:
    from .variables import Variable
    return isinstance(x, Variable)


def literal_tensor(value, dtype: _dt.DType | None = None) -> Tensor:
    """A weakly typed 0-d tensor for a Python scalar."""
    if dtype is None:
        dtype = _dt.default_for_python(value)
        weak = not isinstance(value, (bool, np.bool_))
        if isinstance(value, np.generic):
            dtype, weak = _dt.as_dtype(value.dtype), False
    else:
        weak = True
    return Tensor(np.asarray(value, dtype=dtype.np), weak=weak)


def to_tensor_arg(x) -> Tensor:
    """Convert an op argument to a Tensor (or Tracer) without copying tensors."""
    if isinstance(x, Tensor):
        return x
    if _is_variable(x):
        return read_variable(x)
    if isinstance(x, (bool, int, float, np.generic)):
        if isinstance(x, int) and not isinstance(x, bool) and not -2**31 <= x < 2**31:
            return Tensor(np.asarray(x, dtype=np.int64), weak=False)
        return literal_tensor(x)
    from .creation import constant
    return constant(x)


def read_variable(v) -> Tensor:
    trace = current_trace()
    if trace is not None:
        return trace.read_variable(v)
    return v._value


# ---------------------------------------------------------------------------
# bind
# ---------------------------------------------------------------------------
def bind(prim: Primitive, args: Sequence, params: dict):
    """Process one primitive call in the current context; returns a Tensor."""
    vals = [a if type(a) is Tensor else to_tensor_arg(a) for a in args]
    state = STATE
    traces = state.traces
    if not traces:
        for v in vals:
            if type(v) is not Tensor and isinstance(v, Tracer):
                v._trace.check_alive(v)
                raise EscapedTracerError(v._trace.escaped_message(v))
        # the output's abstract value, from the cache when these avals and params were seen before
        try:
            key = (prim, tuple([v.aval for v in vals]), tuple(params.items()) if params else ())
            out_aval = _AVAL_CACHE.get(key)
        except TypeError:  # unhashable params
            out_aval = None
        if out_aval is None:
            out_aval = _abstract_eval(prim, vals, params, None)
        if prim.may_warn:  # floating-point warnings are silenced (as in TensorFlow)
            with np.errstate(all="ignore"):
                out = prim.impl(*[v._value for v in vals], **params)
        else:
            out = prim.impl(*[v._value for v in vals], **params)
        if not isinstance(out, np.ndarray) or out.dtype != out_aval.dtype.np:
            out = np.asarray(out, dtype=out_aval.dtype.np)
        result = Tensor(out, out_aval.weak_type, _result_device(vals))
    else:
        result = traces[-1].add(prim, vals, params)
    if state.tapes:
        level = len(traces)
        for tape in state.tapes:
            if tape._level == level and tape._recording:
                tape._record(prim, params, args, vals, result)
    return result


_AVAL_CACHE: dict = {}


def _abstract_eval(prim, vals, params, trace):
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
        if key is not None and len(_AVAL_CACHE) < 50_000:
            _AVAL_CACHE[key] = out
        return out
    except (TypeError, ValueError) as e:
        msg = str(e)
        if not msg.startswith(prim.name) and ":" not in msg.split(" ")[0]:
            msg = f"{prim.name}: {msg}"
        if trace is not None:
            msg = f"{msg}\n  (while tracing {trace.name}, at {user_line()})"
        raise type(e)(msg) from None


def _result_device(vals) -> str:
    dev = STATE.device
    if dev is not None:
        return dev
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


# ---------------------------------------------------------------------------
# Graph traces
# ---------------------------------------------------------------------------
class GraphTrace:
    """Builds a :class:`Graph` from the primitive calls made while it is active."""

    def __init__(self, name: str = "<function>", device: str = CPU_DEVICE):
        self.name = name
        self.device = device
        self.level = None
        self.alive = True
        self.invars: list = []
        self.arg_names: dict = {}     # var id -> description of the argument
        self.nodes: list = []
        self.consts: dict = {}        # id(value) -> (Var, value)
        # id(Variable) -> [Variable, input Var, current value, its read_after_assign Tracer or None]
        self.variables: dict = {}
        self.assigned: dict = {}      # id(Variable) -> Variable (in order of first assignment)
        self.rng_var = None
        self.rng_count = 0
        self.is_retrace = False

    # -- context management --
    def __enter__(self):
        STATE.traces.append(self)
        self.level = len(STATE.traces)
        return self

    def __exit__(self, *exc):
        assert STATE.traces[-1] is self
        STATE.traces.pop()
        self.alive = False

    # -- inputs --
    def new_arg(self, aval: ShapedArray, name: str = "") -> Tracer:
        v = Var(aval)
        self.invars.append(v)
        self.arg_names[v.id] = name
        return Tracer(self, v)

    def to_atom(self, x: Tensor):
        if isinstance(x, Tracer):
            if x._trace is self:
                return x._var
            x._trace.check_alive(x)
            if x._trace.level is not None and x._trace.level < self.level:
                return self._const(x)
            raise EscapedTracerError(x._trace.escaped_message(x))
        if x._value.ndim == 0:
            return Literal(x._value, x.aval)
        return self._const(x)

    def _const(self, x):
        key = id(x)
        if key not in self.consts:
            v = Var(x.aval)
            self.consts[key] = (v, x)
            self.arg_names[v.id] = "a captured constant"
        return self.consts[key][0]

    def _variable_entry(self, var) -> list:
        entry = self.variables.get(id(var))
        if entry is None:
            v = Var(var._value.aval.strip_weak())
            self.arg_names[v.id] = f"Variable {var.name!r}"
            entry = self.variables[id(var)] = [var, v, Tracer(self, v), None]
        return entry

    def read_variable(self, var) -> Tracer:
        """The Variable's value: its input, or after an assignment a ``read_after_assign`` node of the value.

        The node is the identity (data flow), but it names the Variable, so that a call inlined under a tape
        can record the read of the Variable, as eager code does (``tracing.call_traced``)."""
        entry = self._variable_entry(var)
        if id(var) not in self.assigned:
            return entry[2]
        if entry[3] is None:
            index = list(self.assigned).index(id(var))
            entry[3] = self.add(PRIMITIVES["read_after_assign"], [entry[2]], {"index": index})
        return entry[3]

    def assign_variable(self, var, value: Tensor) -> None:
        entry = self._variable_entry(var)
        if value.aval.weak_type:  # a Variable's value is strongly typed, as after an eager assignment
            value = self.add(PRIMITIVES["convert"], [value], {"dtype": value.dtype, "weak_type": False})
        entry[2], entry[3] = value, None
        self.assigned[id(var)] = var

    def rng_state(self) -> tuple:
        if self.rng_var is None:
            self.rng_var = Var(ShapedArray((2,), _dt.int64))
            self.arg_names[self.rng_var.id] = "the random generator state"
        self.rng_count += 1
        return Tracer(self, self.rng_var), self.rng_count

    # -- nodes --
    def add(self, prim: Primitive, vals: list, params: dict) -> Tracer:
        out_aval = _abstract_eval(prim, vals, params, self)
        ins = [self.to_atom(v) for v in vals]
        out = Var(out_aval)
        self.nodes.append(Node(prim, ins, params, [out]))
        return Tracer(self, out)

    def finish(self, outs: Sequence[Tensor]) -> tuple:
        """Close the trace: returns ``(graph, variables, assigned)``.

        The graph's inputs are, in order: the explicit arguments, the
        variables read, and the random state; captured constants become
        ``constvars`` with their values in ``graph.consts``. Its outputs are
        ``outs`` followed by the new values of the assigned variables.
        """
        outvars = [self.to_atom(to_tensor_arg(o)) for o in outs]
        assigned = list(self.assigned.values())
        outvars += [self.to_atom(self.variables[id(v)][2]) for v in assigned]
        var_entries = list(self.variables.values())
        invars = list(self.invars) + [e[1] for e in var_entries]
        if self.rng_var is not None:
            invars.append(self.rng_var)
        graph = Graph(invars, self.nodes, outvars, [v for v, _ in self.consts.values()],
                      [c for _, c in self.consts.values()])
        return graph, [e[0] for e in var_entries], assigned

    # -- errors --
    def check_alive(self, tracer) -> None:
        if not self.alive:
            raise EscapedTracerError(self.escaped_message(tracer))

    def escaped_message(self, tracer) -> str:
        return (f"A tracer (shape={tracer.aval.shape}, dtype={tracer.dtype.name}) created while tracing "
                f"{self.name} escaped its trace and was used after the trace ended. Return values from "
                f"the traced function instead of storing them in outer variables or globals.")

    def depends_on(self, tracer) -> list:
        producers = {o.id: n for n in self.nodes for o in n.outvars}
        seen, stack, found = set(), [tracer._var], []
        while stack:
            v = stack.pop()
            if isinstance(v, Literal) or v.id in seen:
                continue
            seen.add(v.id)
            if v.id in self.arg_names:
                found.append(self.arg_names[v.id])
            elif v.id in producers:
                stack.extend(producers[v.id].invars)
        return found

    def concretization_message(self, tracer, what: str) -> str:
        deps = self.depends_on(tracer)
        dep = ", ".join(deps) if deps else "the traced inputs"
        return (f"{what} needs a concrete value, but this tensor (shape={tracer.aval.shape}, "
                f"dtype={tracer.dtype.name}) is traced in {self.name}: it depends on {dep}.\n"
                f"  At {user_line()}\n"
                f"  Python control flow cannot depend on traced values. Instead use jaxish.where(cond, a, b) "
                f"to select values, mark the argument static with static_argnums/static_argnames, "
                f"or use a control-flow primitive (cond, while_loop) when available.")


class _suspend_tapes:
    def __enter__(self):
        self.saved = STATE.tapes
        STATE.tapes = []

    def __exit__(self, *exc):
        STATE.tapes = self.saved


suspend_tapes = _suspend_tapes


def eval_graph(graph: Graph, args: Sequence, read_after_assign: Callable | None = None) -> list:
    """Evaluate ``graph`` by binding each node in the current context.

    Used to inline a graph into an enclosing trace and to let active tapes
    record it op by op. A ``read_after_assign`` node is the identity, unless
    ``read_after_assign(index, value)`` is given to evaluate it.
    """
    env = {v.id: a for v, a in zip(graph.invars, args)}
    env.update((v.id, c) for v, c in zip(graph.constvars, graph.consts))

    def read(a):
        if isinstance(a, Literal):
            return Tensor(a.val, a.aval.weak_type)
        return env[a.id]

    for n in graph.nodes:
        ins = [read(a) for a in n.invars]
        if n.prim.name != "read_after_assign":
            env[n.outvars[0].id] = bind(n.prim, ins, n.params)
        else:
            env[n.outvars[0].id] = ins[0] if read_after_assign is None else read_after_assign(n.params["index"], ins[0])
    return [read(v) for v in graph.outvars]
