"""The cpu code generator's module layout: scalar helpers by reference, kernels spelled out in the entry."""
import numpy as np
import pytest

import jaxish as tf
from jaxish.backends.codegen import scalar
from jaxish.backends.cpu import codegen
from jaxish.backends.cpu.helpers import helper_parts
from jaxish.passes import optimize

FAKE_SCALARS = '''
_SCALE = 1.5


@scalar_function
def _uses_two(v):
    # calls another helper and reads a constant
    return _plain(v) * _SCALE


@scalar_function
def _plain(v):
    return v + 1.0


@scalar_function
def _unused(v):
    return v


def _register():
    return {}


globals().update(_register())   # defines nothing by name: always emitted, with what it reads
'''


@pytest.fixture
def fake_scalars(monkeypatch):
    monkeypatch.setattr(scalar, "SCALAR_FUNCTIONS", FAKE_SCALARS)


def test_only_referenced_scalar_helpers_are_emitted_transitively(fake_scalars):
    text = codegen.scalar_functions("    t0 = _uses_two(x0)\n")
    assert "def _uses_two(" in text and "def _plain(" in text and "_SCALE = 1.5" in text
    assert "_unused" not in text and "@scalar_function" not in text
    assert text.index("_SCALE") < text.index("def _uses_two(") < text.index("def _plain(")  # their order there
    assert codegen.SCALAR_DECORATOR in text
    plain = codegen.scalar_functions("    t0 = _plain(x0)\n")
    assert "def _plain(" in plain and "_uses_two" not in plain and "_unused" not in plain
    always = codegen.scalar_functions("    t0 = x0 + 1\n")
    assert always.count("def ") == 1 and "def _register(" in always and "globals().update(_register())" in always
    namespace = {}
    exec(always, namespace)   # what a no-name statement reads is there


def _program(fn, *args):
    return codegen.generate(optimize(tf.make_graph(fn)(*args), for_execution=True))


def test_generated_modules_carry_only_the_helpers_they_call():
    x = tf.constant(np.linspace(-3, 3, 8))
    src = _program(lambda x: tf.floordiv(x, 0.7) * 2.0, x).entry_source
    assert "def _floordiv_f(" in src and "def _floordiv_i(" not in src and "def _mod_f(" not in src
    assert "def _pow_i(" not in src
    src = _program(lambda x: x * 2.0 + 1.0, x).entry_source
    assert "def _floordiv_f(" not in src and "def _mod_i(" not in src


def test_source_is_deterministic():
    f = lambda x: tf.reduce_sum(tf.tanh(x) * 3.0, axis=0)  # noqa: E731
    x = tf.constant(np.ones((3, 4), np.float32))
    p1, p2 = _program(f, x), _program(f, x)
    assert p1.entry_source == p2.entry_source and p1.kernels == p2.kernels


def _exec_lines(lines, env):
    exec("\n".join(lines), env)


@pytest.mark.parametrize("helper", ["_mm2_axpy", "_mm2_rows", "_mm2_dot4"])
def test_inline_call_computes_what_the_call_computes(helper):
    _, fn = helper_parts(helper)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    out = np.empty((3, 5))
    lines = codegen.inline_call(fn, ["a_", "b_", "out_"], "q7_")
    assert lines[:3] == ["q7_a = a_", "q7_b = b_", "q7_out = out_"]
    _exec_lines(lines, {"np": np, "a_": a.T.copy().T, "b_": b, "out_": out})
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


def _mm_in_order(a, b, partial_sums):
    """(m, k) @ (k, n) in float32, products added over k in the order of the loop forms: ascending
    (``partial_sums=1``) or in four interleaved partial sums combined as (s0 + s1) + (s2 + s3)."""
    k = a.shape[1]
    if partial_sums == 1:
        out = np.zeros((a.shape[0], b.shape[1]), np.float32)
        for j in range(k):
            out += a[:, j:j + 1] * b[j:j + 1, :]
        return out
    k4 = k - k % 4
    acc = [np.zeros((a.shape[0], b.shape[1]), np.float32) for _ in range(4)]
    for j in range(0, k4, 4):
        for p in range(4):
            acc[p] += a[:, j + p:j + p + 1] * b[j + p:j + p + 1, :]
    for j in range(k4, k):
        acc[0] += a[:, j:j + 1] * b[j:j + 1, :]
    return (acc[0] + acc[1]) + (acc[2] + acc[3])


@pytest.mark.parametrize("m, k, n, form", [(6, 5, 1, "_mm2_rows"), (32, 5, 7, "_mm2_rows"), (5, 32, 1, "_mm2_dot4"),
                                           (3, 9, 7, "_mm2_dot4"), (6, 5, 8, "_mm2_axpy"), (5, 32, 9, "_mm2_axpy")])
def test_loop_matmul_form_is_chosen_by_the_static_shape(m, k, n, form):
    """Only the loop nest the graph runs is generated (``lowerings._mm2_form``), and it adds in its order."""
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    f = lambda x, y: tf.linalg.matmul(x, y)  # noqa: E731
    src = _program(f, tf.constant(a), tf.constant(b)).entry_source
    markers = {"_mm2_rows": "_bv = ", "_mm2_dot4": "_acc3 += ", "_mm2_axpy": "_av = "}
    assert [name for name, mark in markers.items() if mark in src] == [form]
    got = tf.trace(f)(tf.constant(a), tf.constant(b)).numpy()
    assert np.array_equal(got, _mm_in_order(a, b, 4 if form == "_mm2_dot4" else 1))


def test_inline_call_renames_locals_but_not_attributes_or_keywords():
    fn = ("def f(x, out):\n"
          "    dtype = x.dtype\n"
          "    shape = x.shape\n"
          "    out[:] = np.full(shape, 2, dtype=dtype) * x  # dtype in a comment stays\n")
    lines = codegen.inline_call(fn, ["xs", "o"], "p_")
    text = "\n".join(lines)
    assert "p_dtype = p_x.dtype" in text and "dtype=p_dtype" in text and "p_x.p_" not in text
    assert "# dtype in a comment" in text
    x, o = np.arange(3.0), np.empty(3)
    _exec_lines(lines, {"np": np, "xs": x, "o": o})
    np.testing.assert_array_equal(o, 2 * x)


@pytest.mark.parametrize("fn", [
    "def f(x):\n    return x\n",
    "def f(x, out):\n    out[0] = sum([v for v in x])\n",
    "def f(x, out):\n    def g(v):\n        pass\n",
    "def f(x, out):\n    s = '''a\nb'''\n",
])
def test_inline_call_refuses_what_it_cannot_rename(fn):
    assert codegen.inline_call(fn, ["a", "b"][:fn.count(",") + 1], "q_") is None


def test_small_kernels_are_inlined_and_large_graphs_keep_kernel_modules():
    x = tf.constant(np.linspace(-1, 1, 10))
    small = _program(lambda x: tf.reduce_sum(tf.sin(x) * x), x)
    assert not small.kernels and small.kernel_sources
    assert "def kernel(" not in small.entry_source

    def many(x):
        for _ in range(30):
            x = x + 0.1 * tf.reduce_mean(tf.sin(x)) * x
        return tf.reduce_sum(x)
    big = _program(many, x)
    assert big.kernels                                   # kernels the graph runs 30 times are modules, once each
    assert len(big.kernel_sources) > len(big.kernels)    # the final sum, run once, is spelled out in the entry
    assert all(f"{alias}(" in big.entry_source for alias in ("k0", "k1"))

    def chain(x):   # distinct kernels (reduction axes alternate) until the budget is spent
        for i in range(60):
            x = x - tf.reduce_max(x * float(i + 1), axis=i % 2, keepdims=True)
        return x
    prog = _program(chain, tf.constant(np.ones((4, 5))))
    assert prog.kernels and len(prog.kernel_sources) > len(prog.kernels)
    inlined = [b for k, b in prog.kernel_sources.items() if not k.startswith("_jx_k_")]
    assert sum(b.count("\n") + 1 for b in inlined) <= codegen.INLINE_LINES


def test_inlined_and_module_kernels_give_the_numpy_result(cpu_backend):
    def many(x):
        for _ in range(30):
            x = x + 0.1 * tf.reduce_mean(tf.sin(x)) * x
        return tf.reduce_sum(x)

    x0 = np.linspace(-0.5, 1, 50)
    ref = x0.copy()
    for _ in range(30):
        ref = ref + 0.1 * np.mean(np.sin(ref)) * ref
    assert float(tf.trace(many)(tf.constant(x0))) == pytest.approx(ref.sum(), rel=1e-12)


@pytest.mark.parametrize("disk_cache", ["1", "0"])
def test_numba_starts_without_scipy_linalg_until_blas_is_used(tmp_path, disk_cache):
    """Numba's array maths are imported without ``scipy.linalg`` (0.2 s of every start); a BLAS matmul still
    works: through NumPy's own OpenBLAS where ``blas`` finds it, else through ``np.dot``, which imports
    ``scipy.linalg`` when it is compiled."""
    import json
    import os
    import subprocess
    import sys

    from jaxish.backends.cpu import blas
    script = (
        "import json, sys, numpy as np, jaxish as tf\n"
        "f = tf.trace(lambda x: tf.reduce_sum(x * 2.0))\n"
        "small = float(f(tf.constant(np.ones(3))))\n"
        "before = 'scipy.linalg.cython_blas' in sys.modules\n"
        "a = np.random.default_rng(0).random((40, 40))\n"
        "g = tf.trace(lambda a, b: a @ b)\n"
        "ok = bool(np.allclose(g(tf.constant(a), tf.constant(a)).numpy(), a @ a, rtol=1e-12))\n"
        "print(json.dumps([small, before, ok, 'scipy.linalg.cython_blas' in sys.modules]))\n")
    env = dict(os.environ, JAXISH_CACHE_DIR=str(tmp_path), JAXISH_BACKEND="cpu", JAXISH_DISK_CACHE=disk_cache)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    small, before, ok, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert [small, before, ok] == [6.0, False, True]
    if not blas.AVAILABLE:
        assert after


def test_a_warm_start_loads_without_refreshing_numbas_registries(tmp_path):
    """Machine code loaded from the disk cache runs without Numba's full context refresh (which only compiling
    needs): the second process loads the step (and a parallel kernel) and imports none of the lowering
    registries Numba's refresh imports, nor its array maths (``before_compile``)."""
    import json
    import os
    import subprocess
    import sys
    script = (
        "import json, sys, numpy as np, jaxish as tf\n"
        "from jaxish.backends import cpu\n"
        "x = np.linspace(-1, 1, 1 << 19).astype(np.float32)\n"
        "f = tf.trace(lambda x: (tf.reduce_sum(tf.tanh(x) * 2.0), tf.exp(x[:10]) + 1.0))\n"
        "s, e = f(tf.constant(x))\n"
        "ok = abs(float(s) - float(np.sum(np.tanh(x.astype(np.float64)) * 2))) < 1e-2 and "
        "bool(np.allclose(e.numpy(), np.exp(x[:10]) + 1, rtol=1e-6))\n"
        "compiler_modules = {'numba.np.npdatetime', 'numba.np.arraymath'} & set(sys.modules)\n"
        "print(json.dumps([cpu.STATS, ok, bool(compiler_modules)]))\n")
    env = dict(os.environ, JAXISH_CACHE_DIR=str(tmp_path), JAXISH_BACKEND="cpu")
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0][0]["compiled"] == 1 and runs[0][1] and runs[0][2]
    assert runs[1] == [{"compiled": 0, "disk_loads": 1, "fallbacks": 0}, True, False]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mkn", [(1, 64, 64), (64, 1, 64), (64, 64, 1), (17, 33, 65)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_blas_matmul_of_transposed_views_and_thin_operands(cpu_backend, dtype, mkn, ta, tb):
    """The BLAS matmul passes row- and column-major operands (transposed views) as they lie, with leading
    dimensions BLAS accepts for one-row and one-column operands; the result keeps the dtype."""
    m, k, n = mkn
    rng = np.random.default_rng(m * 7 + k * 3 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    f = tf.trace(lambda x, y: tf.matmul(tf.transpose(x) if ta else x, tf.transpose(y) if tb else y))
    got = f(tf.constant(a), tf.constant(b)).numpy()
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    assert got.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
