"""What the CUDA backend asks of ``numba.cuda``: availability, launch sizes, device memory.

``numba.cuda`` is imported on first use only (``import jaxish`` works without
the ``numba-cuda`` package). It is the target of the ``numba-cuda`` package
(``pip install "jaxish[cuda]"``); Numba's deprecated built-in CUDA target is
not used. With ``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported,
Numba's simulator stands in for a GPU: every CUDA thread runs as a Python
thread, so the launch sizes below are small there.
"""
from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from ...core.tensor import count_transfer

_LOCK = threading.Lock()
_STATUS: list = []   # [(available, reason)] once probed
_CONFIG: list = []

INSTALL_HINT = 'install it with pip install "jaxish[cuda]"'


def status() -> tuple:
    """``(available, reason)``: whether GPU:0 can run jaxish's CUDA backend, and if not, why."""
    if _STATUS:
        return _STATUS[0]
    with _LOCK:
        if not _STATUS:
            _STATUS.append(_probe())
    return _STATUS[0]


def _probe() -> tuple:
    try:
        from numba import cuda
    except Exception as e:  # noqa: BLE001 (an import error, or a broken CUDA installation)
        return False, f"numba-cuda cannot be imported ({type(e).__name__}: {e}); {INSTALL_HINT}"
    if getattr(cuda, "implementation", None) == "Built-in":
        return False, f"the numba-cuda package is not installed; {INSTALL_HINT}"
    try:
        ok = bool(cuda.is_available())
    except Exception as e:  # noqa: BLE001
        return False, f"numba.cuda failed to initialise ({type(e).__name__}: {e})"
    if not ok:
        return False, ("numba-cuda finds no GPU (no NVIDIA driver, or no device); NUMBA_ENABLE_CUDASIM=1 set "
                       "before Python starts runs Numba's CUDA simulator instead")
    return True, ""


def cuda():
    """The ``numba.cuda`` module (only call once :func:`status` says it is available)."""
    from numba import cuda as _cuda
    return _cuda


def simulator() -> bool:
    """Is Numba's CUDA simulator standing in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)?"""
    from numba.core import config
    return bool(config.ENABLE_CUDASIM)


def device_count() -> int:
    return len(cuda().gpus) if status()[0] else 0


def device_description(index: int = 0) -> str:
    """A one-line description of GPU ``index``: its name and compute capability (or the simulator)."""
    if simulator():
        return "Numba CUDA simulator"
    dev = cuda().gpus[index]
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    cc = dev.compute_capability
    return f"{name} (compute capability {cc[0]}.{cc[1]})"


def compute_capability() -> tuple:
    return tuple(cuda().get_current_device().compute_capability)


@dataclass(frozen=True)
class LaunchConfig:
    """Launch sizes. The simulator runs each thread as a Python thread (~0.1 ms each, and every
    ``syncthreads`` costs milliseconds), so it gets small blocks and few of them: the same code paths
    (grid-stride loops, several blocks, partial blocks, two-pass reductions) at a cost tests can afford."""

    block: int            # threads per block of elementwise and serial kernels
    max_blocks: int       # blocks of a grid-stride launch at most
    reduce_block: int     # threads per block of tree reductions (a power of two)
    items: int            # elements per thread below which a reduction is not split across blocks
    serial_rows: int      # reductions with at least this many outputs: one thread per output, no tree
    tile: int             # matmul tile (tile x tile threads per block)
    small_matmul: int     # below m*n*k, one thread per output element (no shared memory)


def launch_config() -> LaunchConfig:
    if not _CONFIG:
        if simulator():
            cfg = LaunchConfig(block=32, max_blocks=4, reduce_block=8, items=2, serial_rows=8, tile=4,
                               small_matmul=4096)
        else:
            sms = int(getattr(cuda().get_current_device(), "MULTIPROCESSOR_COUNT", 80))
            cfg = LaunchConfig(block=256, max_blocks=sms * 8, reduce_block=256, items=16,
                               serial_rows=sms * 256, tile=16, small_matmul=16 * 16 * 16)
        _CONFIG.append(cfg)
    return _CONFIG[0]


def grid(n: int, block: int | None = None) -> tuple:
    """``(blocks, threads)`` of a grid-stride launch over ``n`` items."""
    cfg = launch_config()
    block = block or cfg.block
    return max(1, min(cfg.max_blocks, math.ceil(n / block))), block


_SIM_LAUNCH = threading.Lock()


class SimulatedKernel:
    """A simulator kernel whose launch configuration is bound per launch.

    The simulator's ``kernel[grid, block]`` sets the configuration on the kernel object itself and returns it,
    and kernel modules are shared by every program with the same source: a program's ``kern[...]`` made when it
    was built would launch with the configuration of the last program built on the same module. Its launches
    are not thread-safe either (one launch's fake ``cuda`` module and kernel context are seen by a concurrent
    one). ``self[config]`` returns a launcher that configures and runs the kernel under one lock, so simulated
    launches are serialised (as a GPU's stream orders them)."""

    def __init__(self, kernel):
        self.kernel = kernel

    def __getitem__(self, config):
        kernel = self.kernel

        def launch(*args):
            with _SIM_LAUNCH:
                return kernel[config](*args)
        return launch


def launchable(kernel):
    """``kernel`` (a numba-cuda kernel) as the backend launches it: itself on a GPU, a
    :class:`SimulatedKernel` under the simulator."""
    return SimulatedKernel(kernel) if simulator() else kernel


# ---------------------------------------------------------------------------
# device memory
# ---------------------------------------------------------------------------
def empty(shape, dtype):
    return cuda().device_array(tuple(shape), dtype=np.dtype(dtype))


def to_device(array: np.ndarray):
    """A device copy of a host array (a counted host-to-device transfer). With :func:`to_host`, the only copies
    between the host and the device the backend makes (``core.tensor.TRANSFERS`` counts them)."""
    count_transfer("to_device")
    array = np.asarray(array)
    # (np.ascontiguousarray makes a 0-d array 1-d: the device array has the host array's exact shape)
    return cuda().to_device(np.ascontiguousarray(array).reshape(array.shape))


def to_host(dev) -> np.ndarray:
    """A host copy of a device array (a counted device-to-host transfer)."""
    count_transfer("to_host")
    return dev.copy_to_host()


@contextlib.contextmanager
def driver_copies():
    """Count the copies numba-cuda itself makes between the host and the device while the block runs,
    whoever asks for them (its driver's ``host_to_device``/``device_to_host``, which explicit copies and the
    implicit copies of host arrays given to kernels go through; the simulator's array copies): an
    independent check of ``TRANSFERS``. Yields ``{"to_host": n, "to_device": n}``, filled as it goes."""
    counts = {"to_host": 0, "to_device": 0}

    def counted(fn, kind):
        def wrapper(*args, **kwargs):
            counts[kind] += 1
            return fn(*args, **kwargs)
        return wrapper
    patches = []
    if simulator():
        from numba.cuda.simulator.cudadrv import devicearray as sim
        patches += [(sim.FakeCUDAArray, "copy_to_host", "to_host"), (sim.FakeCUDAArray, "copy_to_device", "to_device"),
                    (sim, "to_device", "to_device"), (cuda(), "to_device", "to_device")]
    else:  # pragma: no cover (a real GPU)
        from numba.cuda.cudadrv import driver
        patches += [(driver, "host_to_device", "to_device"), (driver, "device_to_host", "to_host")]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, kind in patches:
            setattr(obj, name, counted(getattr(obj, name), kind))
        yield counts
    finally:
        for obj, name, fn in saved:
            setattr(obj, name, fn)

