"""Threads: tracing, compiling, calling, tapes and random draws from 8 threads at once.

Every check is against NumPy; counters show that each signature is traced and
compiled once even when all threads ask for it at the same moment.
"""
import sys
import threading

import numpy as np
import pytest
from thread_helpers import in_threads

import jaxish as tf
from jaxish.backends import STATS
from jaxish.backends import cpu as jcpu

N_THREADS = 8
SHAPES = [(3,), (2, 3), (4, 5), (1, 7), (6,)]


@pytest.fixture(autouse=True)
def _frequent_thread_switches():
    """Switch threads every microsecond (default 5 ms) so that races show up in a short test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _in_threads(work, n=N_THREADS):
    return in_threads(work, n)


def _unique_scale() -> float:
    """A literal no other test uses, so this test's graphs are new to the executable cache."""
    return 1.0 + float(np.random.default_rng().integers(1, 2**20)) / 2**21


def test_tracing_compiling_and_calling_one_function(backend):
    scale = _unique_scale()

    @tf.trace
    def f(x):
        return tf.reduce_sum(tf.tanh(x) * scale + x * x, axis=-1)

    misses, compiled = STATS["misses"], dict(jcpu.STATS)

    def work(i):
        rng = np.random.default_rng(i)
        for shape in SHAPES[i % len(SHAPES):] + SHAPES[:i % len(SHAPES)]:  # threads start on different shapes
            x = rng.standard_normal(shape).astype(np.float32)
            terms = np.tanh(x.astype(np.float64)) * scale + x.astype(np.float64) ** 2
            # float32 rounding of each term: the bound scales with the terms' magnitudes (sums may cancel)
            np.testing.assert_allclose(f(x).numpy(), terms.sum(axis=-1),
                                       rtol=1e-5, atol=1e-6 * float(np.abs(terms).sum(axis=-1).max()) + 1e-7)
        return True
    assert all(_in_threads(work))
    info = f.cache_info()
    assert info.traces == len(SHAPES) and info.size == len(SHAPES)  # each signature traced once
    assert info.hits + info.misses == N_THREADS * len(SHAPES)
    assert STATS["misses"] - misses == len(SHAPES)  # each graph compiled once
    if backend == "cpu":
        new = {k: jcpu.STATS[k] - compiled[k] for k in compiled}
        assert new["compiled"] + new["disk_loads"] == len(SHAPES) and new["fallbacks"] == 0


def test_nested_traced_calls_from_threads(backend):
    """Re-entrant traced functions hand back their own outputs (no shared per-function state)."""
    @tf.trace
    def inner(x):
        return x * 2.0, x + 1.0

    @tf.trace
    def outer(x):
        a, b = inner(x)
        c, d = inner(a)
        return a + b * c - d

    def work(i):
        out = []
        for k in range(20):
            x = np.full((2,), float(i * 100 + k), np.float32)
            a, b = inner(x)
            np.testing.assert_array_equal(a.numpy(), x * 2)
            np.testing.assert_array_equal(b.numpy(), x + 1)
            a, c = x * 2, x * 4
            np.testing.assert_allclose(outer(x).numpy(), a + (x + 1) * c - (a + 1), rtol=1e-6)
            out.append(k)
        return out
    _in_threads(work)


def test_traced_grad_of_nested_calls_from_threads(backend):
    """``call`` nodes (a nested traced function and grad's backward graph) traced, compiled and run from 8
    threads: each signature traced once, every result exact against the analytic gradient."""
    scale = _unique_scale()

    @tf.trace
    def inner(x):
        return tf.sin(x) * scale

    df = tf.trace(tf.grad(lambda x: tf.reduce_sum(inner(x) * inner(x))))

    def work(i):
        rng = np.random.default_rng(100 + i)
        for shape in SHAPES[i % len(SHAPES):] + SHAPES[:i % len(SHAPES)]:
            x = rng.standard_normal(shape).astype(np.float32)
            x64 = x.astype(np.float64)
            want = 2 * scale * scale * np.sin(x64) * np.cos(x64)  # d/dx sum((s sin x)^2)
            np.testing.assert_allclose(df(x).numpy(), want, rtol=2e-5, atol=1e-6)
        return True
    assert all(_in_threads(work))
    assert df.cache_info().traces == len(SHAPES)
    g = tf.make_graph(tf.grad(lambda x: tf.reduce_sum(inner(x) * inner(x))))(np.ones(3, np.float32))
    assert [n.prim.name for n in g.nodes] == ["call"]  # the backward graph is one call node


def test_tapes_in_each_thread(backend):
    def work(i):
        x = tf.constant(np.linspace(-1, 1, 5) + i, dtype=tf.float64)
        for _ in range(10):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(x * x * x) + tf.reduce_sum(tf.sin(x))
            g = tape.gradient(y, x)
            xv = x.numpy()
            np.testing.assert_allclose(g.numpy(), 3 * xv ** 2 + np.cos(xv), rtol=1e-12)
        return True
    assert all(_in_threads(work))


def test_tracing_in_one_thread_does_not_capture_another_threads_ops(backend):
    """Trace state is thread-local: eager ops of other threads are never recorded in a trace."""
    started, release = threading.Event(), threading.Event()

    @tf.trace
    def slow(x):
        started.set()
        release.wait(timeout=60)
        return x + 1.0

    def work(i):
        if i == 0:
            return slow(np.ones(3, np.float32)).numpy()
        started.wait(timeout=60)
        r = (tf.constant([1.0, 2.0]) * 3.0).numpy()  # eager, while thread 0 is inside its trace
        release.set()
        return r
    res = _in_threads(work, 2)
    np.testing.assert_array_equal(res[0], np.full(3, 2.0, np.float32))
    np.testing.assert_array_equal(res[1], [3.0, 6.0])
    assert len(slow.graph(np.ones(3, np.float32)).nodes) == 1


def test_random_draws_are_never_repeated_across_threads(backend):
    draw = tf.trace(lambda: tf.random.uniform((2,), dtype=tf.float64))

    def work(i):
        rows = []
        for _ in range(50):
            rows.append(tuple(tf.random.uniform((2,), dtype=tf.float64).numpy()))   # eager
            rows.append(tuple(draw().numpy()))                                       # traced
        return rows
    rows = [r for rs in _in_threads(work) for r in rs]
    assert len(rows) == N_THREADS * 100
    assert len(set(rows)) == len(rows)


def test_seeded_sequences_are_reproducible_single_threaded():
    tf.random.set_seed(123)
    a = [tf.random.uniform((3,), dtype=tf.float64).numpy() for _ in range(3)]
    tf.random.set_seed(123)
    b = [tf.random.uniform((3,), dtype=tf.float64).numpy() for _ in range(3)]
    np.testing.assert_array_equal(a, b)
    assert tf.random.get_state() == (123, 3)


def test_one_graph_compiled_once_when_threads_race(cpu_backend):
    """All threads ask for the same new graph at once: one trace, one compile."""
    scale = _unique_scale()
    f = tf.trace(lambda x: tf.exp(x) * scale - x)
    misses, compiled = STATS["misses"], dict(jcpu.STATS)
    x = np.linspace(0, 1, 4, dtype=np.float32)
    for r in _in_threads(lambda i: f(x).numpy()):
        np.testing.assert_allclose(r, np.exp(x) * scale - x, rtol=1e-6)
    assert f.cache_info().traces == 1
    assert STATS["misses"] - misses == 1
    new = {k: jcpu.STATS[k] - compiled[k] for k in compiled}
    assert new["compiled"] + new["disk_loads"] == 1 and new["fallbacks"] == 0
