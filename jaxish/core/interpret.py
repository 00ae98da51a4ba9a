"""The one loop that walks a graph: ``interpret`` evaluates its nodes in order with a given rule."""
from __future__ import annotations

from typing import Callable, Sequence

from ..ir import Graph, Literal
from .tensor import Tensor
from .trace import bind


def interpret(graph: Graph, args: Sequence, apply: Callable, literal: Callable,
              consts: Sequence | None = None, env: dict | None = None) -> list:
    """Evaluate ``graph`` on ``args``.

    ``apply(node, in_values)`` returns the node's output values (a list);
    ``literal(lit)`` turns a :class:`Literal` into a value; ``consts`` are the
    values of ``graph.constvars`` (default ``graph.consts``). ``env``, if
    given, receives every value by Var id.
    """
    env = {} if env is None else env
    env.update((v.id, a) for v, a in zip(graph.invars, args))
    env.update((v.id, c) for v, c in zip(graph.constvars, graph.consts if consts is None else consts))

    def read(a):
        return literal(a) if isinstance(a, Literal) else env[a.id]

    for n in graph.nodes:
        outs = apply(n, [read(a) for a in n.invars])
        for o, val in zip(n.outvars, outs):
            env[o.id] = val
    return [read(v) for v in graph.outvars]


def literal_value(a: Literal) -> Tensor:
    """A graph literal as a (weakly typed, if it is) Tensor."""
    return Tensor(a.val, a.aval.weak_type)


def bind_node(node, ins: list) -> list:
    """Bind the node's primitive in the current context (eager, traced or taped)."""
    out = bind(node.prim, ins, node.params)
    return out if node.prim.multiple_results else [out]


def eval_graph(graph: Graph, args: Sequence, apply: Callable = bind_node) -> list:
    """Evaluate ``graph`` by binding each node in the current context: inlines it into an enclosing trace
    and lets active tapes record it op by op."""
    return interpret(graph, args, apply, literal_value)
