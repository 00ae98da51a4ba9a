"""Ops on tensors that live on an accelerator: the hook a device backend registers.

``core.trace.eval_primitive`` hands an op to :func:`eval_on_device` when one of
its inputs is a :class:`~jaxish.core.tensor.DeviceTensor` or a device scope
places it on an accelerator. The core knows no backend: the CUDA backend
registers its evaluator here when it is first used (``jaxish.devices``), which
happens before any DeviceTensor or accelerator scope can exist.
"""
from __future__ import annotations

_EVALUATOR: list = [None]
_TO_HOST: list = [None]


def set_device_evaluator(fn) -> None:
    """``fn(prim, vals, params)`` runs ops placed on an accelerator (see ``backends/cuda/placement.py``)."""
    _EVALUATOR[0] = fn


def eval_on_device(prim, vals: list, params: dict):
    fn = _EVALUATOR[0]
    if fn is None:  # pragma: no cover (a device scope or DeviceTensor implies a registered backend)
        raise RuntimeError(f"{prim.name}: placed on an accelerator, but no device backend is loaded")
    return fn(prim, vals, params)


def set_host_copy(fn) -> None:
    """``fn(device array) -> ndarray``: the device backend's (counted) copy to the host, which
    ``DeviceTensor._value`` uses."""
    _TO_HOST[0] = fn


def to_host(dev):
    """A host copy of the device array ``dev``, made by the backend that owns it (counted there)."""
    fn = _TO_HOST[0]
    if fn is None:  # pragma: no cover (a DeviceTensor implies a registered backend)
        raise RuntimeError("a device array, but no device backend is loaded")
    return fn(dev)
