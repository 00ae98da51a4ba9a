"""Transforms through control flow: vmap of cond/while_loop/fori_loop/scan, forward mode (jvp, jacfwd,
hessian) through them, per-example gradients (vmap of grad) and grad of vmap.

References are independent: each function has a NumPy twin run example by example in a Python loop (vmap), and
derivatives are checked against float64 central finite differences of the NumPy twin. Tests run eagerly and
under @trace, on the interpreter and the cpu backend; the cpu cases are few (each batched graph compiles).
"""
import numpy as np
import pytest

import jaxish as jx
from jaxish.core import control_flow as cf
from jaxish.ir import ShapedArray

RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, 3))           # a batch of 4 examples of shape (3,)
W = RNG.normal(size=(4, 3))
AXES = [(0, None), (0, 0), (None, 0)]  # which operand is batched


@pytest.fixture(params=["eager", "traced"])
def mode(request):
    return request.param


def run(mode, f, *args):
    return f(*args) if mode == "eager" else jx.trace(f)(*args)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def loop_ref(np_f, args, in_axes):
    """The NumPy twin applied to each example in a Python loop, results stacked."""
    n = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    return np.stack([np_f(*[a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, in_axes)])
                     for b in range(n)])


def operands(in_axes):
    return [X if in_axes[0] is not None else X[1], W if in_axes[1] is not None else W[2]]


# ---------------------------------------------------------------------------
# functions with control flow, and their NumPy twins
# ---------------------------------------------------------------------------
def f_cond(x, w):  # the predicate depends on x: batched when x is
    return jx.cond(jx.reduce_sum(x) > 0, lambda a, b: jx.sin(a) * b, lambda a, b: a * 3.0 - b, x, w)


def np_cond(x, w):
    return np.sin(x) * w if x.sum() > 0 else x * 3.0 - w


def f_cond_w(x, w):  # the predicate depends on w only
    return jx.cond(w[0] > 0, lambda a, b: jx.exp(a) + b, lambda a, b: a * b, x, w)


def np_cond_w(x, w):
    return np.exp(x) + w if w[0] > 0 else x * w


def f_scan(x, w):  # carry starts unbatched (a constant) and becomes batched through x or w
    def body(c, xi):
        c = jx.sin(c) * xi + w
        return c, c * 2.0
    c, ys = jx.scan(body, jx.constant(np.zeros(3)), jx.reshape(x, (3, 1)) * jx.constant(np.ones((3, 3))))
    return c + jx.reduce_sum(ys, axis=0)


def np_scan(x, w):
    c, acc = np.zeros(3), np.zeros(3)
    for xi in x:
        c = np.sin(c) * xi + w
        acc = acc + 2.0 * c
    return c + acc


def f_scan_cond(x, w):  # a cond inside a scan body whose predicate differs per step (and per example)
    def body(c, xi):
        c = jx.cond(xi > 0, lambda a: jx.tanh(a * w + xi), lambda a: a * 0.5 - xi, c)
        return c, jx.reduce_sum(c)
    c, ys = jx.scan(body, w, x)
    return c * jx.reduce_sum(ys)


def np_scan_cond(x, w):
    c, s = w, 0.0
    for xi in x:
        c = np.tanh(c * w + xi) if xi > 0 else c * 0.5 - xi
        s += c.sum()
    return c * s


def f_fori(x, w):
    return jx.fori_loop(0, 3, lambda i, c: jx.sin(c) * w + 1.0, x)


def np_fori(x, w):
    for _ in range(3):
        x = np.sin(x) * w + 1.0
    return x


def f_while(x, w):  # trip count depends on x (batched predicate) and an int counter is carried
    def body(c):
        k, t, v = c
        return k + 1, t + jx.abs(v[0]) + 0.5, v * w
    k, t, v = jx.while_loop(lambda c: c[1] < 3.0, body, (0, jx.constant(np.float64(0.0)), x))
    return v + jx.cast(k, jx.float64)


def np_while(x, w):
    k, t, v = 0, 0.0, x
    while t < 3.0:
        k, t, v = k + 1, t + abs(v[0]) + 0.5, v * w
    return v + k


CASES = {"cond": (f_cond, np_cond), "cond_w": (f_cond_w, np_cond_w), "scan": (f_scan, np_scan),
         "scan_cond": (f_scan_cond, np_scan_cond), "fori": (f_fori, np_fori), "while": (f_while, np_while)}


# ---------------------------------------------------------------------------
# vmap
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_vmap_interpreter(name, mode, interp):
    f, np_f = CASES[name]
    for in_axes in AXES:
        args = operands(in_axes)
        got = run(mode, jx.vmap(f, in_axes=in_axes), *args)
        close(got, loop_ref(np_f, args, in_axes))


def test_vmap_cpu(cpu_backend):
    """Compiled: a cond inside a scan body with a per-example predicate; a while_loop with a batched predicate
    under @trace (two compiles)."""
    args = operands((0, 0))
    close(jx.vmap(f_scan_cond)(*args), loop_ref(np_scan_cond, args, (0, 0)))
    close(jx.trace(jx.vmap(f_while, in_axes=(0, None)))(X, W[0]), loop_ref(np_while, [X, W[0]], (0, None)))


def test_vmap_batch_axis_not_first(interp):
    xt = np.ascontiguousarray(X.T)  # examples along axis 1
    got = jx.vmap(f_scan, in_axes=(1, None), out_axes=1)(xt, W[0])
    close(got, loop_ref(np_scan, [X, W[0]], (0, None)).T)


def _trips(x, w):
    k, t, v = 0, 0.0, x
    while t < 3.0:
        k, t, v = k + 1, t + abs(v[0]) + 0.5, v * w
    return k


def test_vmap_while_batched_predicate_freezes_finished_examples(interp):
    x = np.array([[5.0, 1.0, 1.0], [0.1, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    w = np.array([2.0, 2.0, 2.0])
    assert [_trips(r, w) for r in x] == [1, 4, 2]  # the examples stop at different iterations
    got = jx.vmap(f_while, in_axes=(0, None))(x, w)
    close(got, loop_ref(np_while, [x, w], (0, None)))
    close(np.asarray(got)[:, 1] - [1, 4, 2], 2.0 ** np.array([1, 4, 2]))  # each frozen after its own trips


@pytest.mark.parametrize("idx", [[0, 1, 2, -3, 9], [1, 1, 1, 1, 1]])
def test_vmap_cond_index_three_branches_clamped(idx, interp):
    """A batched (and an unbatched) branch index of a three-branch cond_p, out-of-range indices clamped."""
    av = ShapedArray((2,), jx.float64)
    fns = [lambda a: [a * 2.0], lambda a: [jx.sin(a)], lambda a: [a - 1.0]]
    graphs = [cf.trace_flat(fn, [av], "branch") for fn in fns]
    np_fns = [lambda a: a * 2.0, np.sin, lambda a: a - 1.0]
    xs = RNG.normal(size=(5, 2))

    def f(i, a):
        return cf.cond(i, graphs, [a])[0]
    batched_idx = len(set(idx)) > 1
    in_axes = (0 if batched_idx else None, 0)
    i_arg = np.array(idx, np.int32) if batched_idx else np.int32(idx[0])
    got = jx.vmap(f, in_axes=in_axes)(i_arg, xs)
    ref = np.stack([np_fns[min(max(k, 0), 2)](xs[b]) for b, k in enumerate(idx)])
    close(got, ref)


def test_every_control_flow_primitive_has_a_batching_rule():
    assert all(p.batch is not None for p in (cf.cond_p, cf.while_p, cf.scan_p))


# ---------------------------------------------------------------------------
# forward mode: jvp, jacfwd, hessian vs float64 finite differences
# ---------------------------------------------------------------------------
def fd_jac(np_f, x, eps=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        cols.append((np.asarray(np_f(x + e)) - np.asarray(np_f(x - e))).ravel() / (2 * eps))
    return np.stack(cols, -1).reshape(np.shape(np_f(x)) + x.shape)


def fd_hess(np_f, x, eps=1e-4):
    n = x.size
    h = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            h[i, j] = (np_f(x + ei + ej) - np_f(x + ei - ej) - np_f(x - ei + ej) + np_f(x - ei - ej)) / (4 * eps ** 2)
    return h


FWD = ["cond", "cond_w", "scan", "scan_cond", "fori"]
X0, W0 = np.array([0.4, -0.3, 0.7]), np.array([0.9, -0.5, 0.6])


def _scalar(f):
    return lambda x: jx.reduce_sum(f(x, jx.constant(W0)) ** 2)


def _np_scalar(np_f):
    return lambda x: float(np.sum(np_f(x, W0) ** 2))


@pytest.mark.parametrize("name", FWD)
def test_jvp_jacfwd_hessian(name, mode, interp):
    f, np_f = CASES[name]
    t = np.array([0.3, -1.0, 0.5])
    y, ty = run(mode, lambda x, tt: jx.jvp(lambda a: f(a, jx.constant(W0)), (x,), (tt,)), X0, t)
    close(y, np_f(X0, W0))
    close(ty, fd_jac(lambda a: np_f(a, W0), X0) @ t, 1e-5)
    close(run(mode, jx.jacfwd(lambda a: f(a, jx.constant(W0))), X0), fd_jac(lambda a: np_f(a, W0), X0), 1e-5)
    close(run(mode, jx.hessian(_scalar(f)), X0), fd_hess(_np_scalar(np_f), X0), 1e-4)


def test_forward_mode_cpu(cpu_backend):
    close(jx.jacfwd(lambda a: f_scan_cond(a, jx.constant(W0)))(X0), fd_jac(lambda a: np_scan_cond(a, W0), X0), 1e-5)


def test_jvp_wrt_loop_invariant_and_xs(interp):
    """Tangents of the scanned xs and of a loop-invariant operand at once (jvp with two primals)."""
    tx, tw = np.array([0.2, 0.1, -0.4]), np.array([-0.3, 0.8, 0.05])
    _, ty = jx.jvp(f_scan, (X0, W0), (tx, tw))
    eps = 1e-6
    ref = (np_scan(X0 + eps * tx, W0 + eps * tw) - np_scan(X0 - eps * tx, W0 - eps * tw)) / (2 * eps)
    close(ty, ref, 1e-5)


def f_while_smooth(x, w):  # the trip count depends on x (piecewise constant), the carry smoothly on x and w
    def body(c):
        k, t, v = c
        return k + 1, t + jx.abs(v[0]) + 0.5, jx.sin(v) * w + v
    return jx.while_loop(lambda c: c[1] < 3.0, body, (0, jx.constant(np.float64(0.0)), x))[2]


def np_while_smooth(x, w):
    k, t, v = 0, 0.0, x
    while t < 3.0:
        k, t, v = k + 1, t + abs(v[0]) + 0.5, np.sin(v) * w + v
    return v


def test_jvp_jacfwd_through_while_loop(mode, interp):
    """while_loop has a forward-mode rule (a while over carries and tangents), so jvp and jacfwd work."""
    t = np.array([1.0, -0.5, 0.25])
    tw = np.array([0.3, 0.2, -0.1])
    _, ty = run(mode, lambda x, w, a, b: jx.jvp(f_while_smooth, (x, w), (a, b)), X0, W0, t, tw)
    eps = 1e-6
    ref = (np_while_smooth(X0 + eps * t, W0 + eps * tw) - np_while_smooth(X0 - eps * t, W0 - eps * tw)) / (2 * eps)
    close(ty, ref, 1e-5)
    jac = run(mode, jx.jacfwd(lambda x: f_while_smooth(x, jx.constant(W0))), X0)
    close(jac, fd_jac(lambda a: np_while_smooth(a, W0), X0), 1e-5)


def test_vmap_of_jacfwd_through_while_loop_cpu(cpu_backend):
    """Per-example Jacobians: examples run different numbers of iterations (a batched predicate)."""
    xs = np.stack([X0, X0 * 3.0, -X0])
    got = jx.vmap(jx.jacfwd(lambda x: f_while_smooth(x, jx.constant(W0))))(xs)
    close(got, np.stack([fd_jac(lambda a: np_while_smooth(a, W0), x) for x in xs]), 1e-5)


def _inner_while(v, w):
    return jx.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, jx.sin(c[1]) * w + c[1]), (0, v))[1]


def _np_inner_while(v, w):
    for _ in range(2):
        v = np.sin(v) * w + v
    return v


def f_nested_while(x, w):  # a while_loop inside a scan body (reading xs and a constant) and inside a cond
    def body(c, xi):
        c = _inner_while(c, w) * xi
        return c, jx.reduce_sum(c * c)
    c, ys = jx.scan(body, x, jx.stack([w[0], w[1], x[2]]))
    c = jx.cond(ys[1] > 1.0, lambda a: _inner_while(a, w), lambda a: a * 2.0, c)
    return c + jx.reduce_sum(ys)


def np_nested_while(x, w):
    c, ys = x, []
    for xi in (w[0], w[1], x[2]):
        c = _np_inner_while(c, w) * xi
        ys.append(np.sum(c * c))
    c = _np_inner_while(c, w) if ys[1] > 1.0 else c * 2.0
    return c + sum(ys)


@pytest.mark.parametrize("x", [X0 * 0.2, X0])  # the cond takes the false, then the true branch
def test_forward_mode_through_while_nested_in_scan_and_cond(x, mode, interp):
    """Forward-mode rules of cond and scan, used when their bodies contain a while_loop."""
    assert (np_nested_while(x, W0) != 0).all()
    t, tw = np.array([1.0, -0.5, 0.25]), np.array([0.3, 0.2, -0.1])
    y, ty = run(mode, lambda a, b, c, d: jx.jvp(f_nested_while, (a, b), (c, d)), x, W0, t, tw)
    eps = 1e-6
    close(y, np_nested_while(x, W0))
    ref = (np_nested_while(x + eps * t, W0 + eps * tw) - np_nested_while(x - eps * t, W0 - eps * tw)) / (2 * eps)
    close(ty, ref, 1e-5)
    jac = run(mode, jx.jacfwd(f_nested_while, argnums=1), x, W0)
    close(jac, fd_jac(lambda a: np_nested_while(x, a), W0), 1e-5)


@pytest.mark.parametrize("how", ["grad", "hessian"])
def test_reverse_mode_through_while_loop_is_a_clear_error(how, interp):
    x = np.array([0.4, 0.2, 0.1])
    with pytest.raises(ValueError, match=r"while_loop.*hessian and jacrev need reverse mode.*fori_loop with "
                                         r"static.*scan"):
        if how == "grad":
            jx.grad(lambda a: jx.reduce_sum(f_while(a, jx.constant(W0))))(x)
        else:
            jx.hessian(lambda a: jx.reduce_sum(f_while(a, jx.constant(W0))))(x)


# ---------------------------------------------------------------------------
# per-example gradients through loops: vmap(grad(f)) and grad(vmap(f))
# ---------------------------------------------------------------------------
def loss(w, x):
    return jx.reduce_sum(f_scan_cond(x, w) ** 2) + jx.reduce_sum(f_fori(x, w))


def np_loss(w, x):
    return float(np.sum(np_scan_cond(x, w) ** 2) + np.sum(np_fori(x, w)))


def _fd_grad_w(w, x):
    return fd_jac(lambda a: np.array(np_loss(a, x)), w)


def test_vmap_of_grad_per_example(interp, mode):
    w = W0
    got = run(mode, jx.vmap(jx.grad(loss), in_axes=(None, 0)), w, X)
    close(got, np.stack([_fd_grad_w(w, X[b]) for b in range(len(X))]), 1e-5)


def test_vmap_of_grad_per_example_cpu(cpu_backend):
    got = jx.vmap(jx.grad(loss), in_axes=(None, 0))(W0, X)
    close(got, np.stack([_fd_grad_w(W0, X[b]) for b in range(len(X))]), 1e-5)


def test_grad_of_vmap(interp, mode):
    w = W0

    def total(w_, xs):
        return jx.reduce_sum(jx.vmap(loss, in_axes=(None, 0))(w_, xs))
    got = run(mode, jx.grad(total), w, X)
    close(got, sum(_fd_grad_w(w, X[b]) for b in range(len(X))), 1e-5)


@pytest.fixture
def interp():
    old = jx.config.get_backend()
    jx.config.set_backend("interpreter")
    yield "interpreter"
    jx.config.set_backend(old)
