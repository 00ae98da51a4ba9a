"""Weight initializers on jaxish's seeded generator (``jaxish.random.set_seed`` makes them reproducible).

Each is a function ``init(shape, dtype=float32, seed=None) -> Tensor``, usable
as ``Variable(jaxish.nn.initializers.glorot_uniform((784, 128)))``. Fans
follow Keras: for a 2-D shape ``(fan_in, fan_out)``; for a convolution kernel
``(*window, in, out)`` both are multiplied by the window's size; a 1-D shape
has ``fan_in = fan_out = shape[0]``.

The normal initializers draw from an untruncated normal, as PyTorch's
``xavier_normal_`` and ``kaiming_normal_`` do (Keras truncates at two standard
deviations and rescales).
"""
from __future__ import annotations

import math

from . import dtypes as _dt
from . import random as _random
from .creation import ones as _ones
from .creation import zeros as _zeros

__all__ = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros", "ones", "compute_fans"]


def compute_fans(shape) -> tuple:
    """``(fan_in, fan_out)`` of a weight of this shape."""
    shape = tuple(int(d) for d in shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    window = math.prod(shape[:-2])
    return shape[-2] * window, shape[-1] * window


def _floating(op: str, dtype) -> _dt.DType:
    dtype = _dt.as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError(f"{op}: dtype must be floating-point, got {dtype.name}")
    return dtype


def _uniform(op, shape, dtype, seed, limit_of):
    dtype = _floating(op, dtype)
    shape = _random._shape(shape, op)
    limit = limit_of(*compute_fans(shape))
    return _random.uniform(shape, -limit, limit, dtype=dtype, seed=seed)


def _normal(op, shape, dtype, seed, std_of):
    dtype = _floating(op, dtype)
    shape = _random._shape(shape, op)
    return _random.normal(shape, 0.0, std_of(*compute_fans(shape)), dtype=dtype, seed=seed)


def glorot_uniform(shape, dtype=_dt.float32, seed=None):
    """Uniform in ``[-l, l]``, ``l = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio; Keras's default)."""
    return _uniform("glorot_uniform", shape, dtype, seed, lambda i, o: math.sqrt(6.0 / max(1, i + o)))


def glorot_normal(shape, dtype=_dt.float32, seed=None):
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""
    return _normal("glorot_normal", shape, dtype, seed, lambda i, o: math.sqrt(2.0 / max(1, i + o)))


def he_uniform(shape, dtype=_dt.float32, seed=None):
    """Uniform in ``[-l, l]``, ``l = sqrt(6 / fan_in)`` (He et al., for ReLU layers)."""
    return _uniform("he_uniform", shape, dtype, seed, lambda i, o: math.sqrt(6.0 / max(1, i)))


def he_normal(shape, dtype=_dt.float32, seed=None):
    """Normal with standard deviation ``sqrt(2 / fan_in)`` (He et al., for ReLU layers)."""
    return _normal("he_normal", shape, dtype, seed, lambda i, o: math.sqrt(2.0 / max(1, i)))


def zeros(shape, dtype=_dt.float32, seed=None):
    """Zeros (``seed`` is ignored; it is there so that every initializer takes the same arguments)."""
    return _zeros(shape, dtype)


def ones(shape, dtype=_dt.float32, seed=None):
    """Ones (``seed`` is ignored)."""
    return _ones(shape, dtype)
