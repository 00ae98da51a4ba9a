"""Random primitives: uniform floats in [0, 1) from a Philox counter.

``random_uniform(state, shape, dtype, stream)`` reads ``state = [seed,
counter]`` (int64[2]); element ``i`` uses the Philox counter ``(i, counter,
stream)`` and the key ``seed``, so the values are a pure function of the
inputs: reproducible, parallel and identical on every backend (the counter
packing and the bits-to-float mapping are the functions of ``philox.py``,
which the code generators compile too).
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..core.primitive import RANDOM
from ..dtypes import int64
from ..ir import ShapedArray
from .philox import UNIT, philox_words


def _abstract(state, shape, dtype, stream):
    if state.shape != (2,) or state.dtype != int64:
        raise TypeError(f"random_uniform: state must be int64[2], got {state.dtype}{list(state.shape)}")
    if not dtype.is_floating:
        raise TypeError(f"random_uniform: dtype must be floating, got {dtype}")
    return ShapedArray(tuple(shape), dtype, False)


def _impl(state, shape, dtype, stream):
    n = int(np.prod(shape, dtype=np.int64))
    seed, counter = (np.uint64(np.int64(v).view(np.uint64)) for v in state[:2])
    w0, w1 = philox_words(np.arange(n, dtype=np.uint64), seed, counter, np.uint64(stream))
    return np.asarray(UNIT[dtype.name](w0, w1), dtype=dtype.np).reshape(shape)


def _batch(args, dims, size, shape, dtype, stream):
    """Under ``vmap`` every example draws its own numbers: one draw of ``(size, *shape)`` from the same state
    (so the examples' numbers are independent, as in a loop, though not the loop's values). This rule runs
    even when nothing is batched. A state that differs per example cannot be batched."""
    if dims[0] is not None:
        raise NotImplementedError("vmap: random_uniform with a random state that differs per example (a batched "
                                  "state) is not supported")
    return random_uniform_p.bind(args[0], shape=(size,) + tuple(shape), dtype=dtype, stream=stream), 0


random_uniform_p = Primitive("random_uniform", _abstract, _impl, lambda g, state, out, **p: (None,),
                             effects=frozenset({RANDOM}), batch=_batch)
