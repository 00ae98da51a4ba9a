"""Scalar loop carries in compiled loops: each owns one buffer, updated in place, instead of a new array per
iteration (backends/cpu/control_flow.py). Values over many iterations against NumPy loops in the same dtype,
every way a carry can feed another (swaps, passthroughs, views), and results that a later call must not change.
"""
import numpy as np

import jaxish as tf
from jaxish.passes import optimize

N = 2000


def test_fibonacci_carries_shift_between_positions(backend):
    # (a, b) -> (b, a + b): the new a is the old b; storing it before reading b for a + b would be wrong
    @tf.trace
    def fib(a, b):
        return tf.fori_loop(0, 70, lambda i, c: (c[1], c[0] + c[1]), (a, b))
    a, b = fib(tf.constant(np.float64(0.0)), tf.constant(np.float64(1.0)))
    ra, rb = 0, 1
    for _ in range(70):
        ra, rb = rb, ra + rb
    assert a.numpy() == ra and b.numpy() == rb  # exact: Fibonacci numbers below 2**53
    assert a.shape == () and a.dtype == tf.float64


def test_each_new_value_reads_every_old_one(backend):
    # (a, b, c) -> (a + b, a - b, a * b + c): every update reads the carries before any is stored
    @tf.trace
    def f(a, b, c):
        return tf.fori_loop(0, N, lambda i, t: ((t[0] + t[1]) * 0.5, (t[0] - t[1]) * 0.5 + 0.25,
                                                 t[0] * t[1] + t[2] * 0.5), (a, b, c))
    init = [np.float32(0.3), np.float32(-0.7), np.float32(1.5)]
    out = f(*[tf.constant(v) for v in init])
    a, b, c = init
    h, q = np.float32(0.5), np.float32(0.25)
    for _ in range(N):
        a, b, c = (a + b) * h, (a - b) * h + q, a * b + c * h
    np.testing.assert_allclose([o.numpy() for o in out], [a, b, c], rtol=1e-5)
    assert all(o.dtype == tf.float32 for o in out)


def test_rotation_of_three_carries(backend):
    @tf.trace
    def rot(a, b, c):
        return tf.fori_loop(0, N + 1, lambda i, t: (t[1], t[2], t[0]), (a, b, c))
    out = rot(tf.constant(np.int32(1)), tf.constant(np.int32(2)), tf.constant(np.int32(3)))
    vals = [1, 2, 3]
    k = (N + 1) % 3
    assert [int(o.numpy()) for o in out] == vals[k:] + vals[:k]


def test_scalar_and_array_carries_read_each_other(backend):
    # s -> mean(v), v -> v * s + 1: the scalar is read by the array's update and the other way round
    @tf.trace
    def f(s, v):
        return tf.fori_loop(0, 12, lambda i, c: (tf.reduce_mean(c[1]) * 0.5, c[1] * c[0] + 1.0), (s, v))
    v0 = np.array([0.25, -0.5, 1.0], np.float64)
    s, v = f(tf.constant(np.float64(0.5)), tf.constant(v0))
    rs, rv = 0.5, v0
    for _ in range(12):
        rs, rv = rv.mean() * 0.5, rv * rs + 1.0
    np.testing.assert_allclose(s.numpy(), rs, rtol=1e-12)
    np.testing.assert_allclose(v.numpy(), rv, rtol=1e-12)


def test_array_carry_that_is_a_view_of_a_scalar_carry(backend):
    # v -> reshape(s) may be a view of s's buffer; s is then updated: v must keep the value s had
    @tf.trace
    def f(s, v):
        return tf.fori_loop(0, 50, lambda i, c: (c[0] * 2.0 + 1.0, tf.reshape(c[0], (1, 1))), (s, v))
    s, v = f(tf.constant(np.float32(1.0)), tf.constant(np.zeros((1, 1), np.float32)))
    rs, rv = np.float32(1.0), np.zeros((1, 1), np.float32)
    for _ in range(50):
        rs, rv = rs * np.float32(2.0) + np.float32(1.0), np.reshape(rs, (1, 1))
    assert s.numpy() == rs and v.numpy().tolist() == rv.tolist()


def test_while_with_counter_and_scan_outputs(backend):
    # a fori_loop with traced bounds is a while carrying the int counter; scan stacks the old scalar carry
    @tf.trace
    def f(n, s):
        w = tf.fori_loop(0, n, lambda i, c: c + tf.cast(i, tf.float64) * 0.5, s)
        c, ys = tf.scan(lambda c, x: (c * 0.5 + x, c), w, tf.range(N, dtype=tf.float64))
        return w, c, ys
    w, c, ys = f(tf.constant(np.int32(N)), tf.constant(np.float64(1.0)))
    rw = 1.0 + sum(i * 0.5 for i in range(N))
    rc, rys = rw, []
    for x in range(N):
        rys.append(rc)
        rc = rc * 0.5 + x
    assert w.numpy() == rw
    np.testing.assert_allclose(c.numpy(), rc, rtol=1e-14)
    np.testing.assert_allclose(ys.numpy(), rys, rtol=1e-14)


def test_nested_loops_with_scalar_carries(backend):
    @tf.trace
    def f(s):
        def outer(i, c):
            inner = tf.fori_loop(0, 7, lambda j, d: d * 0.5 + tf.cast(j, tf.float32), c)
            return inner + c * 0.25
        return tf.fori_loop(0, 40, outer, s)
    out = f(tf.constant(np.float32(3.0)))
    r = np.float32(3.0)
    for _ in range(40):
        d = r
        for j in range(7):
            d = d * np.float32(0.5) + np.float32(j)
        r = d + r * np.float32(0.25)
    np.testing.assert_allclose(out.numpy(), r, rtol=1e-6)


def test_zero_iterations_return_the_initial_values(backend):
    @tf.trace
    def f(n, s, t):
        return tf.fori_loop(0, n, lambda i, c: (c[0] + 1.0, c[1] * 3), (s, t))
    s, t = f(tf.constant(np.int32(0)), tf.constant(np.float32(2.5)), tf.constant(np.int64(7)))
    assert s.numpy() == np.float32(2.5) and t.numpy() == 7 and t.dtype == tf.int64


def test_returned_scalar_carries_are_not_changed_by_later_calls(backend):
    @tf.trace
    def f(s):
        return tf.fori_loop(0, 100, lambda i, c: (c[0] + 1.0, c[1] * 0.5), (s, s))
    x = tf.constant(np.float32(1.0))
    first = f(x)
    kept = [np.array(o.numpy(), copy=True) for o in first]
    views = [o.numpy() for o in first]
    for k in range(3):
        again = f(tf.constant(np.float32(10.0 + k)))
        assert again[0].numpy() == np.float32(110.0 + k)
    assert [o.numpy() for o in first] == kept == views
    assert x.numpy() == np.float32(1.0)  # the carries' buffers are their own, not the argument's
    assert kept[0] == np.float32(101.0) and kept[1] == np.float32(2.0) ** -100


def test_scalar_carry_is_not_allocated_per_iteration(cpu_backend):
    from jaxish.backends.cpu.codegen import generate

    def f(s, v):
        return tf.fori_loop(0, N, lambda i, c: (c[0] * 0.5 + 1.0, c[1] * 2.0), (s, v))
    g = optimize(tf.make_graph(f)(tf.constant(np.float32(1.0)), tf.ones(3)), for_execution=True)
    body = generate(g).entry_source.split("def entry")[1]
    head, loop = body.split("for it", 1)
    inside = [ln for ln in loop.splitlines() if "np.empty" in ln]
    assert len(inside) == 1 and "S[" in inside[0], loop  # only the array carry's new value, one per iteration
    assert head.count("np.empty") == 2, head  # the scalar carry's own buffer and its body's, both before the loop

