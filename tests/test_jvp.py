"""Forward mode and batched Jacobians: ``jvp``, ``jacfwd``, ``jacrev``, ``hessian``, ``GradientTape.jacobian`` and
``batch_jacobian``, against float64 central finite differences and against loops of the unbatched transforms,
eager and traced."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from op_table import OPS, generate

import jaxish as jx

EPS = 1e-6


def _rng(*key):
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def fd_jvp(f, xs, ts):
    """Central differences of ``f`` (NumPy in, arrays out) along the tangents ``ts``."""
    plus = f(*[x + EPS * t for x, t in zip(xs, ts)])
    minus = f(*[x - EPS * t for x, t in zip(xs, ts)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * EPS)


def np_f(f):
    return lambda *xs: np.asarray(f(*[jx.constant(x) for x in xs]))


def fd_jacobian(f, x):
    """``out.shape + x.shape`` by central differences, one input element at a time."""
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = 1.0
        cols.append(fd_jvp(np_f(f), [x], [e.reshape(x.shape)]))
    out_shape = cols[0].shape
    return np.moveaxis(np.stack(cols), 0, -1).reshape(out_shape + x.shape)


W6 = _rng("W").normal(size=(6, 6))


def bench_f(x):
    """The issue's Hessian workload: sum(tanh(W@x)**2) + sum(exp(-x*x))."""
    return jx.reduce_sum(jx.tanh(jx.matmul(W6, jx.reshape(x, (6, 1)))) ** 2) + jx.reduce_sum(jx.exp(-x * x))


# ---------------------------------------------------------------------------
# jvp: every differentiable op of the table (each primitive's VJP rule transposed twice)
# ---------------------------------------------------------------------------
GRAD_CASES = [(op, c) for op in OPS if op.grad for c in op.grad_cases]


@pytest.mark.parametrize("op,case", GRAD_CASES, ids=[f"{o.name}-{c.id}" for o, c in GRAD_CASES])
def test_jvp_op_table_vs_finite_differences(op, case, interp):
    rng = _rng("jvp", op.name, case.id)
    doms = (op.grad_domains or case.domains or op.domains)
    doms = [d if d is not None else o for d, o in zip(doms, case.domains or op.domains)]
    for _ in range(20):  # inputs away from kinks, as the op table's gradient checks
        xs = [generate(d, s, "float64", rng) for d, s in zip(doms, case.shapes)]
        if op.grad_ok is None or op.grad_ok(*xs):
            break
    floats = [k for k, x in enumerate(xs) if x.dtype.kind == "f"]
    ts = [rng.normal(size=x.shape) if x.dtype.kind == "f" else np.zeros(x.shape, x.dtype) for x in xs]

    def f(*a):
        return op.fn(*a, **case.params)
    y, t = jx.jvp(f, tuple(jx.constant(x) for x in xs), tuple(jx.constant(t) for t in ts))
    np.testing.assert_allclose(np.asarray(y), np_f(f)(*xs), rtol=1e-12, atol=1e-12)

    def fl(*a):  # only the float arguments move
        full = list(xs)
        for k, v in zip(floats, a):
            full[k] = v
        return np_f(f)(*full)
    want = fd_jvp(fl, [xs[k] for k in floats], [ts[k] for k in floats])
    np.testing.assert_allclose(np.asarray(t), want, rtol=1e-5, atol=1e-6, err_msg=op.name)


# ---------------------------------------------------------------------------
# jvp: the API
# ---------------------------------------------------------------------------
def test_jvp_pytrees_ints_and_traced(backend):
    rng = _rng("jvp-api", backend)
    p = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=(3,))}
    n = np.int32(3)

    def f(p, n):
        y = jx.sin(p["a"]) * p["b"] * jx.cast(n, jx.float64)
        return {"y": y, "count": n * 2, "s": jx.reduce_sum(y)}
    tp = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=(3,))}
    prim, tan = jx.jvp(f, (p, n), (tp, np.int32(0)))
    want = fd_jvp(lambda a, b: np.sin(a) * b * 3, [p["a"], p["b"]], [tp["a"], tp["b"]])
    np.testing.assert_allclose(np.asarray(tan["y"]), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(tan["s"]), want.sum(), rtol=1e-6)
    assert int(np.asarray(prim["count"])) == 6 and int(np.asarray(tan["count"])) == 0
    traced = jx.trace(lambda p, tp: jx.jvp(lambda q: f(q, n)["y"], (p,), (tp,)))(p, tp)
    np.testing.assert_allclose(np.asarray(traced[1]), want, rtol=1e-6, atol=1e-8)


def test_linearize(interp):
    """linearize applies the function once (one random draw) and its f_jvp matches jvp."""
    x = _rng("lin").normal(size=(6,))
    y, f_jvp = jx.linearize(bench_f, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(bench_f(jx.constant(x))), rtol=1e-14)
    for k in range(2):
        v = _rng("lin", k).normal(size=(6,))
        np.testing.assert_allclose(np.asarray(f_jvp(v)), fd_jvp(np_f(bench_f), [x], [v]), rtol=1e-6)
    jx.random.set_seed(2)
    y, f_jvp = jx.linearize(lambda x: x * jx.random.uniform((3,), dtype=jx.float64), np.ones(3))
    np.testing.assert_array_equal(np.asarray(f_jvp(np.ones(3))), np.asarray(y))   # d(x*u) = u: the same draw
    np.testing.assert_array_equal(np.asarray(f_jvp(2 * np.ones(3))), 2 * np.asarray(y))
    with pytest.raises(ValueError, match="tangent 0"):
        f_jvp(np.ones(4))


def test_jvp_composes_with_grad(interp):
    """grad of a jvp (reverse over forward) and jvp of a grad (forward over reverse): Hessian-vector products."""
    x = _rng("hvp").normal(size=(6,))
    v = _rng("hvp-v").normal(size=(6,))
    hvp1 = jx.jvp(jx.grad(bench_f), (x,), (v,))[1]
    hvp2 = jx.grad(lambda x: jx.jvp(bench_f, (x,), (v,))[1])(x)
    want = fd_jvp(np_f(jx.grad(bench_f)), [x], [v])
    np.testing.assert_allclose(np.asarray(hvp1), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(hvp2), want, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# Jacobians
# ---------------------------------------------------------------------------
def _vec_f(x):
    return jx.concat([jx.sin(x) * x[0], jx.reshape(jx.reduce_sum(x * x), (1,))], 0)


def test_jacfwd_jacrev_vs_fd_and_loops(interp):
    x = _rng("jac").normal(size=(4,))
    want = fd_jacobian(_vec_f, x)
    for jac in (jx.jacfwd, jx.jacrev, jx.jacobian):
        np.testing.assert_allclose(np.asarray(jac(_vec_f)(x)), want, rtol=1e-6, atol=1e-8, err_msg=jac.__name__)
        traced = jx.trace(jac(_vec_f))(x)
        np.testing.assert_allclose(np.asarray(traced), want, rtol=1e-6, atol=1e-8, err_msg=jac.__name__)
    # against loops of the unbatched transforms: rows are vjps, columns jvps
    y, pull = jx.vjp(_vec_f, jx.constant(x))
    rows = np.stack([np.asarray(pull(jx.constant(np.eye(5)[i]))[0]) for i in range(5)])
    cols = np.stack([np.asarray(jx.jvp(_vec_f, (x,), (np.eye(4)[j],))[1]) for j in range(4)], axis=1)
    np.testing.assert_allclose(np.asarray(jx.jacrev(_vec_f)(x)), rows, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jx.jacfwd(_vec_f)(x)), cols, rtol=1e-13)


def test_jacobians_compiled(cpu_backend):
    """jacfwd, jacrev and hessian in one traced (compiled) function."""
    x = _rng("jac-cpu").normal(size=(6,))
    both = jx.trace(lambda x: (jx.jacfwd(_vec_f)(x), jx.jacrev(_vec_f)(x), jx.hessian(bench_f)(x)))
    jf, jr, h = both(x)
    want = fd_jacobian(_vec_f, x)
    np.testing.assert_allclose(np.asarray(jf), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(jr), want, rtol=1e-6, atol=1e-8)
    with _interpreter():
        want_h = fd_jacobian(jx.grad(bench_f), x)
    np.testing.assert_allclose(np.asarray(h), want_h, rtol=1e-6, atol=1e-7)


class _interpreter:
    def __enter__(self):
        self.old = jx.config.get_backend()
        jx.config.set_backend("interpreter")

    def __exit__(self, *exc):
        jx.config.set_backend(self.old)


def test_jacobian_structures(interp):
    rng = _rng("jac-struct")
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3,))

    def f(a, b):
        return {"u": jx.matmul(a, jx.reshape(b, (3, 1))), "v": jx.reduce_sum(a, axis=0) * b}
    for jac in (jx.jacfwd, jx.jacrev):
        J = jac(f, argnums=(0, 1))(a, b)
        assert J["u"][0].shape == (2, 1, 2, 3) and J["u"][1].shape == (2, 1, 3)
        assert J["v"][0].shape == (3, 2, 3) and J["v"][1].shape == (3, 3)
        np.testing.assert_allclose(np.asarray(J["v"][1]), np.diag(a.sum(0)), rtol=1e-13)
        np.testing.assert_allclose(np.asarray(J["u"][1]), fd_jacobian(lambda b: f(jx.constant(a), b)["u"], b),
                                   rtol=1e-6, atol=1e-8)
        J0 = jac(lambda p: f(p["a"], p["b"])["v"])({"a": a, "b": b})
        assert set(J0) == {"a", "b"} and J0["a"].shape == (3, 2, 3)


def test_hessian_vs_fd(interp):
    x = _rng("hess").normal(size=(6,))
    want = fd_jacobian(jx.grad(bench_f), x)
    H = jx.hessian(bench_f)(x)
    np.testing.assert_allclose(np.asarray(H), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(jx.trace(jx.hessian(bench_f))(x)), want, rtol=1e-6, atol=1e-7)


def test_one_batched_graph_not_one_per_row(interp):
    """The Hessian's graph does not grow with n (jaxish 0.x built one backward pass per row)."""
    def count(n):
        W = np.ones((n, n))
        g = jx.make_graph(jx.hessian(lambda x: jx.reduce_sum(jx.tanh(jx.matmul(W, jx.reshape(x, (n, 1))))**2)))(
            np.ones(n))
        from jaxish.passes.inline import inline_calls
        return len(inline_calls(g).nodes)
    assert count(3) == count(12)


def test_tape_jacobian_and_batch_jacobian(backend):
    rng = _rng("tape", backend)
    x = jx.constant(rng.normal(size=(4, 3)))
    w = jx.Variable(rng.normal(size=(3, 3)))
    with jx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = jx.tanh(jx.matmul(x, w))
    J = tape.jacobian(y, [x, w])
    np.testing.assert_allclose(np.asarray(J[0]), fd_jacobian(lambda x: jx.tanh(jx.matmul(x, w.read_value())),
                                                             np.asarray(x)), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(J[1]), fd_jacobian(lambda w: jx.tanh(jx.matmul(x, w)), np.asarray(w.numpy())),
                               rtol=1e-6, atol=1e-8)
    BJ = tape.batch_jacobian(y, x)
    want = np.stack([fd_jacobian(lambda r: jx.tanh(jx.matmul(jx.reshape(r, (1, 3)), w.read_value()))[0],
                                 np.asarray(x)[b]) for b in range(4)])
    np.testing.assert_allclose(np.asarray(BJ), want, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="batch"):
        tape.batch_jacobian(y, jx.constant(np.ones((3, 3))))
