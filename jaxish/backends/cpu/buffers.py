"""Reusable buffers for the large arrays a compiled graph allocates besides its outputs.

An array that Numba allocates inside compiled code comes from ``malloc``:
above glibc's mmap threshold (32 MB at most) every call maps fresh pages, and
the first write to each 4 KB page faults (some 10-40 ms for 40 MB, more than
the arithmetic of a fused kernel over it). Graph outputs are written into
destinations the caller passes (``codegen``; ``fast_call.generated_call`` reuses
them); every other allocation of at least ``POOL_BYTES`` (an intermediate
between steps, an array returned through a view of another shape) is a
parameter of the entry function too (``codegen._Entry.alloc``), and the
runner's ``fn`` passes buffers taken from a :class:`BufferPool` per parameter
(``pooled_call``).

A buffer is reused only when nothing outside the pool refers to it: the pool
holds it, and its reference count says that the pool's reference is the only
one (NumPy views hold their base, buffer exports their exporter, arrays
Numba makes of it its meminfo; weak references are checked too). A result
returned as a view of a pooled buffer, kept or dropped by the user, stays
untouched until its last reference is gone. A buffer is taken out of the pool
(``deque.popleft``, atomic) before it is checked, so two threads never get
the same one. A new buffer comes from ``np.empty`` (NumPy asks for
transparent huge pages on large arrays, which makes its first touch much
cheaper than Numba's).
"""
from __future__ import annotations

import collections
import sys
import threading
import weakref

import numpy as np

POOL_BYTES = 1 << 20   # allocations of at least this many bytes are pooled
POOL_DEPTH = 2         # buffers kept per parameter: a result held while the next call runs needs a second one
POOL_BUDGET = 1 << 30  # bytes all pools together may keep between calls; past it a buffer given back is let go

_HELD = [0]            # bytes in all pools' deques now
_HELD_LOCK = threading.Lock()

_refcount = sys.getrefcount
_weakrefs = weakref.getweakrefcount


def _refs(buf) -> int:
    return _refcount(buf)


def _calibrate() -> int:
    # the reference count ``take`` sees for a buffer nobody else holds: its local name, the argument of ``_refs``
    # and the one of ``getrefcount`` (measured, not assumed: interpreters differ in what a call borrows); 0 (never
    # reuse) on a free-threaded build, where the count is no proof -- as ``fast_call.free_refcount``
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return 0
    free = collections.deque([np.empty(1)])
    buf = free.popleft()
    return _refs(buf)


_FREE = _calibrate()


class BufferPool:
    """Buffers of one shape and dtype for one parameter of one entry function; thread-safe.

    At most ``depth`` buffers are kept, and all pools together keep at most ``POOL_BUDGET`` bytes (many cached
    executables with large intermediates must not pin their peak memory for ever)."""

    __slots__ = ("shape", "dtype", "nbytes", "free", "depth", "__weakref__")

    def __init__(self, shape: tuple, dtype, depth: int = POOL_DEPTH):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.free: collections.deque = collections.deque()
        self.depth = depth
        weakref.finalize(self, _release, self.free, self.nbytes)

    def take(self) -> np.ndarray:
        """A buffer nobody refers to (from the pool, else a new one); the caller must ``give`` it back."""
        free = self.free
        for _ in range(len(free)):
            try:
                buf = free.popleft()
            except IndexError:   # another thread took the last one
                break
            if _refs(buf) == _FREE and not _weakrefs(buf):
                with _HELD_LOCK:
                    _HELD[0] -= self.nbytes
                return buf
            free.append(buf)     # still referenced: it goes to the back
        return np.empty(self.shape, self.dtype)

    def give(self, buf: np.ndarray) -> None:
        """Put ``buf`` (from ``take``) back; it is reused once its last outside reference is gone."""
        with _HELD_LOCK:
            if len(self.free) < self.depth and _HELD[0] + self.nbytes <= POOL_BUDGET:
                _HELD[0] += self.nbytes
                self.free.append(buf)


def _release(free: collections.deque, nbytes: int) -> None:
    # a pool is gone (its executable was dropped): what it held no longer counts against the budget
    with _HELD_LOCK:
        _HELD[0] -= len(free) * nbytes
        free.clear()


def pooled_call(fn, n_args: int, pools: list):
    """``call(*args, S)`` that runs ``fn(*args, *buffers, S)`` with one buffer from each of ``pools``."""
    if len(pools) == 1:
        (pool,) = pools
        take, give = pool.take, pool.give

        def call(*args):
            b = take()
            try:
                return fn(*args[:n_args], b, args[n_args])
            finally:
                give(b)
        return call

    def call(*args):
        bufs = [p.take() for p in pools]
        try:
            return fn(*args[:n_args], *bufs, args[n_args])
        finally:
            for p, b in zip(pools, bufs):
                p.give(b)
    return call
