"""Random ops inside loop bodies (scan, fori_loop, while_loop): the random state is carried and advanced per
iteration (JAX's split of a carried key, done implicitly), so every iteration draws new, independent numbers.
Random ops in a while_loop's condition read the carried state under other stream numbers than the body's ops.
Random ops inside cond branches: the branches read one key of the cond's own (the one a nested traced call would
get), so the taken branch draws what it would draw called as a nested traced function, and the numbers drawn
after the cond do not depend on the branch taken.

Checked with statistics of the draws (Kolmogorov-Smirnov against U(0, 1), serial correlation and a chi-square
test of consecutive pairs across iterations, moments), distinctness from the numbers drawn around the loop,
reproducibility under set_seed, fresh numbers per call, the interpreter and the cpu backend drawing the same
bits, and the gradient seeing the forward pass's draws. Fixed seeds: each p-value is deterministic.
"""
import numpy as np
import scipy.stats

import jaxish as tf

T, K = 2000, 16


def _on_each_backend(run) -> dict:
    """``{backend: run()}`` for the interpreter and the cpu backend (the configured backend restored after)."""
    out = {}
    for b in ("interpreter", "cpu"):
        old = tf.config.get_backend()
        tf.config.set_backend(b)
        try:
            out[b] = run()
        finally:
            tf.config.set_backend(old)
    return out


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
    def run():
        tf.random.set_seed(11)
        return [t.numpy() for t in tf.trace(_scan_draws)(tf.constant(0.0))]
    out = _on_each_backend(run)
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


def _geometric(x):
    """Iterations until the condition's uniform falls at or above 3/4: a geometric count (mean 3, variance 12),
    its body drawing too (a running sum of uniforms). Capped at 60 iterations (probability 3e-8), so that a
    defect under vmap (finished examples starting again) fails instead of looping for ever."""
    return tf.while_loop(lambda c: tf.logical_and(c[0] < 60, tf.random.uniform(()) < 0.75),
                         lambda c: (c[0] + 1, c[1] + tf.random.uniform((), dtype=tf.float64)), (x, 0.0))


def _check_geometric(n, what):
    n = np.asarray(n)
    assert n.min() >= 0, what
    assert abs(n.mean() - 3) < 5 * np.sqrt(12 / n.size), (what, n.mean())
    for k in range(4):  # P(n = k) = 3/4**k / 4
        q = 0.75 ** k / 4
        assert abs((n == k).mean() - q) < 5 * np.sqrt(q * (1 - q) / n.size), (what, k, (n == k).mean())


def test_while_loop_condition_that_draws(backend):
    f = tf.trace(_geometric)
    tf.random.set_seed(23)
    runs = [f(tf.constant(0)) for _ in range(600)]
    n = np.array([int(c.numpy()) for c, _ in runs])
    s = np.array([float(v.numpy()) for _, v in runs])
    _check_geometric(n, "traced")
    # the body's draws: a sum of n uniforms, independent of the condition's (which decided n)
    z = (s - n / 2) / np.sqrt(np.maximum(n, 1) / 12)
    assert abs(z[n > 0].mean()) < 5 / np.sqrt((n > 0).sum())
    assert abs(np.corrcoef(s[n > 0] / n[n > 0], n[n > 0])[0, 1]) < 5 / np.sqrt((n > 0).sum())
    tf.random.set_seed(23)
    np.testing.assert_array_equal([int(f(tf.constant(0))[0].numpy()) for _ in range(600)], n)  # reproducible
    tf.random.set_seed(23)  # eagerly too
    _check_geometric([int(_geometric(tf.constant(0))[0].numpy()) for _ in range(600)], "eager")

    def counted(x):  # a body that draws nothing: the loop carries the state for the condition all the same
        return tf.while_loop(lambda c: tf.random.uniform(()) < 0.75, lambda c: c + 1, x)
    tf.random.set_seed(24)
    _check_geometric([int(tf.trace(counted)(tf.constant(0)).numpy()) for _ in range(600)], "a body without draws")


def test_vmap_of_a_while_loop_condition_that_draws(backend):
    # a batched predicate that draws anew each iteration: a finished example stays finished (a carried flag),
    # so each example's count is geometric; example 0's is the un-vmapped traced function's
    tf.random.set_seed(25)
    n, s = (t.numpy() for t in tf.vmap(_geometric)(tf.constant(np.zeros(1500, np.int32))))
    _check_geometric(n, "vmap")
    assert (s[n == 0] == 0).all() and (s[n > 0] > 0).all()
    tf.random.set_seed(25)
    one = tf.trace(_geometric)(tf.constant(0))
    assert int(one[0].numpy()) == n[0] and float(one[1].numpy()) == s[0]
    y, t = tf.jvp(lambda x: tf.while_loop(lambda c: tf.random.uniform(()) < 0.75, lambda c: c * 2.0, x),
                  (tf.constant(1.0),), (tf.constant(1.0),))
    assert t.numpy() == y.numpy() and np.log2(y.numpy()) % 1 == 0  # forward mode through it: 2**n either way


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


# ---------------------------------------------------------------------------------------------------------------
# vmap of a random loop whose trip count differs per example (a while_loop with a batched predicate). The rule
# (docs/architecture.md, "Batching and forward mode"): the random state is not batched; it advances once per
# iteration of the batched loop, so example b's t-th iteration draws slice b of one batched draw from the loop's
# t-th state, as any random op under vmap does. An example's numbers depend on its own trip count only: they are
# those of the same loop run with that trip count by every example (a static bound, a scan), and example 0's are
# the un-vmapped function's.
# ---------------------------------------------------------------------------------------------------------------
KMAX = 12


def _recorded(k):
    """The draws of a fori_loop with bound ``k``: iteration i stores its uniform at ``acc[i]`` (zeros after k)."""
    def body(i, acc):
        at_i = tf.cast(tf.equal(tf.range(KMAX, dtype=tf.int32), i), tf.float64)
        return acc + at_i * tf.random.uniform((), dtype=tf.float64)
    return tf.fori_loop(0, k, body, tf.zeros((KMAX,), tf.float64))


def _vmap_recorded(n, seed):
    tf.random.set_seed(seed)
    return tf.vmap(_recorded)(tf.constant(np.asarray(n, np.int32))).numpy()


def test_vmap_of_a_random_loop_with_per_example_trip_counts_follows_the_rule(backend):
    n = [3, 0, 7, 1, 12, 5]
    got = _vmap_recorded(n, 21)
    assert got.shape == (6, KMAX)
    for b, k in enumerate(n):  # a finished example keeps its carry: nothing recorded past its trip count
        assert (got[b, :k] > 0).all() and (got[b, k:] == 0).all(), (b, got[b])
    assert len(np.unique(got[got > 0])) == sum(n)  # every example and iteration draws its own numbers
    for b, k in enumerate(n):  # = the same loop with a static trip count k (a scan) for every example
        tf.random.set_seed(21)
        same = tf.vmap(lambda _: _recorded(k))(tf.constant(np.asarray(n, np.int32))).numpy()
        np.testing.assert_array_equal(got[b], same[b])
    # the other examples' trip counts do not change an example's numbers
    other = _vmap_recorded([3, 9, 2, 1, 0, 5], 21)
    for b in (0, 3, 5):
        np.testing.assert_array_equal(got[b], other[b])
    # example 0 draws what the un-vmapped (traced) function draws
    tf.random.set_seed(21)
    np.testing.assert_array_equal(got[0], tf.trace(_recorded)(tf.constant(np.int32(3))).numpy())


def test_vmap_of_a_random_loop_is_reproducible_and_fresh_per_call(backend):
    n = tf.constant(np.array([4, 0, 9, 2], np.int32))
    f = tf.vmap(_recorded)
    tf.random.set_seed(8)
    first, second = f(n).numpy(), f(n).numpy()
    assert np.intersect1d(first[first > 0], second[second > 0]).size == 0  # every call draws anew
    tf.random.set_seed(8)
    np.testing.assert_array_equal(f(n).numpy(), first)                      # set_seed reproduces them
    g = tf.trace(lambda n: tf.vmap(_recorded)(n))                           # inside a traced function too
    tf.random.set_seed(8)
    a, b = g(n).numpy(), g(n).numpy()
    assert np.intersect1d(a[a > 0], b[b > 0]).size == 0
    tf.random.set_seed(8)
    np.testing.assert_array_equal(g(n).numpy(), a)


def test_vmap_of_a_random_loop_draws_the_same_bits_on_the_interpreter_and_cpu():
    n = np.array([5, 1, 0, 12, 7], np.int32)
    out = _on_each_backend(lambda: _vmap_recorded(n, 31))
    np.testing.assert_array_equal(out["interpreter"], out["cpu"])


def test_vmap_of_a_random_loop_draws_independent_uniforms(backend):
    rs = np.random.default_rng(0)
    n = rs.integers(0, KMAX + 1, 600)
    n[:200] = KMAX
    got = _vmap_recorded(n, 41)
    mask = np.arange(KMAX)[None, :] < n[:, None]
    assert (got[~mask] == 0).all()
    _check_uniform(got[mask], "the draws of every example")
    full = got[:200]
    _check_serially_independent(full.T, "consecutive iterations")  # iteration t against t + 1
    _check_serially_independent(full, "neighbouring examples")     # example b against b + 1
    assert len(np.unique(got[mask])) == mask.sum()


def test_vmap_of_a_random_while_loop_with_a_per_example_condition(backend):
    # trials until a uniform falls below the example's p: geometric, mean 1/p, variance (1 - p) / p^2
    p = np.repeat(np.array([0.5, 0.25], np.float32), 600)

    def trials(p):
        return tf.while_loop(lambda s: s[1] >= p, lambda s: (s[0] + 1, tf.random.uniform(())), (0, 1.0))[0]
    tf.random.set_seed(51)
    n = tf.vmap(trials)(tf.constant(p)).numpy()
    assert n.min() >= 1
    for q in (0.5, 0.25):
        m = n[p == q]
        assert abs(m.mean() - 1 / q) < 5 * np.sqrt((1 - q) / q ** 2 / m.size), (q, m.mean())
        assert abs((m == 1).mean() - q) < 5 * np.sqrt(q * (1 - q) / m.size)


def test_forward_mode_and_nested_vmap_through_a_random_loop_with_per_example_trip_counts(backend):
    n = tf.constant(np.array([2, 0, 5], np.int32))

    def g(x):
        def step(i, s):
            return s * 0.5 + tf.random.uniform((), dtype=tf.float64)
        return tf.vmap(lambda k, x: tf.fori_loop(0, k, step, x))(n, x)
    x = tf.constant(np.array([1.0, 2.0, 3.0]))
    tf.random.set_seed(61)
    want = tf.trace(g)(x).numpy()
    tf.random.set_seed(61)
    y, t = tf.jvp(g, (x,), (tf.constant(np.ones(3)),))
    np.testing.assert_array_equal(y.numpy(), want)            # the traced function's draws
    np.testing.assert_array_equal(t.numpy(), 0.5 ** np.array([2, 0, 5]))  # the draws carry no tangent
    assert want[1] == 2.0
    # vmap of vmap: the state stays unbatched at both levels; a finished example keeps its carry
    n2 = np.array([[3, 0, 1], [12, 2, 0]], np.int32)
    tf.random.set_seed(71)
    got = tf.vmap(tf.vmap(_recorded))(tf.constant(n2)).numpy()
    assert got.shape == (2, 3, KMAX)
    mask = np.arange(KMAX) < n2[..., None]
    assert (got[mask] > 0).all() and (got[~mask] == 0).all()
    assert len(np.unique(got[mask])) == mask.sum()


# ---------------------------------------------------------------------------------------------------------------
# random ops in cond branches
# ---------------------------------------------------------------------------------------------------------------
def _up(v):
    return v + tf.random.uniform((K,), dtype=tf.float64)


def _down(v):
    return v - 2.0 * tf.random.normal((K,), dtype=tf.float64)


def _branchy(p, x):
    y = tf.cond(p, _up, _down, x)
    return y, tf.random.uniform((K,), dtype=tf.float64)  # a draw after the cond


def test_cond_branch_draws_what_the_branch_draws_as_a_nested_call(backend):
    x = tf.constant(np.arange(K, dtype=np.float64))
    f = tf.trace(_branchy)
    out = {}
    for p, branch in ((True, _up), (False, _down)):
        tf.random.set_seed(12)
        y, after = (t.numpy() for t in f(tf.constant(p), x))
        tf.random.set_seed(12)
        want = tf.trace(lambda v: (tf.trace(branch)(v), tf.random.uniform((K,), dtype=tf.float64)))(x)
        np.testing.assert_array_equal(y, want[0].numpy())
        np.testing.assert_array_equal(after, want[1].numpy())
        out[p] = y, after
    np.testing.assert_array_equal(out[True][1], out[False][1])  # the draw after the cond: the same either way
    u = out[True][0] - np.arange(K)
    assert 0 <= u.min() and u.max() < 1 and len(np.unique(u)) == K
    assert not np.intersect1d(u, out[True][1]).size


def test_cond_branch_draws_are_reproducible_and_fresh_per_call(backend):
    x = tf.constant(np.zeros(K))
    f = tf.trace(_branchy)
    p = tf.constant(True)
    tf.random.set_seed(14)
    a, b = f(p, x)[0].numpy(), f(p, x)[0].numpy()
    assert not np.intersect1d(a, b).size
    tf.random.set_seed(14)
    np.testing.assert_array_equal(f(p, x)[0].numpy(), a)
    tf.random.set_seed(14)  # eagerly too: each call its own key
    c, d = tf.cond(p, _up, _down, x).numpy(), tf.cond(p, _up, _down, x).numpy()
    assert not np.intersect1d(c, d).size
    tf.random.set_seed(14)
    np.testing.assert_array_equal(tf.cond(p, _up, _down, x).numpy(), c)


def _cond_in_scan(x):
    def step(c, i):
        y = tf.cond(i % 3 == 0, _up, _down, c * 0.0)
        return c, y
    return tf.scan(step, x, tf.range(T // 4, dtype=tf.int32))[1]


def test_cond_in_a_loop_body_draws_independent_numbers_per_iteration(backend):
    tf.random.set_seed(16)
    ys = tf.trace(_cond_in_scan)(tf.constant(np.zeros(K))).numpy()
    up, down = ys[0::3], ys[[i for i in range(T // 4) if i % 3]]
    _check_uniform(up, "the taken true_fun's uniforms")
    _check_serially_independent(up, "the true_fun's uniforms, iteration by iteration")
    z = -down.reshape(-1) / 2.0
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-4
    _check_serially_independent(scipy.stats.norm.cdf(-down / 2.0), "the false_fun's normals")
    assert len({r.tobytes() for r in ys}) == T // 4


def test_cond_draws_the_same_bits_on_the_interpreter_and_cpu():
    def run():
        tf.random.set_seed(18)
        return [tf.trace(_cond_in_scan)(tf.constant(np.zeros(K))).numpy(),
                tf.vmap(lambda p, v: tf.cond(p, _up, _down, v))(
                    tf.constant(np.arange(6) % 2 == 0), tf.constant(np.zeros((6, K)))).numpy()]
    out = _on_each_backend(run)
    for a, c, step in zip(out["interpreter"], out["cpu"], (3, 2)):
        np.testing.assert_array_equal(a[::step], c[::step])  # the uniforms: the same bits
        np.testing.assert_allclose(a, c, rtol=1e-14)          # the normals: the same up to the transcendentals' ulps


def test_vmap_of_a_cond_that_draws(backend):
    # a batched predicate: every branch runs batched and each example takes its branch's slice, so example b draws
    # what vmap of its branch draws for it (the rule of random ops under vmap, docs/architecture.md)
    p = np.array([True, False, False, True, True, False])
    x = tf.constant(np.zeros((6, K)))
    tf.random.set_seed(20)
    got = tf.vmap(lambda p, v: tf.cond(p, _up, _down, v))(tf.constant(p), x).numpy()
    want = {}
    for branch in (_up, _down):
        tf.random.set_seed(20)
        want[branch] = tf.vmap(lambda p, v: tf.trace(branch)(v))(tf.constant(p), x).numpy()
    for b in range(6):
        np.testing.assert_array_equal(got[b], want[_up if p[b] else _down][b])
    assert len(np.unique(got)) == got.size
    # operands the same for every example: each example still draws its own numbers
    c = tf.constant(True)
    tf.random.set_seed(20)
    same = tf.vmap(lambda v: v + tf.cond(c, lambda: tf.random.uniform(()), lambda: tf.constant(0.0)))(
        tf.constant(np.zeros(64, np.float32))).numpy()
    assert len(np.unique(same)) == 64 and 0 <= same.min() and same.max() < 1


def test_gradient_and_forward_mode_through_a_cond_that_draws(backend):
    def loss(w):
        return tf.cond(w > 0, lambda w: w * tf.reduce_sum(tf.random.uniform((K,), dtype=tf.float64)),
                       lambda w: w, w)
    vg = tf.trace(tf.value_and_grad(loss))
    tf.random.set_seed(22)
    val, g = (t.numpy() for t in vg(tf.constant(1.5, tf.float64)))
    np.testing.assert_allclose(g, val / 1.5, rtol=1e-12)  # the gradient sees the forward pass's draws
    assert 0 < g < K
    tf.random.set_seed(22)
    y, t = tf.jvp(loss, (tf.constant(1.5, tf.float64),), (tf.constant(1.0, tf.float64),))
    np.testing.assert_allclose(t.numpy(), y.numpy() / 1.5, rtol=1e-12)


def test_tape_through_an_eager_cond_that_draws():
    x = tf.constant(1.5, tf.float64)
    tf.random.set_seed(26)
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.cond(x > 0, lambda v: v * tf.random.uniform((), dtype=tf.float64), lambda v: v, x)
    g = t.gradient(y, x).numpy()
    np.testing.assert_allclose(g, y.numpy() / 1.5, rtol=1e-12)  # the recorded draw, the same in the backward pass
    assert 0 < g < 1
