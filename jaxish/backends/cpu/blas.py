"""Direct calls of the CBLAS ``sgemm``/``dgemm`` of NumPy's own OpenBLAS from generated code.

Numba's ``np.dot`` calls the BLAS SciPy bundles (through ``scipy.linalg.cython_blas``), which may be an older
OpenBLAS than NumPy's: on the benchmark machine (Zen 4) SciPy's 0.3.30 ``sgemm`` took 555 us for a
(128, 784) @ (784, 256) product where NumPy's 0.3.31 took 515 us. When NumPy's wheel carries its OpenBLAS
(``numpy.libs/libscipy_openblas64_*.so``, 64-bit integers), this module loads it into LLVM's symbol table and
declares its ``cblas_?gemm`` as Numba external functions; ``gemm_lines`` spells out a call for the matmul
lowering. Generated modules call the functions by symbol name, so their cached machine code stays valid in
another process once this module is imported (``IMPORT``, a line of every module that calls them).
Elsewhere (another BLAS, another NumPy build) ``AVAILABLE`` is False and the lowering keeps ``np.dot``.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_SYMBOLS = {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}
_LIBRARY: list = []   # the path of the library loaded, once found


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
    _LIBRARY.append(libs[0])
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


def openblas_info() -> dict | None:
    """What NumPy's OpenBLAS (the one generated code calls) runs: ``{'core': the kernel family it chose when it
    was loaded ('SkylakeX', 'Haswell', ...; ``OPENBLAS_CORETYPE`` set before NumPy's import overrides it),
    'threads': its thread count now, 'config': its build line}``; None when this module does not use it."""
    if not _LIBRARY:
        return None
    lib = ctypes.CDLL(_LIBRARY[0])   # (already loaded: the same handle)
    lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    lib.scipy_openblas_get_config64_.restype = ctypes.c_char_p
    lib.scipy_openblas_get_num_threads64_.restype = ctypes.c_int
    return {"core": lib.scipy_openblas_get_corename64_().decode(), "threads": lib.scipy_openblas_get_num_threads64_(),
            "config": lib.scipy_openblas_get_config64_().decode()}


# the module-level line a generated module needs (``helpers.helper_parts``)
IMPORT = "from jaxish.backends.cpu.blas import SGEMM as _sgemm, DGEMM as _dgemm"



def gemm_lines(dtype_name: str, a: str, a_cols: bool, b: str, b_cols: bool, out: str, m: str, n: str,
               k: str, alpha: str | None = None, beta: str | None = None) -> list:
    """Lines of an entry function that compute ``out = a @ b``, or ``out = alpha * (a @ b) + beta * out`` given
    the scalar expressions ``alpha`` and ``beta`` of the dtype (names of 2-D arrays; ``out`` C-contiguous,
    (m, n)) with one BLAS call: ``a`` (m, k) and ``b`` (k, n) each C-contiguous, or F-contiguous when
    ``*_cols`` (a transposed C array, read as it lies); ``m``, ``n``, ``k`` are size expressions. The layouts
    are static (the lowering knows them), so the call has no run-time branches. The check after the call is
    the operands' last use: Numba releases an array after its last use, which must not come before BLAS has
    read it."""
    fn, ctor = ("_sgemm", "np.float32") if dtype_name == "float32" else ("_dgemm", "np.float64")
    alpha = alpha or f"{ctor}(1.0)"
    beta = beta or f"{ctor}(0.0)"
    lda = f"max({m if a_cols else k}, 1)"
    ldb = f"max({k if b_cols else n}, 1)"
    return [f"{fn}(101, {112 if a_cols else 111}, {112 if b_cols else 111}, {m}, {n}, {k}, {alpha}, {a}.ctypes.data, "
            f"{lda}, {b}.ctypes.data, {ldb}, {beta}, {out}.ctypes.data, max({n}, 1))",
            f"if {a}.shape[0] < 0 or {b}.shape[0] < 0 or {out}.shape[0] < 0:",
            "    raise ValueError('matmul: BLAS operands released early')"]
