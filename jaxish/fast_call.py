"""The Python function generated for one compiled executable: what an eager call of a ``@trace``d function (and
of the tape's backward graphs) runs once its machine code exists.

:func:`generated_call` writes, for one executable and one call signature, a function that unpacks the
arguments, reads the Variables' values, calls the Numba entry once with every array C-contiguous, writes the
assigned Variables and returns the output Tensors in their structure -- every decision taken when it is
generated: no per-call lists, loops, checks or ``__init__`` calls.

Outputs the entry writes into destinations (arrays it is given) come with their Tensors from one pool per
destination (``P{j}``, a ``deque(maxlen=2)``): each Tensor holds its buffer (or a view of it in the output's
shape: a 0-d result is a ``(1,)`` array in compiled code). A call pops the oldest Tensor (``popleft``, atomic:
no other thread can reach it then) and reuses it when nothing but the pool refers to it -- ``sys.getrefcount``
of the Tensor, of its array and of the array's base, and no weak reference to the Tensor: no user, view,
memoryview, DLPack capsule or Variable holds any of them --, so the same object comes back, unchanged but for
the values the entry writes. A Tensor still referred to is never written: it goes to the back of the pool and
the other is tried, else a new one on a new buffer is made. The pool keeps the last two: a result held while
the next call runs (a training loop's loss, a Variable's value, which is free once the next value is assigned)
makes the calls alternate between two; calls running at once in several threads each make their own, and the
bounded pool drops the oldest when they come back. Destinations that several outputs share use a pool of
bare buffers (``B{j}``) the same way.

A consequence, by design: a result the caller drops is not freed at once, since its pool keeps it for the
next call (a weak reference to it stays alive, a ``weakref.finalize`` waits, until a later call reuses or
drops it); its identity comes back as a later result. Memory is the same as without the pool, which keeps the
buffers either way.
"""
from __future__ import annotations

import sys
import weakref
from collections import deque
from typing import Sequence

import numpy as np

from .config import _config
from .core import CPU_DEVICE, STATE, Tensor
from .core.tensor import interned
from .tree_util import tree_flatten, tree_unflatten

MISS = object()
"""What a guarded generated call (``generated_call(..., guard=...)``) returns when the call is not one it was
generated for; the caller then takes the general path."""

_FREE: list = []

_TENSOR_SLOTS = ("_value", "_weak", "_device", "_aval", "__weakref__")  # generated code sets the first four


def free_refcount() -> int:
    """What ``sys.getrefcount`` says, in a generated call, of an object that only a local variable refers to
    (2 on CPython 3.11-3.13: the local and getrefcount's argument), measured once with the same code; 0
    (never reuse a buffer) where the count is no proof: free-threaded builds, or an interpreter that counts
    fewer references than that. Each container referring to the object (a tuple, a Tensor's slot, an array's
    ``base``) adds one."""
    if not _FREE:
        ns = {"rc": sys.getrefcount}
        exec("def probe(B):\n    d = B.popleft()\n    return rc(d)\n", ns)
        n = ns["probe"](deque([np.empty(1)]))
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()
        _FREE.append(n if gil and n >= 2 else 0)
    return _FREE[0]


class _Leaf:
    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k


def tree_expr(out_tree, leaves: Sequence[str], ns: dict) -> str | None:
    """A Python expression that builds what ``tree_unflatten(out_tree, leaves)`` builds, for a structure of plain
    tuples, lists, dicts and None (dict keys go to ``ns``); None for anything else (namedtuples, registered
    classes), which the caller unflattens. Checked: the expression's structure flattens back to ``out_tree``."""
    probe = tree_unflatten(out_tree, [_Leaf(k) for k in range(len(leaves))])

    def expr(x) -> str | None:
        if type(x) is _Leaf:
            return leaves[x.k]
        if x is None:
            return "None"
        if type(x) is tuple or type(x) is list:
            items = [expr(y) for y in x]
            if None in items:
                return None
            body = ", ".join(items) + ("," if type(x) is tuple and len(items) == 1 else "")
            return f"({body})" if type(x) is tuple else f"[{body}]"
        if type(x) is dict:
            items = []
            for key, y in x.items():
                e = expr(y)
                if e is None:
                    return None
                name = f"KEY{len(ns)}"
                ns[name] = key
                items.append(f"{name}: {e}")
            return "{" + ", ".join(items) + "}"
        return None

    e = expr(probe)
    if e is None or tree_flatten(probe)[1] != out_tree:
        return None
    return e


def generated_call(exe, n_args: int, variables: Sequence = (), assigned: Sequence = (), out_tree=None,
                   guard: tuple | None = None):
    """A Python function ``call(args)`` generated for one executable: it runs ``exe`` on the values of the
    ``n_args`` Tensors ``args`` and of ``variables``, writes the last outputs to ``assigned`` (as strong
    Tensors) and returns the others as Tensors, unflattened with ``out_tree`` (a list without one) -- what
    ``Executable.call_tensors`` and ``tracing.call_traced`` compute (see the module for the outputs' pool).
    The caller's key has checked the signature, including each input's shape and dtype.

    With ``guard = (avals, backend, hits)`` it returns ``(call, guarded)``: ``guarded(args)`` is ``call``
    behind the checks that make it apply -- ``len(args) == n_args``, an eager call (nothing on the trace
    stack), no device scope, the backend ``backend``, each argument a plain Tensor whose cached aval *is*
    ``avals[k]`` (avals are interned: an identity test) -- that counts a hit with ``next(hits)``; it returns
    :data:`MISS` otherwise. ``TracedFunction`` calls it before building any key.

    None for backends without ``fast_spec`` and before the executable has run. The function holds ``exe``
    (its machine code stays loaded while the function lives); it keeps no per-call state but its pool.
    """
    spec = exe.fast_spec()
    if spec is None:
        return None
    if Tensor.__slots__ != _TENSOR_SLOTS:  # the Tensors below are made field by field
        raise AssertionError(f"Tensor's fields changed ({Tensor.__slots__}): update fast_call.generated_call")
    gen = _Generator(exe, spec, n_args, variables, assigned)
    body = gen.body(out_tree)
    lines = gen.helpers + ["def call(args):"] + body
    ns = gen.ns
    if guard is not None:
        avals, backend, hits = guard
        ns["HITS"], ns["BACKEND"] = hits, backend
        checks = [f"len(args) != {n_args}", "len(STATE.stack) != 1", "STATE.device is not None",
                  "CFG._backend is not BACKEND" if backend is None else "CFG._backend != BACKEND"]
        lines += ["def guarded(args):", f"    if {' or '.join(checks)}:", "        return MISS"]
        if n_args:
            lines.append(f"    {''.join(f'a{k}, ' for k in range(n_args))}= args")
            for k, aval in enumerate(avals):
                ns[f"IN{k}"] = interned(aval)
            tests = " or ".join(f"type(a{k}) is not Tensor or a{k}._aval is not IN{k}" for k in range(n_args))
            lines += [f"    if {tests}:", "        return MISS"]
        lines.append("    next(HITS)")
        lines += body[1:] if n_args else body  # (the arguments are unpacked)
    exec(compile("\n".join(lines) + "\n", "<jaxish generated call>", "exec"), ns)
    return ns["call"] if guard is None else (ns["call"], ns["guarded"])


class _Generator:
    """The body of one generated call (``generated_call``) and the names it uses (``ns``)."""

    def __init__(self, exe, spec: tuple, n_args: int, variables: Sequence, assigned: Sequence):
        fn, sizes, plan, dests, consts = spec
        free = free_refcount()
        self.ns = {"fn": fn, "S": sizes, "asc": np.ascontiguousarray, "Tensor": Tensor, "DEV": CPU_DEVICE,
                   "EXE": exe, "unflatten": tree_unflatten, "rc": sys.getrefcount, "wr": weakref.getweakrefcount,
                   "empty": np.empty, "FREE": free, "F1": free and free + 1, "new": object.__new__, "MISS": MISS,
                   "STATE": STATE, "CFG": _config}
        self.exe, self.plan, self.dests, self.consts = exe, plan, dests, consts
        self.n_args, self.variables, self.assigned = n_args, variables, assigned
        self.n_out = len(plan) - len(assigned)
        self.helpers: list = []  # module-level functions the call uses (lines)
        # the destinations that exactly one output is: their Tensors are pooled (by output index k, dest j)
        uses = [[k for k, p in enumerate(plan) if p[0] == "dst" and p[1] == j] for j in range(len(dests))]
        self.pooled = [(ks[0], j) for j, ks in enumerate(uses) if len(ks) == 1]
        for k, (kind, x, reshape, shape) in enumerate(plan):
            self.ns[f"SH{k}"] = shape
        for j, (shape, dt) in enumerate(dests):
            self.ns[f"DS{j}"], self.ns[f"DT{j}"] = shape, dt
        for k, aval in enumerate(exe.out_avals):
            # (interned: a result passed back in then passes a guard; assigned values are strong)
            self.ns[f"AV{k}"] = (interned(aval) if aval is not None and (k < self.n_out or not aval.weak_type)
                                 else None)

    def weak(self, k: int) -> bool:
        return bool(self.exe._weak[k]) if k < self.n_out else False

    def tensor(self, k: int, value: str) -> list:
        """``t{k} = Tensor(value, weak, DEV, AV{k})``, without ``__init__``."""
        return [f"t{k} = new(Tensor)", f"t{k}._value = {value}", f"t{k}._weak = {self.weak(k)}",
                f"t{k}._device = DEV", f"t{k}._aval = AV{k}"]

    def fresh(self, k: int, j: int) -> list:
        """A new buffer for destination ``j`` and the Tensor of output ``k`` on it."""
        if self.plan[k][2]:  # reshaped: the Tensor holds a view, whose base is the buffer
            return [f"d{j} = empty(DS{j}, DT{j})", f"v{j} = d{j}.reshape(SH{k})"] + self.tensor(k, f"v{j}")
        return [f"d{j} = empty(DS{j}, DT{j})"] + self.tensor(k, f"d{j}")

    def member(self, k: int, j: int) -> list:
        """The Tensor of output ``k`` on destination ``j`` (``t{k}``, its buffer ``d{j}``, the view ``v{j}``
        when it holds one): from its pool ``P{j}`` when nothing but this local refers to it, its array or the
        array's base (each of those is referred to by its container, a local and getrefcount's argument when
        it is free: F1); else ``take{j}`` (generated beside the call) tries the others."""
        self.ns[f"P{j}"] = deque(maxlen=2)
        if self.plan[k][2]:  # the Tensor holds a view of the buffer
            load = [f"v{j} = t{k}._value", f"d{j} = v{j}.base"]
            busy = f"rc(t{k}) != FREE or wr(t{k}) or rc(v{j}) != F1 or rc(d{j}) != F1"
            got = f"t{k}, v{j}, d{j}"
        else:
            load = [f"d{j} = t{k}._value"]
            busy = f"rc(t{k}) != FREE or wr(t{k}) or rc(d{j}) != F1"
            got = f"t{k}, d{j}"
        fresh = self.fresh(k, j)
        # the slow path: the busy Tensor goes to the back of the pool and each other one is tried (a result held
        # for good must not make every later call allocate); if all are busy, a new one, and of the busy ones
        # only the newest stays (with the new one, the pool keeps two)
        self.helpers += ([f"def take{j}(t{k}):", f"    P{j}.append(t{k})", f"    for _ in range(len(P{j}) - 1):",
                          "        try:", f"            t{k} = P{j}.popleft()", "        except IndexError:",
                          "            break"]
                         + ["        " + s for s in load]
                         + [f"        if not ({busy}):", f"            return {got}", f"        P{j}.append(t{k})",
                            f"    while len(P{j}) > 1:", f"        P{j}.popleft()"]
                         + ["    " + s for s in fresh] + [f"    return {got}"])
        return (["try:", f"    t{k} = P{j}.popleft()", "except IndexError:"] + ["    " + s for s in fresh]
                + ["else:"] + ["    " + s for s in load] + [f"    if {busy}:", f"        {got} = take{j}(t{k})"])

    def buffer(self, j: int) -> list:
        """A buffer for a destination that is not pooled with a Tensor (several outputs are that array): the
        last two written, oldest first; a busy one goes back, with those older than it dropped."""
        self.ns[f"B{j}"] = deque(maxlen=2)
        return ["try:", f"    d{j} = B{j}.popleft()", "except IndexError:", f"    d{j} = empty(DS{j}, DT{j})", "else:",
                f"    if rc(d{j}) != FREE:", f"        B{j}.append(d{j})", f"        while len(B{j}) > 1:",
                f"            B{j}.popleft()",
                f"        d{j} = empty(DS{j}, DT{j})"]

    def body(self, out_tree) -> list:
        ns, plan, n_args = self.ns, self.plan, self.n_args
        out = []
        ins = [f"i{k}" for k in range(n_args + len(self.variables))]
        if n_args:
            out.append(f"{''.join(f'a{k}, ' for k in range(n_args))}= args")
            out += [f"i{k} = a{k}._value" for k in range(n_args)]
        for j, v in enumerate(self.variables):
            ns[f"V{j}"] = v
            out.append(f"i{n_args + j} = V{j}._value._value")
        for c, arr in enumerate(self.consts):
            ns[f"K{c}"], ns[f"C{c}"] = arr, np.ascontiguousarray(arr)  # (constants never change)
        pooled = dict((j, k) for k, j in self.pooled)
        for j in range(len(self.dests)):
            out += self.member(pooled[j], j) if j in pooled else self.buffer(j)
        args = ([f"asc({i})" for i in ins] + [f"C{c}" for c in range(len(self.consts))]
                + [f"d{j}" for j in range(len(self.dests))] + ["S"])
        out.append(f"{'res = ' if any(p[0] == 'res' for p in plan) else ''}fn({', '.join(args)})")
        out += [f"P{j}.append(t{pooled[j]})" if j in pooled else f"B{j}.append(d{j})" for j in range(len(self.dests))]
        pooled_outs = {k for k, _ in self.pooled}
        for k, (kind, x, reshape, shape) in enumerate(plan):
            if k in pooled_outs:
                continue
            if kind == "res" or kind == "dst":
                src = f"res[{x}]" if kind == "res" else f"d{x}"
                out += self.tensor(k, src + (f".reshape(SH{k})" if reshape else ""))
            elif kind == "in":
                out += self.tensor(k, ins[x] if x < len(ins) else f"K{x - len(ins)}")
            else:
                ns[f"L{k}"] = x
                out += self.tensor(k, f"L{k}")
        n = self.n_out
        for j, v in enumerate(self.assigned):  # (shape and dtype were checked when it was traced)
            ns[f"W{j}"] = v
            out.append(f"W{j}._value = t{n + j}")
        outs = [f"t{k}" for k in range(n)]
        if out_tree is None:
            out.append(f"return [{', '.join(outs)}]")
        elif n == 1 and out_tree.is_leaf():
            out.append(f"return {outs[0]}")
        else:
            e = tree_expr(out_tree, outs, ns)
            ns["TREE"] = out_tree
            out.append(f"return {e}" if e is not None else f"return unflatten(TREE, [{', '.join(outs)}])")
        return ["    " + s for s in out]
