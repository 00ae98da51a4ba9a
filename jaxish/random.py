"""Random numbers: ``set_seed``, ``uniform``, ``normal``.

A counter-based generator (Philox4x32-10): the global state is ``(seed,
counter)``; every random op (and every call of a traced function that draws
random numbers) advances the counter, so results are reproducible under
:func:`set_seed` and fresh on every call.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import dtypes as _dt
from .core import Tensor, current_trace
from .primitives.random import random_uniform_p

__all__ = ["set_seed", "uniform", "normal", "get_state"]


class _Generator:
    def __init__(self):
        self.seed = int.from_bytes(os.urandom(7), "little")
        self.counter = 0

    def next_state(self, op_seed=None) -> np.ndarray:
        seed = self.seed if op_seed is None else _mix(self.seed, int(op_seed))
        state = np.array([seed, self.counter], dtype=np.int64)
        self.counter += 1
        return state


def _mix(a: int, b: int) -> int:
    x = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & (2**63 - 1)
    return x


GENERATOR = _Generator()


def set_seed(seed: int) -> None:
    """Make the random ops that follow reproducible."""
    from .ops import _is_int
    if not _is_int(seed):
        raise TypeError(f"random.set_seed: seed must be an integer, got {seed!r:.60} of type {type(seed).__name__}")
    GENERATOR.seed = int(seed) & (2**63 - 1)
    GENERATOR.counter = 0


def get_state() -> tuple:
    return GENERATOR.seed, GENERATOR.counter


def _state(seed):
    trace = current_trace()
    if trace is not None:
        state, stream = trace.rng_state()
        if seed is not None:  # an op-level seed selects another key for this op
            from .ops import add
            state = add(state, Tensor(np.array([_mix(0, int(seed)), 0], dtype=np.int64)))
        return state, stream
    return Tensor(GENERATOR.next_state(seed)), 0


def _shape(shape, op: str) -> tuple:
    from .ops import int_list
    shape = tuple(int_list(op, shape))
    if any(d < 0 for d in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def _unit(shape, dtype, seed, stream_offset=0):
    state, stream = _state(seed)
    return random_uniform_p.bind(state, shape=shape, dtype=dtype, stream=2 * stream + stream_offset)


def uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None) -> Tensor:
    """Uniform values in ``[minval, maxval)`` (``maxval`` defaults to 1 for floats)."""
    from .ops import add, cast, floor, multiply, subtract
    dtype = _dt.as_dtype(dtype)
    shape = _shape(shape, "random.uniform")
    if dtype.is_integer:
        if maxval is None:
            raise ValueError("random.uniform: maxval must be given for integer dtypes")
        u = _unit(shape, _dt.float64, seed)
        span = float(maxval) - float(minval)
        return cast(add(floor(multiply(u, span)), float(minval)), dtype)
    if not dtype.is_floating:
        raise TypeError(f"random.uniform: unsupported dtype {dtype}")
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
    state, stream = _state(seed)
    u1 = random_uniform_p.bind(state, shape=shape, dtype=_dt.float64, stream=2 * stream)
    u2 = random_uniform_p.bind(state, shape=shape, dtype=_dt.float64, stream=2 * stream + 1)
    r = sqrt(multiply(negative(log1p(negative(u1))), 2.0))
    z = cast(multiply(r, cos(multiply(u2, 2 * math.pi))), dtype)
    return add(multiply(z, cast(stddev, dtype)), cast(mean, dtype))
