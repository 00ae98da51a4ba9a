"""Random numbers: ``set_seed``, ``uniform``, ``normal``.

A counter-based generator (Philox4x32-10): the global state is ``(seed,
counter)``; every random op (and every call of a traced function that draws
random numbers) advances the counter, so results are reproducible under
:func:`set_seed` and fresh on every call. The generator is thread-safe: threads
drawing at the same time get distinct counters, hence distinct numbers.

Inside a trace the state is an input of the graph; the ``k``-th random op of a
trace reads Philox stream ``k`` (16 bits of the Philox counter hold the stream,
so ops beyond the 32768th fold the high part of ``k`` into the key), and the
``k``-th nested call of a traced function that draws random numbers gets its
own key, the caller's key times an odd constant plus a 63-bit hash of ``k``
(wrapping in int64): distinct and reproducible at any nesting depth, never an
integer overflow. The multiplication makes the derivation depend on the order
of the nesting (with a plain sum, call ``a`` inside call ``b`` and call ``b``
inside call ``a`` would share a key and draw the same numbers).

Eagerly, once a seed is set (``set_seed`` or an op-level ``seed=``), ``uniform`` and ``normal`` draw
TensorFlow's own numbers (``tf_random``: its seed derivation and Philox kernels, in NumPy), so the
values a TensorFlow program prints are the values jaxish prints; they still advance the counter above,
so the traced calls that follow draw what they drew before.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from . import dtypes as _dt
from . import tf_random
from .core import Tensor, current_trace
from .primitives.random import random_uniform_p

__all__ = ["set_seed", "uniform", "normal", "get_state"]


class _Generator:
    def __init__(self):
        self.seed = int.from_bytes(os.urandom(7), "little")
        self.counter = 0
        self.lock = threading.Lock()

    def next_state(self, op_seed=None) -> np.ndarray:
        with self.lock:
            seed, counter = self.seed, self.counter
            self.counter += 1
        if op_seed is not None:
            seed = _mix(seed, int(op_seed))
        return np.array([seed, counter], dtype=np.int64)

    def reset(self, seed: int) -> None:
        with self.lock:
            self.seed = int(seed) & (2**63 - 1)
            self.counter = 0

    def get(self) -> tuple:
        with self.lock:
            return self.seed, self.counter


def _mix(a: int, b: int) -> int:
    x = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & (2**63 - 1)
    return x


_M64 = 2**64 - 1
_STREAM_BITS = 15  # streams 2k and 2k+1 must fit the 16 bits the Philox counter gives them


def _fold(*parts: int) -> int:
    """A key tweak in [1, 2**63) from integers (splitmix64 finaliser): well mixed, bounded, never 0."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (int(p) & _M64)) * 0xBF58476D1CE4E5B9 & _M64
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _M64
        x ^= x >> 31
    return (x & (2**63 - 1)) or 1


_NESTED_CALL = 1  # domain tags: a nested call's key never equals an op's folded key
_HIGH_STREAM = 2


def _tweak(state, tweak: int):
    """``state + [tweak, 0]``, built from an iota and a 0-d literal: no array constant, which a loop's condition
    or body would capture on the CPU (an eager loop on accelerator operands could not read it)."""
    if not tweak:
        return state
    from .primitives import elementwise as ew
    from .primitives.shape_ops import iota_p
    first = ew.sub_p.bind(Tensor(np.int64(1)), iota_p.bind(n=2, dtype=_dt.int64))   # [1, 0]
    return ew.add_p.bind(state, ew.mul_p.bind(first, Tensor(np.int64(tweak))))


def _stream_state(seed=None) -> tuple:
    """``(state, stream)`` for a random op (``seed``: an op-level seed) or, inside a trace with
    ``seed=None``, the state handed to a nested traced call (its stream is unused)."""
    trace = current_trace()
    if trace is None:
        return Tensor(GENERATOR.next_state(seed)), 0
    state, k = trace.rng_state()
    tweak = 0 if seed is None else _mix(0, int(seed))  # an op-level seed selects another key for this op
    high, stream = divmod(k, 2**_STREAM_BITS)
    if high:
        tweak = (tweak + _fold(_HIGH_STREAM, high)) & (2**63 - 1)
    return _tweak(state, tweak), stream


_KEY_MULTIPLIER = 0xBF58476D1CE4E5B9 - 2**64  # odd, as a signed int64


def _nested_call_state():
    """The random state input of the ``k``-th random-using traced call inside the current trace:
    ``[key * M + hash(k), counter]``, a key that depends on the whole path of nested calls, in order."""
    from .ops import multiply
    state, k = current_trace().rng_state()
    scaled = multiply(state, Tensor(np.array([_KEY_MULTIPLIER, 1], dtype=np.int64)))
    return _tweak(scaled, _fold(_NESTED_CALL, k))


GENERATOR = _Generator()


def set_seed(seed: int) -> None:
    """Make the random ops that follow reproducible."""
    from .ops import _is_int
    if not _is_int(seed):
        raise TypeError(f"random.set_seed: seed must be an integer, got {seed!r:.60} of type {type(seed).__name__}")
    GENERATOR.reset(int(seed))
    tf_random.reset(int(seed))


def get_state() -> tuple:
    """``(seed, counter)`` of the global generator."""
    return GENERATOR.get()


def _shape(shape, op: str) -> tuple:
    from .ops import int_list
    shape = tuple(int_list(op, shape))
    if any(d < 0 for d in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def _tf_pair(seed):
    """TensorFlow's seed pair for an eager random op (None inside a trace or with no seed set); the global
    counter advances as for any eager draw."""
    if current_trace() is not None:
        return None
    pair = tf_random.seeds(seed)
    if pair is not None:
        GENERATOR.next_state()
    return pair


def _placed(array: np.ndarray) -> Tensor:
    from .devices import place
    return place(np.array(array, order="C"))


def _unit(shape, dtype, seed, stream_offset=0):
    state, stream = _stream_state(seed)
    return random_uniform_p.bind(state, shape=shape, dtype=dtype, stream=2 * stream + stream_offset)


def uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None) -> Tensor:
    """Uniform values in ``[minval, maxval)`` (``maxval`` defaults to 1 for floats)."""
    from .ops import add, cast, floor, multiply, subtract
    dtype = _dt.as_dtype(dtype)
    shape = _shape(shape, "random.uniform")
    if dtype.is_integer and maxval is None:
        raise ValueError("random.uniform: maxval must be given for integer dtypes")
    if not (dtype.is_integer or dtype.is_floating):
        raise TypeError(f"random.uniform: unsupported dtype {dtype}")
    pair = _tf_pair(seed)
    if pair is not None:
        return _tf_uniform(pair, shape, minval, maxval, dtype)
    if dtype.is_integer:
        u = _unit(shape, _dt.float64, seed)
        span = float(maxval) - float(minval)
        return cast(add(floor(multiply(u, span)), float(minval)), dtype)
    u = _unit(shape, dtype, seed)
    maxval = 1 if maxval is None else maxval
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)) and (minval, maxval) == (0, 1):
        return u
    return add(multiply(u, subtract(cast(maxval, dtype), cast(minval, dtype))), cast(minval, dtype))


def normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None) -> Tensor:
    """Normal values (Box–Muller transform of two uniform streams)."""
    from .ops import add, cast, cos, log1p, multiply, negative, sqrt
    dtype = _dt.as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError(f"random.normal: dtype must be floating, got {dtype}")
    shape = _shape(shape, "random.normal")
    pair = _tf_pair(seed)
    if pair is not None:  # TensorFlow: standard normal * stddev + mean, in the dtype
        z = _placed(tf_random.standard_normal(pair, shape, dtype.name))
        return add(multiply(z, cast(stddev, dtype)), cast(mean, dtype))
    state, stream = _stream_state(seed)
    u1 = random_uniform_p.bind(state, shape=shape, dtype=_dt.float64, stream=2 * stream)
    u2 = random_uniform_p.bind(state, shape=shape, dtype=_dt.float64, stream=2 * stream + 1)
    r = sqrt(multiply(negative(log1p(negative(u1))), 2.0))
    z = cast(multiply(r, cos(multiply(u2, 2 * math.pi))), dtype)
    return add(multiply(z, cast(stddev, dtype)), cast(mean, dtype))


def _tf_uniform(pair, shape, minval, maxval, dtype) -> Tensor:
    """TensorFlow's eager ``random.uniform``: its kernel's output, scaled as ``tf.random.uniform`` does."""
    from .ops import add, cast, multiply, subtract
    if dtype.is_integer:
        lo, hi = int(minval), int(maxval)
        if lo >= hi:
            raise ValueError(f"random.uniform: need minval < maxval, got {lo} >= {hi}")
        return _placed(tf_random.uniform_int(pair, shape, dtype.name, lo, hi))
    u = _placed(tf_random.uniform(pair, shape, dtype.name))
    lo_zero = type(minval) is int and minval == 0
    hi_one = type(maxval) is int and maxval == 1 or maxval is None
    if lo_zero:
        return u if hi_one else multiply(u, cast(maxval, dtype))
    hi = cast(1 if maxval is None else maxval, dtype)
    lo = cast(minval, dtype)
    return add(multiply(u, subtract(hi, lo)), lo)
