"""TensorFlow's eager random streams, reproduced in NumPy.

After ``set_seed(s)``, eager ``random.uniform`` and ``random.normal`` draw the numbers TensorFlow draws in eager
mode for the same sequence of calls (``tf.random.set_seed(42); tf.random.uniform((3, 2))`` gives
``0.6645621, 0.44100678, ...``). TensorFlow derives each op's seed pair ``(seed, seed2)`` like this
(``tensorflow/python/framework/random_seed.get_seed``):

- a global seed ``s``: ``(s, r)``, ``r`` the next ``random.Random(s).randint(0, 2**31 - 1)``
  (or ``(s, op_seed)`` when the op has a seed);
- an op seed only: ``(87654321, op_seed)``;
- neither: no reproducible stream (``seeds`` returns ``None`` and jaxish uses its own generator).

The kernel is Philox4x32-10 with key ``(seed lo, seed hi)`` and counter ``(0, 0, seed2 lo, seed2 hi)``; group
``g`` of an output (4 floats, 2 doubles) is the block at counter + ``g``. An eager kernel is cached per
``(op, seed, seed2, dtype)``, so a second call with the same seed pair continues the stream: it skips
``256 * n`` blocks after an output of ``n`` elements (``ReserveRandomOutputs(n, 256)``); ``set_seed`` empties
that cache, as TensorFlow does. Unlike TensorFlow's, the cache keeps the 2**16 most recently used kernels only
(TensorFlow's grows by one kernel per eager draw after ``set_seed``): a seed pair seen again after 2**16 other
ones starts its stream over.
"""
from __future__ import annotations

import random as _pyrandom
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["seeds", "reset", "uniform", "standard_normal", "uniform_int"]

_MAXINT32 = 2**31 - 1
_MAX_KERNELS = 2**16  # the streams remembered (TensorFlow's eager kernel cache keeps every one)
_DEFAULT_GRAPH_SEED = 87654321
_M32 = np.uint64(0xFFFFFFFF)


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.global_seed: int | None = None
        self.rng: _pyrandom.Random | None = None
        # (op, seed, seed2, dtype) -> blocks already used, least recently used first. Bounded: each draw after
        # set_seed has a new seed2, so an unbounded table grew by one entry (~160 bytes) per eager draw for the
        # rest of the process; a pair is used again only with an explicit op seed, which keeps its entry recent
        self.kernels: OrderedDict = OrderedDict()


_STATE = _State()


def reset(seed: int) -> None:
    """``set_seed(seed)``: a new op-seed sequence and an empty kernel cache."""
    with _STATE.lock:
        _STATE.global_seed = int(seed)
        _STATE.rng = _pyrandom.Random(int(seed))
        _STATE.kernels.clear()


def seeds(op_seed=None) -> tuple[int, int] | None:
    """TensorFlow's ``(seed, seed2)`` for the next eager random op, or None when it has no reproducible one."""
    with _STATE.lock:
        g = _STATE.global_seed
        if g is not None:
            if op_seed is None:
                op_seed = _STATE.rng.randint(0, _MAXINT32)
            pair = (g % _MAXINT32, int(op_seed) % _MAXINT32)
        elif op_seed is not None:
            pair = (_DEFAULT_GRAPH_SEED, int(op_seed) % _MAXINT32)
        else:
            return None
    return (0, _MAXINT32) if pair == (0, 0) else pair


def _philox(ctr: list, key: tuple) -> list:
    """Philox4x32-10 of the counters ``ctr`` (four uint64 arrays holding 32-bit words) under ``key``."""
    c0, c1, c2, c3 = ctr
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    ma, mb = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    wa, wb = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
    s32 = np.uint64(32)
    for _ in range(10):
        p0 = ma * c0  # < 2**64: both factors are below 2**32
        p1 = mb * c2
        c0, c1, c2, c3 = ((p1 >> s32) ^ c1 ^ k0), p1 & _M32, ((p0 >> s32) ^ c3 ^ k1), p0 & _M32
        k0, k1 = (k0 + wa) & _M32, (k1 + wb) & _M32
    return [c0, c1, c2, c3]


def _blocks(op: str, pair: tuple, dtype_name: str, n_blocks: int, n_elements: int) -> np.ndarray:
    """``(n_blocks, 4)`` uint64 words (32-bit values) of the kernel ``(op, pair, dtype)``'s next output."""
    seed, seed2 = pair
    key = (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)
    kernel = (op, seed, seed2, dtype_name)
    with _STATE.lock:
        kernels = _STATE.kernels
        start = kernels.pop(kernel, 0)
        kernels[kernel] = start + 256 * n_elements
        if len(kernels) > _MAX_KERNELS:
            kernels.popitem(last=False)
    if start + n_blocks < 2**64:
        words = _low_counters(start, n_blocks, seed2)
    else:  # pragma: no cover - 2**64 blocks: the carry into seed2's words, in Python integers
        counters = [(int(seed2) << 64) + start + i for i in range(n_blocks)]
        words = [np.array([(c >> (32 * i)) & 0xFFFFFFFF for c in counters], dtype=np.uint64) for i in range(4)]
    return np.stack(_philox(words, key), axis=-1)


def _low_counters(start: int, n: int, seed2: int) -> list:
    low = np.uint64(start) + np.arange(n, dtype=np.uint64)
    return [low & _M32, low >> np.uint64(32), np.full(n, seed2 & 0xFFFFFFFF, np.uint64),
            np.full(n, (seed2 >> 32) & 0xFFFFFFFF, np.uint64)]


def _float32_of(bits: np.ndarray) -> np.ndarray:
    return ((bits.astype(np.uint32) & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) \
        - np.float32(1.0)


def _float64_of(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    man = ((hi & np.uint64(0xFFFFF)) << np.uint64(32)) | lo
    return (man | np.uint64(1023 << 52)).view(np.float64) - 1.0


def _float16_of(bits: np.ndarray) -> np.ndarray:
    return ((bits.astype(np.uint16) & np.uint16(0x3FF)) | np.uint16(15 << 10)).view(np.float16) \
        - np.float16(1.0)


def uniform(pair: tuple, shape: tuple, dtype_name: str) -> np.ndarray:
    """TensorFlow's ``RandomUniform`` output: values in ``[0, 1)`` of a float dtype."""
    n = int(np.prod(shape, dtype=np.int64))
    per = 2 if dtype_name == "float64" else 4
    w = _blocks("RandomUniform", pair, dtype_name, -(-n // per), n)
    if dtype_name == "float64":
        out = _float64_of(w[:, 0::2].ravel(), w[:, 1::2].ravel())
    elif dtype_name == "float16":
        out = _float16_of(w.ravel())
    else:
        out = _float32_of(w.ravel())
    return out[:n].reshape(shape)


def standard_normal(pair: tuple, shape: tuple, dtype_name: str) -> np.ndarray:
    """TensorFlow's ``RandomStandardNormal`` output (Box-Muller on pairs of Philox words, as its kernel)."""
    n = int(np.prod(shape, dtype=np.int64))
    if dtype_name == "float64":
        w = _blocks("RandomStandardNormal", pair, dtype_name, -(-n // 2), n)
        u1 = np.maximum(_float64_of(w[:, 0], w[:, 1]), 1.0e-7)
        v1 = 2 * np.pi * _float64_of(w[:, 2], w[:, 3])
        u2 = np.sqrt(-2.0 * np.log(u1))
        out = np.stack([np.sin(v1) * u2, np.cos(v1) * u2], axis=-1).ravel()
        return out[:n].reshape(shape)
    w = _blocks("RandomStandardNormal", pair, dtype_name, -(-n // 4), n)
    f = _float32_of(w.ravel()).reshape(-1, 2)
    u1 = np.maximum(f[:, 0], np.float32(1.0e-7))
    v1 = (2.0 * np.pi * f[:, 1].astype(np.float64)).astype(np.float32)  # 2.0f * M_PI is a double in C
    # logf, sinf, cosf of glibc are correctly rounded: the float64 function rounded to float32 is the same
    u2 = np.sqrt(np.float32(-2.0) * np.log(u1.astype(np.float64)).astype(np.float32))
    v = v1.astype(np.float64)
    sin, cos = np.sin(v).astype(np.float32), np.cos(v).astype(np.float32)
    out = np.stack([sin * u2, cos * u2], axis=-1).ravel()[:n].reshape(shape)
    return out.astype(np.float16) if dtype_name == "float16" else out


def uniform_int(pair: tuple, shape: tuple, dtype_name: str, lo: int, hi: int) -> np.ndarray:
    """TensorFlow's ``RandomUniformInt`` output: ``lo + bits % (hi - lo)`` (32-bit words for int32, 64-bit for
    int64)."""
    n = int(np.prod(shape, dtype=np.int64))
    if dtype_name == "int64":
        w = _blocks("RandomUniformInt", pair, dtype_name, -(-n // 2), n)
        bits = (w[:, 0::2] | (w[:, 1::2] << np.uint64(32))).ravel()
        span = np.uint64((hi - lo) % 2**64)
    else:
        w = _blocks("RandomUniformInt", pair, dtype_name, -(-n // 4), n)
        bits = w.ravel()
        span = np.uint64((hi - lo) % 2**32)
    vals = (bits[:n] % span).astype(object) + lo
    return np.array(vals.tolist(), dtype=np.int64).astype(dtype_name).reshape(shape)
