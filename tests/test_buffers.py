"""Pooled buffers of the cpu backend (backends/cpu/buffers.py): large arrays a compiled graph allocates, other than
the outputs written into destinations (tests/test_output_buffers.py), are reused across calls, and only once nothing
refers to them any more: intermediates between steps, and arrays whose view is returned.

Every test checks values against NumPy (float64 where it computes), including the values of results kept from
earlier calls, after later calls that could have overwritten them.
"""
import gc
import threading
import weakref

import numpy as np
import pytest

import jaxish as tf
from jaxish.backends.cpu import buffers, codegen

pytestmark = pytest.mark.usefixtures("cpu_backend")


@pytest.fixture
def small_pool(monkeypatch):
    """Pool arrays from 4 KB on, so that small graphs (no parallel kernels, quick to compile) use the pool. Each
    test's graphs carry their own constants: the executable cache must not hand back one generated before."""
    monkeypatch.setattr(codegen, "POOL_BYTES", 4096)


def _vg_ref(x):
    x = x.astype(np.float64)
    t = np.tanh(0.5 * x + 1)
    e = np.exp(-x * x)
    return np.sum(t * t + e), t * (1 - t * t) - 2 * x * e


def _vg(c):
    def f(x):
        return tf.reduce_sum(tf.tanh(0.5 * x + c) ** 2 + tf.exp(-x * x))
    return tf.trace(tf.value_and_grad(f))


def _data(n, seed):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _runner_of(fn, *args):
    """The cpu runner of a traced function's executable at ``args`` (its pools)."""
    graph = fn.graph(*args)
    from jaxish.backends import get_executable
    return get_executable(graph).run


def test_value_and_grad_on_a_pooled_size_matches_float64():
    # the benchmark's function at a size that pools the gradient (and runs the parallel kernel)
    n = (buffers.POOL_BYTES // 4) + 1001
    vg = _vg(1.0)
    for seed in range(3):
        x = _data(n, seed)
        v, g = vg(tf.constant(x))
        rv, rg = _vg_ref(x)
        np.testing.assert_allclose(float(v), rv, rtol=1e-5)
        np.testing.assert_allclose(g.numpy(), rg, rtol=2e-5, atol=2e-6)


def _fn(c):
    """A value and a gradient-like array returned as a reshaped view: the array the kernel writes is not an output
    (the reshape is), so with ``small_pool`` it is a pooled buffer, and the returned view keeps it alive."""
    def f(x):
        t = tf.tanh(0.5 * x + c)
        e = tf.exp(-x * x)
        return tf.reduce_sum(t * t + e), tf.reshape(t * (1.0 - t * t) - 2.0 * x * e, [-1, 10])
    return tf.trace(f)


def _grad_ref(x, c):
    xd = x.astype(np.float64)
    t = np.tanh(0.5 * xd + c)
    e = np.exp(-xd * xd)
    return (t * (1 - t * t) - 2 * xd * e).reshape(-1, 10)


def _base_address(a) -> int:
    a = a._value if isinstance(a, tf.Tensor) else a
    while a.base is not None and isinstance(a.base, np.ndarray):
        a = a.base
    return a.__array_interface__["data"][0]


def test_the_returned_view_is_of_a_pooled_buffer(small_pool):
    f = _fn(1.125)
    x = tf.constant(_data(3000, 0))
    f(x)
    assert len(_runner_of(f, x).pools) == 1


def test_kept_results_are_never_overwritten(small_pool):
    c = 1.25
    f = _fn(c)
    xs = [_data(3000, s) for s in range(6)]
    kept = [f(tf.constant(x)) for x in xs]          # every result kept: no buffer may be reused
    for x, (v, g) in zip(xs, kept):
        xd = x.astype(np.float64)
        t = np.tanh(0.5 * xd + c)
        np.testing.assert_allclose(g.numpy(), _grad_ref(x, c), rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(float(v), np.sum(t * t + np.exp(-xd * xd)), rtol=1e-5)
    assert len({_base_address(g) for _, g in kept}) == len(kept)


def test_dropped_results_are_reused_and_held_ones_are_not(small_pool):
    c = 1.5
    f = _fn(c)
    x1, x2, x3, x4 = (_data(3000, s) for s in range(4))
    _, g1 = f(tf.constant(x1))
    p1 = _base_address(g1)
    _, g2 = f(tf.constant(x2))                        # g1 is held: a second buffer
    assert _base_address(g2) != p1
    del g1
    gc.collect()
    _, g3 = f(tf.constant(x3))                        # g1's buffer is free again: reused
    assert _base_address(g3) == p1
    np.testing.assert_allclose(g2.numpy(), _grad_ref(x2, c), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(g3.numpy(), _grad_ref(x3, c), rtol=2e-5, atol=2e-6)
    _, g4 = f(tf.constant(x4))                        # g2 and g3 held: neither is touched
    for g, x in ((g2, x2), (g3, x3), (g4, x4)):
        np.testing.assert_allclose(g.numpy(), _grad_ref(x, c), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("hold", ["view", "asarray", "weakref", "memoryview", "slice_of_value"])
def test_anything_referring_to_a_result_keeps_it(small_pool, hold):
    c = {"view": 1.75, "asarray": 2.0, "weakref": 2.25, "memoryview": 2.5, "slice_of_value": 2.75}[hold]
    f = _fn(c)
    x1 = _data(3000, 10)
    _, g = f(tf.constant(x1))
    pool = _runner_of(f, tf.constant(x1)).pools[0]
    base = next(b for b in pool.free if _base_address(b) == _base_address(g))
    if hold == "view":
        keep = g._value[::3]
    elif hold == "asarray":
        keep = np.asarray(g)
    elif hold == "weakref":
        keep = base                                   # the pooled buffer itself, held only weakly below
    elif hold == "memoryview":
        keep = memoryview(g._value)
    else:
        keep = g[5:200]
    expect = np.array(keep).copy()
    del base, pool
    if hold == "weakref":
        ref = weakref.ref(keep)
        del keep
        keep = ref
    del g
    gc.collect()
    for s in range(3):                                # later calls must not write into what is still held
        _, other = f(tf.constant(_data(3000, 20 + s)))
        del other
    now = keep() if hold == "weakref" else keep
    assert now is not None                            # (the pool still holds the weakly referenced buffer)
    np.testing.assert_array_equal(np.array(now), expect)


def test_intermediate_buffers_between_library_steps(small_pool):
    # an N-d transpose is a copy kernel into an intermediate array (pooled), then a fused kernel (its output is a
    # destination)
    @tf.trace
    def f(x):
        return tf.transpose(x, (2, 0, 1)) * 3.0 + 0.125
    xs = [np.random.default_rng(s).standard_normal((16, 12, 10)).astype(np.float32) for s in range(4)]
    outs = [f(tf.constant(x)) for x in xs]
    for x, o in zip(xs, outs):
        np.testing.assert_allclose(o.numpy(), np.transpose(x, (2, 0, 1)) * 3.0 + 0.125, rtol=1e-6)
    for x in xs:                                      # results dropped each time: buffers reused
        np.testing.assert_allclose(f(tf.constant(x)).numpy(), np.transpose(x, (2, 0, 1)) * 3.0 + 0.125, rtol=1e-6)
    assert len(_runner_of(f, tf.constant(xs[0])).pools) == 1


def test_variable_updates_keep_old_values_held_elsewhere(small_pool):
    v = tf.Variable(np.zeros(2000, np.float32))

    @tf.trace
    def step(x):
        v.assign(v * 0.5 + x)
        return v.read_value() * 1.0

    x = _data(2000, 3)
    expect = np.zeros(2000, np.float64)
    olds, outs, expects = [], [], []
    for _ in range(5):
        olds.append(v.read_value())
        outs.append(step(tf.constant(x)))
        expect = expect * 0.5 + x
        expects.append(expect.copy())
    for k in range(5):
        prev = expects[k - 1] if k else np.zeros(2000)
        np.testing.assert_allclose(olds[k].numpy(), prev, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(outs[k].numpy(), expects[k], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v.numpy(), expect, rtol=1e-6, atol=1e-6)


def test_threads_calling_one_function_never_share_a_buffer(small_pool):
    c = 3.0
    f = _fn(c)
    n_threads, rounds = 8, 25
    errors: list = []
    barrier = threading.Barrier(n_threads)

    def work(k):
        try:
            held = []
            for r in range(rounds):
                x = _data(3000, 1000 * k + r)
                v, g = f(tf.constant(x))
                held.append((x, g))
                if r % 3 == 0:
                    barrier.wait(timeout=60)              # everyone has results in flight at once
                if len(held) > 2:
                    held.pop(0)                          # drop old ones: their buffers go back into play
                for xh, gh in held:                      # what this thread holds is still its own
                    np.testing.assert_allclose(gh.numpy(), _grad_ref(xh, c), rtol=2e-5, atol=2e-6)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_pool_reuses_only_unreferenced_buffers():
    pool = buffers.BufferPool((10,), np.float32)
    a = pool.take()
    pool.give(a)
    b = pool.take()
    assert b is not a                                 # ``a`` (this frame's name) still refers to it
    pool.give(b)
    del a
    c = pool.take()
    assert c.shape == (10,) and c.dtype == np.float32
    pool.give(c)
    assert len(pool.free) <= buffers.POOL_DEPTH


def test_pools_keep_at_most_their_budget(monkeypatch):
    monkeypatch.setattr(buffers, "POOL_BUDGET", buffers._HELD[0] + 3 * 4000)
    held0 = buffers._HELD[0]
    pools = [buffers.BufferPool((1000,), np.float32) for _ in range(3)]
    for p in pools:                                   # 2 buffers each would be 6 * 4000 bytes
        a, b = p.take(), p.take()
        p.give(a)
        p.give(b)
    assert buffers._HELD[0] - held0 == 3 * 4000
    assert sum(len(p.free) for p in pools) == 3
    del a, b
    reused = pools[0].take() if pools[0].free else None
    if reused is not None:
        assert buffers._HELD[0] - held0 == 2 * 4000
        pools[0].give(reused)
    del pools
    gc.collect()
    assert buffers._HELD[0] == held0                  # dropped pools no longer count

