"""Where ops run once a GPU is in use: eager ops and compiled graphs on device tensors.

An op runs on the device of the innermost ``jaxish.device`` scope; without a
scope, on the GPU when one of its inputs is a GPU tensor, else on the CPU.

* Inputs on another device are copied to the op's device (counted in
  ``core.tensor.TRANSFERS``). Without a scope, an op whose inputs mix a GPU
  tensor with a CPU tensor of more than one element is an error naming both
  devices when soft device placement is off; with soft placement on (the
  default) the CPU tensor is copied. 0-d CPU tensors (Python scalars, a
  tape's seed) are always copied.
* Eagerly, an op on the GPU runs as a one-node graph compiled by this backend
  (cached by primitive, input shapes/dtypes and parameters): its result is a
  ``DeviceTensor`` and nothing returns to the host.
* A compiled graph (a traced function, ``grad``, a tape's backward pass) with
  GPU inputs, or called in a GPU scope, runs as one CUDA program
  (:class:`.codegen.Program`, cached by the graph's structure).
* A graph or op the backend cannot lower yet raises ``Unsupported`` (a
  ``NotImplementedError`` naming the op) when soft placement is off; with
  soft placement on it runs on the CPU on host copies of its inputs, its
  results are copied back to the GPU, and a ``RuntimeWarning`` naming the op
  is issued once per op.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np

from ...config import cache_limit, get_soft_device_placement
from ...core.state import STATE
from ...core.tensor import CPU_DEVICE, DeviceTensor, Tensor
from ...errors import DevicePlacementError
from ...ir import Graph, Node, ShapedArray, Var
from ...lru import LRU, KeyedLocks
from ...primitives.elementwise import copy_p
from . import runtime as rt
from .codegen import Program, Unsupported

_PROGRAMS = LRU(lambda: cache_limit("executable_cache_size"))   # graph key -> Program | Unsupported
_EAGER = LRU(lambda: cache_limit("executable_cache_size"))      # (prim, avals, params) -> (Program | Unsupported)
_LOCKS = KeyedLocks()
_WARNED: set = set()
_WARN_LOCK = threading.Lock()
_GENERATION = [0]   # bumped by clear(): programs cached on executables are stale
_SCALARS = LRU(lambda: 1024)  # (dtype, bytes) -> device copy of a 0-d host value
_CONSTS = LRU(lambda: cache_limit("executable_cache_size"))  # id(host array) -> (it, its device copy)
STATS = {"programs": 0, "eager_programs": 0, "cpu_fallbacks": 0}


# ---------------------------------------------------------------------------
# devices of values
# ---------------------------------------------------------------------------
def target_device(tensors) -> str:
    """The device an op on ``tensors`` runs on: the scope's, else the first GPU input's, else the CPU."""
    dev = STATE.device
    if dev is not None:
        return dev
    for t in tensors:
        if type(t) is DeviceTensor:
            return t._device
    return CPU_DEVICE


def host_tensor(t: Tensor) -> Tensor:
    """``t`` on the host (a copy when it is a DeviceTensor)."""
    return Tensor(t._value, t._weak, CPU_DEVICE) if type(t) is DeviceTensor else t


def device_array(t: Tensor, device: str, what: str, others=()):
    """The device array of ``t`` on ``device`` (GPU), copying a host tensor there (see the module's rules)."""
    if type(t) is DeviceTensor:
        if t._device == device:
            return t._dev
        raise DevicePlacementError(f"{what}: an input is on {t._device} and the op on {device}; copying between "
                                   f"GPUs is not supported yet (copy through the CPU with jaxish.identity)")
    shape = t.aval.shape
    if not shape:  # a Python scalar, a tape's seed: one device copy per value, reused (tensors are immutable)
        host = np.asarray(t._value)
        key = (host.dtype.str, host.tobytes())
        dev = _SCALARS.get(key)
        if dev is None:
            dev = _SCALARS[key] = rt.to_device(host.reshape(()))
        return dev
    if STATE.device is None and not get_soft_device_placement():
        raise DevicePlacementError(
            f"{what}: inputs on two devices, {t._device} and {device}: copy the CPU tensor with "
            f"`with jaxish.device('/gpu:0'): jaxish.identity(x)`, or turn soft device placement on "
            f"(jaxish.config.set_soft_device_placement(True)) to copy it implicitly")
    return rt.to_device(np.asarray(t._value).reshape(shape))


def device_constant(c, device: str):
    """The device array of a graph's captured constant ``c`` (a Tensor or an array): a tensor on ``device``
    itself, else its device copy, made once per host value and kept while the value is cached
    (``_CONSTS``, keyed by the host array's identity: executables of one graph made for other calls share
    it), so calls of a compiled graph copy no constants."""
    if type(c) is DeviceTensor and c._device == device:
        return c._dev
    if isinstance(c, Tensor) and type(c) is not Tensor:
        return device_array(c, device, "constant")   # on another device: device_array says what happens
    host = np.asarray(c._value if isinstance(c, Tensor) else c)
    hit = _CONSTS.get(id(host))
    if hit is not None and hit[0] is host:
        return hit[1]
    dev = rt.to_device(host.reshape(host.shape))
    _CONSTS[id(host)] = (host, dev)   # (holding ``host`` keeps its id unique while the entry lives)
    return dev


def to_device_tensor(array: np.ndarray, weak: bool, device: str) -> DeviceTensor:
    """A DeviceTensor on ``device`` holding a copy of the host ``array``."""
    from ...dtypes import from_numpy
    aval = ShapedArray(tuple(array.shape), from_numpy(array.dtype), weak)
    return DeviceTensor(rt.to_device(array), aval, device)


def copy_to(t: Tensor, device: str) -> Tensor:
    """``t`` on ``device`` (itself when it is there already)."""
    if t._device == device:
        return t
    if device == CPU_DEVICE:
        return host_tensor(t)
    return DeviceTensor(device_array(t, device, "copy"), t.aval, device)


# ---------------------------------------------------------------------------
# soft placement of what the backend cannot lower
# ---------------------------------------------------------------------------
def _unsupported(err: Unsupported, what: str) -> None:
    """Raise ``err`` without soft placement; with it, warn (once per message) that ``what`` runs on the CPU."""
    if not get_soft_device_placement():
        raise Unsupported(f"{err} (with jaxish.config.set_soft_device_placement(True) such {what} runs on the CPU)")
    with _WARN_LOCK:
        first = str(err) not in _WARNED
        _WARNED.add(str(err))
    if first:
        warnings.warn(f"{err}: the {what} runs on the CPU (soft device placement), its inputs and results are "
                      f"copied between the GPU and the host", RuntimeWarning, stacklevel=_user_stacklevel())
    from ...backends import count
    count(STATS, "cpu_fallbacks")


_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # .../jaxish


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside jaxish, for a ``warnings.warn`` in the caller."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _cached(cache: LRU, key, build):
    prog = cache.get(key) if key is not None else None
    if prog is None:
        with _LOCKS.hold(key):
            prog = cache.get(key) if key is not None else None
            if prog is None:
                try:
                    prog = build()
                except Unsupported as e:
                    prog = e
                if key is not None:
                    cache[key] = prog
    return prog


# ---------------------------------------------------------------------------
# eager ops (registered with core.placement)
# ---------------------------------------------------------------------------
def eval_primitive(prim, vals: list, params: dict):
    """Run one op placed on an accelerator (or, in a CPU scope, on host copies of its GPU inputs)."""
    from ...core.trace import abstract_eval
    from ...core.trace import eval_primitive as eval_host
    device = target_device(vals)
    if device == CPU_DEVICE:
        return eval_host(prim, [host_tensor(v) for v in vals], params)
    out_aval = abstract_eval(prim, vals, params, None)
    if prim is copy_p and type(vals[0]) is not DeviceTensor:  # identity onto the GPU: the copy is the result
        return DeviceTensor(device_array(vals[0], device, prim.name), out_aval, device)
    arrays = [device_array(v, device, prim.name) for v in vals]
    avals = tuple(v.aval for v in vals)
    try:
        key = (prim, avals, tuple(params.items()) if params else ())
        hash(key)
    except TypeError:  # unhashable params
        key = None
    prog = _cached(_EAGER, key, lambda: _eager_program(prim, avals, params, out_aval))
    if isinstance(prog, Unsupported):
        _unsupported(prog, "op")
        outs = _run_on_host(prim, vals, params, out_aval)
    else:
        outs = prog(arrays)
    if prim.multiple_results:
        return [DeviceTensor(o, a, device) for o, a in zip(outs, out_aval)]
    return DeviceTensor(outs[0], out_aval, device)


def _eager_program(prim, avals, params, out_aval) -> Program:
    from ...backends import count
    from ...passes import optimize
    invars = [Var(a) for a in avals]
    outvars = [Var(a) for a in (out_aval if prim.multiple_results else (out_aval,))]
    graph = optimize(Graph(invars, [Node(prim, invars, dict(params), outvars)], outvars), for_execution=True,
                     inline=True)
    prog = Program(graph)
    count(STATS, "eager_programs")
    return prog


def _run_on_host(prim, vals, params, out_aval) -> list:
    with np.errstate(all="ignore"):
        out = prim.impl(*[np.asarray(v._value) for v in vals], **params)
    outs = out if prim.multiple_results else [out]
    avals = out_aval if prim.multiple_results else (out_aval,)
    return [rt.to_device(np.asarray(o, a.dtype.np).reshape(a.shape)) for o, a in zip(outs, avals)]


# ---------------------------------------------------------------------------
# compiled graphs (backends.Executable.call_tensors hands them here)
# ---------------------------------------------------------------------------
def program_for(graph: Graph):
    """The CUDA program of an optimised graph (cached by structure), or the ``Unsupported`` error."""
    def build():
        from ...backends import count
        prog = Program(graph)
        count(STATS, "programs")
        return prog
    return _cached(_PROGRAMS, graph.key(), build)


def call_executable(exe, tensors: list) -> list:
    """Run a compiled graph on ``tensors`` on the device they (or the scope) place it on."""
    device = target_device(tensors)
    if device == CPU_DEVICE:
        return exe.call_tensors([host_tensor(t) for t in tensors])
    cached = exe.__dict__.get("_cuda_program")
    if cached is not None and cached[0] == _GENERATION[0]:
        prog = cached[1]
    else:
        prog = program_for(exe.graph)
        exe._cuda_program = (_GENERATION[0], prog)
    outvars = exe.graph.outvars
    if isinstance(prog, Unsupported):
        _unsupported(prog, "graph")
        outs = exe.run([np.asarray(t._value) for t in tensors] + exe._consts)  # (device constants: copied)
        return [DeviceTensor(rt.to_device(np.asarray(o)), ShapedArray(v.aval.shape, v.aval.dtype, w), device)
                for o, v, w in zip(outs, outvars, exe._weak)]
    arrays = [device_array(t, device, "graph") for t in tensors]
    if exe.const_values:
        consts = exe.__dict__.get("_cuda_consts")
        if consts is None:
            consts = exe._cuda_consts = [device_constant(c, device) for c in exe.const_values]
        arrays += consts
    outs = prog(arrays)
    return [DeviceTensor(o, ShapedArray(v.aval.shape, v.aval.dtype, w), device)
            for o, v, w in zip(outs, outvars, exe._weak)]


def clear() -> None:
    """Forget every CUDA program (``jaxish.clear_cache()``; also those executables hold)."""
    _GENERATION[0] += 1
    _PROGRAMS.clear()
    _EAGER.clear()
    _SCALARS.clear()
    _CONSTS.clear()
