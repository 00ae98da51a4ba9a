"""Control flow on the CUDA backend (simulator sizes): cond, while_loop, fori_loop, scan and scan's gradient
on GPU tensors equal the CPU results; the carry stays on the device (no host copy of a tensor per iteration)."""
import numpy as np
from cuda_helpers import GPU, on_gpu, rng, transfers

import jaxish as tf
from jaxish.testing import assert_allclose


def _both(f, *arrays, eager=False):
    """``f`` traced (or run eagerly) on GPU tensors equals the traced CPU result, without a CPU fallback."""
    want = tf.function(f)(*[tf.constant(a) for a in arrays])
    from jaxish.backends.cuda.placement import STATS
    gs = [on_gpu(a) for a in arrays]
    fallbacks = STATS["cpu_fallbacks"]
    before = transfers()
    got = (f if eager else tf.function(f))(*gs)
    after = transfers()
    assert STATS["cpu_fallbacks"] == fallbacks, "a control-flow node ran on the CPU"
    want, got = (list(x) if isinstance(x, (list, tuple)) else [x] for x in (want, got))
    for g, w in zip(got, want):
        assert g.device == GPU
        assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-6)
    return before, after


def test_scan_fori_and_cond_on_gpu():
    xs = rng().standard_normal((4, 3)).astype(np.float32)
    x0 = np.array([0.1, -0.2, 0.3], np.float32)

    def f(x, xs):
        c, ys = tf.scan(lambda c, e: (tf.tanh(c * 0.5 + e), tf.reduce_sum(c)), x, xs)
        v = tf.fori_loop(0, 3, lambda i, v: v * 2.0 + 1.0, c)
        return tf.cond(tf.reduce_sum(v) > 0, lambda a: a, lambda a: -a, v), ys
    before, after = _both(f, x0, xs)
    # a scan moves no tensor between host and device per iteration (cond reads one index element, which is
    # not a tensor transfer)
    assert after == before


def test_while_loop_on_gpu():
    def f(x):
        return tf.while_loop(lambda c: tf.reduce_sum(c[1]) < 50.0, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))
    _both(f, np.array([1.0, 2.0], np.float32))
    _both(f, np.array([1.0, 2.0], np.float32), eager=True)


def test_scan_gradient_on_gpu():
    xs = rng(1).standard_normal((3, 2)).astype(np.float32)
    w = np.array([0.7, -0.4], np.float32)

    def loss(w, xs):
        c, ys = tf.scan(lambda c, e: (tf.sin(c * w + e), c * c), tf.zeros((2,)), xs)
        return tf.reduce_sum(ys) + tf.reduce_sum(c)
    _both(tf.grad(loss), w, xs)


def test_eager_fori_loop_makes_its_indices_on_the_gpu():
    # an eager fori_loop with static bounds scans an iota of its indices: it was made on the CPU, so GPU operands
    # raised DevicePlacementError without soft placement (and were copied implicitly with it)
    x = np.array([0.5, -1.0, 2.0], np.float32)
    old = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(False)
    try:
        out = tf.fori_loop(2, 5, lambda i, c: c * 0.5 + tf.cast(i, tf.float32), on_gpu(x))
    finally:
        tf.config.set_soft_device_placement(old)
    want = x
    for i in range(2, 5):
        want = want * np.float32(0.5) + np.float32(i)
    assert out.device == GPU
    assert_allclose(out.numpy(), want, rtol=1e-6)


def test_random_ops_in_a_loop_body_on_gpu():
    # the carried random state lives on the device; the draws are the interpreter's, bit for bit
    def f(x):
        return tf.scan(lambda c, e: (c + tf.random.uniform((3,)), c), x, None, length=20)
    tf.random.set_seed(2)
    c, ys = tf.function(f)(on_gpu(np.zeros(3, np.float32)))
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        tf.random.set_seed(2)
        c2, ys2 = tf.function(f)(tf.constant(np.zeros(3, np.float32)))
    finally:
        tf.config.set_backend(old)
    assert c.device == GPU and ys.device == GPU
    np.testing.assert_array_equal(ys.numpy(), ys2.numpy())
    np.testing.assert_array_equal(c.numpy(), c2.numpy())
    assert len({r.tobytes() for r in np.diff(ys.numpy(), axis=0)}) == 19  # a new draw per iteration


def _interpreter(f, *arrays, seed):
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        tf.random.set_seed(seed)
        return tf.function(f)(*[tf.constant(a) for a in arrays]).numpy()
    finally:
        tf.config.set_backend(old)


def test_vmap_of_a_random_loop_with_per_example_trip_counts_on_gpu():
    # a while_loop with a batched predicate: the random state stays unbatched (while_p's rng_carry), on the device
    def f(n, x):
        return tf.vmap(lambda k, x: tf.fori_loop(0, k, lambda i, c: c * 0.5 + tf.random.uniform((2,)), x))(n, x)
    n, x = np.array([2, 0, 3], np.int32), np.ones((3, 2), np.float32)
    tf.random.set_seed(4)
    got = tf.function(f)(on_gpu(n), on_gpu(x))
    assert got.device == GPU
    np.testing.assert_array_equal(got.numpy(), _interpreter(f, n, x, seed=4))
    assert (got.numpy()[1] == 1.0).all() and len(np.unique(got.numpy())) == 5


def test_random_ops_in_cond_branches_on_gpu():
    # the branches read the cond's key on the device; the draws are the interpreter's, bit for bit (uniforms)
    def f(p, x):
        return tf.cond(p, lambda v: v + tf.random.uniform((3,)), lambda v: v - 2.0 * tf.random.uniform((3,)), x)

    def g(p, x):  # a batched predicate: every branch runs batched, each example takes its branch's slice
        return tf.vmap(f)(p, x)
    x = np.zeros(3, np.float32)
    for p in (True, False):
        tf.random.set_seed(6)
        got = tf.function(f)(on_gpu(p), on_gpu(x))
        assert got.device == GPU
        np.testing.assert_array_equal(got.numpy(), _interpreter(f, np.asarray(p), x, seed=6))
    ps, xs = np.array([True, False, True, False]), np.zeros((4, 3), np.float32)
    tf.random.set_seed(6)
    got = tf.function(g)(on_gpu(ps), on_gpu(xs))
    assert got.device == GPU
    np.testing.assert_array_equal(got.numpy(), _interpreter(g, ps, xs, seed=6))
    assert (got.numpy()[ps] > 0).all() and (got.numpy()[~ps] < 0).all() and len(np.unique(got.numpy())) == 12


def test_random_ops_in_a_while_loop_condition_on_gpu(soft_placement):
    # the condition reads the carried state on the device (its key tweak is no CPU constant: an eager loop on
    # GPU operands runs without soft placement); the counts and draws are the interpreter's
    def f(x):
        return tf.while_loop(lambda c: tf.random.uniform(()) < 0.75,
                             lambda c: (c[0] + 1.0, c[1] + tf.random.uniform((2,))), (x, tf.zeros_like(x)))

    def g(x):
        return tf.vmap(f)(x)
    tf.config.set_soft_device_placement(False)
    x, xs = np.zeros(2, np.float32), np.zeros((5, 2), np.float32)
    for fn, arg in ((f, x), (g, xs)):
        want = [_interpreter(lambda a: fn(a)[k], arg, seed=9) for k in (0, 1)]
        tf.random.set_seed(9)
        got = tf.function(fn)(on_gpu(arg))
        assert got[0].device == GPU
        for a, w in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), w)
    tf.random.set_seed(9)
    eager = f(on_gpu(x))
    assert eager[0].device == GPU
    counts = [int(_interpreter(lambda a: f(a)[0], x, seed=s)[0]) for s in range(12)]
    assert len(set(counts)) > 2  # the trip count is random
