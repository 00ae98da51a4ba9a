"""Per-example losses (``jaxish.nn``): one value per example, reduce them yourself (``reduce_mean``).

Written with jaxish ops, so they trace, differentiate and fuse like any other
code; the cross-entropies are computed from logits in a numerically stable
form (no ``exp`` of a large logit, no ``log`` of 0).
"""
from __future__ import annotations

from . import ops as _ops
from .core import Tracer

__all__ = ["mean_squared_error", "softmax_cross_entropy", "sigmoid_binary_cross_entropy"]


def _float(op: str, x, what: str):
    x = _ops._in(x, op)
    if not x.dtype.is_floating:
        raise TypeError(f"{op}: {what} must be floating-point, got dtype {x.dtype.name} (shape {x.aval.shape})")
    return x


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred) ** 2, axis=-1)``: one value per example (Keras's ``mean_squared_error``).

    Parameters
    ----------
    y_true, y_pred : tensor-like, broadcastable; at least 1-D (the last axis holds one example's values).

    Returns
    -------
    Tensor of shape ``broadcast(y_true, y_pred).shape[:-1]``.
    """
    p = _float("mean_squared_error", y_pred, "y_pred")
    t = _ops.cast(_ops._in(y_true, "mean_squared_error"), p.dtype)
    d = _ops.subtract(p, t)
    if d.ndim == 0:
        raise ValueError("mean_squared_error: y_true and y_pred must have at least one axis (examples' values "
                         "along the last), got shape ()")
    return _ops.reduce_mean(_ops.square(d), axis=-1)


def softmax_cross_entropy(logits, labels):
    """Cross-entropy between ``softmax(logits)`` and ``labels``, one value per example (optax's argument order;
    TensorFlow's ``softmax_cross_entropy_with_logits`` and ``sparse_...`` in one function).

    Parameters
    ----------
    logits : float tensor of shape ``[..., classes]``.
    labels : integer tensor of shape ``[...]`` (class indices), or float tensor of shape ``[..., classes]``
        (one-hot rows or probabilities).

    Returns
    -------
    Tensor of shape ``logits.shape[:-1]``: ``-sum(labels * log_softmax(logits), axis=-1)``, computed as
    ``logsumexp(logits) - logits[label]`` (stable for logits of any size).

    Integer labels outside ``[0, classes)`` raise ``ValueError`` when their values are known (eagerly); inside
    ``@trace`` they give a loss of ``logsumexp(logits)`` (their one-hot row is all zeros).
    """
    x = _float("softmax_cross_entropy", logits, "logits")
    y = _ops._in(labels, "softmax_cross_entropy")
    if x.ndim == 0:
        raise ValueError("softmax_cross_entropy: logits must have a class axis (the last), got shape ()")
    classes = x.aval.shape[-1]
    if y.dtype.is_integer:
        if tuple(y.aval.shape) != tuple(x.aval.shape[:-1]):
            raise ValueError(f"softmax_cross_entropy: integer labels must have shape logits.shape[:-1] = "
                             f"{tuple(x.aval.shape[:-1])}, got {tuple(y.aval.shape)}")
        if not isinstance(y, Tracer):
            v = y._value
            if v.size and (v.min() < 0 or v.max() >= classes):
                raise ValueError(f"softmax_cross_entropy: labels must be class indices in [0, {classes}), got values "
                                 f"from {v.min()} to {v.max()}")
        y = _ops.one_hot(y, classes, dtype=x.dtype)
    elif y.dtype.is_floating:
        if tuple(y.aval.shape) != tuple(x.aval.shape):
            raise ValueError(f"softmax_cross_entropy: one-hot or probability labels must have the logits' shape "
                             f"{tuple(x.aval.shape)}, got {tuple(y.aval.shape)}")
        y = _ops.cast(y, x.dtype)
    else:
        raise TypeError(f"softmax_cross_entropy: labels must be integer class indices or float probabilities, got "
                        f"dtype {y.dtype.name}")
    return _ops.negative(_ops.reduce_sum(_ops.multiply(y, _ops.log_softmax(x)), axis=-1))


def sigmoid_binary_cross_entropy(logits, labels):
    """Elementwise cross-entropy between ``sigmoid(logits)`` and ``labels`` in [0, 1] (optax's name and argument
    order; TensorFlow's ``sigmoid_cross_entropy_with_logits``): ``max(x, 0) - x * z + log1p(exp(-|x|))``, stable
    for logits of any size. Same shape as ``logits``; average over the last axis yourself for multi-label rows.
    """
    x = _float("sigmoid_binary_cross_entropy", logits, "logits")
    z = _ops._in(labels, "sigmoid_binary_cross_entropy")
    if tuple(z.aval.shape) != tuple(x.aval.shape):
        raise ValueError(f"sigmoid_binary_cross_entropy: labels must have the logits' shape {tuple(x.aval.shape)}, "
                         f"got {tuple(z.aval.shape)}")
    z = _ops.cast(z, x.dtype)
    return _ops.add(_ops.subtract(_ops.relu(x), _ops.multiply(x, z)),
                    _ops.log1p(_ops.exp(_ops.negative(_ops.abs(x)))))
