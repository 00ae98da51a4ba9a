"""Fusion: partition a graph into fused loop groups and library steps.

An elementwise node joins a group of a producer with the same loop domain
(its output shape) when that keeps the group convex: none of the node's
other inputs depends on the group. ``broadcast_to`` fuses as an elementwise
copy (its operand is read with broadcast indexing). A reduction folds into
the group that produces its operand (same domain, same reduced axes), so
``reduce_sum(square(y - x @ w))`` becomes one loop with no intermediate
written to memory. A value is written only if something outside its group
(or the graph's output) reads it. Everything else is a library step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph, Literal


def is_fusible(node) -> bool:
    """Can ``node`` be computed inside a fused loop (``Primitive.fusible``: elementwise, ``broadcast_to``)?"""
    return node.prim.fusible


@dataclass
class FusedGroup:
    """One loop nest over ``domain`` computing ``nodes`` and folding ``reductions``."""

    domain: tuple
    nodes: list = field(default_factory=list)
    reductions: list = field(default_factory=list)
    axes: tuple | None = None
    inputs: list = field(default_factory=list)   # external Vars read (in first-use order)
    outputs: list = field(default_factory=list)  # member Vars written to memory

    @property
    def members(self):
        return self.nodes + self.reductions


@dataclass
class LibraryStep:
    node: object


def partition(graph: Graph) -> list:
    """Steps (FusedGroup or LibraryStep) in an executable order."""
    group_of: dict = {}    # var id -> group (elementwise members)
    red_out: dict = {}     # var id -> group, for reduction outputs
    step_of: dict = {}     # var id -> the step producing it
    bit: dict = {}         # id(step) -> its bit in the ``anc`` bitsets
    anc: dict = {}         # id(step) -> bitset of the steps it reads from, transitively (as the steps are now)
    groups: list = []
    order: list = []       # steps in creation order

    def new_step(step):
        bit[id(step)] = 1 << len(order)
        anc[id(step)] = 0
        order.append(step)
        return step

    def depends_on(step, target) -> bool:
        return step is target or bool(anc[id(step)] & bit[id(target)])

    def convex_with(g, node) -> bool:
        for a in node.invars:
            if isinstance(a, Literal):
                continue
            if red_out.get(a.id) is g:
                return False
            if group_of.get(a.id) is g:
                continue
            s = step_of.get(a.id)
            if s is not None and depends_on(s, g):
                return False
        return True

    def add_reads(step, node):
        # a step only ever gains reads, so ancestor sets only grow: each new ancestor is pushed to the step
        # and to every step that already reads from it (fusion keeps the step graph acyclic)
        for a in node.invars:
            src = None if isinstance(a, Literal) else step_of.get(a.id)
            if src is None or src is step:
                continue
            new = (anc[id(src)] | bit[id(src)]) & ~anc[id(step)]
            if new:
                b = bit[id(step)]
                for t in order:
                    if t is step or anc[id(t)] & b:
                        anc[id(t)] |= new

    for n in graph.nodes:
        out = n.outvars[0]
        if is_fusible(n):
            domain = tuple(out.aval.shape)
            target = None
            producers = [group_of.get(a.id) for a in n.invars if not isinstance(a, Literal)]
            siblings = [g for g in reversed(groups) if g.domain == domain]
            for g in [g for g in producers if g is not None] + siblings:
                if g.domain == domain and convex_with(g, n):
                    target = g
                    break
            if target is None:
                target = new_step(FusedGroup(domain))
                groups.append(target)
            target.nodes.append(n)
            add_reads(target, n)
            group_of[out.id] = target
            step_of[out.id] = target
        elif n.prim.reduce is not None:
            a = n.invars[0]
            axes = tuple(n.params["axes"])
            g = None if isinstance(a, Literal) else group_of.get(a.id)
            if not (g is not None and g.domain == tuple(a.aval.shape) and (g.axes is None or g.axes == axes)
                    and convex_with(g, n)):
                g = new_step(FusedGroup(tuple(a.aval.shape)))
                groups.append(g)
            g.reductions.append(n)
            g.axes = axes
            add_reads(g, n)
            red_out[out.id] = g
            step_of[out.id] = g
        else:
            step = new_step(LibraryStep(n))
            add_reads(step, n)
            for o in n.outvars:  # (a control-flow node has several results)
                step_of[o.id] = step

    # inputs and outputs of each group
    consumers: dict = {}
    for step in order:
        for m in (step.members if isinstance(step, FusedGroup) else [step.node]):
            for a in m.invars:
                if not isinstance(a, Literal):
                    consumers.setdefault(a.id, []).append(m)
    graph_outs = {o.id for o in graph.outvars if not isinstance(o, Literal)}
    for g in groups:
        members = set(map(id, g.members))
        produced = {m.outvars[0].id for m in g.nodes}
        seen = set()
        for m in g.members:
            for a in m.invars:
                if isinstance(a, Literal) or a.id in produced or a.id in seen:
                    continue
                seen.add(a.id)
                g.inputs.append(a)
        for m in g.nodes:
            v = m.outvars[0]
            if v.id in graph_outs or any(id(c) not in members for c in consumers.get(v.id, [])):
                g.outputs.append(v)
        g.outputs += [r.outvars[0] for r in g.reductions]
    return _schedule(order)


def _schedule(order: list) -> list:
    """Topologically order steps by the values they read and write."""
    def reads(s):
        if isinstance(s, FusedGroup):
            return [a.id for a in s.inputs]
        return [a.id for a in s.node.invars if not isinstance(a, Literal)]

    def writes(s):
        if isinstance(s, FusedGroup):
            return [m.outvars[0].id for m in s.members]
        return [o.id for o in s.node.outvars]

    producer = {}
    for i, s in enumerate(order):
        for w in writes(s):
            producer[w] = i
    done, out, visiting = set(), [], set()

    def visit(i):
        if i in done:
            return
        visiting.add(i)
        for r in reads(order[i]):
            j = producer.get(r)
            if j is not None and j != i:
                if j in visiting:
                    raise AssertionError("fusion produced a cyclic schedule")  # pragma: no cover
                visit(j)
        visiting.discard(i)
        done.add(i)
        out.append(order[i])

    for i in range(len(order)):
        visit(i)
    return out
