"""Philox4x32-10, a counter-based generator (Salmon et al., SC'11).

Written once in plain arithmetic on unsigned 64-bit integers so that the same
function runs vectorised on NumPy ``uint64`` arrays (the reference) and is
compiled by Numba (``numba.njit(philox_uniform_bits)``) in kernels.
"""
import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def philox_uniform_bits(c0, c1, c2, c3, k0, k1):
    """Return the first two 32-bit words of Philox4x32-10 for one counter."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> _S32) ^ c1 ^ k0
        n2 = (p0 >> _S32) ^ c3 ^ k1
        c1 = p1 & _MASK
        c3 = p0 & _MASK
        c0 = n0 & _MASK
        c2 = n2 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1
