"""``jaxish.nn``: activation functions, per-example losses, initializers, ``dropout``, ``l2_normalize``."""
from __future__ import annotations

from . import dtypes as _dt
from . import initializers  # noqa: F401
from . import ops as _ops
from .losses import mean_squared_error, sigmoid_binary_cross_entropy, softmax_cross_entropy  # noqa: F401
from .ops import log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401


def dropout(x, rate: float, training: bool = True, seed=None):
    """Zero each element of ``x`` with probability ``rate`` and scale the others by ``1 / (1 - rate)`` (inverted
    dropout, as ``tf.nn.dropout``); ``x`` unchanged when ``training`` is false or ``rate`` is 0.

    The mask comes from jaxish's random generator: fresh on every call, also of a ``@trace``d function (whose
    graph reads the random state), reproducible after ``jaxish.random.set_seed``. ``training`` is a Python bool
    (make it a static argument of a traced function).
    """
    x = _ops._in(x, "dropout")
    if not x.dtype.is_floating:
        raise TypeError(f"dropout: x must be floating-point, got dtype {x.dtype.name} (shape {x.aval.shape})")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise TypeError(f"dropout: rate must be a Python number, got {type(rate).__name__}")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not isinstance(training, bool):
        raise TypeError(f"dropout: training must be a Python bool, got {type(training).__name__} (make it a static "
                        f"argument of a traced function)")
    if not training or rate == 0.0:
        return x
    from .random import uniform
    keep = _ops.greater_equal(uniform(x.aval.shape, dtype=_dt.float32, seed=seed), float(rate))
    return _ops.where(keep, _ops.multiply(x, 1.0 / (1.0 - rate)), _ops.cast(0, x.dtype))


def l2_normalize(x, axis=None, epsilon: float = 1e-12):
    """``x / sqrt(max(sum(x**2, axis), epsilon))`` (TensorFlow's ``tf.math.l2_normalize``; ``axis=None``: all
    axes). Rows of zeros stay zeros."""
    x = _ops._in(x, "l2_normalize")
    if not x.dtype.is_floating:
        raise TypeError(f"l2_normalize: x must be floating-point, got dtype {x.dtype.name} (shape {x.aval.shape})")
    s = _ops.reduce_sum(_ops.square(x), axis=axis, keepdims=True)
    return _ops.multiply(x, _ops.rsqrt(_ops.maximum(s, float(epsilon))))
