"""Random ops inside loop bodies (scan, fori_loop, while_loop): the random state is carried and advanced per
iteration (JAX's split of a carried key, done implicitly), so every iteration draws new, independent numbers.

Checked with statistics of the draws (Kolmogorov-Smirnov against U(0, 1), serial correlation and a chi-square
test of consecutive pairs across iterations, moments), distinctness from the numbers drawn around the loop,
reproducibility under set_seed, fresh numbers per call, the interpreter and the cpu backend drawing the same
bits, and the gradient seeing the forward pass's draws. Fixed seeds: each p-value is deterministic.
"""
import numpy as np
import pytest
import scipy.stats

import jaxish as tf

T, K = 2000, 16


def _scan_draws(x):
    before = tf.random.uniform((K,))
    _, (u, v) = tf.scan(lambda c, e: (c, (tf.random.uniform((K,)), tf.random.uniform(()))), x, None, length=T)
    after = tf.random.uniform((K,))
    return before, u, v, after


def _check_uniform(u, what):
    u = np.asarray(u, np.float64).reshape(-1)
    assert u.min() >= 0.0 and u.max() < 1.0, what
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-4, what
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size), what
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / u.size), what  # Var of (u - 1/2)^2 is 1/180


def _check_serially_independent(rows, what):
    """Iteration t's draws against iteration t + 1's: correlation and a chi-square test of pairs."""
    a, b = rows[:-1].reshape(-1), rows[1:].reshape(-1)
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) < 5 / np.sqrt(a.size), f"{what}: lag-1 correlation {r}"
    counts, _, _ = np.histogram2d(a, b, bins=10, range=[[0, 1], [0, 1]])
    p = scipy.stats.chisquare(counts.reshape(-1)).pvalue
    assert p > 1e-4, f"{what}: chi-square of consecutive pairs, p = {p}"


def test_scan_draws_independent_uniforms_per_iteration(backend):
    tf.random.set_seed(7)
    before, u, v, after = [t.numpy() for t in tf.trace(_scan_draws)(tf.constant(0.0))]
    assert u.shape == (T, K) and v.shape == (T,)
    _check_uniform(u, "the (K,) draws")
    _check_uniform(v, "the scalar draws")
    _check_serially_independent(u, "the (K,) draws")
    _check_serially_independent(v[:, None], "the scalar draws")
    # two ops of one iteration are independent of each other too
    assert abs(np.corrcoef(u[:, 0], v)[0, 1]) < 5 / np.sqrt(T)
    # no iteration repeats another's numbers, nor those drawn before or after the loop
    rows = {r.tobytes() for r in u}
    assert len(rows) == T and before.tobytes() not in rows and after.tobytes() not in rows
    assert len(np.unique(u)) > 0.99 * u.size


def test_fresh_per_call_and_reproducible(backend):
    f = tf.trace(_scan_draws)
    x = tf.constant(0.0)
    tf.random.set_seed(3)
    first = [t.numpy() for t in f(x)]
    second = [t.numpy() for t in f(x)]
    assert not np.array_equal(first[1], second[1])          # every call draws anew
    assert not np.intersect1d(first[1], second[1]).size > T  # (not a shifted copy either)
    tf.random.set_seed(3)
    again = [t.numpy() for t in f(x)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)                  # set_seed reproduces them


def test_interpreter_and_cpu_draw_the_same_bits():
    out = {}
    for b in ("interpreter", "cpu"):
        old = tf.config.get_backend()
        tf.config.set_backend(b)
        try:
            tf.random.set_seed(11)
            out[b] = [t.numpy() for t in tf.trace(_scan_draws)(tf.constant(0.0))]
        finally:
            tf.config.set_backend(old)
    for a, c in zip(out["interpreter"], out["cpu"]):
        np.testing.assert_array_equal(a, c)


def test_eager_loops_draw_anew_per_call_and_per_iteration():
    tf.random.set_seed(5)

    def f():
        return tf.scan(lambda c, e: (c, tf.random.uniform((8,))), 0.0, None, length=200)[1].numpy()
    a, b = f(), f()
    assert not np.array_equal(a, b)
    _check_uniform(np.concatenate([a, b]), "eager draws")
    _check_serially_independent(a, "eager draws")


def test_nested_loops_and_fori_loop(backend):
    tf.random.set_seed(9)

    @tf.trace
    def f():
        def outer(c, e):
            _, inner = tf.scan(lambda d, e: (d, tf.random.uniform((4,))), 0.0, None, length=25)
            return c + tf.random.normal(()), inner
        s, u = tf.scan(outer, 0.0, None, length=40)
        w = tf.fori_loop(0, 400, lambda i, c: c + tf.random.normal(()) ** 2, 0.0)
        return s, u, w
    s, u, w = (t.numpy() for t in f())
    assert u.shape == (40, 25, 4)
    _check_uniform(u, "nested draws")
    assert len({r.tobytes() for r in u.reshape(-1, 4)}) == 40 * 25  # every (outer, inner) iteration its own
    _check_serially_independent(u.reshape(-1, 4), "nested draws, inner iterations")
    _check_serially_independent(u.reshape(40, -1), "nested draws, outer iterations")
    assert abs(w - 400) < 5 * np.sqrt(2 * 400)  # a sum of 400 chi-square(1) draws: mean 400, variance 800


def test_while_loop_with_a_random_body(backend):
    # trials until a uniform falls below 1/4: geometric, mean 4, standard deviation sqrt(12)
    @tf.trace
    def trials():
        return tf.while_loop(lambda s: s[1] >= 0.25, lambda s: (s[0] + 1, tf.random.uniform(())), (0, 1.0))[0]
    tf.random.set_seed(13)
    n = np.array([int(trials().numpy()) for _ in range(400)])
    assert n.min() >= 1
    assert abs(n.mean() - 4) < 5 * np.sqrt(12 / n.size)
    assert abs((n == 1).mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / n.size)

    @tf.trace
    def counted(k):  # traced bounds: a while_loop carrying the counter
        return tf.fori_loop(0, k, lambda i, c: c + tf.random.uniform(()), 0.0)
    got = [float(counted(tf.constant(300)).numpy()) for _ in range(20)]
    assert len(set(got)) == 20
    assert abs(np.mean(got) - 150) < 5 * np.sqrt(300 / 12 / 20)


def test_gradient_uses_the_forward_draws(backend):
    @tf.trace
    def vg(w):
        def loss(w):
            _, ys = tf.scan(lambda c, e: (c, w * tf.random.uniform((3,)) + tf.sin(w) * c), 1.0, None, length=50)
            return tf.reduce_sum(ys)
        return tf.value_and_grad(loss)(w)
    tf.random.set_seed(17)
    w = tf.constant(0.8, tf.float64)
    val, g = (t.numpy() for t in vg(w))
    # loss = w * S + 150 sin(w) with S the sum of the draws: S from the value, then the gradient S + 150 cos(w)
    s = (val - 150 * np.sin(0.8)) / 0.8
    np.testing.assert_allclose(g, s + 150 * np.cos(0.8), rtol=1e-10)
    assert 75 - 5 * np.sqrt(150 / 12) < s < 75 + 5 * np.sqrt(150 / 12)


def test_random_ops_in_cond_and_while_condition_are_refused_by_name():
    x = tf.constant(1.0)
    with pytest.raises(NotImplementedError, match="cond.*draws random numbers.*loop bodies"):
        tf.cond(x > 0, lambda v: v + tf.random.uniform(()), lambda v: v, x)
    with pytest.raises(NotImplementedError, match="while_loop.*cond_fun draws random numbers"):
        tf.while_loop(lambda v: tf.random.uniform(()) < 0.5, lambda v: v + 1.0, x)


def test_vmap_and_forward_mode_through_a_random_loop(backend):
    def f(x):
        return tf.scan(lambda c, e: (c * 0.5 + tf.random.uniform(()), c), x, None, length=5)[0]
    tf.random.set_seed(4)
    x = np.arange(64.0, dtype=np.float32)
    r = tf.vmap(f)(tf.constant(x)).numpy()
    noise = r - x / 32  # each example's sum of 0.5**k-weighted draws: its own draws (as vmap of random ops does)
    assert len(np.unique(noise)) == 64 and 0 <= noise.min() and noise.max() < 2
    assert abs(noise.mean() - 0.96875) < 5 * np.sqrt((1 + 1 / 4 + 1 / 16 + 1 / 64 + 1 / 256) / 12 / 64)
    y, t = tf.jvp(f, (tf.constant(1.0),), (tf.constant(1.0),))
    assert t.numpy() == np.float32(0.5 ** 5)  # the draws carry no tangent
