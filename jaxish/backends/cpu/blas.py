"""Direct calls of the CBLAS ``sgemm``/``dgemm`` of NumPy's own OpenBLAS from generated code.

Numba's ``np.dot`` calls the BLAS SciPy bundles (through ``scipy.linalg.cython_blas``), which may be an older
OpenBLAS than NumPy's: on the benchmark machine (Zen 4) SciPy's 0.3.30 ``sgemm`` took 555 us for a
(128, 784) @ (784, 256) product where NumPy's 0.3.31 took 515 us. When NumPy's wheel carries its OpenBLAS
(``numpy.libs/libscipy_openblas64_*.so``, 64-bit integers), this module loads it into LLVM's symbol table and
declares its ``cblas_?gemm`` as Numba external functions; ``GEMM`` is the source of the helper the matmul
lowering emits for them (``helpers``). Generated modules call the functions by symbol name, so their cached
machine code stays valid in another process once this module is imported (the helper's support line does).
Elsewhere (another BLAS, another NumPy build) ``AVAILABLE`` is False and the lowering keeps ``np.dot``.
"""
from __future__ import annotations

import glob
import os

import numpy as np

_SYMBOLS = {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}


def _load() -> dict:
    """The external functions by dtype name, or {} when NumPy's OpenBLAS is not found."""
    libs = sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                         "libscipy_openblas64_*.so")))
    if len(libs) != 1:
        return {}
    try:
        import llvmlite.binding as llvm
        from numba import types
        llvm.load_library_permanently(libs[0])
        found = {k: llvm.address_of_symbol(s) for k, s in _SYMBOLS.items()}
    except Exception:   # (a broken or foreign library: keep np.dot)
        return {}
    if not all(found.values()):
        return {}
    out = {}
    for name, sym in _SYMBOLS.items():
        t = getattr(types, name)
        i = types.int64
        sig = types.void(types.int32, types.int32, types.int32, i, i, i, t, types.voidptr, i, types.voidptr, i, t,
                         types.voidptr, i)
        out[name] = types.ExternalFunction(sym, sig)
    return out


_FUNCTIONS = _load()
AVAILABLE = bool(_FUNCTIONS)
SGEMM = _FUNCTIONS.get("float32")
DGEMM = _FUNCTIONS.get("float64")

# the module-level line a generated module needs (``helpers.helper_parts``)
IMPORT = "from jaxish.backends.cpu.blas import SGEMM as _sgemm, DGEMM as _dgemm"

# out = a @ b for 2-D a (m, k), b (k, n) and a C-contiguous out (m, n), all float32 or float64: each operand
# row-major (its rows contiguous) or column-major (a transposed view), passed to BLAS as it lies (another
# layout goes to np.dot). A leading dimension is at least the row length BLAS checks against (a 1-row or
# 1-column operand may have either stride). The check after the call is a last use of the operands: Numba
# releases an array after its last use, which must not come before BLAS has read it.
GEMM = '''
def _gemm(a, b, out):
    m_, k_ = a.shape
    n_ = out.shape[1]
    isz = out.itemsize
    ta = 0
    tb = 0
    lda = 1
    ldb = 1
    if a.strides[1] == isz or m_ == 1:
        ta = 111
        lda = max(a.strides[0] // isz, k_, 1)
    elif a.strides[0] == isz or k_ == 1:
        ta = 112
        lda = max(a.strides[1] // isz, m_, 1)
    if b.strides[1] == isz or k_ == 1:
        tb = 111
        ldb = max(b.strides[0] // isz, n_, 1)
    elif b.strides[0] == isz or n_ == 1:
        tb = 112
        ldb = max(b.strides[1] // isz, k_, 1)
    if ta == 0 or tb == 0:
        out[:, :] = np.dot(a, b)
    elif isz == 4:
        _sgemm(101, ta, tb, m_, n_, k_, np.float32(1.0), a.ctypes.data, lda, b.ctypes.data, ldb, np.float32(0.0),
               out.ctypes.data, max(n_, 1))
    else:
        _dgemm(101, ta, tb, m_, n_, k_, np.float64(1.0), a.ctypes.data, lda, b.ctypes.data, ldb, np.float64(0.0),
               out.ctypes.data, max(n_, 1))
    if a.shape[0] != m_ or b.shape[1] != n_:
        raise ValueError("_gemm: operands changed shape")
'''
