"""``jaxish.linalg``: TensorFlow's ``tf.linalg`` names."""
from .creation import eye  # noqa: F401
from .ops import linalg_transpose as matrix_transpose  # noqa: F401
from .ops import matmul  # noqa: F401
