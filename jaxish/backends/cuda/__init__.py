"""The CUDA backend: the same graphs on ``'/gpu:0'``, as kernels generated for ``numba.cuda``.

=====================  ====================================================
``runtime.py``         numba.cuda (imported on first use), availability, launch sizes, simulated launches, device memory
``npshim.py``          ``np`` for generated kernels: NumPy's scalar functions numba-cuda lacks
``kernels.py``         kernel source of fused groups (elementwise, reductions)
``lowerings.py``       the lowering table of the other primitives (matmul, shape ops, gather, random …)
``codegen.py``         ``Program``: a graph as kernels plus host steps that allocate and launch
``control_flow.py``    cond / while / scan: sub-programs driven from the host, carries on the device
``placement.py``       where ops run: eager ops and compiled graphs on device tensors, soft placement
=====================  ====================================================

Nothing here imports ``numba.cuda`` at import time; :func:`activate` (called
by ``jaxish.devices`` when a GPU is first asked for and available) registers
the backend with the core and the executables.
"""
from __future__ import annotations

from .runtime import status

__all__ = ["status", "available", "activate"]

_ACTIVE: list = []


def available() -> bool:
    """Can jaxish run on GPU:0 (numba-cuda installed and a GPU, or its simulator)? Activates the backend."""
    ok = status()[0]
    if ok and not _ACTIVE:
        activate()
    return ok


def activate() -> None:
    """Hand ops on device tensors (and in GPU scopes) to this backend."""
    from ... import backends
    from ...core.placement import set_device_evaluator, set_host_copy
    from .placement import eval_primitive
    from .runtime import simulator, to_host
    set_device_evaluator(eval_primitive)
    set_host_copy(to_host)
    if simulator():  # it runs kernels as NumPy scalar code, which warns on x / 0 (a GPU does not)
        import warnings
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="_jx_cuda_")
    backends.ON_DEVICE[0] = True
    _ACTIVE.append(True)
