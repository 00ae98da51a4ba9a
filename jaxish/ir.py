"""The IR: abstract values, variables, nodes and graphs.

A :class:`Graph` is ``outvars = f(invars)`` as an ordered list of
:class:`Node` s, each ``outs = primitive(ins, **params)``. Graphs print as
readable text and have a structural :meth:`Graph.fingerprint` (primitive
names, params, abstract values and wiring) that every cache uses.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dtypes as _dt


class ShapedArray:
    """Abstract value: shape, dtype and weak type of an array (immutable, hashable)."""

    __slots__ = ("shape", "dtype", "weak_type", "_hash")

    def __init__(self, shape: tuple, dtype: _dt.DType, weak_type: bool = False):
        shape = tuple(shape)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "weak_type", bool(weak_type))
        object.__setattr__(self, "_hash", hash((shape, dtype.name, bool(weak_type))))

    def __setattr__(self, name, value):
        raise AttributeError("ShapedArray is immutable")

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        return (isinstance(other, ShapedArray) and self._hash == other._hash and self.shape == other.shape
                and self.dtype is other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        return (ShapedArray, (self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        return f"ShapedArray({self.shape}, {self.dtype.name}, weak_type={self.weak_type})"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def strip_weak(self) -> "ShapedArray":
        return ShapedArray(self.shape, self.dtype, False) if self.weak_type else self

    def str_short(self) -> str:
        w = "~" if self.weak_type else ""
        return f"{w}{self.dtype.name}[{','.join(map(str, self.shape))}]"

    __str__ = str_short


_var_ids = itertools.count()


class Var:
    """A graph variable with an abstract value."""

    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.id = next(_var_ids)

    def __repr__(self) -> str:
        return f"Var({self.aval})"


class Literal:
    """A scalar constant embedded in the graph (part of the fingerprint)."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ShapedArray):
        self.val = np.asarray(val, dtype=aval.dtype.np)
        self.aval = aval

    def __repr__(self) -> str:
        v = self.val.item()
        return repr(v)

    def key(self) -> tuple:
        """Hashable identity: the abstract value and the bit pattern (``-0.0`` is not ``0.0``; NaN equals NaN)."""
        return ("L", self.aval, self.val.tobytes())


@dataclass(slots=True)
class Node:
    """``outvars = prim(invars, **params)``."""

    prim: Any
    invars: list
    params: dict
    outvars: list


@dataclass
class Graph:
    """A closed computation: ``outvars = nodes(invars)``."""

    invars: list
    nodes: list
    outvars: list
    constvars: list = field(default_factory=list)
    consts: list = field(default_factory=list)  # values of constvars (Tensors)

    # ---- printing -------------------------------------------------------
    def pretty(self, indent: int = 0) -> str:
        """The graph as text; a graph-valued parameter (a ``call``'s graph) prints nested, indented."""
        names: dict = {}

        def name(v):
            if isinstance(v, Literal):
                return repr(v)
            if v.id not in names:
                n = len(names)
                s = ""
                while True:
                    s = chr(ord("a") + n % 26) + s
                    n = n // 26 - 1
                    if n < 0:
                        break
                names[v.id] = s
            return names[v.id]

        def decl(v):
            return f"{name(v)}:{v.aval}"

        pad = " " * indent
        consts = " ".join(decl(v) for v in self.constvars)
        lines = [f"{{ lambda {consts}; {' '.join(decl(v) for v in self.invars)} ."]
        lines.append(f"{pad}  let")
        for n in self.nodes:
            outs = " ".join(decl(v) for v in n.outvars)
            args = " ".join(name(v) for v in n.invars)
            if any(_has_graph(v) for v in n.params.values()):
                lines.append(f"{pad}    {outs} = {n.prim.name}[")
                for k, v in sorted(n.params.items()):
                    if isinstance(v, Graph):
                        text = v.pretty(indent + 8)
                    elif _has_graph(v):  # a tuple of graphs (cond's branches)
                        text = "(\n" + "".join(f"{pad}        {g.pretty(indent + 8)}\n" for g in v) + f"{pad}      )"
                    else:
                        text = repr(v)
                    lines.append(f"{pad}      {k}={text}")
                lines.append(f"{pad}    ] {args}")
            else:
                lines.append(f"{pad}    {outs} = {n.prim.name}{_fmt_params(n.params)} {args}")
        lines.append(f"{pad}  in ({', '.join(name(v) for v in self.outvars)}) }}")
        return "\n".join(lines)

    __str__ = pretty

    def __repr__(self) -> str:
        return self.pretty()

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(self.pretty())

    def to_dot(self) -> str:
        """Graphviz DOT source of the graph (render with ``graphviz.Source(g.to_dot())``)."""
        lines = ["digraph jaxish {", "  rankdir=TB; node [fontname=monospace, fontsize=10];"]
        for i, v in enumerate(self.invars + self.constvars):
            kind = "in" if i < len(self.invars) else "const"
            lines.append(f'  v{v.id} [shape=box, style=rounded, label="{kind} {v.aval}"];')
        src: dict = {}  # Var id -> the DOT node that produces it (a node with several results is one box)
        for n in self.nodes:
            out = n.outvars[0]
            avals = " ".join(str(o.aval) for o in n.outvars)
            lines.append(f'  v{out.id} [shape=ellipse, label="{n.prim.name}\\n{avals}"];')
            for a in n.invars:
                if isinstance(a, Literal):
                    continue
                lines.append(f"  {src.get(a.id, f'v{a.id}')} -> v{out.id};")
            src.update((o.id, f"v{out.id}") for o in n.outvars)
        for i, o in enumerate(self.outvars):
            if not isinstance(o, Literal):
                lines.append(f'  out{i} [shape=plaintext, label="out {i}"]; {src.get(o.id, f"v{o.id}")} -> out{i};')
        lines.append("}")
        return "\n".join(lines)

    def _repr_svg_(self):
        """Jupyter: the graph drawn by Graphviz's ``dot`` (when it is on PATH; None otherwise)."""
        if "_svg" not in self.__dict__:
            from .render import svg
            self.__dict__["_svg"] = svg(self.to_dot())
        return self.__dict__["_svg"]

    def _repr_html_(self) -> str:
        """Jupyter: the picture of :meth:`_repr_svg_`, or the graph's text when ``dot`` is not installed."""
        from .render import html_of
        return html_of(self.pretty(), self._repr_svg_())

    # ---- fingerprint ------------------------------------------------------
    def key(self) -> tuple:
        """Hashable structural key (primitive names, params, avals, wiring); cached."""
        k = self.__dict__.get("_key")
        if k is None:
            k = self.__dict__["_key"] = structural_key(self.constvars, self.invars, self.nodes, self.outvars)
        return k

    def fingerprint(self) -> str:
        """Stable structural hash (hex) of :meth:`key`."""
        return hashlib.sha256(repr(self.key()).encode()).hexdigest()[:32]

    # ---- helpers --------------------------------------------------------
    def in_avals(self) -> list:
        return [v.aval for v in self.invars]

    def out_avals(self) -> list:
        return [v.aval for v in self.outvars]

    def count(self, prim) -> int:
        """How many nodes apply the primitive ``prim`` (a ``Primitive`` object, e.g. ``mul_p``)."""
        if isinstance(prim, str):
            raise TypeError(f"Graph.count takes a Primitive object, not its name {prim!r}")
        return sum(1 for n in self.nodes if n.prim is prim)



class GraphBuilder:
    """Collects nodes; :meth:`build` closes them into a :class:`Graph`.

    Graph traces record into one (tapes keep their own records and build graphs from them).
    """

    def __init__(self):
        self.nodes: list = []

    def add(self, prim, invars: list, params: dict, out_avals) -> list:
        """Append ``prim(invars, **params)``; returns its output Vars."""
        outs = [Var(a) for a in out_avals]
        self.nodes.append(Node(prim, invars, params, outs))
        return outs

    def build(self, invars: list, outvars: list, constvars: list = (), consts: list = (),
              prune: bool = False) -> Graph:
        """The graph ``outvars = nodes(invars)``; with ``prune``, only the nodes the outputs need."""
        nodes = self.nodes
        if prune:
            nodes = needed_nodes(nodes, outvars)
        return Graph(list(invars), list(nodes), list(outvars), list(constvars), list(consts))


def needed_nodes(nodes: list, outvars: list) -> list:
    """The nodes (in order) that ``outvars`` depend on."""
    live = {v.id for v in outvars if type(v) is Var}
    kept = []
    for n in reversed(nodes):
        for o in n.outvars:
            if o.id in live:
                kept.append(n)
                for a in n.invars:
                    if type(a) is Var:
                        live.add(a.id)
                break
    kept.reverse()
    return kept


def free_inputs(nodes: list, outvars: list) -> list:
    """The Vars that ``nodes`` and ``outvars`` read but no node defines, in order of first use."""
    defined: set = set()
    seen: dict = {}
    for n in nodes:
        for a in n.invars:
            if isinstance(a, Var) and a.id not in defined:
                seen.setdefault(a.id, a)
        defined.update(o.id for o in n.outvars)
    for v in outvars:
        if isinstance(v, Var) and v.id not in defined:
            seen.setdefault(v.id, v)
    return list(seen.values())

class Key:
    """A structural key: a tuple with its hash computed once (keys are nested in other cache keys and
    hashed on every lookup)."""

    __slots__ = ("parts", "_hash")

    def __init__(self, parts: tuple):
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other or (type(other) is Key and self._hash == other._hash and self.parts == other.parts)

    def __repr__(self) -> str:
        return repr(self.parts)


def structural_key(constvars, invars, nodes, outvars) -> Key:
    ids: dict = {}

    def ref(v):
        if type(v) is Literal:
            return v.key()
        i = ids.get(v.id)
        if i is None:
            i = ids[v.id] = len(ids)
            return (i, v.aval)
        return i

    parts = [tuple([ref(v) for v in constvars]), tuple([ref(v) for v in invars])]
    for n in nodes:
        parts.append((n.prim.name, param_key(n.params), tuple([ref(v) for v in n.invars]),
                      tuple([ref(v) for v in n.outvars])))
    parts.append(tuple([ref(v) for v in outvars]))
    return Key(tuple(parts))


def param_key(params: dict) -> tuple:
    """Hashable form of a node's params."""
    if not params:
        return ()
    return tuple(sorted((k, _hashable(v)) for k, v in params.items()))


def _hashable(v):
    """Floats compare by bit pattern, so that ``-0.0`` and ``0.0`` differ and a NaN equals itself."""
    t = type(v)
    if t is int or t is bool or t is str or v is None:
        return v
    if t is tuple and all(type(x) is int for x in v):  # axes, shapes, permutations
        return v
    if isinstance(v, Graph):
        return v.key()
    if isinstance(v, np.ndarray):
        return ("arr", str(v.dtype), v.shape, v.tobytes())
    if isinstance(v, (float, np.floating)):
        return ("float", str(np.asarray(v).dtype), np.asarray(v).tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    return v


def _has_graph(v) -> bool:
    """Is ``v`` a Graph or a tuple of them (a graph-valued parameter)?"""
    return isinstance(v, Graph) or (type(v) is tuple and bool(v) and all(isinstance(g, Graph) for g in v))


def _fmt_params(params: dict) -> str:
    if not params:
        return ""
    items = []
    for k, v in sorted(params.items()):
        if isinstance(v, Graph):
            v = "{...}"
        items.append(f"{k}={v}")
    return "[" + " ".join(items) + "]"
