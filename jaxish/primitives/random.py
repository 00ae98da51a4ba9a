"""Random primitives: uniform floats in [0, 1) from a Philox counter.

``random_uniform(state, shape, dtype, stream)`` reads ``state = [seed,
counter]`` (int64[2]); element ``i`` uses the Philox counter ``(i, counter,
stream)`` and the key ``seed``, so the values are a pure function of the
inputs: reproducible, parallel and identical on every backend.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive
from ..core.primitive import RANDOM
from ..dtypes import int64
from ..ir import ShapedArray
from .philox import philox_uniform_bits

_MASK = np.uint64(0xFFFFFFFF)


def _abstract(state, shape, dtype, stream):
    if state.shape != (2,) or state.dtype != int64:
        raise TypeError(f"random_uniform: state must be int64[2], got {state.dtype}{list(state.shape)}")
    if not dtype.is_floating:
        raise TypeError(f"random_uniform: dtype must be floating, got {dtype}")
    return ShapedArray(tuple(shape), dtype, False)


def philox_words(state, n, stream):
    """The two 32-bit words (as uint64 arrays) for elements ``0..n-1``."""
    seed = np.uint64(np.int64(state[0]).view(np.uint64))
    ctr = np.uint64(np.int64(state[1]).view(np.uint64))
    i = np.arange(n, dtype=np.uint64)
    return philox_uniform_bits(i & _MASK, i >> np.uint64(32), ctr & _MASK,
                               ((ctr >> np.uint64(32)) & np.uint64(0xFFFF)) | (np.uint64(stream) << np.uint64(16)),
                               seed & _MASK, seed >> np.uint64(32))


def bits_to_unit(w0, w1, dtype_name: str):
    """Map Philox words to a float in [0, 1) with the dtype's full mantissa."""
    if dtype_name == "float64":
        return ((w0 >> np.uint64(5)) * np.float64(67108864.0) + (w1 >> np.uint64(6))) * np.float64(2.0 ** -53)
    if dtype_name == "float32":
        return np.float32((w0 >> np.uint64(8)) * np.float64(2.0 ** -24))
    return np.float16((w0 >> np.uint64(21)) * np.float64(2.0 ** -11))


def _impl(state, shape, dtype, stream):
    n = int(np.prod(shape, dtype=np.int64))
    w0, w1 = philox_words(state, n, stream)
    return np.asarray(bits_to_unit(w0, w1, dtype.name), dtype=dtype.np).reshape(shape)


random_uniform_p = Primitive("random_uniform", _abstract, _impl, lambda g, state, out, **p: (None,),
                             effects=frozenset({RANDOM}))
