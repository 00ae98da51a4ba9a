"""``jaxish.nn``: activation functions and losses."""
from .ops import log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401
