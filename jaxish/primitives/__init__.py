"""Primitive families. Importing this package registers every primitive."""
from . import elementwise, linalg, random, reductions, shape_ops  # noqa: F401
from ..core import PRIMITIVES  # noqa: F401
