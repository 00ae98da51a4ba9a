"""Vectorisable float32 and float64 transcendental functions.

Scalar templates call these (``_exp_f32(t3)``) instead of NumPy's ufuncs:
Numba compiles ``np.exp`` on a scalar to a call into libm, and a loop with a
call (or a data-dependent branch) does not vectorise. Each function here is
straight-line code: range reduction, a polynomial, bit manipulation through
``view`` and selects (``a if c else b``, which LLVM turns into ``select``)
for the special cases, inlined into the kernel's loop.

``SOURCE`` is plain Python text with ``@scalar_function`` markers, like
``scalar.SCALAR_FUNCTIONS``. Generated modules do not repeat it (30 KB of
text to parse and some 60 functions to wrap per module): they call
``library(probe)``, which compiles ``SOURCE`` once per process with the
decorator the backend gave ``probe`` (Numba's CPU target: plus
``CPU_OPTIONS``). ``DIGEST``, the hash of ``SOURCE`` and ``CPU_OPTIONS``, is
part of every module's text, so a change here changes the disk-cache keys.

Rules the text follows:

* float32 functions compute in float32: every constant is a module-level
  ``np.float32`` (a Python float or int literal would promote the expression
  to float64 in Numba). ``_sin_f32``, ``_cos_f32`` and ``_pow_f32`` compute in
  float64 on purpose (an argument reduction exact for every float32, and
  ``y * log2(x)`` to 2**-44) and round once at the end.
* NaN, infinities, signed zeros, subnormal arguments and results, overflow
  and underflow give NumPy's results: each function computes on a clamped,
  finite argument and selects the special result at the end.
* One path for every argument wherever the bounds allow: a vectorised loop computes every path and selects, so
  two paths cost both. Float32 ``tanh`` is ``e / (e + 2)`` with ``e = expm1(2|x|)`` for every ``x`` (``e + 2 >= 2``
  keeps ``e``'s relative error from growing), not a small-argument polynomial beside ``1 - 2 / (e**2x + 1)``.
* A clamp written ``HI if x > HI else x`` keeps a NaN (LLVM emits min/max); where the NaN then reaches the
  result (float32 ``exp``, ``tanh``) there is no final NaN select. A value that may be NaN is never converted to
  an integer (LLVM makes that poison): ``2**k`` then comes from the bits of ``k + _M32_MAGIC``
  (``_scale_bits_f32``, ``tanh``).
* Compiled with ``fastmath={"contract"}`` (``CPU_OPTIONS``): LLVM may
  fuse ``a * b + c`` into an FMA, and the bounds hold with or without one.
  Nothing relies on the rounding of a product that could be fused: the
  error-free transformations (Cody-Waite steps, Dekker products, two-sums)
  only use products that are exact, or results with several uses, which
  LLVM does not fuse.

Polynomial coefficients are near-minimax fits (Chebyshev, or Lawson-weighted
least squares with the coefficients rounded to the dtype one at a time from
the lowest order, at 160+ bits with mpmath) of the named function on the
named interval. The maximum errors in ulps, measured against NumPy, are
``ULP_BOUNDS`` in ``tests/test_ulp.py``.
"""
import hashlib
import math
import sys
import threading
import types

import numpy as np

SOURCE = '''
# ---------------------------------------------------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------------------------------------------------
_M32_0 = np.float32(0.0)
_M32_1 = np.float32(1.0)
_M32_2 = np.float32(2.0)
_M32_HALF = np.float32(0.5)
_M32_INF = np.float32(np.inf)
_M32_NAN = np.float32(np.nan)
_M32_SQRT2 = np.float32(1.41421356)
_M32_TINY = np.float32(1.1754943508222875e-38)      # smallest normal
_M32_2P23 = np.float32(8388608.0)
_M32_2PM24 = np.float32(5.960464477539063e-08)
_M32_MAGIC = np.float32(12582912.0)                 # 1.5 * 2**23: adding it rounds to an integer
_M32_LOG2E = np.float32(1.4426950408889634)
_M32_LN2_HI = np.float32(0.693359375)               # 9 bits: k * _M32_LN2_HI is exact
_M32_LN2_LO = np.float32(-2.1219444e-04)
# (e**r - 1 - r) / r**2 on [-ln2/2, ln2/2], degree 5: e**r - 1 to a small relative error (expm1, logistic, erf)
_M32_E0 = np.float32(0.00019890980911441147)
_M32_E1 = np.float32(0.0013933641603216529)
_M32_E2 = np.float32(0.00833331048488617)
_M32_E3 = np.float32(0.04166646674275398)
_M32_E4 = np.float32(0.1666666716337204)
# the same, degree 4 (the constant 1/2 exact), minimising the error of e**r (0.07 ulp): exp's
_M32_X0 = np.float32(0.0013900863705202937)
_M32_X1 = np.float32(0.008368676528334618)
_M32_X2 = np.float32(0.04166683182120323)
_M32_X3 = np.float32(0.1666652113199234)
# the same, degree 4, weighted for tanh: the error of e**r - 1 in ulps of tanh's result (times 2 / (e + 2)), divided
# by the slack the roundings of e, e + 2 and the division leave below 2.5 ulp at each 2|x| = k ln2 + r, 2|x| <= 18
# (exhaustive: tanh 2 ulp at 1,348,810 of 2**32 inputs, none over)
_M32_T0 = np.float32(0.0013777567073702812)
_M32_T1 = np.float32(0.008361585438251495)
_M32_T2 = np.float32(0.04166765138506889)
_M32_T3 = np.float32(0.16666580736637115)
_M32_EXP_HI = np.float32(89.0)                      # exp overflows above 88.73
_M32_EXP_LO = np.float32(-104.0)                    # and underflows to 0 below -103.98
_M32_EXPM1_LO = np.float32(-30.0)                   # expm1 is -1 below -17.4
_M32_24 = np.float32(24.0)
_M32_M24 = np.float32(-24.0)
# (log(1 + f) - f + f**2 / 2) / f**3 on [sqrt(1/2) - 1, sqrt(2) - 1], degree 8
_M32_L0 = np.float32(0.06971611827611923)
_M32_L1 = np.float32(-0.11479733884334564)
_M32_L2 = np.float32(0.11685419827699661)
_M32_L3 = np.float32(-0.12425687164068222)
_M32_L4 = np.float32(0.14249058067798615)
_M32_L5 = np.float32(-0.1666780263185501)
_M32_L6 = np.float32(0.20000715553760529)
_M32_L7 = np.float32(-0.2499999701976776)
_M32_L8 = np.float32(0.3333333134651184)
_M32_MAGIC127 = np.float32(12583039.0)              # 1.5 * 2**23 + 127: bits(k + it) << 23 are those of 2**k
_M32_TANH_HI = np.float32(9.0)                      # tanh rounds to 1 above 9.01 (and within an ulp of it at 9)
_M32_TANH_TINY = np.float32(0.000244140625)         # 2**-12: tanh(x) rounds to x below (sin's cut too)


@scalar_function
def _scale_f32(p, k):
    # p * 2**k for an integer-valued float32 k in [-252, 254]: two exact powers of two, one rounding (also to a
    # subnormal or to inf)
    ki = np.int32(k)
    k1 = ki >> 1
    s1 = np.int32((k1 + 127) << 23).view(np.float32)
    s2 = np.int32((ki - k1 + 127) << 23).view(np.float32)
    return p * s1 * s2


@scalar_function
def _scale_bits_f32(p, t):
    # p * 2**k for t = k + _M32_MAGIC, k an integer in [-252, 254], like _scale_f32 but from t's bits, with no
    # float-to-int conversion (any t gives a defined, finite or infinite, scale: a NaN p stays NaN). t's bits are
    # 0x4B400000 + k, whose high part vanishes shifted: s1 = 2**(k >> 1), s2 = 2**(k - (k >> 1))
    i = np.float32(t).view(np.int32)
    b1 = np.int32(((i >> 1) + 127) << 23)             # (each int32 at once: the vector code stays 32-bit)
    s1 = b1.view(np.float32)
    s2 = np.int32(np.int32((i + 254) << 23) - b1).view(np.float32)
    return p * s1 * s2


@scalar_function
def _reduce_f32(x):
    # (k, r, t) with x = k ln2 + r, |r| <= ln2/2, t = k + _M32_MAGIC, for x in [-104, 89] (NaN: NaN)
    t = x * _M32_LOG2E + _M32_MAGIC
    k = t - _M32_MAGIC
    r = x - k * _M32_LN2_HI
    r = r - k * _M32_LN2_LO
    return k, r, t


@scalar_function
def _expk_f32(x):
    # (k, e**r - 1) with x = k ln2 + r, |r| <= ln2/2, for finite x in [-104, 89]
    k, r, _ = _reduce_f32(x)
    p = ((((_M32_E0 * r + _M32_E1) * r + _M32_E2) * r + _M32_E3) * r + _M32_E4) * r + _M32_HALF
    return k, r + r * r * p


@scalar_function
def _exp_f32(x):
    xc = _M32_EXP_HI if x > _M32_EXP_HI else x        # min/max that keep a NaN, which reaches the result
    xc = _M32_EXP_LO if xc < _M32_EXP_LO else xc
    k, r, t = _reduce_f32(xc)
    p = (((_M32_X0 * r + _M32_X1) * r + _M32_X2) * r + _M32_X3) * r + _M32_HALF
    return _scale_bits_f32((r + r * r * p) + _M32_1, t)


@scalar_function
def _expm1_f32(x):
    xc = x if x < _M32_EXP_HI else _M32_EXP_HI
    xc = xc if xc > _M32_EXPM1_LO else _M32_EXPM1_LO
    k, em1 = _expk_f32(xc)
    # |k| <= 24: 2**k em1 + (2**k - 1), both terms exact; else (em1 + 1) 2**k - 1
    ka = k if k < _M32_24 else _M32_24
    ka = ka if ka > _M32_M24 else _M32_M24
    s = np.int32((np.int32(ka) + 127) << 23).view(np.float32)
    near = em1 * s + (s - _M32_1)
    far = _scale_f32(em1 + _M32_1, k) - _M32_1
    r = near if abs(k) < _M32_24 else far
    r = r if abs(x) >= _M32_2PM24 else x              # expm1(x) rounds to x: keeps -0.0 and subnormals
    return r if x == x else x


@scalar_function
def _logm_f32(x):
    # (e, f) with x = 2**e (1 + f), sqrt(1/2) <= 1 + f < sqrt(2), for finite x > 0 (subnormals too)
    sub = x < _M32_TINY
    xs = x * _M32_2P23 if sub else x
    i = np.float32(xs).view(np.int32)
    e = (i >> 23) - (150 if sub else 127)
    m = np.int32((i & 0x7FFFFF) | 0x3F800000).view(np.float32)
    big = m > _M32_SQRT2
    m = m * _M32_HALF if big else m
    e = e + 1 if big else e
    return np.float32(e), m - _M32_1


@scalar_function
def _log1pf_f32(e, f, c):
    # e ln2 + log(1 + f) + c for |c| << |f| or f == 0, f in [sqrt(1/2) - 1, sqrt(2) - 1]
    p = ((((((((_M32_L0 * f + _M32_L1) * f + _M32_L2) * f + _M32_L3) * f + _M32_L4) * f + _M32_L5) * f + _M32_L6)
          * f + _M32_L7) * f + _M32_L8)
    z = f * f
    y = f * z * p + (e * _M32_LN2_LO + c)
    y = y - _M32_HALF * z
    return (f + y) + e * _M32_LN2_HI


@scalar_function
def _log_f32(x):
    e, f = _logm_f32(x)
    r = _log1pf_f32(e, f, _M32_0)
    r = r if x != _M32_0 else -_M32_INF
    r = r if x >= _M32_0 else _M32_NAN
    return r if x < _M32_INF else x                    # +inf and NaN


@scalar_function
def _log1p_f32(x):
    u = _M32_1 + x
    d = (x - (u - _M32_1)) if u < _M32_2 else (_M32_1 - (u - x))   # (1 + x) - u, exactly
    e, f = _logm_f32(u)
    r = _log1pf_f32(e, f, d / u)
    r = r if abs(x) >= _M32_2PM24 else x              # log1p(x) rounds to x: keeps -0.0 and subnormals
    r = r if x != -_M32_1 else -_M32_INF
    r = r if x >= -_M32_1 else _M32_NAN
    return r if x < _M32_INF else x


@scalar_function
def _tanh_f32(x):
    # tanh|x| = e / (e + 2) with e = expm1(2|x|) = 2**k (e**r - 1) + (2**k - 1), 2|x| = k ln2 + r: one path for
    # every x (no polynomial for small |x|, no select between two results). e + 2 >= 2, so e's relative error
    # reaches the result scaled by 2 / (e + 2) <= 1. 2**k - 1 is exact (k <= 26) and 2**k comes from t's bits.
    a = abs(x)
    a = _M32_TANH_HI if a > _M32_TANH_HI else a       # NaN stays NaN (and propagates to the result)
    a2 = a + a
    t = a2 * _M32_LOG2E + _M32_MAGIC127
    k = t - _M32_MAGIC127
    r = a2 - k * _M32_LN2_HI
    r = r - k * _M32_LN2_LO
    p = (((_M32_T0 * r + _M32_T1) * r + _M32_T2) * r + _M32_T3) * r + _M32_HALF
    s = np.int32(np.float32(t).view(np.int32) << 23).view(np.float32)
    e = s * (r + r * r * p) + (s - _M32_1)
    return np.copysign(e / (e + _M32_2), x)       # keeps -0.0; subnormal x: e = 2x exactly, the result x


@scalar_function
def _logistic_f32(x):
    a = abs(x)
    a = a if a < -_M32_EXP_LO else -_M32_EXP_LO
    k, em1 = _expk_f32(-a)
    e = _scale_f32(em1 + _M32_1, k)                   # exp(-|x|)
    d = _M32_1 + e
    r = _M32_1 / d if x >= _M32_0 else e / d
    return r if x == x else x


# erf(x) / x - 1 as a polynomial in z = x**2 on [0, 1], degree 6
_M32_Q0 = np.float32(7.920303323771805e-05)
_M32_Q1 = np.float32(-0.0008030750323086977)
_M32_Q2 = np.float32(0.005190733354538679)
_M32_Q3 = np.float32(-0.02685512602329254)
_M32_Q4 = np.float32(0.11283618211746216)
_M32_Q5 = np.float32(-0.3761262893676758)
_M32_Q6 = np.float32(0.12837916612625122)
# erfc(a) exp(a**2) as a polynomial in v = a - 2.5 on [-1.5, 1.5] (1 <= a <= 4), degree 7, weighted by the error it
# makes in erf(a)
_M32_R0 = np.float32(-0.0003938688023481518)
_M32_R1 = np.float32(-0.0008259286405518651)
_M32_R2 = np.float32(-0.0020111198537051678)
_M32_R3 = np.float32(0.0019264898728579283)
_M32_R4 = np.float32(-0.007811817340552807)
_M32_R5 = np.float32(0.025164714083075523)
_M32_R6 = np.float32(-0.07429644465446472)
_M32_R7 = np.float32(0.21080681681632996)
_M32_2_5 = np.float32(2.5)
_M32_4 = np.float32(4.0)                            # erf rounds to 1 above 3.92


@scalar_function
def _erf_f32(x):
    a = abs(x)
    z = x * x
    small = x + x * ((((((_M32_Q0 * z + _M32_Q1) * z + _M32_Q2) * z + _M32_Q3) * z + _M32_Q4) * z + _M32_Q5) * z
                     + _M32_Q6)
    ac = a if a < _M32_4 else _M32_4
    ac = ac if ac > _M32_1 else _M32_1
    k, em1 = _expk_f32(-(ac * ac))
    v = ac - _M32_2_5
    r = ((((((_M32_R0 * v + _M32_R1) * v + _M32_R2) * v + _M32_R3) * v + _M32_R4) * v + _M32_R5) * v + _M32_R6) * v \
        + _M32_R7
    big = _M32_1 - _scale_f32(em1 + _M32_1, k) * r   # 1 - erfc(a)
    big = big if x > _M32_0 else -big
    r = small if a < _M32_1 else big
    return r if x == x else x


# float32 sin and cos compute in float64: (sin(r) - r) / r**3 and (cos(r) - 1 + r**2 / 2) / r**4 as polynomials in
# z = r**2 on [0, (1.01 pi/4)**2], degree 3
_M32_S0 = 2.724378140946123e-06
_M32_S1 = -0.00019840038872556747
_M32_S2 = 0.008333331785217696
_M32_S3 = -0.1666666666362283
_M32_C0 = -2.7295830827614617e-07
_M32_C1 = 2.4800560429914505e-05
_M32_C2 = -0.001388888759732781
_M32_C3 = 0.04166666666412721
_M32_PIO2_1T = 6.077100506506192e-11                # pi/2 - _M64_PIO2_1, to 53 bits
_M32_W1 = np.uint64(0x0)
_M32_W2 = np.uint64(0xa2f9836e)
_M32_W3 = np.uint64(0x4e441529)
_M32_W4 = np.uint64(0xfc2757d1)
_M32_W5 = np.uint64(0xf534ddc0)
_M32_W6 = np.uint64(0xdb629599)
_M32_W7 = np.uint64(0x3c439041)
_M32_W8 = np.uint64(0xfe5163ab)


@scalar_function
def _rem_pio2_f32(x):
    # (q, r) with x = (4 m + q) pi/2 + r, |r| <= pi/4 (a little more), r in float64 to 2**-50, for a finite float32
    # |x| < 1.5e6: n = round(x 2/pi), x - n pi/2 with pi/2 in two parts (n * part 1 is exact for n < 2**20)
    xd = np.float64(x)
    a = abs(xd)
    xs = xd if a < _M64_RED_BIG else 0.0
    t = xs * _M64_2_PI + _M64_MAGIC
    n = t - _M64_MAGIC
    qs = np.float64(t).view(np.int64) & 3
    rs = (xs - n * _M64_PIO2_1) - n * _M32_PIO2_1T
    # larger: Payne-Hanek. |x| = m 2**e (m: 24-bit integer); |x| 2/pi mod 4 = m (2**e 2/pi mod 4), the latter a
    # 96-bit fixed-point window of 2/pi's bits (2 integer bits) in three 32-bit limbs; the top 64 bits of the product
    i = np.float32(x).view(np.int32)
    be = (i >> 23) & 0xFF
    be = be if be > 146 else 146
    g = be - 88                                    # the window's first bit in _M64_2_PI_WORDS
    w = g >> 5
    s = np.uint64(g & 31)
    rsh = _M64_U32S - s
    # words w .. w + 3 of _M64_2_PI_WORDS, w in [1, 5], by selects (gathers cost more)
    w0 = _M32_W1 if w == 1 else (_M32_W2 if w == 2 else (_M32_W3 if w == 3 else (_M32_W4 if w == 4 else _M32_W5)))
    w1 = _M32_W2 if w == 1 else (_M32_W3 if w == 2 else (_M32_W4 if w == 3 else (_M32_W5 if w == 4 else _M32_W6)))
    w2 = _M32_W3 if w == 1 else (_M32_W4 if w == 2 else (_M32_W5 if w == 3 else (_M32_W6 if w == 4 else _M32_W7)))
    w3 = _M32_W4 if w == 1 else (_M32_W5 if w == 2 else (_M32_W6 if w == 3 else (_M32_W7 if w == 4 else _M32_W8)))
    t0 = ((w0 << s) | (w1 >> rsh)) & _M64_U32
    t1 = ((w1 << s) | (w2 >> rsh)) & _M64_U32
    t2 = ((w2 << s) | (w3 >> rsh)) & _M64_U32
    m = np.uint64((i & 0x7FFFFF) | 0x800000)
    hi = ((m * t0) << _M64_U32S) + m * t1 + ((m * t2) >> _M64_U32S)   # |x| 2/pi mod 4, 2.62 fixed point
    qb = (hi + _M64_U2P61) >> _M64_U62
    rb = np.float64(np.int64(hi - (qb << _M64_U62))) * _M64_PIO2_2M62_H
    qb = np.int64(qb)
    neg = x < _M32_0
    rb = -rb if neg else rb
    qb = (4 - qb) & 3 if neg else qb
    big = a >= _M64_RED_BIG
    return (qb if big else qs), (rb if big else rs)


@scalar_function
def _sincos_f32(x, cos):
    q, r = _rem_pio2_f32(x)
    z = r * r
    s = r + r * z * (((_M32_S0 * z + _M32_S1) * z + _M32_S2) * z + _M32_S3)
    c = 1.0 - 0.5 * z + z * z * (((_M32_C0 * z + _M32_C1) * z + _M32_C2) * z + _M32_C3)
    q = q + 1 if cos else q
    v = s if (q & 1) == 0 else c
    v = v if (q & 2) == 0 else -v
    return np.float32(v)


@scalar_function
def _sin_f32(x):
    r = _sincos_f32(x, False)
    r = r if abs(x) >= _M32_TANH_TINY else x       # sin(x) rounds to x below 2**-12: keeps -0.0 and subnormals
    return r if abs(x) < _M32_INF else x - x


@scalar_function
def _cos_f32(x):
    r = _sincos_f32(x, True)
    return r if abs(x) < _M32_INF else x - x


@scalar_function
def _pow_f32(x, y):
    # in float64: 2**(y log2|x|) with a float64 log2 is within 2**-44 relative of the exact power wherever a
    # float32 result is finite and nonzero, and rounds once
    xd = np.float64(x)
    yd = np.float64(y)
    ax = abs(xd)
    axc = ax if (ax < _M64_INF) & (ax > 0.0) else 1.0
    e, f = _logm_f64(axc)
    t = yd * (e + _log1pf_f64(0.0, f, 0.0) * _M64_INVLN2)
    t = t if t < 1100.0 else 1100.0
    t = t if t > -1100.0 else -1100.0
    k = (t + _M64_MAGIC) - _M64_MAGIC
    r = _scale_f64(_expm1r_f64((t - k) * _M64_LN2) + 1.0, k)
    return np.float32(_pow_special_f64(xd, yd, r))


# ---------------------------------------------------------------------------------------------------------------------
# float64
# ---------------------------------------------------------------------------------------------------------------------
_M64_INF = np.inf
_M64_NAN = np.nan
_M64_SQRT2 = 1.4142135623730951
_M64_TINY = 2.2250738585072014e-308                 # smallest normal
_M64_2P54 = 18014398509481984.0
_M64_2PM54 = 5.551115123125783e-17
_M64_MAGIC = 6755399441055744.0                     # 1.5 * 2**52
_M64_LOG2E = 1.4426950408889634
_M64_LN2_HI = 6.93147180369123816490e-01            # 32 bits: k * _M64_LN2_HI is exact
_M64_LN2_LO = 1.90821492927058770002e-10
# (e**r - 1 - r) / r**2 on [-ln2/2, ln2/2], degree 9
_M64_E0 = 2.5100375832561234e-08
_M64_E1 = 2.7620075879983367e-07
_M64_E2 = 2.7557268480310024e-06
_M64_E3 = 2.4801521322368692e-05
_M64_E4 = 0.00019841269863040545
_M64_E5 = 0.0013888888917196719
_M64_E6 = 0.008333333333330065
_M64_E7 = 0.041666666666624164
_M64_E8 = 0.16666666666666669
_M64_E9 = 0.5000000000000001
_M64_EXP_HI = 710.0                                 # exp overflows above 709.79
_M64_EXP_LO = -746.0                                # and underflows to 0 below -745.14
_M64_EXPM1_LO = -40.0                               # expm1 is -1 below -37.5
# (log((1 + s) / (1 - s)) - 2 s) / s**3 as a polynomial in z = s**2 on [0, (3 - 2 sqrt(2))**2], degree 6
_M64_L0 = 0.14616449685043406
_M64_L1 = 0.15331721600556042
_M64_L2 = 0.18182889125261723
_M64_L3 = 0.2222221113479508
_M64_L4 = 0.28571428625975487
_M64_L5 = 0.39999999999899505
_M64_L6 = 0.666666666666667
# (tanh(x) - x) / x**3 as a polynomial in z = x**2 on [0, 0.625**2], degree 10
_M64_T0 = -1.724487449484433e-05
_M64_T1 = 7.959955735264808e-05
_M64_T2 = -0.00023077616269519857
_M64_T3 = 0.0005874372860094381
_M64_T4 = -0.001455309297534642
_M64_T5 = 0.0035920589774734554
_M64_T6 = -0.008863229830925709
_M64_T7 = 0.021869488260559115
_M64_T8 = -0.05396825396139557
_M64_T9 = 0.13333333333326658
_M64_T10 = -0.3333333333333332
_M64_TANH_HI = 23.0                                 # tanh rounds to 1 above 19.1
_M64_TANH_TINY = 7.450580596923828e-09              # 2**-27: tanh(x) rounds to x below


@scalar_function
def _scale_f64(p, k):
    # p * 2**k for an integer-valued float64 k in [-2044, 2046]: two exact powers of two, one rounding
    ki = np.int64(k)
    k1 = ki >> 1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - k1 + 1023) << 52).view(np.float64)
    return p * s1 * s2


@scalar_function
def _expk_f64(x):
    # (k, e**r - 1) with x = k ln2 + r, |r| <= ln2/2, for finite x in [-746, 710]
    k = (x * _M64_LOG2E + _M64_MAGIC) - _M64_MAGIC
    r = x - k * _M64_LN2_HI
    r = r - k * _M64_LN2_LO
    p = (((((((((_M64_E0 * r + _M64_E1) * r + _M64_E2) * r + _M64_E3) * r + _M64_E4) * r + _M64_E5) * r + _M64_E6)
            * r + _M64_E7) * r + _M64_E8) * r + _M64_E9)
    return k, r + r * r * p


@scalar_function
def _exp_f64(x):
    xc = x if x < _M64_EXP_HI else _M64_EXP_HI
    xc = xc if xc > _M64_EXP_LO else _M64_EXP_LO
    k, em1 = _expk_f64(xc)
    r = _scale_f64(em1 + 1.0, k)
    return r if x == x else x


@scalar_function
def _expm1_f64(x):
    xc = x if x < _M64_EXP_HI else _M64_EXP_HI
    xc = xc if xc > _M64_EXPM1_LO else _M64_EXPM1_LO
    k, em1 = _expk_f64(xc)
    ka = k if k < 53.0 else 53.0
    ka = ka if ka > -53.0 else -53.0
    s = np.int64((np.int64(ka) + 1023) << 52).view(np.float64)
    near = em1 * s + (s - 1.0)
    far = _scale_f64(em1 + 1.0, k) - 1.0
    r = near if abs(k) < 53.0 else far
    r = r if abs(x) >= _M64_2PM54 else x
    return r if x == x else x


@scalar_function
def _logm_f64(x):
    # (e, f) with x = 2**e (1 + f), sqrt(1/2) <= 1 + f < sqrt(2), for finite x > 0 (subnormals too)
    sub = x < _M64_TINY
    xs = x * _M64_2P54 if sub else x
    i = np.float64(xs).view(np.int64)
    e = (i >> 52) - (1077 if sub else 1023)
    m = np.int64((i & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = m > _M64_SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    return np.float64(e), m - 1.0


@scalar_function
def _log1pf_f64(e, f, c):
    # e ln2 + log(1 + f) + c (fdlibm's log: s = f / (2 + f))
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = z * ((((((_M64_L0 * z + _M64_L1) * z + _M64_L2) * z + _M64_L3) * z + _M64_L4) * z + _M64_L5) * z + _M64_L6)
    return e * _M64_LN2_HI - ((hfsq - (s * (hfsq + r) + (e * _M64_LN2_LO + c))) - f)


@scalar_function
def _log_f64(x):
    e, f = _logm_f64(x)
    r = _log1pf_f64(e, f, 0.0)
    r = r if x != 0.0 else -_M64_INF
    r = r if x >= 0.0 else _M64_NAN
    return r if x < _M64_INF else x


@scalar_function
def _log1p_f64(x):
    u = 1.0 + x
    d = (x - (u - 1.0)) if u < 2.0 else (1.0 - (u - x))
    e, f = _logm_f64(u)
    r = _log1pf_f64(e, f, d / u)
    r = r if abs(x) >= _M64_2PM54 else x
    r = r if x != -1.0 else -_M64_INF
    r = r if x >= -1.0 else _M64_NAN
    return r if x < _M64_INF else x


@scalar_function
def _tanh_f64(x):
    a = abs(x)
    z = x * x
    p = (((((((((_M64_T0 * z + _M64_T1) * z + _M64_T2) * z + _M64_T3) * z + _M64_T4) * z + _M64_T5) * z + _M64_T6)
           * z + _M64_T7) * z + _M64_T8) * z + _M64_T9) * z + _M64_T10
    small = x + x * z * p
    ac = a if a < _M64_TANH_HI else _M64_TANH_HI
    k, em1 = _expk_f64(ac + ac)
    big = 1.0 - 2.0 / (_scale_f64(em1 + 1.0, k) + 1.0)
    big = big if x > 0.0 else -big
    r = small if a < 0.625 else big
    r = r if a >= _M64_TANH_TINY else x
    return r if x == x else x


@scalar_function
def _logistic_f64(x):
    a = abs(x)
    a = a if a < -_M64_EXP_LO else -_M64_EXP_LO
    k, em1 = _expk_f64(-a)
    e = _scale_f64(em1 + 1.0, k)
    d = 1.0 + e
    r = 1.0 / d if x >= 0.0 else e / d
    return r if x == x else x


# (sin(r) - r) / r**3 and (cos(r) - 1 + r**2 / 2) / r**4 as polynomials in z = r**2 on [0, (pi/4)**2], degree 5
_M64_S0 = 1.5918129294866608e-10
_M64_S1 = -2.5051131845003624e-08
_M64_S2 = 2.755731610255244e-06
_M64_S3 = -0.00019841269836758574
_M64_S4 = 0.008333333333330948
_M64_S5 = -0.16666666666666666
_M64_C0 = -1.1382632425521717e-11
_M64_C1 = 2.08761462684032e-09
_M64_C2 = -2.7557317271729793e-07
_M64_C3 = 2.480158729876569e-05
_M64_C4 = -0.0013888888888887398
_M64_C5 = 0.041666666666666664
_M64_2_PI = 0.6366197723675814
_M64_PIO2_1 = 1.5707963267341256                    # pi/2 in three 33-bit parts (n * part is exact for n < 2**20)
_M64_PIO2_2 = 6.077100506303966e-11
_M64_PIO2_3 = 2.0222662487111665e-21
_M64_PIO2_4 = 8.4784276603689e-32                   # and the rest
_M64_PIO2_2M62_H = 3.4061215800865545e-19           # pi/2 * 2**-62 as a double-double
_M64_PIO2_2M62_L = 1.3277647201629795e-35
_M64_RED_BIG = 1500000.0                            # above: Payne-Hanek reduction
_M64_SPLIT = 134217729.0                            # 2**27 + 1
_M64_2PM27 = 7.450580596923828e-09
# 2/pi in 32-bit words (bits 1, 2, ... of its fraction), after two zero words
_M64_2_PI_WORDS = np.array([
    0x0, 0x0, 0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041, 0xfe5163ab, 0xdebbc561,
    0xb7246e3a, 0x424dd2e0, 0x6492eea, 0x9d1921c, 0xfe1deb1c, 0xb129a73e, 0xe88235f5, 0x2ebb4484, 0xe99c7026,
    0xb45f7e41, 0x3991d639, 0x835339f4, 0x9c845f8b, 0xbdf9283b, 0x1ff897ff, 0xde05980f, 0xef2f118b, 0x5a0a6d1f,
    0x6d367ecf, 0x27cb09b7, 0x4f463f66, 0x9e5fea2d, 0x7527bac7, 0xebe5f17b, 0x3d0739f7, 0x8a5292ea, 0x6bfb5fb1,
    0x1f8d5d08, 0x56033046, 0xfc7b6bab], np.uint64)
_M64_U32 = np.uint64(0xFFFFFFFF)
_M64_U2P61 = np.uint64(1 << 61)
_M64_U62 = np.uint64(62)
_M64_U32S = np.uint64(32)
# erf(x) / x - 1 as a polynomial in z = x**2 on [0, 1], degree 11
_M64_Q0 = -7.5660782828236e-10
_M64_Q1 = 1.3596488237140002e-08
_M64_Q2 = -1.6179841132236026e-07
_M64_Q3 = 1.644368050866919e-06
_M64_Q4 = -1.4924433670831393e-05
_M64_Q5 = 0.00012055279167972481
_M64_Q6 = -0.0008548325452347628
_M64_Q7 = 0.005223977596310859
_M64_Q8 = -0.026866170641939358
_M64_Q9 = 0.11283791670937023
_M64_Q10 = -0.3761263890318335
_M64_Q11 = 0.12837916709551256
# erfc(a) exp(a**2) as a polynomial in v = a - 3.5 on [-2.5, 2.5] (1 <= a <= 6), degree 19, weighted by the error
# it makes in erf(a)
_M64_R0 = -6.3607160673304906e-12
_M64_R1 = -1.0439650424164323e-10
_M64_R2 = -7.884855831588177e-10
_M64_R3 = -3.404986826335259e-09
_M64_R4 = -8.897358386716734e-09
_M64_R5 = -1.1842536530906647e-08
_M64_R6 = 7.093610722573019e-10
_M64_R7 = 4.172418633461088e-08
_M64_R8 = 4.985136895620077e-08
_M64_R9 = 1.3063770813370707e-07
_M64_R10 = -4.28171933980539e-07
_M64_R11 = 1.7653481829893266e-06
_M64_R12 = -8.287399180866366e-06
_M64_R13 = 3.6179335868356e-05
_M64_R14 = -0.00015545282810379912
_M64_R15 = 0.0006526951539798287
_M64_R16 = -0.002673073382684607
_M64_R17 = 0.01066113273522223
_M64_R18 = -0.04132357796114482
_M64_R19 = 0.15529365560336894
# (log((1 + s) / (1 - s)) - 2 s - 2/3 s**3) / s**5 as a polynomial in z = s**2 on [0, (3 - 2 sqrt(2))**2], degree 6
_M64_G0 = 0.1291349606680315
_M64_G1 = 0.13285967273890614
_M64_G2 = 0.1538557450045883
_M64_G3 = 0.18181808251607398
_M64_G4 = 0.2222222227107745
_M64_G5 = 0.2857142857133856
_M64_G6 = 0.40000000000000024
_M64_2_3_H = 0.6666666666666666
_M64_2_3_L = 3.700743415417188e-17
_M64_INVLN2 = 1.4426950408889634
_M64_INVLN2_L = 2.0355273740931033e-17
_M64_LN2 = 0.6931471805599453
_M64_2P900 = 8.452712498170644e+270


@scalar_function
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@scalar_function
def _two_prod(a, b):
    # a * b = p + e exactly (Dekker; no FMA), for |a|, |b| < 2**995
    p = a * b
    c = _M64_SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _M64_SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@scalar_function
def _rem_pio2_f64(x):
    # (q, rh, rl) with x = (4 m + q) pi/2 + rh + rl, |rh + rl| <= pi/4 (a little more for huge x), for finite x
    # |x| < 1.5e6: n = round(x 2/pi), x - n pi/2 with pi/2 in four parts (Cody-Waite; exact products)
    a = abs(x)
    xs = x if a < _M64_RED_BIG else 0.0
    t = xs * _M64_2_PI + _M64_MAGIC
    n = t - _M64_MAGIC
    qs = np.float64(t).view(np.int64) & 3
    h, l = _two_sum(xs - n * _M64_PIO2_1, -(n * _M64_PIO2_2))
    h, l2 = _two_sum(h, -(n * _M64_PIO2_3))
    l = (l + l2) - n * _M64_PIO2_4
    sh = h + l
    sl = l - (sh - h)
    # larger: Payne-Hanek. |x| = m 2**e (m: 53-bit integer); |x| 2/pi mod 4 = m (2**e 2/pi mod 4), the latter a
    # 192-bit fixed-point window of 2/pi's bits (2 integer bits), in six 32-bit limbs; the top 128 bits of the product
    i = np.float64(x).view(np.int64)
    be = (i >> 52) & 0x7FF
    be = be if be > 1041 else 1041
    g = be - 1013                                  # the window's first bit in _M64_2_PI_WORDS
    w = g >> 5
    s = np.uint64(g & 31)
    rs = _M64_U32S - s
    W = _M64_2_PI_WORDS
    w0 = W[w]
    w1 = W[w + 1]
    w2 = W[w + 2]
    w3 = W[w + 3]
    w4 = W[w + 4]
    w5 = W[w + 5]
    w6 = W[w + 6]
    t0 = ((w0 << s) | (w1 >> rs)) & _M64_U32
    t1 = ((w1 << s) | (w2 >> rs)) & _M64_U32
    t2 = ((w2 << s) | (w3 >> rs)) & _M64_U32
    t3 = ((w3 << s) | (w4 >> rs)) & _M64_U32
    t4 = ((w4 << s) | (w5 >> rs)) & _M64_U32
    t5 = ((w5 << s) | (w6 >> rs)) & _M64_U32
    m = np.uint64((i & 0xFFFFFFFFFFFFF) | 0x10000000000000)
    mh = m >> _M64_U32S
    ml = m & _M64_U32
    a0 = ml * t0
    a1 = ml * t1
    a2 = ml * t2
    a3 = ml * t3
    a4 = ml * t4
    b1 = mh * t1
    b2 = mh * t2
    b3 = mh * t3
    b4 = mh * t4
    b5 = mh * t5
    c2 = (a3 & _M64_U32) + (a4 >> _M64_U32S) + (b4 & _M64_U32) + (b5 >> _M64_U32S)
    c3 = (a2 & _M64_U32) + (a3 >> _M64_U32S) + (b3 & _M64_U32) + (b4 >> _M64_U32S) + (c2 >> _M64_U32S)
    c4 = (a1 & _M64_U32) + (a2 >> _M64_U32S) + (b2 & _M64_U32) + (b3 >> _M64_U32S) + (c3 >> _M64_U32S)
    c5 = (a0 & _M64_U32) + (a1 >> _M64_U32S) + (b1 & _M64_U32) + (b2 >> _M64_U32S) + (c4 >> _M64_U32S)
    hi = ((c5 & _M64_U32) << _M64_U32S) | (c4 & _M64_U32)       # |x| 2/pi mod 4, 2.62 fixed point
    lo = ((c3 & _M64_U32) << _M64_U32S) | (c2 & _M64_U32)       # the next 64 bits
    qb = (hi + _M64_U2P61) >> _M64_U62                          # nearest integer, mod 4
    f = np.int64(hi - (qb << _M64_U62))                         # the rest, in [-2**61, 2**61)
    fl = f & 0x7FF
    yh, yl = _two_sum(np.float64(f - fl), np.float64(fl) + np.float64(lo) * 5.421010862427522e-20)
    bh, bl = _two_prod(yh, _M64_PIO2_2M62_H)
    bl = bl + (yh * _M64_PIO2_2M62_L + yl * _M64_PIO2_2M62_H)
    qb = np.int64(qb)
    neg = x < 0.0
    bh = -bh if neg else bh
    bl = -bl if neg else bl
    qb = (4 - qb) & 3 if neg else qb
    big = a >= _M64_RED_BIG
    return (qb if big else qs), (bh if big else sh), (bl if big else sl)


@scalar_function
def _ksin_f64(x, y):
    # sin(x + y) for |x| <= pi/4 (fdlibm's __kernel_sin)
    z = x * x
    v = z * x
    r = (((_M64_S0 * z + _M64_S1) * z + _M64_S2) * z + _M64_S3) * z + _M64_S4
    return x - ((z * (0.5 * y - v * r) - y) - v * _M64_S5)


@scalar_function
def _kcos_f64(x, y):
    # cos(x + y) for |x| <= pi/4 (FreeBSD's __kernel_cos)
    z = x * x
    r = z * (((((_M64_C0 * z + _M64_C1) * z + _M64_C2) * z + _M64_C3) * z + _M64_C4) * z + _M64_C5)
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - x * y))


@scalar_function
def _sin_f64(x):
    q, rh, rl = _rem_pio2_f64(x)
    s = _ksin_f64(rh, rl)
    c = _kcos_f64(rh, rl)
    r = s if (q & 1) == 0 else c
    r = r if (q & 2) == 0 else -r
    r = r if abs(x) >= _M64_2PM27 else x
    return r if abs(x) < _M64_INF else x - x


@scalar_function
def _cos_f64(x):
    q, rh, rl = _rem_pio2_f64(x)
    s = _ksin_f64(rh, rl)
    c = _kcos_f64(rh, rl)
    r = c if (q & 1) == 0 else s
    r = r if ((q + 1) & 2) == 0 else -r
    return r if abs(x) < _M64_INF else x - x


@scalar_function
def _erf_f64(x):
    a = abs(x)
    z = x * x
    q = ((((((((((_M64_Q0 * z + _M64_Q1) * z + _M64_Q2) * z + _M64_Q3) * z + _M64_Q4) * z + _M64_Q5) * z
        + _M64_Q6) * z + _M64_Q7) * z + _M64_Q8) * z + _M64_Q9) * z + _M64_Q10) * z + _M64_Q11
    small = x + x * q
    ac = a if a < 6.0 else 6.0                    # erf rounds to 1 above 5.93
    ac = ac if ac > 1.0 else 1.0
    k, em1 = _expk_f64(-(ac * ac))
    v = ac - 3.5
    r = ((((((((((((((((((_M64_R0 * v + _M64_R1) * v + _M64_R2) * v + _M64_R3) * v + _M64_R4) * v + _M64_R5) * v
        + _M64_R6) * v + _M64_R7) * v + _M64_R8) * v + _M64_R9) * v + _M64_R10) * v + _M64_R11) * v
        + _M64_R12) * v + _M64_R13) * v + _M64_R14) * v + _M64_R15) * v + _M64_R16) * v + _M64_R17) * v
        + _M64_R18) * v + _M64_R19
    big = 1.0 - _scale_f64(em1 + 1.0, k) * r      # 1 - erfc(a)
    big = big if x > 0.0 else -big
    r = small if a < 1.0 else big
    return r if x == x else x


@scalar_function
def _expm1r_f64(r):
    # e**r - 1 for |r| <= ln2/2
    p = (((((((((_M64_E0 * r + _M64_E1) * r + _M64_E2) * r + _M64_E3) * r + _M64_E4) * r + _M64_E5) * r + _M64_E6)
            * r + _M64_E7) * r + _M64_E8) * r + _M64_E9)
    return r + r * r * p


@scalar_function
def _log2dd_f64(x):
    # log2(x) as a double-double (about 2**-100 relative), for finite x > 0
    e, f = _logm_f64(x)
    d = 2.0 + f
    dl = f - (d - 2.0)
    sh = f / d                                    # s = f / (2 + f) = sh + sl
    ph, pl = _two_prod(sh, d)
    sl = (((f - ph) - pl) - sh * dl) / d
    z = sh * sh
    q = (((((_M64_G0 * z + _M64_G1) * z + _M64_G2) * z + _M64_G3) * z + _M64_G4) * z + _M64_G5) * z + _M64_G6
    zh, zl = _two_prod(sh, sh)                    # s**3 = ch + cl
    ch, cl = _two_prod(zh, sh)
    cl = cl + zl * sh + 3.0 * z * sl
    th, tl = _two_prod(ch, _M64_2_3_H)            # 2/3 s**3 = th + tl
    tl = tl + (cl * _M64_2_3_H + ch * _M64_2_3_L)
    h, l = _two_sum(2.0 * sh, th)                 # log(1 + f) = 2 s + 2/3 s**3 + s**5 q
    l = l + (2.0 * sl + tl + ch * z * q)
    mh, ml = _two_prod(h, _M64_INVLN2)
    ml = ml + (l * _M64_INVLN2 + h * _M64_INVLN2_L)
    rh, rl = _two_sum(e, mh)
    rl = rl + ml
    h = rh + rl
    return h, rl - (h - rh)


@scalar_function
def _pow_special_f64(x, y, r):
    # C99's (and NumPy's) pow special cases around r = |x|**y, computed for finite x != 0 (any stand-in else)
    ax = abs(x)
    yint = y == np.floor(y)
    yodd = yint & (np.floor(0.5 * y) != 0.5 * y)
    r = r if (ax != 0.0) & (ax != _M64_INF) else (0.0 if (ax == 0.0) == (y > 0.0) else _M64_INF)
    r = -r if yodd & (np.float64(x).view(np.int64) < 0) else r
    r = _M64_NAN if (x < 0.0) & (x > -_M64_INF) & (y != np.floor(y)) & (abs(y) < _M64_INF) else r
    r = r if (x == x) & (y == y) else _M64_NAN
    r = 1.0 if (ax == 1.0) & (abs(y) == _M64_INF) else r
    return 1.0 if (y == 0.0) | (x == 1.0) else r


@scalar_function
def _pow_f64(x, y):
    ax = abs(x)
    axc = ax if (ax < _M64_INF) & (ax > 0.0) else 1.0
    lh, ll = _log2dd_f64(axc)
    yc = y if abs(y) < _M64_2P900 else (_M64_2P900 if y > 0.0 else -_M64_2P900)
    th, tl = _two_prod(yc, lh)                    # y log2|x| = th + tl
    tl = tl + yc * ll if abs(th) < 1100.0 else 0.0
    t = th if th < 1100.0 else 1100.0
    t = t if t > -1100.0 else -1100.0
    k = (t + _M64_MAGIC) - _M64_MAGIC
    f = (t - k) + tl
    r = _scale_f64(_expm1r_f64(f * _M64_LN2) + 1.0, k)
    return _pow_special_f64(x, y, r)
'''

#: the functions templates call, as ``_{name}_f32`` / ``_{name}_f64``
FUNCTIONS = {"exp": 1, "expm1": 1, "log": 1, "log1p": 1, "tanh": 1, "logistic": 1, "erf": 1, "sin": 1, "cos": 1,
             "pow": 2}   # name -> arity
#: ``_{name}_{f32,f64}_call``: the same, not inlined into callers. Loop-free (0-d) kernels call these: there is
#: nothing to vectorise, and an inlined copy per call costs LLVM time (a chain of 40 sines: three times the compile)
CALL_SOURCE = "".join(f"""

@scalar_call
def _{name}_{dt}_call({', '.join('xy'[:arity])}):
    return _{name}_{dt}({', '.join('xy'[:arity])})
""" for name, arity in FUNCTIONS.items() for dt in ("f32", "f64"))
#: Numba options added to the backend's: inline into every caller (LLVM's inliner skips functions this long, and
#: a call left in a loop keeps it from vectorising); let LLVM fuse a * b + c into an FMA where the machine has one
#: (Horner steps: a fifth fewer instructions; only in these functions, not in the kernels' own arithmetic); no
#: Python or C wrappers (kernels call them, Python never does: a third less compile time)
CPU_OPTIONS = {"forceinline": True, "fastmath": {"contract"}, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
DIGEST = hashlib.sha256((SOURCE + CALL_SOURCE + repr(sorted(CPU_OPTIONS.items()))).encode()).hexdigest()[:16]

#: the functions generated code calls: ``_{name}_{f32,f64}`` and their ``_call`` variants
ENTRY_POINTS = tuple(f"_{name}_{dt}{call}" for name in FUNCTIONS for dt in ("f32", "f64") for call in ("", "_call"))

_LIBRARIES: dict = {}
_LOCK = threading.Lock()


def library(probe) -> dict:
    """The functions of ``SOURCE`` (name -> compiled function), compiled like ``probe``: a function the backend
    compiled with its own decorator. Once per process and decorator."""
    if type(probe).__name__ != "CPUDispatcher":
        raise NotImplementedError(f"no vectorisable math library for {type(probe).__name__} functions")
    options = dict(probe.targetoptions)
    key = repr(sorted(options.items()))
    with _LOCK:
        lib = _LIBRARIES.get(key)
        if lib is None:
            import numba
            # a module in sys.modules: Numba pickles references to the functions by module name into the cached
            # machine code of the kernels calling them, and the kernel modules call library() before loading it
            name = f"{__name__}_{DIGEST}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
            mod = types.ModuleType(name)
            opts = {**options, **CPU_OPTIONS}
            mod.__dict__.update(np=np, math=math, scalar_function=numba.jit(**opts),
                                scalar_call=numba.jit(**{k: v for k, v in opts.items() if k != "forceinline"}))
            sys.modules[name] = mod
            exec(compile(SOURCE + CALL_SOURCE, f"<jaxish vecmath {DIGEST}>", "exec"), mod.__dict__)
            lib = _LIBRARIES[key] = {k: v for k, v in vars(mod).items() if k.startswith("_") and not k.startswith("__")}
    return lib
