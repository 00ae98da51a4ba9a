"""jaxish: trace numerical Python into a graph, differentiate it symbolically,
and run it as fused, compiled Numba kernels.

TensorFlow-style (``constant``, ``Variable``, ``GradientTape``) and JAX-style
(``trace``, ``grad``, ``value_and_grad``) APIs over one IR of primitives.
"""
from __future__ import annotations

from ._version import __version__

from . import primitives as _primitives  # noqa: F401  (registers every primitive)
from . import config, dtypes, errors
from . import random
from . import tensor_methods as _tensor_methods  # noqa: F401
from .checkpoint import load, save
from .interop import from_dlpack
from .autodiff import grad, value_and_grad, vjp
from .batching import vmap
from .custom_rules import custom_jvp, custom_vjp
from .forward import hessian, jacfwd, jacobian, jacrev, jvp, linearize
from .core import Tensor, Tracer
from .creation import (constant, convert_to_tensor, eye, fill, is_tensor, linspace, ones, ones_like, range,
                       zeros, zeros_like)
from .devices import device
from .dtypes import (DType, as_dtype, bool_, float16, float32, float64, int8, int16, int32, int64,
                     uint8)
from .errors import CacheWarning, ConcretizationError, EscapedTracerError
from .ir import Graph
from .ops import (abs, add, add_n, argmax, argmin, broadcast_to, cast, clip_by_value, concat, cos, divide,
                  equal, erf, exp, expand_dims, expm1, floor, floordiv, gather, greater, greater_equal,
                  identity, is_finite, less, less_equal, log, log1p, log_softmax, logical_and, logical_not,
                  logical_or, logical_xor, matmul, maximum, minimum, mod, multiply, negative, not_equal,
                  norm, one_hot, pow, rank, reduce_all, reduce_any, reduce_logsumexp, reduce_max, reduce_mean,
                  reduce_min, reduce_prod, reduce_sum, relu, reshape, round, rsqrt, shape, sigmoid, sign, sin, size,
                  softmax, softplus, sqrt, square, squeeze, stack, stop_gradient, subtract, tanh, tile,
                  transpose, truediv, unstack, where)
from .tensor_shape import TensorShape
from .tape import GradientTape, UnconnectedGradients
from .tracing import function, jit, make_graph, trace
from .variables import Variable
from .control_flow import cond, fori_loop, scan, while_loop
from . import math, linalg, nn, optimizers, testing, tree_util  # noqa: E402

bool = bool_  # noqa: A001  (jaxish.bool, as tf.bool)
newaxis = None


def clear_cache() -> None:
    """Forget every traced signature and compiled executable in memory and delete jaxish's on-disk kernel files.

    Generated modules no longer used are unloaded, so Numba can free their
    dispatchers; what LLVM keeps of code it compiled in this process is not
    released (see the README's "Guarantees").
    """
    import gc

    from .transforms import vjp as vjp_transform
    from .backends import clear_memory_cache
    from .tracing import clear_traced_caches
    clear_traced_caches()
    clear_memory_cache()
    vjp_transform._VJP_CACHE.clear()
    from .transforms import batching as batch_transform
    from .transforms import jvp as jvp_transform
    batch_transform._BATCH_CACHE.clear()
    jvp_transform._JVP_CACHE.clear()
    gc.collect()  # generated modules are freed through reference cycles (Numba dispatchers)
    try:
        from .backends.cpu.disk_cache import clear_disk_cache
    except ImportError:  # pragma: no cover
        return
    clear_disk_cache()


__all__ = [n for n in dir() if not n.startswith("_")]
