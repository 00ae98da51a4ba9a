"""The core: primitives, tensors, the trace stack and ``bind`` (nothing here imports the front end).

=====================  ====================================================
``primitive.py``       :class:`Primitive` and the registry of primitives
``tensor.py``          :class:`Tensor`, :class:`Tracer`, ``VariableBase``
``convert.py``         op arguments to Tensors; converters the front end registers
``state.py``           per-thread trace stack and device scope
``trace.py``           :func:`bind`, the eval trace, abstract evaluation
``graph_trace.py``     :class:`GraphTrace`: records nodes into a Graph
``interpret.py``       the one graph-walking loop (``interpret``, ``eval_graph``)
``call.py``            ``call_p``: a primitive whose parameter is a closed Graph
``control_flow.py``    ``cond_p``, ``while_p``, ``scan_p``: graph-valued parameters, loops and branches
=====================  ====================================================
"""
from .convert import is_variable, literal_tensor, read_variable, register_converter, to_tensor_arg
from .graph_trace import GraphTrace
from .interpret import eval_graph, interpret
from .primitive import PRIMITIVES, Primitive
from .state import STATE, current_level, current_trace
from .tensor import CPU_DEVICE, Tensor, Tracer, VariableBase
from .trace import Trace, bind, user_line

__all__ = ["PRIMITIVES", "Primitive", "Tensor", "Tracer", "VariableBase", "CPU_DEVICE", "STATE", "Trace",
           "GraphTrace", "bind", "current_trace", "current_level", "eval_graph", "interpret", "is_variable",
           "literal_tensor", "read_variable", "register_converter", "to_tensor_arg", "user_line"]
