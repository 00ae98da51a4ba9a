"""Algebraic simplification that keeps NaN/inf semantics.

``x*1``, ``1*x``, ``x+(-0.0)``, ``x-(+0.0)``, ``x/1``, ``x**1``, ``--x``,
identity reshapes, broadcasts, converts and copies disappear; ``x**2`` becomes
``x*x`` (both correctly rounded); reshapes of reshapes, broadcasts of
broadcasts and transposes of transposes collapse into one node; a negation
moves out of a product (``x * -y`` is ``-(x * y)``, ``-x * -y`` is ``x * y``),
where CSE may find the product already computed. Each rule is
exact for every value, NaN, infinities and signed zeros included (``x + 0.0``
and ``x - (-0.0)`` stay: they turn -0.0 into +0.0), and never changes a dtype
or weak type (the replacement must have the node's abstract value). One
exception, by choice: the sign bit of a NaN result, which IEEE 754 leaves
unspecified for arithmetic and x86 takes from whichever operand is a NaN --
the negation rule may flip it (``nan * -2`` is +nan, ``-(nan * 2)`` is -nan);
a result is NaN exactly where NumPy's is.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Literal, Node, Var
from ..primitives import elementwise as ew
from ..primitives import shape_ops as so

# identities whose operand passes through unchanged when it has the node's abstract value
_IDENTITY_IF_SAME = frozenset({ew.copy_p, ew.convert_p, so.reshape_p, so.broadcast_to_p})
# identities kept for differentiation and tape recording, dropped just before execution
_EXECUTION_IDENTITIES = frozenset({ew.stop_gradient_p, ew.read_after_assign_p})
# a chain of two of these is one node
_COLLAPSIBLE = frozenset({so.reshape_p, so.broadcast_to_p, so.transpose_p})


def _is_lit(a, value) -> bool:
    return isinstance(a, Literal) and a.val.item() == value


def _is_additive_identity(a) -> bool:
    """``x + a == x`` for every x: an integer zero or the float -0.0 (``-0.0 + 0.0`` is +0.0)."""
    return _is_zero(a, negative=True)


def _is_subtractive_identity(a) -> bool:
    """``x - a == x`` for every x: an integer zero or the float +0.0 (``-0.0 - (-0.0)`` is +0.0)."""
    return _is_zero(a, negative=False)


def _is_zero(a, negative: bool) -> bool:
    if not _is_lit(a, 0):
        return False
    return not a.aval.dtype.is_floating or bool(np.signbit(a.val)) == negative


def simplify(graph: Graph, for_execution: bool = False) -> Graph:
    subst: dict = {}
    producer: dict = {}
    nodes = []

    def rd(a):
        return a if isinstance(a, Literal) else subst.get(a.id, a)

    for n in graph.nodes:
        ins = [rd(a) for a in n.invars]
        out = n.outvars[0]
        prim, p = n.prim, n.params
        if prim.kind == "elementwise" and len(ins) > 1:
            ins = _scalar_broadcasts_to_literals(ins, out, producer)
        if prim is so.reshape_p and isinstance(ins[0], Literal):  # a scalar constant: broadcast it instead
            nn = Node(so.broadcast_to_p, ins, {"shape": tuple(p["shape"])}, [out])
            nodes.append(nn)
            producer[out.id] = nn
            continue
        same = [a for a in ins if not isinstance(a, Literal) and a.aval == out.aval]
        repl = None
        if prim is ew.mul_p and len(ins) == 2:
            if _is_lit(ins[1], 1) and ins[0] in same:
                repl = ins[0]
            elif _is_lit(ins[0], 1) and ins[1] in same:
                repl = ins[1]
            else:
                negated = _negations_out(ins, out, producer)
                if negated is not None:
                    nodes += negated
                    producer.update((m.outvars[0].id, m) for m in negated)
                    continue
        elif prim is ew.add_p:  # x + (-0.0) is x for every x; x + 0.0 turns -0.0 into +0.0 (ints: any zero)
            if _is_additive_identity(ins[1]) and ins[0] in same:
                repl = ins[0]
            elif _is_additive_identity(ins[0]) and ins[1] in same:
                repl = ins[1]
        elif prim is ew.sub_p and _is_subtractive_identity(ins[1]) and ins[0] in same:
            repl = ins[0]
        elif prim is ew.div_p and _is_lit(ins[1], 1) and ins[0] in same:
            repl = ins[0]
        elif prim is ew.pow_p and isinstance(ins[1], Literal) and ins[0] in same:
            if _is_lit(ins[1], 1):
                repl = ins[0]
            elif _is_lit(ins[1], 2):  # exact: x*x is correctly rounded, as is pow(x, 2)
                nn = Node(ew.mul_p, [ins[0], ins[0]], {}, [out])
                nodes.append(nn)
                producer[out.id] = nn
                continue
        elif prim in _IDENTITY_IF_SAME and ins[0] in same:
            repl = ins[0]
        elif prim in _EXECUTION_IDENTITIES and for_execution:
            repl = ins[0]
        elif prim is ew.neg_p and not isinstance(ins[0], Literal):
            prev = producer.get(ins[0].id)
            if prev is not None and prev.prim is ew.neg_p:
                repl = prev.invars[0]
        if repl is None and prim in _COLLAPSIBLE and not isinstance(ins[0], Literal):
            prev = producer.get(ins[0].id)
            if prev is not None and prev.prim is prim:
                src = prev.invars[0]
                if prim is so.transpose_p:
                    perm = tuple(prev.params["perm"][i] for i in p["perm"])
                    if perm == tuple(range(len(perm))):
                        repl = src
                    else:
                        nn = Node(so.transpose_p, [src], {"perm": perm}, [out])
                else:
                    nn = Node(n.prim, [src], dict(p), [out])
                    if not isinstance(src, Literal) and src.aval == out.aval:
                        repl = src
                if repl is None:
                    nodes.append(nn)
                    producer[out.id] = nn
                    continue
        if repl is not None:
            subst[out.id] = repl
            continue
        nn = Node(n.prim, ins, p, n.outvars)
        nodes.append(nn)
        producer[out.id] = nn
    outs = [rd(o) for o in graph.outvars]
    return Graph(graph.invars, nodes, outs, graph.constvars, graph.consts)


def _negations_out(ins, out, producer):
    """``x * -y`` -> ``-(x * y)`` and ``-x * -y`` -> ``x * y``: the nodes computing ``out``, or None.

    Exact for every value (a product's sign is its operands' signs combined, its magnitude theirs; for integers
    the same modulo 2**bits). A VJP writes such products (the cotangent of ``-x * x``); with the negation outside,
    CSE finds the product the graph computes anyway and the negation of ``y`` may become dead.
    """
    inner, flips = list(ins), 0
    for k, a in enumerate(ins):
        prev = None if isinstance(a, Literal) else producer.get(a.id)
        if prev is not None and prev.prim is ew.neg_p and prev.invars[0].aval == a.aval:
            inner[k] = prev.invars[0]
            flips += 1
    if not flips:
        return None
    if flips == 2:
        return [Node(ew.mul_p, inner, {}, [out])]
    tmp = Var(out.aval)
    return [Node(ew.mul_p, inner, {}, [tmp]), Node(ew.neg_p, [tmp], {}, [out])]


def _scalar_broadcasts_to_literals(ins, out, producer):
    """``op(broadcast_to(c), x)`` -> ``op(c, x)`` when ``x`` alone has the output's shape."""
    full = [a for a in ins if not isinstance(a, Literal) and tuple(a.aval.shape) == tuple(out.aval.shape)]
    res = []
    for a in ins:
        prev = None if isinstance(a, Literal) else producer.get(a.id)
        if prev is not None and prev.prim is so.broadcast_to_p and isinstance(prev.invars[0], Literal) \
                and prev.invars[0].aval.dtype == a.aval.dtype and any(b is not a for b in full):
            lit = prev.invars[0]
            a = Literal(lit.val, type(lit.aval)((), lit.aval.dtype, a.aval.weak_type))
        res.append(a)
    return res


__all__ = ["simplify", "Var"]
