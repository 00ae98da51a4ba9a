"""DTypes, the type-promotion lattice and weak types.

jaxish follows JAX's promotion lattice: Python scalars are *weakly typed* and
never widen a tensor's dtype (``-0.05 * g`` keeps ``g``'s dtype), and the
result dtype of mixing two strong dtypes is their least upper bound.
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

__all__ = [
    "DType", "bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32",
    "float64", "as_dtype", "result_type", "ALL_DTYPES", "FLOAT_DTYPES", "INT_DTYPES",
]


class DType:
    """A jaxish data type; prints as its name (``float32``)."""

    __slots__ = ("name", "np", "kind", "itemsize")

    def __init__(self, name: str, np_dtype: Any):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.kind = self.np.kind  # 'b', 'i', 'u', 'f'
        self.itemsize = self.np.itemsize

    @property
    def is_floating(self) -> bool:
        return self.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    @property
    def size(self) -> int:
        """Bytes per element (``tf.float32.size == 4``)."""
        return self.itemsize

    @property
    def as_numpy_dtype(self):
        return self.np.type

    @property
    def min(self):
        return np.finfo(self.np).min if self.is_floating else (False if self.is_bool else np.iinfo(self.np).min)

    @property
    def max(self):
        return np.finfo(self.np).max if self.is_floating else (True if self.is_bool else np.iinfo(self.np).max)

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self is other
        try:
            return as_dtype(other) is self
        except (TypeError, ValueError):
            return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self):
        return (as_dtype, (self.name,))


bool_ = DType("bool", np.bool_)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
globals()["bool"] = bool_

ALL_DTYPES = (bool_, int8, int16, int32, int64, uint8, float16, float32, float64)
FLOAT_DTYPES = (float16, float32, float64)
INT_DTYPES = (int8, int16, int32, int64, uint8)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NP = {d.np: d for d in ALL_DTYPES}


def as_dtype(x: Any) -> DType:
    """Convert a name, NumPy dtype/type or jaxish DType to a :class:`DType`."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str):
        if x in _BY_NAME:
            return _BY_NAME[x]
        raise TypeError(f"Unknown dtype {x!r}; valid dtypes are: {', '.join(_BY_NAME)}")
    if x is float:
        return float32
    if x is int:
        return int32
    if x is builtins.bool:
        return bool_
    try:
        npd = np.dtype(x)
    except TypeError:
        raise TypeError(f"Cannot interpret {x!r} as a dtype; valid dtypes are: {', '.join(_BY_NAME)}") from None
    if npd in _BY_NP:
        return _BY_NP[npd]
    raise TypeError(f"Unsupported dtype {npd}; valid dtypes are: {', '.join(_BY_NAME)}")


def from_numpy(npd: np.dtype) -> DType:
    """Fast path of :func:`as_dtype` for a NumPy dtype."""
    d = _BY_NP.get(npd)
    if d is None:
        return as_dtype(npd)
    return d


# ---- promotion lattice (JAX's, restricted to our dtypes) -------------------
# Nodes are dtype names plus the weak kinds 'i*' (Python int) and 'f*' (Python float).
_EDGES = {
    "bool": ["i*"],
    "i*": ["uint8", "int8"],
    "uint8": ["int16"],
    "int8": ["int16"],
    "int16": ["int32"],
    "int32": ["int64"],
    "int64": ["f*"],
    "f*": ["float16"],
    "float16": ["float32"],
    "float32": ["float64"],
    "float64": [],
}


def _upsets() -> dict:
    ups: dict = {}

    def up(n):
        if n not in ups:
            s = {n}
            for m in _EDGES[n]:
                s |= up(m)
            ups[n] = frozenset(s)
        return ups[n]

    for n in _EDGES:
        up(n)
    return ups


_UP = _upsets()


def _lub(a: str, b: str) -> str:
    common = _UP[a] & _UP[b]
    # the least element of the common upper set is the one whose upset equals it
    for n in common:
        if _UP[n] == common:
            return n
    raise AssertionError(f"lattice has no join for {a}, {b}")  # pragma: no cover


_DEFAULT_WEAK = {"i*": int32, "f*": float32}


def _node(dtype: DType, weak: bool) -> str:
    if weak and dtype.kind in "iu":
        return "i*"
    if weak and dtype.kind == "f":
        return "f*"
    return dtype.name


def result_type(*typed: tuple[DType, bool]) -> tuple[DType, bool]:
    """Join of ``(dtype, weak)`` pairs: returns the result ``(dtype, weak)``."""
    node = None
    for dt, weak in typed:
        n = _node(dt, weak)
        node = n if node is None else _lub(node, n)
    if node in _DEFAULT_WEAK:
        return _DEFAULT_WEAK[node], True
    return _BY_NAME[node], False


def default_for_python(value: Any) -> DType:
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    if isinstance(value, (float, np.floating)):
        return float32
    raise TypeError(f"no default dtype for {type(value).__name__}")
