"""Checkpoints: ``jaxish.save(path, tree)`` and ``jaxish.load(path, like=None)`` for pytrees of tensors and
Variables, stored as a NumPy ``.npz`` file.

Each leaf is stored as one array (``leaf_0``, ``leaf_1``, ...) beside a JSON
description (``__jaxish__``): every leaf's path in the tree (``['w'][0]``),
and the nesting of dicts, lists and tuples, so that ``load(path)`` rebuilds
the tree without a template. The file is written to a temporary file in the
same directory and renamed over ``path`` (``os.replace``), so a crash never
leaves a half-written checkpoint and readers see the old or the new file.
Nothing is pickled: loading runs no code from the file.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import dtypes as _dt
from .core import Tensor, Tracer, is_variable
from .fileio import atomic_write
from .tree_util import NAMESPACE

__all__ = ["save", "load"]

_FORMAT = "jaxish-checkpoint"
_META = "__jaxish__"


def _path_str(path: tuple) -> str:
    return "".join(f"[{p!r}]" for p in path) or "<root>"


def _leaf_array(x, where: str) -> np.ndarray:
    if is_variable(x):
        x = x._value
    if isinstance(x, Tracer):
        raise TypeError(f"save: the leaf {where} is a traced value (save is called inside a traced function); "
                        f"save concrete tensors or Variables, outside @trace")
    if isinstance(x, Tensor):
        return np.asarray(x._value)
    if isinstance(x, (np.ndarray, np.generic, bool, int, float)):
        arr = np.asarray(x)
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"save: the leaf {where} is an array of dtype {arr.dtype}; only numeric arrays are saved")
        return arr
    raise TypeError(f"save: the leaf {where} has type {type(x).__name__}; a checkpoint holds tensors, Variables, "
                    f"arrays and numbers, in dicts, lists and tuples (or registered pytree nodes)")


def _skeleton(x, path: tuple, out: list):
    """A JSON description of dict/list/tuple nesting; leaves are appended to ``out`` as ``(path, leaf)``.
    Returns None for a tree with other node types (then ``load`` without ``like`` gives a flat dict)."""
    if x is None:
        return {"none": True}
    if is_variable(x) or isinstance(x, (Tensor, np.ndarray, np.generic, bool, int, float)):
        out.append((path, x))
        return {"leaf": _path_str(path)}
    if type(x) is dict:
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in x):
            raise _Unsupported
        return {"dict": [[k, _skeleton(x[k], path + (k,), out)] for k in sorted(x, key=lambda k: (str(type(k)), k))]}
    if type(x) in (list, tuple):
        return {type(x).__name__: [_skeleton(v, path + (i,), out) for i, v in enumerate(x)]}
    raise _Unsupported


class _Unsupported(Exception):
    pass


def _flatten_with_paths(tree) -> list:
    import optree
    paths, leaves, _ = optree.tree_flatten_with_path(tree, is_leaf=is_variable, none_is_leaf=False,
                                                     namespace=NAMESPACE)
    return list(zip((tuple(p) for p in paths), leaves))


def save(path: str | os.PathLike, tree: Any) -> None:
    """Write a pytree of tensors, Variables (their current values), arrays and numbers to ``path`` (an ``.npz``
    file, written atomically; ``path`` is used as given, no suffix is added)."""
    path = os.fspath(path)
    try:
        leaves: list = []
        skeleton = _skeleton(tree, (), leaves)
    except _Unsupported:
        skeleton, leaves = None, _flatten_with_paths(tree)
    arrays = {f"leaf_{i}": _leaf_array(x, _path_str(p)) for i, (p, x) in enumerate(leaves)}
    meta = {"format": _FORMAT, "version": 1, "paths": [_path_str(p) for p, _ in leaves],
            "variables": [is_variable(x) for _, x in leaves], "skeleton": skeleton}
    arrays[_META] = np.array(json.dumps(meta))
    # created as open() would create it (0666 less the umask), not private as mkstemp's files
    atomic_write(path, lambda f: np.savez(f, **arrays), "wb", permissions=0o666)


class _Corrupt(Exception):
    pass


def _read(path: str) -> tuple:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise ValueError(f"load: {path!r} is not a jaxish checkpoint ({e})") from None
    if not hasattr(data, "files"):  # a plain .npy file
        raise ValueError(f"load: {path!r} is not a jaxish checkpoint (a single array, not an .npz archive)")
    with data:
        if _META not in data.files:
            raise ValueError(f"load: {path!r} is not a jaxish checkpoint (no {_META} entry)")
        try:
            meta = json.loads(str(data[_META]))
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise ValueError(f"load: {path!r} is not a jaxish checkpoint")
            paths = meta.get("paths")
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) \
                    or len(set(paths)) != len(paths):
                raise _Corrupt("its list of leaf paths is malformed")
            arrays = {}
            for i, p in enumerate(paths):
                name = f"leaf_{i}"
                if name not in data.files:
                    raise _Corrupt(f"the array of leaf {p} ({name}) is missing")
                arrays[p] = _checked_array(data, name, p)
            skeleton = meta.get("skeleton")
            if skeleton is not None:
                _check_skeleton(skeleton, arrays)
        except _Corrupt as e:
            raise ValueError(f"load: {path!r} is a corrupt jaxish checkpoint: {e}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"load: {path!r} is a corrupt jaxish checkpoint: its {_META} entry is not JSON "
                             f"({e})") from None
    return meta, arrays


def _checked_array(data, name: str, where: str) -> np.ndarray:
    """The array ``name``, refused unless it is numeric of a dtype jaxish has (no object arrays: nothing is
    unpickled; no strings, complex numbers or structured records)."""
    try:
        arr = data[name]
    except ValueError as e:  # NumPy refuses object (pickled) arrays when allow_pickle=False
        raise _Corrupt(f"leaf {where} holds Python objects (a pickled array), which load refuses ({e})") from None
    try:
        _dt.from_numpy(arr.dtype)
    except (TypeError, ValueError, KeyError):
        raise _Corrupt(f"leaf {where} has dtype {arr.dtype}, which is not a jaxish dtype") from None
    return arr


def _check_skeleton(node, arrays: dict) -> None:
    """Raise ``_Corrupt`` unless ``node`` is a description :func:`_rebuild` can follow, with leaves in ``arrays``."""
    if not isinstance(node, dict) or len(node) != 1:
        raise _Corrupt(f"its tree description is malformed ({str(node)[:60]})")
    (kind, body), = node.items()
    if kind == "none":
        return
    if kind == "leaf":
        if body not in arrays:
            raise _Corrupt(f"its tree names a leaf {body!r} that it does not hold")
        return
    if kind == "dict":
        if not isinstance(body, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in body):
            raise _Corrupt("its tree description has a malformed dict")
        for _, v in body:
            _check_skeleton(v, arrays)
        return
    if kind in ("list", "tuple") and isinstance(body, list):
        for v in body:
            _check_skeleton(v, arrays)
        return
    raise _Corrupt(f"its tree description has an unknown node {kind!r}")


def _rebuild(node, arrays: dict):
    if "none" in node:
        return None
    if "leaf" in node:
        return Tensor(arrays[node["leaf"]])
    if "dict" in node:
        return {k: _rebuild(v, arrays) for k, v in node["dict"]}
    kind = "list" if "list" in node else "tuple"
    items = [_rebuild(v, arrays) for v in node[kind]]
    return items if kind == "list" else tuple(items)


def load(path: str | os.PathLike, like: Any = None) -> Any:
    """Read a checkpoint written by :func:`save`.

    Without ``like``: the tree of Tensors as saved (dicts, lists and tuples; a tree that had other node types,
    such as named tuples, comes back as a flat ``{path: Tensor}`` dict, e.g. ``{"[0]['w']": ...}``).

    With ``like`` (a tree of the same structure: the model's parameters, an optimizer state): each leaf is
    checked against ``like``'s (same path, shape and dtype; a mismatch raises ``ValueError`` for shapes and
    leaves and ``TypeError`` for dtypes, naming the leaf's path) and the result has ``like``'s structure. Where
    ``like`` holds a Variable, the saved value is assigned to it and the Variable itself is returned.
    """
    path = os.fspath(path)
    meta, arrays = _read(path)
    if like is None:
        if meta.get("skeleton") is None:
            return {p: Tensor(a) for p, a in arrays.items()}
        return _rebuild(meta["skeleton"], arrays)
    import optree
    paths, leaves, treedef = optree.tree_flatten_with_path(like, is_leaf=is_variable, none_is_leaf=False,
                                                           namespace=NAMESPACE)
    names = [_path_str(tuple(p)) for p in paths]
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in set(names)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"leaves missing from the checkpoint: {', '.join(missing[:10])}")
        if extra:
            parts.append(f"leaves of the checkpoint not in `like`: {', '.join(extra[:10])}")
        raise ValueError(f"load: {path!r} does not have the structure of `like`: {'; '.join(parts)}")
    for name, ref in zip(names, leaves):  # every leaf is checked before any Variable is assigned
        arr = arrays[name]
        want = _expected(ref)
        if want is not None:
            shape, dtype = want
            if tuple(arr.shape) != tuple(shape):
                raise ValueError(f"load: leaf {name} has shape {tuple(arr.shape)} in {path!r}, but `like` has "
                                 f"shape {tuple(shape)}")
            if arr.dtype != dtype:
                raise TypeError(f"load: leaf {name} has dtype {_dt.from_numpy(arr.dtype).name} in {path!r}, but "
                                f"`like` has dtype {_dt.from_numpy(dtype).name}")
    out = []
    for name, ref in zip(names, leaves):
        if is_variable(ref):
            ref.assign(Tensor(arrays[name]))
            out.append(ref)
        else:
            out.append(Tensor(arrays[name]))
    return optree.tree_unflatten(treedef, out)


def _expected(ref):
    """``(shape, NumPy dtype)`` that a leaf of ``like`` asks for; None for a Python number (anything numeric)."""
    if is_variable(ref):
        ref = ref._value
    if isinstance(ref, Tensor):
        return tuple(ref.aval.shape), ref.dtype.np
    if isinstance(ref, (np.ndarray, np.generic)):
        return ref.shape, ref.dtype
    return None
