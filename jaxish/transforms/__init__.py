"""Graph-to-graph transforms: reverse mode (``vjp.py``)."""
from .vjp import vjp_graph

__all__ = ["vjp_graph"]
