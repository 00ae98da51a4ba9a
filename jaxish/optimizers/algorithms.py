"""The update rules: SGD (momentum, Nesterov), Adam (AMSGrad), AdamW, RMSprop.

Argument names and defaults are Keras's (``tf.keras.optimizers``); the formulas are PyTorch's
(``torch.optim``), written once here for both the Variable and the pytree API. Differences from Keras are
listed in each class.
"""
from __future__ import annotations

from typing import Callable

from .. import ops as _ops
from .base import Optimizer, needs_params

__all__ = ["SGD", "Adam", "AdamW", "RMSprop"]


def _unit_interval(name: str, what: str, value, closed_right: bool = False) -> float:
    v = float(value)
    if not (0.0 <= v <= 1.0 if closed_right else 0.0 <= v < 1.0):
        raise ValueError(f"{name}: {what} must be in [0, 1{']' if closed_right else ')'}, got {value!r}")
    return v


def _non_negative(name: str, what: str, value) -> float:
    v = float(value)
    if not v >= 0.0:
        raise ValueError(f"{name}: {what} must be non-negative, got {value!r}")
    return v


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and Nesterov momentum.

    PyTorch's rule (``torch.optim.SGD`` with ``dampening=0``): ``b = momentum * b + g`` (``b`` starts at 0, the
    slot ``'momentum'``), then ``p -= lr * (g + momentum * b)`` with ``nesterov`` or ``p -= lr * b`` without.
    Keras keeps ``-lr * b`` as its velocity instead, which gives the same parameters while the learning rate is
    constant and differs when a schedule changes it (here, as in PyTorch, a new rate applies to the whole
    accumulated momentum at once).
    """

    _config_names = ("momentum", "nesterov")

    def __init__(self, learning_rate: float | Callable = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD"):
        self.momentum = _unit_interval(name, "momentum", momentum, closed_right=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and not self.momentum:
            raise ValueError(f"{name}: nesterov=True needs a momentum > 0")
        self.slot_names = ("momentum",) if self.momentum else ()
        super().__init__(learning_rate, name)

    def _rule(self, g, p, slots, t, lr):
        if not self.momentum:
            return -lr * g, {}
        b = self.momentum * slots["momentum"] + g
        d = g + self.momentum * b if self.nesterov else b
        return -lr * d, {"momentum": b}


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad.

    PyTorch's rule (``torch.optim.Adam``): ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g**2``
    (slots ``'momentum'``, ``'velocity'``; with ``amsgrad`` also ``'velocity_hat' = max(velocity_hat, v)``, used in
    place of ``v``), ``p -= lr * (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)``.
    Keras adds ``epsilon`` to ``sqrt(v)`` before the bias correction of ``v`` (``epsilon * sqrt(1 - beta_2**t)``
    in PyTorch's terms): the results differ only where ``sqrt(v)`` is as small as ``epsilon``. The default
    ``epsilon`` is Keras's 1e-7 (PyTorch's is 1e-8).
    """

    _config_names = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate: float | Callable = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: str = "Adam"):
        self.beta_1 = _unit_interval(name, "beta_1", beta_1)
        self.beta_2 = _unit_interval(name, "beta_2", beta_2)
        self.epsilon = _non_negative(name, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())
        super().__init__(learning_rate, name)

    def _rule(self, g, p, slots, t, lr):
        b1, b2 = self.beta_1, self.beta_2
        m = b1 * slots["momentum"] + (1.0 - b1) * g
        v = b2 * slots["velocity"] + (1.0 - b2) * _ops.square(g)
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new["velocity_hat"] = _ops.maximum(slots["velocity_hat"], v)
        m_hat = m / (1.0 - _ops.pow(b1, t))
        v_hat = v / (1.0 - _ops.pow(b2, t))
        return -lr * m_hat / (_ops.sqrt(v_hat) + self.epsilon), new


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter).

    PyTorch's rule (``torch.optim.AdamW``), as Keras's: ``p -= lr * weight_decay * p``, then Adam's update
    (computed from the parameter before the decay, which the decay does not enter). The default
    ``weight_decay`` is Keras's 0.004 (PyTorch's is 0.01). The functional API needs ``params`` in
    ``update(grads, state, params)``.
    """

    _config_names = ("weight_decay",) + Adam._config_names

    def __init__(self, learning_rate: float | Callable = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "AdamW"):
        self.weight_decay = _non_negative(name, "weight_decay", weight_decay)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name)

    def _rule(self, g, p, slots, t, lr):
        update, new = super()._rule(g, p, slots, t, lr)
        if self.weight_decay:
            update = update - (lr * self.weight_decay) * needs_params(p, self.name)
        return update, new


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    PyTorch's rule (``torch.optim.RMSprop``, Keras's ``rho`` is PyTorch's ``alpha``): ``v = rho v + (1 - rho)
    g**2`` (slot ``'velocity'``); centered, ``a = rho a + (1 - rho) g`` (slot ``'average_gradient'``) and
    ``d = sqrt(v - a**2) + epsilon``, else ``d = sqrt(v) + epsilon``; with momentum ``b = momentum b + g / d``
    (slot ``'momentum'``) and ``p -= lr * b``, else ``p -= lr * g / d``. Keras adds ``epsilon`` under the square
    root (``sqrt(v + epsilon)``), and its momentum holds ``lr * g / d`` (the same while the rate is constant).
    """

    _config_names = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate: float | Callable = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "RMSprop"):
        self.rho = _unit_interval(name, "rho", rho)
        self.momentum = _unit_interval(name, "momentum", momentum, closed_right=True)
        self.epsilon = _non_negative(name, "epsilon", epsilon)
        self.centered = bool(centered)
        self.slot_names = (("velocity",) + (("average_gradient",) if self.centered else ())
                           + (("momentum",) if self.momentum else ()))
        super().__init__(learning_rate, name)

    def _rule(self, g, p, slots, t, lr):
        rho = self.rho
        v = rho * slots["velocity"] + (1.0 - rho) * _ops.square(g)
        new = {"velocity": v}
        if self.centered:
            a = new["average_gradient"] = rho * slots["average_gradient"] + (1.0 - rho) * g
            d = _ops.sqrt(v - _ops.square(a)) + self.epsilon
        else:
            d = _ops.sqrt(v) + self.epsilon
        if self.momentum:
            b = new["momentum"] = self.momentum * slots["momentum"] + g / d
            return -lr * b, new
        return -lr * (g / d), new
