"""Tensor and Variable reprs in TensorFlow's form."""
from __future__ import annotations

import numpy as np


def numpy_text(value: np.ndarray, is_repr: bool = True) -> str:
    """The ``numpy=`` part of a repr (``is_repr``) or the value part of a str, as TensorFlow writes them: a 0-d
    value's repr is its Python number's (``numpy=0.10000000149011612`` for a float32 0.1, from ``.item()``),
    its str NumPy's (``0.1``)."""
    if value.ndim == 0:
        text = repr(value.item()) if is_repr else str(value[()])
    else:
        text = repr(value) if is_repr else str(value)
    if "\n" in text and is_repr:
        text = "\n" + text
    return text


def tensor_repr(t) -> str:
    return (f"<jaxish.Tensor: shape={tuple(t.aval.shape)}, dtype={t.dtype.name}, "
            f"numpy={numpy_text(t._value)}>")


def tensor_str(t) -> str:
    text = numpy_text(t._value, is_repr=False)
    if "\n" in text:
        text = "\n" + text
    return f"jaxish.Tensor({text}, shape={tuple(t.aval.shape)}, dtype={t.dtype.name})"


def variable_repr(v) -> str:
    value = v._value
    return (f"<jaxish.Variable '{v.name}' shape={tuple(value.aval.shape)} dtype={value.dtype.name}, "
            f"numpy={numpy_text(value._value)}>")
