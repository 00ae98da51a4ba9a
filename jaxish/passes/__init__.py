"""Graph-to-graph optimisation passes.

``optimize`` runs, to a fixed point: algebraic simplification, constant
folding, common-subexpression elimination and dead-code elimination. None
changes NaN/inf semantics (``x*0`` is kept, for instance).
"""
from __future__ import annotations

from ..ir import Graph
from .cse import cse
from .dce import dce
from .fold import fold_constants
from .inline import inline_calls
from .simplify import simplify


def optimize(graph: Graph, for_execution: bool = False, inline: bool = True) -> Graph:
    """Simplify, fold, CSE and DCE ``graph`` until nothing changes.

    With ``for_execution``, also drop ``stop_gradient`` and ``read_after_assign``
    (identities once no further differentiation or tape recording happens) and,
    with ``inline``, splice ``call`` nodes into the graph first.
    """
    if for_execution and inline:
        graph = inline_calls(graph)
    for _ in range(8):
        n = len(graph.nodes)
        graph = simplify(graph, for_execution)
        graph = fold_constants(graph)
        graph = cse(graph)
        graph = dce(graph)
        if len(graph.nodes) == n:
            break
    return graph


__all__ = ["optimize", "dce", "cse", "fold_constants", "inline_calls", "simplify"]
