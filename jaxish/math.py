"""``jaxish.math``: TensorFlow's ``tf.math`` names."""
from .ops import (abs, add, add_n, argmax, argmin, ceil, cos, divide, divide_no_nan, equal, erf, exp,  # noqa: F401
                  expm1, floor, floordiv, reduce_std, reduce_variance, round,
                  greater, greater_equal, is_finite, less, less_equal, log, log1p, log_softmax, logical_and,
                  logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply, negative, not_equal,
                  pow, reduce_all, reduce_any, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
                  reduce_prod, reduce_sum, rsqrt, sigmoid, sign, sin, softmax, softplus, sqrt, square, subtract,
                  tanh, truediv)

floormod = mod
