"""``jaxish.optimizers``: SGD, Adam, AdamW, RMSprop and learning-rate schedules.

Keras's names and arguments, PyTorch's update formulas; usable on Variables
(``opt.apply_gradients([(g, v), ...])``, eagerly or inside ``@trace``) and on
pytrees (``opt.init`` / ``opt.update`` / :func:`apply_updates`, as optax).
"""
from . import schedules
from .algorithms import SGD, Adam, AdamW, RMSprop
from .base import Optimizer, OptState, apply_updates

__all__ = ["Optimizer", "OptState", "SGD", "Adam", "AdamW", "RMSprop", "apply_updates", "schedules"]
