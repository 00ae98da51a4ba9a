"""Primitive families. Importing this package registers every primitive."""
from ..core import PRIMITIVES  # noqa: F401
from . import elementwise, linalg, random, reductions, shape_ops  # noqa: F401
