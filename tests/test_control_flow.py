"""Control flow: cond, fori_loop, while_loop, scan (values, gradients, Variables, tapes, errors, IR, CPU code).

Values are checked against unrolled Python/NumPy loops, gradients against float64 central finite differences.
Each test runs eagerly and under @trace, on the interpreter and on the cpu backend (``backend`` fixture).
"""
import numpy as np
import pytest

import jaxish as tf
from jaxish.core.control_flow import cond_p, scan_p, while_p
from jaxish.passes import optimize
from jaxish.primitives.shape_ops import transpose_p

MODES = ["eager", "traced"]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def run(mode, f, *args):
    return f(*args) if mode == "eager" else tf.trace(f)(*args)


def fd_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar NumPy function ``f`` at ``x`` (float64)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


X3 = np.array([0.5, -1.25, 2.0], np.float32)
X64 = np.array([0.3, -0.7, 1.1], np.float64)


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------
def test_cond_values(backend, mode):
    def f(p, x, y):
        return tf.cond(p, lambda a, b: {"s": a * 2.0 + b, "t": b}, lambda a, b: {"s": a - b, "t": b * 3.0},
                       x, y)
    for p in (True, False):
        out = run(mode, f, tf.constant(p), X3, X3[::-1].copy())
        y = X3[::-1]
        close(out["s"], X3 * 2 + y if p else X3 - y)
        close(out["t"], y if p else y * 3)


def test_cond_numeric_pred_and_closure(backend, mode):
    w = tf.constant(np.array([1.0, 2.0, 3.0], np.float32))

    def f(x):
        return tf.cond(tf.reduce_sum(x), lambda: x * w, lambda: x - w)   # nonzero is true; no operands
    close(run(mode, f, X3), X3 * [1, 2, 3])
    close(run(mode, f, np.zeros(3, np.float32)), -np.array([1, 2, 3]))


def test_fori_loop_values(backend, mode):
    def f(x):
        return tf.fori_loop(1, 6, lambda i, v: v * 0.5 + tf.cast(i, tf.float32), x)
    ref = X3.copy()
    for i in range(1, 6):
        ref = ref * 0.5 + i
    close(run(mode, f, X3), ref)


def test_fori_loop_traced_bounds_is_a_while(backend):
    @tf.trace
    def f(n, x):
        return tf.fori_loop(0, n, lambda i, v: v + v * 0.1, x)
    for n in (0, 1, 4):
        close(f(tf.constant(n), X3), X3 * 1.1 ** n)
    g = tf.make_graph(lambda n, x: tf.fori_loop(0, n, lambda i, v: v * 2.0, x))(tf.constant(3), X3)
    assert g.count(while_p) == 1 and g.count(scan_p) == 0


def test_while_loop_pytree_carry(backend, mode):
    def f(x):
        def body(c):
            return {"k": c["k"] + 1, "v": (c["v"][0] * 2.0, c["v"][1] - 1.0)}
        return tf.while_loop(lambda c: tf.reduce_sum(c["v"][0]) < 100.0, body,
                             {"k": 0, "v": (x, tf.zeros((2,)))})
    out = run(mode, f, np.array([1.0, 2.0, 0.5], np.float32))
    v, k = np.array([1.0, 2.0, 0.5], np.float32), 0
    while v.sum() < 100:
        v, k = v * 2, k + 1
    assert int(out["k"]) == k
    close(out["v"][0], v)
    close(out["v"][1], -k * np.ones(2))


def test_scan_values_and_reverse(backend, mode):
    xs = np.arange(12, dtype=np.float32).reshape(4, 3) / 7

    def f(c0, xs, reverse):
        return tf.scan(lambda c, x: (c * 0.9 + x, (tf.reduce_sum(c * x), c)), c0, xs, reverse=reverse)
    for reverse in (False, True):
        (c, (s, cs)) = run(mode, lambda a, b: f(a, b, reverse), X3, xs)
        ref_c, ref_s, ref_cs = X3.astype(np.float64), np.zeros(4), np.zeros((4, 3))
        for t in (reversed(range(4)) if reverse else range(4)):
            ref_s[t], ref_cs[t] = (ref_c * xs[t]).sum(), ref_c
            ref_c = ref_c * 0.9 + xs[t]
        close(c, ref_c)
        close(s, ref_s)
        close(cs, ref_cs)


def test_scan_length_without_xs_and_no_ys(backend, mode):
    def f(x):
        c, ys = tf.scan(lambda c, _: ((c[0] + 1, c[1] * c[1]), None), (0, x), None, length=3)
        assert ys is None
        return c
    k, v = run(mode, f, np.array([1.1, 0.9], np.float32))
    assert int(k) == 3
    close(v, np.array([1.1, 0.9]) ** 8)


def test_scan_length_zero_returns_init(backend, mode):
    c, ys = run(mode, lambda x: tf.scan(lambda c, _: (c * 2.0, c), x, None, length=0), X3)
    close(c, X3)
    assert tuple(ys.shape) == (0, 3)


def test_nested_scan_in_scan_and_cond_in_fori(backend, mode):
    xs = np.arange(6, dtype=np.float32).reshape(2, 3) / 5

    def f(x, xs):
        def outer(c, row):
            inner, _ = tf.scan(lambda a, e: (a + e * c, None), tf.constant(0.0), row)
            return c + inner, inner
        c, ys = tf.scan(outer, tf.constant(1.0), xs)

        def body(i, v):
            return tf.cond(i % 2 == 0, lambda u: u * 2.0, lambda u: u - 1.0, v)
        return c, ys, tf.fori_loop(0, 5, body, x)
    c, ys, v = run(mode, f, X3, xs)
    rc, rys = 1.0, []
    for row in xs:
        inner = float(np.sum(row * rc))
        rc, _ = rc + inner, rys.append(inner)
    close(c, rc)
    close(ys, rys)
    rv = X3.copy()
    for i in range(5):
        rv = rv * 2 if i % 2 == 0 else rv - 1
    close(v, rv)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------
def _np_scan_loss(w, x0, xs):
    c = x0
    total = 0.0
    for x in xs:
        c = np.tanh(c * w + x)
        total = total + np.sum(c * c)
    return total + np.sum(np.sin(c))


def _scan_loss(w, x0, xs, reverse=False):
    def step(c, x):
        c = tf.tanh(c * w + x)
        return c, tf.reduce_sum(c * c)
    c, ys = tf.scan(step, x0, xs, reverse=reverse)
    return tf.reduce_sum(ys) + tf.reduce_sum(tf.sin(c))


XS = np.array([[0.1, -0.2, 0.3], [0.5, 0.4, -0.6], [-0.3, 0.2, 0.1], [0.0, 0.7, -0.1]], np.float64)
W = np.array([0.8, -0.5, 1.2], np.float64)


def test_scan_grad_all_inputs(backend, mode):
    g = run(mode, tf.grad(_scan_loss, argnums=(0, 1, 2)), W, X64, XS)
    close(g[0], fd_grad(lambda w: _np_scan_loss(w, X64, XS), W))
    close(g[1], fd_grad(lambda x: _np_scan_loss(W, x, XS), X64))
    close(g[2], fd_grad(lambda xs: _np_scan_loss(W, X64, xs), XS))


def test_reverse_scan_grad(backend):
    g = tf.trace(tf.grad(lambda w, x, xs: _scan_loss(w, x, xs, reverse=True)))(W, X64, XS)
    close(g, fd_grad(lambda w: _np_scan_loss(w, X64, XS[::-1]), W))


def test_fori_loop_grad_closure(backend, mode):
    def f(w, x):
        return tf.reduce_sum(tf.fori_loop(0, 4, lambda i, v: tf.sin(v * w) + v, x))

    def fn(w, x):
        for _ in range(4):
            x = np.sin(x * w) + x
        return np.sum(x)
    gw, gx = run(mode, tf.grad(f, argnums=(0, 1)), W, X64)
    close(gw, fd_grad(lambda w: fn(w, X64), W))
    close(gx, fd_grad(lambda x: fn(W, x), X64))


def test_cond_grad_both_branches(backend, mode):
    def f(p, x):
        return tf.reduce_sum(tf.cond(p, lambda v: tf.sin(v) * v, lambda v: tf.exp(v), x))
    for p, ref in ((True, lambda v: np.sum(np.sin(v) * v)), (False, lambda v: np.sum(np.exp(v)))):
        close(run(mode, tf.grad(f, argnums=1), tf.constant(p), X64), fd_grad(ref, X64))


def test_grad_of_grad_through_scan_and_cond(backend):
    def f(x):
        c, _ = tf.scan(lambda c, _: (tf.cond(tf.reduce_sum(c) > -100.0, lambda v: tf.sin(v) * v,
                                             lambda v: v, c), None), x, None, length=2)
        return tf.reduce_sum(c)

    def fn(x):
        for _ in range(2):
            x = np.sin(x) * x
        return np.sum(x)

    def gn(x):
        return fd_grad(fn, x, 1e-5)
    hv = tf.trace(tf.grad(lambda x: tf.reduce_sum(tf.grad(f)(x) * tf.constant(W))))(X64)
    close(hv, fd_grad(lambda x: np.sum(gn(x) * W), X64, 1e-4), tol=1e-4)


def test_nested_scan_grad(backend):
    def f(w, xs):
        def outer(c, row):
            inner, _ = tf.scan(lambda a, e: (tf.tanh(a * w + e), None), c, row)
            return inner, None
        c, _ = tf.scan(outer, tf.constant(0.1, tf.float64), xs)
        return c

    def fn(w, xs):
        c = 0.1
        for row in xs:
            for e in row:
                c = np.tanh(c * w + e)
        return c
    w = tf.constant(0.7, tf.float64)
    g = tf.trace(tf.grad(f, argnums=(0, 1)))(w, XS)
    close(g[0], fd_grad(lambda w: fn(w, XS), np.float64(0.7)))
    close(g[1], fd_grad(lambda xs: fn(0.7, xs), XS))


def test_grad_through_while_loop_says_why():
    f = tf.grad(lambda x: tf.reduce_sum(tf.while_loop(lambda c: tf.reduce_sum(c) < 10.0, lambda c: c * 2.0, x)))
    with pytest.raises(ValueError, match=r"while_loop.*fori_loop with static.*scan"):
        f(X64)


def test_gradient_tape_records_cond_and_scan(backend, mode):
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cond(tf.reduce_sum(x) > 0, lambda v: v * v, lambda v: -v, x)
            c, ys = tf.scan(lambda c, e: (c * e + 1.0, c), tf.constant(1.0, tf.float64), y)
            loss = c + tf.reduce_sum(ys)
        return tape.gradient(loss, x)
    x = tf.constant(X64)

    def fn(x):
        y = x * x if x.sum() > 0 else -x
        c, s = 1.0, 0.0
        for e in y:
            s += c
            c = c * e + 1
        return c + s
    close(run(mode, f, x), fd_grad(fn, X64))


def test_tape_watching_a_variable_read_in_a_loop(backend):
    v = tf.Variable(np.array([0.5, 1.5], np.float64))
    with tf.GradientTape() as tape:
        out = tf.fori_loop(0, 3, lambda i, c: c * v, tf.constant(np.ones(2)))
        loss = tf.reduce_sum(out)
    close(tape.gradient(loss, v), 3 * np.array([0.5, 1.5]) ** 2)


# ---------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------
def test_variable_assigned_in_fori_loop(backend, mode):
    v = tf.Variable(np.array([1.0, 2.0], np.float32))
    w = tf.Variable(np.array([0.5, 0.25], np.float32))   # read only

    def f(x):
        def body(i, c):
            v.assign(v * 2.0 + w)
            return c + v
        return tf.fori_loop(0, 3, body, x)
    out = run(mode, f, np.zeros(2, np.float32))
    rv, rc = np.array([1.0, 2.0]), np.zeros(2)
    for _ in range(3):
        rv = rv * 2 + [0.5, 0.25]
        rc = rc + rv
    close(out, rc)
    close(v.numpy(), rv)
    close(w.numpy(), [0.5, 0.25])


def test_variable_in_while_cond_and_scan_and_cond(backend, mode):
    n = tf.Variable(0)
    acc = tf.Variable(np.zeros(2, np.float32))

    def f(x):
        def body(c):
            n.assign_add(1)
            return c * 2.0
        y = tf.while_loop(lambda c: n < 4, body, x)   # cond_fun reads the carried Variable

        def step(c, e):
            acc.assign(acc + e)
            return c + acc, None
        z, _ = tf.scan(step, y, tf.ones((3, 2)))
        tf.cond(tf.reduce_sum(z) > 0, lambda: acc.assign(acc * 10.0), lambda: acc.assign(acc))
        return z
    z = run(mode, f, np.array([1.0, 1.0], np.float32))
    assert int(n.numpy()) == 4
    close(z, 16 + 1 + 2 + 3)
    close(acc.numpy(), [30.0, 30.0])


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def test_cond_branch_mismatch_errors():
    x = tf.constant(X3)
    with pytest.raises(TypeError, match=r"cond: true_fun's result is \(float32\[3\]\), but false_fun's result is "
                                        r"\(float32\[2\]\).*\n  At .*test_control_flow.py"):
        tf.cond(True, lambda v: v, lambda v: v[:2], x)
    with pytest.raises(TypeError, match=r"true_fun's result .*\(float32\[3\]\).*false_fun's result .*int32"):
        tf.cond(True, lambda v: v, lambda v: tf.cast(v, tf.int32), x)
    with pytest.raises(TypeError, match=r"true_fun's result has the structure .* false_fun's result has the"):
        tf.cond(True, lambda v: (v, v), lambda v: v, x)
    with pytest.raises(TypeError, match=r"cond: pred must be a scalar"):
        tf.cond(x, lambda v: v, lambda v: v, x)


def test_loop_carry_mismatch_errors():
    x = tf.constant(X3)
    with pytest.raises(TypeError, match=r"fori_loop: body_fun's result is \(float32\[2\]\), but init_val is "
                                        r"\(float32\[3\]\)"):
        tf.fori_loop(0, 3, lambda i, v: v[:2], x)
    with pytest.raises(TypeError, match=r"fori_loop: body_fun's result is \(float32\[2\]\)"):
        tf.trace(lambda n: tf.fori_loop(0, n, lambda i, v: v[:2], x))(3)
    with pytest.raises(TypeError, match=r"scan: the carry f returns is \(float32\[2\]\), but init is "
                                        r"\(float32\[3\]\)"):
        tf.scan(lambda c, e: (c[:2], None), x, None, length=2)
    with pytest.raises(TypeError, match=r"scan: the carry f returns has the structure \(\*, \*\), but init has "
                                        r"the structure \*"):
        tf.scan(lambda c, e: ((c, c), None), x, None, length=2)
    with pytest.raises(TypeError, match=r"while_loop: body_fun's result is \(float64\[3\]\), but init_val is "
                                        r"\(float32\[3\]\).*\n  At .*test_control_flow.py"):
        tf.while_loop(lambda v: tf.reduce_sum(v) < 1.0, lambda v: tf.cast(v, tf.float64), x)
    with pytest.raises(TypeError, match=r"while_loop: body_fun's result has the structure"):
        tf.while_loop(lambda v: tf.reduce_sum(v) < 1.0, lambda v: (v, v), x)
    with pytest.raises(TypeError, match=r"while_loop: cond_fun must return a scalar bool"):
        tf.while_loop(lambda v: v < 1.0, lambda v: v, x)
    with pytest.raises(TypeError, match=r"scan: f must return a pair"):
        tf.scan(lambda c, e: c, x, tf.ones((2, 3)))
    with pytest.raises(TypeError, match=r"scan: length must be given"):
        tf.scan(lambda c, e: (c, None), x, None)
    with pytest.raises(ValueError, match=r"scan: the xs leaves have different leading lengths"):
        tf.scan(lambda c, e: (c, None), x, (tf.ones((2, 3)), tf.ones((3,))))
    with pytest.raises(ValueError, match=r"scan: length=4 but the xs leaves have leading length 2"):
        tf.scan(lambda c, e: (c, None), x, tf.ones((2, 3)), length=4)


def test_python_if_on_a_tracer_names_the_primitives():
    def f(x):
        if tf.reduce_sum(x) > 0:
            return x
        return -x
    with pytest.raises(tf.ConcretizationError) as e:
        tf.trace(f)(X3)
    msg = str(e.value)
    assert "jaxish.cond" in msg and "jaxish.while_loop" in msg and "when available" not in msg


# ---------------------------------------------------------------------------
# IR, passes, caches
# ---------------------------------------------------------------------------
def test_graph_prints_nested_and_keys_see_the_bodies():
    g1 = tf.make_graph(lambda x: tf.fori_loop(0, 3, lambda i, v: v * 2.0, x))(X3)
    g2 = tf.make_graph(lambda x: tf.fori_loop(0, 3, lambda i, v: v * 3.0, x))(X3)
    g3 = tf.make_graph(lambda y: tf.fori_loop(0, 3, lambda i, v: v * 2.0, y))(X3)
    assert g1.count(scan_p) == 1
    assert g1.key() != g2.key() and g1.key() == g3.key()
    text = str(g1)
    assert "= scan[" in text and "body={ lambda" in text and "length=3" in text
    gc = tf.make_graph(lambda x: tf.cond(x[0] > 0, lambda v: v, lambda v: -v, x))(X3)
    assert gc.count(cond_p) == 1 and "branches=(" in str(gc) and "neg" in str(gc)


def test_passes_keep_loops_opaque_and_cse_merges_identical_ones():
    def f(x):
        a = tf.fori_loop(0, 3, lambda i, v: v * 2.0, x)
        b = tf.fori_loop(0, 3, lambda i, v: v * 2.0, x)
        return a + b
    g = optimize(tf.make_graph(f, optimize=False)(X3), for_execution=True)
    assert g.count(scan_p) == 1


def test_eager_and_traced_calls_reuse_compiled_bodies(cpu_backend):
    @tf.trace
    def f(x):
        return tf.fori_loop(0, 10, lambda i, v: v * 0.5 + 1.0, x)
    f(X3)
    f(X3 + 1)
    assert f.cache_info().traces == 1


def test_cpu_entry_runs_the_loop_without_python(cpu_backend):
    from jaxish.backends.cpu import STATS
    from jaxish.backends.cpu.codegen import generate

    def f(x):
        c, ys = tf.scan(lambda c, e: (tf.sin(c) + e, c * e), x, tf.ones((5, 3)))
        w = tf.while_loop(lambda v: tf.reduce_sum(v) < 100.0, lambda v: v * 2.0 + 1.0, c)
        return tf.cond(tf.reduce_sum(w) > 0, lambda: w, lambda: -w), ys
    g = optimize(tf.make_graph(f)(X3), for_execution=True)
    src = generate(g).entry_source
    body = src.split("def entry")[1]
    assert "for it" in body and "while True:" in body and "if " in body and "_sin_f32" in body
    before = STATS["fallbacks"]
    out, ys = tf.trace(f)(X3)
    assert STATS["fallbacks"] == before
    c, rys = X3.astype(np.float64), []
    for _ in range(5):
        rys.append(c * 1.0)
        c = np.sin(c) + 1
    while c.sum() < 100:
        c = c * 2 + 1
    close(out, c if c.sum() > 0 else -c)
    close(ys, rys)


def test_scan_backward_saves_only_what_it_reads():
    """The forward scan stacks the carries and the tanh derivative, not loop-invariant values, views or copies
    of xs; the backward scan computes no cotangent for xs when none is asked for."""
    rng = np.random.default_rng(0)
    w, u = rng.standard_normal((4, 4)), rng.standard_normal((3, 4))
    xs, h0 = rng.standard_normal((6, 2, 3)), np.zeros((2, 4))

    def loss(w, u, xs, h0):
        def cell(h, x):
            h = tf.tanh(tf.linalg.matmul(h, w) + tf.linalg.matmul(x, u))
            return h, h
        _, hs = tf.scan(cell, h0, xs)
        return tf.reduce_sum(hs * hs)
    g = optimize(tf.make_graph(tf.grad(loss, argnums=(0, 1)))(w, u, xs, h0), for_execution=True)
    fwd, bwd = [n for n in g.nodes if n.prim is scan_p]
    ys = [tuple(o.aval.shape) for o in fwd.outvars[1:]]
    assert sorted(ys) == [(6, 2, 4)] * 3   # hs, 1 - tanh**2, the carry h_t
    assert fwd.params["body"].count(transpose_p) == 0
    assert (6, 2, 3) not in [tuple(o.aval.shape) for o in bwd.outvars]   # no cotangent for xs
    assert bwd.params["reverse"] and not fwd.params["reverse"]

    def fn(w, u):
        h, total = h0, 0.0
        for x in xs:
            h = np.tanh(h @ w + x @ u)
            total += np.sum(h * h)
        return total
    gw, gu = tf.trace(tf.grad(loss, argnums=(0, 1)))(w, u, xs, h0)
    close(gw, fd_grad(lambda w: fn(w, u), w))
    close(gu, fd_grad(lambda u: fn(w, u), u))


def test_seed_training_loop_as_one_fori_loop(backend, mode):
    """The seed's loop body (a tape over a Variable, assign_add) as a fori_loop body: the Variable is carried and
    written once; the weights match a NumPy loop."""
    rng = np.random.default_rng(0)
    x_ = rng.random((32, 5), dtype=np.float32)
    y_ = (x_ @ np.arange(5, dtype=np.float32)[:, None]).astype(np.float32)
    w0 = rng.random((5, 1), dtype=np.float32)
    weights = tf.Variable(w0)

    def train(x, y):
        def body(i, loss):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, weights)))
            weights.assign_add(-0.05 * tape.gradient(loss, weights))
            return loss
        return tf.fori_loop(0, 50, body, tf.constant(0.0))
    loss = run(mode, train, x_, y_)
    w = w0.astype(np.float64)
    for _ in range(50):
        ref_loss = np.mean((y_ - x_ @ w) ** 2)
        w = w - 0.05 * (2 / 32) * (x_.T @ (x_ @ w - y_))
    close(weights.numpy(), w, tol=1e-4)
    close(loss, ref_loss, tol=1e-4)


def test_scan_of_integers_has_zero_gradient_paths(backend):
    """A scan with only integer inputs whose float output feeds the loss: no gradient flows into it."""
    def f(x):
        c, ys = tf.scan(lambda c, e: (c + e, tf.cast(c, tf.float64)), 0, tf.range(4))
        return tf.reduce_sum(ys) * x + tf.cast(c, tf.float64)
    close(tf.trace(tf.grad(f))(tf.constant(2.0, tf.float64)), 0 + 0 + 1 + 3)


def test_hessian_through_scan(backend):
    def f(x):
        c, ys = tf.scan(lambda c, e: (tf.sin(c) * e, c * c), x[0], x)
        return c + tf.reduce_sum(ys)

    def fn(x):
        c, s = x[0], 0.0
        for e in x:
            s += c * c
            c = np.sin(c) * e
        return c + s
    x = np.array([0.3, 0.5, -0.2])
    h = tf.hessian(f)(x)
    ref = np.array([fd_grad(lambda y: fd_grad(fn, y, 1e-5)[i], x, 1e-4) for i in range(3)])
    close(h, ref, tol=1e-4)
