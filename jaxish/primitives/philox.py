"""Philox4x32-10, a counter-based generator (Salmon et al., SC'11), and the
mapping of its counter and output bits used by ``random_uniform``.

Written once, in plain arithmetic on unsigned 64-bit integers, so that the
same functions run vectorised on NumPy ``uint64`` arrays (the reference
implementation) and, compiled by Numba, element by element in generated
code: a code generator emits their source (:func:`source`, part of the
generated module's content hash) under its own decorator.

Element ``i`` of a draw uses the counter ``(i low, i high, counter low,
counter high 16 bits | stream << 16)`` and the key ``(seed low, seed
high)``; its two first output words make one float in [0, 1) with the
dtype's full mantissa.
"""
import inspect

import numpy as np

# module globals here and in generated modules (``source`` emits them): NumPy reads a global faster than it
# builds a scalar, and Numba freezes a global as a constant
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)
PHILOX_MASK = np.uint64(0xFFFFFFFF)
PHILOX_S32 = np.uint64(32)
_CONSTANTS = ("PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1", "PHILOX_MASK", "PHILOX_S32")


def philox_uniform_bits(c0, c1, c2, c3, k0, k1):
    """Return the first two 32-bit words of Philox4x32-10 for one counter."""
    for _ in range(10):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        n0 = (p1 >> PHILOX_S32) ^ c1 ^ k0
        n2 = (p0 >> PHILOX_S32) ^ c3 ^ k1
        c1 = p1 & PHILOX_MASK
        c3 = p0 & PHILOX_MASK
        c0 = n0 & PHILOX_MASK
        c2 = n2 & PHILOX_MASK
        k0 = (k0 + PHILOX_W0) & PHILOX_MASK
        k1 = (k1 + PHILOX_W1) & PHILOX_MASK
    return c0, c1


def philox_words(i, seed, counter, stream):
    """The two words for element(s) ``i`` (uint64) of the draw ``(seed, counter, stream)`` (uint64 scalars)."""
    c3 = ((counter >> PHILOX_S32) & np.uint64(0xFFFF)) | (stream << np.uint64(16))
    return philox_uniform_bits(i & PHILOX_MASK, i >> PHILOX_S32, counter & PHILOX_MASK, c3,
                               seed & PHILOX_MASK, seed >> PHILOX_S32)


def unit_float64(w0, w1):
    """53 random bits (27 of ``w0``, 26 of ``w1``) as a float64 in [0, 1)."""
    return ((w0 >> np.uint64(5)) * np.float64(67108864.0) + (w1 >> np.uint64(6))) * np.float64(2.0 ** -53)


def unit_float32(w0, w1):
    """24 random bits of ``w0`` as a float32 in [0, 1)."""
    return np.float32((w0 >> np.uint64(8)) * np.float64(2.0 ** -24))


def unit_float16(w0, w1):
    """11 random bits of ``w0`` as a float16 in [0, 1)."""
    return np.float16((w0 >> np.uint64(21)) * np.float64(2.0 ** -11))


UNIT = {"float64": unit_float64, "float32": unit_float32, "float16": unit_float16}
"""The bits-to-float mapping of each floating dtype, by dtype name."""


def source(decorator: str, functions=(philox_uniform_bits, philox_words)) -> str:
    """The Python source of ``functions`` (by default the constants, the Philox rounds and the counter
    packing; add ``UNIT[dtype]``), each under the line ``decorator`` (e.g. ``'@njit'``): what a code generator
    emits into its module (which imports NumPy as ``np``) to draw the same numbers as the NumPy reference."""
    consts = "".join(f"{c} = np.uint64({int(globals()[c]):#x})\n" for c in _CONSTANTS) \
        if philox_uniform_bits in functions else ""
    return consts + "\n\n".join(f"{decorator}\n{inspect.getsource(fn)}" for fn in functions)
