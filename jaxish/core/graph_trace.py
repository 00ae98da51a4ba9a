"""The graph trace: records primitive calls as the nodes of a Graph (``@trace``, ``make_graph``, ``grad``)."""
from __future__ import annotations

from typing import Sequence

from .. import dtypes as _dt
from ..errors import ConcretizationError, EscapedTracerError  # noqa: F401
from ..ir import GraphBuilder, Literal, ShapedArray, Var
from .convert import to_tensor_arg
from .state import STATE, push, remove
from .tensor import CPU_DEVICE, Tensor, Tracer
from .trace import Trace, abstract_eval, user_line


class GraphTrace(Trace):
    """Builds a :class:`Graph` from the primitive calls made while it is active."""

    is_graph_trace = True

    def __init__(self, name: str = "<function>", device: str = CPU_DEVICE):
        self.name = name
        self.device = device
        self.level = None
        self.alive = True
        self.invars: list = []
        self.arg_names: dict = {}     # var id -> description of the argument
        self.builder = GraphBuilder()
        self.nodes = self.builder.nodes
        self.consts: dict = {}        # id(value) -> (Var, value)
        # id(Variable) -> [Variable, input Var, current value, its read_after_assign Tracer or None]
        self.variables: dict = {}
        self.assigned: dict = {}      # id(Variable) -> Variable (in order of first assignment)
        self.rng_var = None
        self.rng_count = 0
        self.is_retrace = False
        # the tapes below this trace on the stack (set on entry): they see its graph as one node, so a concrete
        # 0-d tensor one of them tracks is captured as a constant (an operand of that node, which they record),
        # never inlined as a literal they cannot see
        self.outer_tapes: list = []
        # id -> Tensor: each concrete 0-d tensor inlined as a literal (closed over, or a converted scalar), here or
        # in a trace nested in this one (merged on its exit) or a cached traced function called inside it. The
        # literals fold with what uses them, so a tape that tracks one of these tensors when the graph is called
        # later cannot be given the graph: the function is traced again under that tape (``tracing``)
        self.inlined: dict = {}

    # -- context management --
    def __enter__(self):
        self.outer_tapes = STATE.tapes
        push(self)
        self.level = len(STATE.traces)
        return self

    def __exit__(self, *exc):
        remove(self, above=True)  # a tape left open inside the trace ends with it
        self.alive = False
        outer = STATE.main  # the graph trace this one is nested in: its graph holds this one's literals too
        if self.inlined and outer is not None:
            outer.inlined.update(self.inlined)

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
        if not x.aval.shape:
            tapes = self.outer_tapes
            if not tapes or not any(t.tracks(x) for t in tapes):
                self.inlined[id(x)] = x
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
            from ..primitives.elementwise import read_after_assign_p
            entry[3] = self.add(read_after_assign_p, [entry[2]], {"index": index})
        return entry[3]

    def assign_variable(self, var, value: Tensor) -> None:
        entry = self._variable_entry(var)
        if value.aval.weak_type:  # a Variable's value is strongly typed, as after an eager assignment
            from ..primitives.elementwise import convert_p
            value = self.add(convert_p, [value], {"dtype": value.dtype, "weak_type": False})
        entry[2], entry[3] = value, None
        self.assigned[id(var)] = var

    def rng_state(self) -> tuple:
        if self.rng_var is None:
            self.rng_var = Var(ShapedArray((2,), _dt.int64))
            self.arg_names[self.rng_var.id] = "the random generator state"
        self.rng_count += 1
        return Tracer(self, self.rng_var), self.rng_count

    # -- nodes --
    def process(self, prim, vals, params, raw, depth):
        return self.add(prim, vals, params)

    def add(self, prim, vals: list, params: dict):
        """Record ``prim(*vals, **params)``; returns its Tracer (a list of them for multiple results)."""
        out_aval = abstract_eval(prim, vals, params, self)
        ins = [self.to_atom(v) for v in vals]
        if prim.multiple_results:
            return [Tracer(self, o) for o in self.builder.add(prim, ins, params, out_aval)]
        return Tracer(self, self.builder.add(prim, ins, params, (out_aval,))[0])

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
        graph = self.builder.build(invars, outvars, [v for v, _ in self.consts.values()],
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
                f"or use the control-flow primitives jaxish.cond, jaxish.while_loop, jaxish.fori_loop or jaxish.scan.")
