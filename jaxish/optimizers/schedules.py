"""Learning-rate schedules: plain callables ``schedule(step) -> learning rate``.

``step`` is the number of updates applied so far (0 for the first one): a
Python int or an integer Tensor (inside ``@trace`` the optimizer passes its
iteration counter, a traced value, so one compiled step serves every step).
The result is a float32 Tensor. Any function of the step written with jaxish
ops is a schedule too (``lambda step: 0.1 / (1.0 + jaxish.cast(step, 'float32'))``).
The names and arguments are Keras's (``tf.keras.optimizers.schedules``).
"""
from __future__ import annotations

import math
from typing import Sequence

from .. import dtypes as _dt
from .. import ops as _ops

__all__ = ["ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay"]


def _step(step):
    return _ops.cast(step, _dt.float32)


def _positive(name: str, what: str, value) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name}: {what} must be positive, got {value}")
    return value


class ExponentialDecay:
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored with ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = _ops.floor(p)
        return self.initial_learning_rate * _ops.pow(_ops.cast(self.decay_rate, _dt.float32), p)

    def __repr__(self) -> str:
        return (f"ExponentialDecay(initial_learning_rate={self.initial_learning_rate}, "
                f"decay_steps={self.decay_steps:g}, decay_rate={self.decay_rate}, staircase={self.staircase})")


class CosineDecay:
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate`` over ``decay_steps``
    steps, constant afterwards: ``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))
    + alpha)`` (Keras's ``CosineDecay`` without warm-up; optax's ``cosine_decay_schedule``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("CosineDecay", "decay_steps", decay_steps)
        self.alpha = float(alpha)

    def __call__(self, step):
        s = _ops.minimum(_step(step), self.decay_steps)
        cosine = 0.5 * (1.0 + _ops.cos(s * (math.pi / self.decay_steps)))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def __repr__(self) -> str:
        return (f"CosineDecay(initial_learning_rate={self.initial_learning_rate}, decay_steps={self.decay_steps:g}, "
                f"alpha={self.alpha})")


class PiecewiseConstantDecay:
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while ``step <= boundaries[1]``, ...,
    ``values[-1]`` after the last boundary (Keras's rule: a boundary step still gets the earlier value)."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]):
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values must have one more element than boundaries, got "
                             f"{len(self.values)} values and {len(self.boundaries)} boundaries")
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {self.boundaries}")

    def __call__(self, step):
        s = _step(step)
        out = _ops.cast(self.values[-1], _dt.float32)
        for b, v in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            out = _ops.where(_ops.less_equal(s, float(b)), _ops.cast(v, _dt.float32), out)
        return out

    def __repr__(self) -> str:
        return f"PiecewiseConstantDecay(boundaries={self.boundaries}, values={self.values})"
