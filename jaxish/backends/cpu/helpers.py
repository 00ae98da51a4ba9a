"""Source of the library kernels an entry function may call (matmul loops,
gather, argmax, random …), as plain functions. The code generator spells a
call of one out in the entry function (``codegen.inline_call``), so it is
compiled and cached with the entry; the Numba functions it calls in turn
(Philox) are emitted into the entry's module."""
from ...primitives import philox

# Loop matmuls come in forms the lowering picks from the graph's static shape (``lowerings``), so that the
# entry carries only the loop nest it runs: each one more is Numba and LLVM time on every cold compile (two
# unused nests per matmul were 0.65 s of the seed step's 1.6 s). Batched, few output columns (the matrix-vector
# products of small models): one dot product per element, accumulated in a register (with one column the axpy
# loop runs a vector loop of length 1 per (m, k): 3x slower); many: rows of ``b`` scaled and added (vectorised
# along n). Both add the products in the same order, in out's dtype.
DOT_COLUMNS = 8

MM_DOT = '''
def _mm_dot(a, b, out):
    nb, m_, n_ = out.shape
    k_ = a.shape[2]
    for bi in range(nb):
        ia = bi if a.shape[0] > 1 else 0
        ib = bi if b.shape[0] > 1 else 0
        for m in range(m_):
            for n in range(n_):
                out[bi, m, n] = 0
                acc = out[bi, m, n]
                for k in range(k_):
                    acc += a[ia, m, k] * b[ib, k, n]
                out[bi, m, n] = acc
'''

MM_AXPY = '''
def _mm_axpy(a, b, out):
    nb, m_, n_ = out.shape
    k_ = a.shape[2]
    for bi in range(nb):
        ia = bi if a.shape[0] > 1 else 0
        ib = bi if b.shape[0] > 1 else 0
        for m in range(m_):
            for n in range(n_):
                out[bi, m, n] = 0
            for k in range(k_):
                av = a[ia, m, k]
                for n in range(n_):
                    out[bi, m, n] += av * b[ib, k, n]
'''

# 2-D loop matmuls: the loop order follows the shape (``lowerings._mm2_form``); the sum over k is in ascending
# order, except in ``_mm2_dot4``. Many columns: a loop over a row of b and out inside.
MM2_AXPY = '''
def _mm2_axpy(a, b, out):
    m_, n_ = out.shape
    k_ = a.shape[1]
    for m in range(m_):
        for n in range(n_):
            out[m, n] = 0
        for k in range(k_):
            av = a[m, k]
            for n in range(n_):
                out[m, n] += av * b[k, n]
'''

# few columns, short sums (x @ w): a loop over the rows inside
MM2_ROWS = '''
def _mm2_rows(a, b, out):
    m_, n_ = out.shape
    k_ = a.shape[1]
    for n in range(n_):
        for m in range(m_):
            out[m, n] = 0
        for k in range(k_):
            bv = b[k, n]
            for m in range(m_):
                out[m, n] += a[m, k] * bv
'''

# few columns, long sums (x.T @ r): each element a dot product in four partial sums (registers)
MM2_DOT4 = '''
def _mm2_dot4(a, b, out):
    m_, n_ = out.shape
    k_ = a.shape[1]
    k4 = k_ - k_ % 4
    for m in range(m_):
        for n in range(n_):
            out[m, n] = 0
            acc0 = out[m, n]
            acc1 = acc0
            acc2 = acc0
            acc3 = acc0
            for k in range(0, k4, 4):
                acc0 += a[m, k] * b[k, n]
                acc1 += a[m, k + 1] * b[k + 1, n]
                acc2 += a[m, k + 2] * b[k + 2, n]
                acc3 += a[m, k + 3] * b[k + 3, n]
            for k in range(k4, k_):
                acc0 += a[m, k] * b[k, n]
            out[m, n] = (acc0 + acc1) + (acc2 + acc3)
'''

MM_BLAS = '''
def _mm_blas(a, b, out):
    for bi in range(out.shape[0]):
        ia = bi if a.shape[0] > 1 else 0
        ib = bi if b.shape[0] > 1 else 0
        out[bi] = np.dot(a[ia], b[ib])
'''

GATHER = '''
def _gather(x3, idx, out3, axis):
    n = x3.shape[1]
    for q in range(idx.shape[0]):
        j = idx[q]
        if j < -n or j >= n:
            raise IndexError("gather: index " + str(j) + " is out of bounds for axis " + str(axis)
                             + " with size " + str(n))
    for p in range(x3.shape[0]):
        for q in range(idx.shape[0]):
            j = idx[q]
            if j < 0:
                j += n
            for r in range(x3.shape[2]):
                out3[p, q, r] = x3[p, j, r]
'''

GATHER_GRAD = '''
def _gather_grad(g3, idx, out3):
    n = out3.shape[1]
    for p in range(out3.shape[0]):
        for q in range(idx.shape[0]):
            j = idx[q]
            if j < 0:
                j += n
            for r in range(out3.shape[2]):
                out3[p, j, r] += g3[p, q, r]
'''

ARG = '''
def _arg{name}(x3, out2):
    n = x3.shape[1]
    for p in range(x3.shape[0]):
        for r in range(x3.shape[2]):
            best = 0
            bv = x3[p, 0, r]
            if bv == bv:
                for j in range(1, n):
                    v = x3[p, j, r]
                    if v != v:
                        best = j
                        break
                    if v {op} bv:
                        bv = v
                        best = j
            out2[p, r] = best
'''

# Philox (``_philox``: the rounds and the counter packing) and the bits-to-float mapping are the functions
# the NumPy reference runs (``primitives/philox.py``), emitted as source: their text is part of the module's hash
_NJIT = '@njit(error_model="numpy")'

UNIFORM = '''
def _uniform_{dt}(state, out, stream):
    seed = np.uint64(state[0])
    counter = np.uint64(state[1])
    st = np.uint64(stream)
    for i in range(out.shape[0]):
        w0, w1 = philox_words(np.uint64(i), seed, counter, st)
        out[i] = unit_{dt}(w0, w1)
'''


_SOURCES = {"_mm_dot": MM_DOT, "_mm_axpy": MM_AXPY, "_mm2_axpy": MM2_AXPY, "_mm2_rows": MM2_ROWS,
            "_mm2_dot4": MM2_DOT4, "_mm_blas": MM_BLAS, "_gather": GATHER, "_gather_grad": GATHER_GRAD}


def helper_parts(name: str) -> tuple:
    """``(support, function)``: the source of library kernel ``name`` (one ``def``, no decorator) and the
    pieces of source (a tuple) of the Numba functions it calls, to emit once each at module level."""
    if name in _SOURCES:
        return (), _SOURCES[name]
    if name in ("_argmax", "_argmin"):
        return (), ARG.format(name=name[4:], op=">" if name == "_argmax" else "<")
    if name.startswith("_uniform_"):
        dt = name[len("_uniform_"):]
        return (philox.source(_NJIT), philox.source(_NJIT, (philox.UNIT[dt],))), UNIFORM.format(dt=dt)
    raise KeyError(name)
