"""``jaxish.vmap`` against a Python loop of the unbatched function.

Every op of ``op_table.py`` (every case) is batched over each argument position
and over all arguments at once (on the last axis), eagerly on the interpreter;
the cpu backend compiles a few grouped graphs (every op's first case in one
traced function) instead of one graph per case. Then the API: pytrees,
``None`` and negative axes, ``out_axes``, nesting, composition with ``grad``,
``@trace`` and ``GradientTape``, Variables, random numbers and errors.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from op_table import OPS, generate

import jaxish as jx
from jaxish.backends import cpu as cpu_stats
from jaxish.core import PRIMITIVES

B = 3

#: primitives that may lack a batching rule for now (e.g. control flow merged in before its rules): keep empty
#: unless a rule is genuinely pending, and say why
PENDING_RULES: dict = {}


def _rng(*key):
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def _tol(dtype):
    return {"float16": (1e-2, 1e-2), "float32": (2e-5, 1e-6), "float64": (1e-12, 1e-14)}.get(str(dtype), (0, 0))


def _examples(op, case, rng, n=B):
    """``n`` independent inputs (one list of arrays each) for one case of ``op``."""
    dtype = case.dtype or op.main_dtype
    doms = case.domains or op.domains
    return [[generate(d, s, dtype, rng) for d, s in zip(doms, case.shapes)] for _ in range(n)]


def _stack(examples, k, axis):
    return np.stack([e[k] for e in examples], axis=axis)


def _check(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    rtol, atol = _tol(got.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _configs(arity):
    """(batched argument positions, axis): each position alone at axis 0 and at the last axis (where unbatched
    operands reach past the batch axis), then all of them at the last axis."""
    return [((k,), ax) for k in range(arity) for ax in (0, -1)] + [(tuple(range(arity)), -1)]


def _case_ids(op):
    return [f"{op.name}-{c.id}" for c in op.cases]


ALL_CASES = [(op, c) for op in OPS for c in op.cases]


@pytest.mark.parametrize("op,case", ALL_CASES, ids=[f"{o.name}-{c.id}" for o, c in ALL_CASES])
def test_vmap_op_table(op, case, interp):
    """Each batched position, and all at once on the last axis, against a loop of the op."""
    ex = _examples(op, case, _rng("vmap", op.name, case.id))
    loop = [np.asarray(op.fn(*[jx.constant(a) for a in e], **case.params)) for e in ex]
    for pos, axis in _configs(op.arity):
        args = [_stack(ex, k, axis) if k in pos else jx.constant(ex[0][k]) for k in range(op.arity)]
        if len(pos) < op.arity:  # the unbatched operands are those of example 0
            loop_k = [np.asarray(op.fn(*[jx.constant(e[k] if k in pos else ex[0][k]) for k in range(op.arity)],
                                       **case.params)) for e in ex]
        else:
            loop_k = loop
        in_axes = tuple(axis if k in pos else None for k in range(op.arity))
        got = jx.vmap(lambda *xs: op.fn(*xs, **case.params), in_axes=in_axes)(*args)
        _check(got, np.stack(loop_k), f"{op.name} batched at {pos} axis {axis}")


GRAD_CASES = [(op, c) for op in OPS if op.grad for c in op.grad_cases]


@pytest.mark.parametrize("op,case", GRAD_CASES, ids=[f"{o.name}-{c.id}" for o, c in GRAD_CASES])
def test_vmap_of_grad_op_table(op, case, interp):
    """Per-example gradients of sum(op(...)) (the backward primitives batched: unslice, gather_grad, ...)."""
    ex = _examples(op, case, _rng("vmapgrad", op.name, case.id))
    ex = [[a.astype(np.float64) if a.dtype.kind == "f" else a for a in e] for e in ex]
    floats = tuple(k for k in range(op.arity) if ex[0][k].dtype.kind == "f")

    def loss(*xs):
        return jx.reduce_sum(op.fn(*xs, **case.params))
    g = jx.grad(loss, argnums=floats)
    got = jx.vmap(g)(*[_stack(ex, k, 0) for k in range(op.arity)])
    for j, k in enumerate(floats):
        want = np.stack([np.asarray(g(*[jx.constant(a) for a in e])[j]) for e in ex])
        _check(got[j], want, f"d {op.name} / d arg {k}")


#: one op per batching rule for the compiled check (the rules build the same IR on every backend; Numba compile
#: time grows with the graph: the whole table in one graph takes minutes)
CPU_OPS = {"add", "exp", "where", "reduce_sum", "argmax", "matmul", "transpose", "reshape", "broadcast_to", "concat",
           "gather"}


def test_vmap_op_table_compiled(cpu_backend):
    """The first case of one op per batching rule, batched over all arguments, in one traced (compiled)
    function; and batched over the first argument only in another."""
    all_rows = [(op, op.cases[0]) for op in OPS if op.name in CPU_OPS]
    before = sum(cpu_stats.STATS[k] for k in ("compiled", "disk_loads"))
    for first_only in (False, True):
        rows = [(op, c) for op, c in all_rows if op.arity > 1 or not first_only]
        exs = [_examples(op, c, _rng("vmapc", op.name)) for op, c in rows]

        def all_ops(*flat):
            outs, i = [], 0
            for (op, c), ex in zip(rows, exs):
                xs = flat[i:i + op.arity]
                i += op.arity
                in_axes = tuple(0 if (k == 0 or not first_only) else None for k in range(op.arity))
                outs.append(jx.vmap(lambda *a, op=op, c=c: op.fn(*a, **c.params), in_axes=in_axes)(*xs))
            return outs
        flat = []
        for (op, c), ex in zip(rows, exs):
            flat += [_stack(ex, k, 0) if (k == 0 or not first_only) else ex[0][k] for k in range(op.arity)]
        got = jx.trace(all_ops)(*flat)
        ran = sum(cpu_stats.STATS[k] for k in ("compiled", "disk_loads"))
        assert ran > before, "the grouped graph did not run compiled"
        before = ran
        for (op, c), ex, g in zip(rows, exs, got):
            want = [np.asarray(op.fn(*[jx.constant(e[k] if (k == 0 or not first_only) else ex[0][k])
                                       for k in range(op.arity)], **c.params)) for e in ex]
            _check(g, np.stack(want), f"{op.name} compiled (first_only={first_only})")


def test_every_primitive_has_a_batching_rule():
    missing = sorted(n for n, p in PRIMITIVES.items() if p.batch is None and n not in PENDING_RULES)
    assert not missing, f"primitives without a batching rule (Primitive.batch): {missing}"


def test_missing_rule_error_names_the_primitive(interp):
    from jaxish.core import Primitive
    from jaxish.ir import ShapedArray
    p = Primitive("test_no_batch_rule", lambda x: ShapedArray(x.shape, x.dtype), lambda x: x * 2)
    try:
        with pytest.raises(NotImplementedError, match="test_no_batch_rule.*no batching rule"):
            jx.vmap(lambda x: p.bind(x))(np.ones((2, 3), np.float32))
    finally:
        del PRIMITIVES["test_no_batch_rule"]


# ---------------------------------------------------------------------------
# primitives the op table reaches only indirectly: slices, gather with batched indices, scatter-add
# ---------------------------------------------------------------------------
def test_vmap_indexing(interp):
    rng = _rng("indexing")
    x = rng.normal(size=(B, 5, 4)).astype(np.float32)
    idx = rng.integers(-5, 5, size=(B, 3)).astype(np.int32)
    cases = [
        (lambda a: a[1:4, ::2], (0,), lambda a: a[1:4, ::2]),
        (lambda a: a[::-1, 2], (0,), lambda a: a[::-1, 2]),
        (lambda a: a[..., None, 1:], (0,), lambda a: a[..., None, 1:]),
    ]
    for f, _, ref in cases:
        _check(jx.vmap(f)(x), np.stack([ref(x[b]) for b in range(B)]), "slice")
    # gather: params batched, indices batched, both; axis 0 and 1
    for axis in (0, 1):
        n = x.shape[1 + axis]
        ii = np.clip(idx, -n, n - 1)
        f = jx.vmap(lambda a, i: jx.gather(a, i, axis=axis))
        _check(f(x, ii), np.stack([np.take(x[b], ii[b], axis=axis) for b in range(B)]), f"gather both {axis}")
        f = jx.vmap(lambda a, i: jx.gather(a, i, axis=axis), in_axes=(None, 0))
        _check(f(x[0], ii), np.stack([np.take(x[0], ii[b], axis=axis) for b in range(B)]), f"gather idx {axis}")
        f = jx.vmap(lambda a, i: jx.gather(a, i, axis=axis), in_axes=(0, None))
        _check(f(x, ii[0]), np.stack([np.take(x[b], ii[0], axis=axis) for b in range(B)]), f"gather x {axis}")


def test_vmap_slice_gradients_and_identities(interp):
    """unslice (the slices' backward), stop_gradient and copy, batched."""
    rng = _rng("unslice")
    x = rng.normal(size=(B, 5, 3))

    def f(a):
        return jx.reduce_sum(a[1:4, ::2] ** 2) + jx.reduce_sum(jx.stop_gradient(a) * jx.identity(a))
    g = jx.grad(f)
    want = np.stack([np.asarray(g(jx.constant(e))) for e in x])
    _check(jx.vmap(g)(x), want, "vmap(grad) through slices")
    _check(jx.vmap(g, in_axes=2, out_axes=1)(np.moveaxis(x, 0, 2)), np.moveaxis(want, 0, 1), "batch axis last")


def test_vmap_gather_grad_batched_indices(interp):
    """d/dx sum(w * x[idx]) with per-example indices (gather_grad batched in every combination)."""
    rng = _rng("gather_grad")
    x = rng.normal(size=(B, 5, 2))
    w = rng.normal(size=(B, 4, 2))
    idx = rng.integers(-5, 5, size=(B, 4)).astype(np.int64)

    def f(x, i, w):
        return jx.reduce_sum(jx.gather(x, i) * w)
    g = jx.grad(f)
    for in_axes in [(0, 0, 0), (None, 0, 0), (0, 0, None), (None, 0, None), (0, None, 0)]:
        args = [x, idx, w]
        ex = [[a[b] if ax == 0 else a[0] for a, ax in zip(args, in_axes)] for b in range(B)]
        got = jx.vmap(g, in_axes=in_axes)(*[a if ax == 0 else a[0] for a, ax in zip(args, in_axes)])
        want = np.stack([np.asarray(g(*[jx.constant(a) for a in e])) for e in ex])
        _check(got, want, f"gather_grad {in_axes}")


def test_vmap_matmul_shapes(interp):
    rng = _rng("matmul")
    shapes = [((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)), ((2, 3), (3, 1)),
              ((3, 1), (1, 4)), ((2, 3, 1), (1, 2))]
    for sa, sb in shapes:
        a, b = rng.normal(size=(B,) + sa), rng.normal(size=(B,) + sb)
        for in_axes in [(0, 0), (0, None), (None, 0), (1, -1), (None, 1), (None, -1), (-1, None)]:
            aa = a[0] if in_axes[0] is None else np.moveaxis(a, 0, in_axes[0])
            bb = b[0] if in_axes[1] is None else np.moveaxis(b, 0, in_axes[1])
            got = jx.vmap(jx.matmul, in_axes=in_axes)(aa, bb)
            want = np.stack([(a[i] if in_axes[0] is not None else a[0]) @ (b[i] if in_axes[1] is not None else b[0])
                             for i in range(B)])
            _check(got, want, f"matmul {sa} {sb} {in_axes}")


# ---------------------------------------------------------------------------
# the API
# ---------------------------------------------------------------------------
def test_pytrees_none_negative_axes_and_out_axes(interp):
    rng = _rng("api")
    p = {"w": rng.normal(size=(3, 2)).astype(np.float32), "b": rng.normal(size=(2,)).astype(np.float32)}
    xs = rng.normal(size=(4, 3, B)).astype(np.float32)   # batch on the last axis

    def f(p, x):
        y = jx.matmul(x, p["w"]) + p["b"]
        return {"y": y, "s": jx.reduce_sum(y)}, p["b"] * 2.0
    out, unb = jx.vmap(f, in_axes=({"w": None, "b": None}, -1), out_axes=({"y": 1, "s": 0}, None))(p, xs)
    for b in range(B):
        ref, _ = f({k: jx.constant(v) for k, v in p.items()}, jx.constant(xs[..., b]))
        _check(out["y"][:, b], np.asarray(ref["y"]), "y")
        _check(out["s"][b], np.asarray(ref["s"]), "s")
    _check(unb, p["b"] * 2, "unbatched output with out_axes None")
    # an unbatched output with an out axis is broadcast
    got = jx.vmap(lambda x, c: c * 1.0, in_axes=(0, None), out_axes=-1)(xs, np.float32(3.0))
    _check(got, np.full((4,), 3.0, np.float32), "broadcast output")
    # a batched output with out_axes None is an error
    with pytest.raises(ValueError, match="out_axes"):
        jx.vmap(lambda x: x * 2, out_axes=None)(xs)


def test_kwargs_and_axis_size(interp):
    x = np.arange(6, dtype=np.float32).reshape(B, 2)
    got = jx.vmap(lambda x, scale: x * scale)(x, scale=np.array([1, 2, 3], np.float32))
    _check(got, x * np.array([[1], [2], [3]], np.float32), "kwargs mapped over axis 0")
    got = jx.vmap(lambda c: c + 1.0, in_axes=None, axis_size=4)(np.float32(2.0))
    _check(got, np.full((4,), 3.0, np.float32), "axis_size")
    with pytest.raises(ValueError, match="axis_size"):
        jx.vmap(lambda c: c, in_axes=None)(np.float32(2.0))


def test_mismatched_sizes_error_names_arguments(interp):
    with pytest.raises(ValueError, match=r"argument 'x' has size 3 at axis 0.*argument 'y' has size 4 at axis 1"):
        jx.vmap(lambda x, y: x + jx.reduce_sum(y), in_axes=(0, 1))(np.ones((3, 2)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="out of range"):
        jx.vmap(lambda x: x, in_axes=2)(np.ones((3, 2)))
    with pytest.raises(ValueError, match="in_axes has 1 entries"):
        jx.vmap(lambda x, y: x, in_axes=(0,))(np.ones(3), np.ones(3))


def test_nested_vmap(interp):
    rng = _rng("nested")
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))

    def dot(u, v):
        return jx.reduce_sum(u * v)
    got = jx.vmap(jx.vmap(dot, in_axes=(None, 0)), in_axes=(0, None))(a, b)
    _check(got, a @ b.T, "outer product of rows")
    got = jx.vmap(jx.vmap(dot, in_axes=(0, 0)), in_axes=(1, 1))(a[:, None] * np.ones((3, 2, 4)),
                                                                np.ones((3, 2, 4)))
    assert got.shape == (2, 3)


def test_vmap_composes_with_grad_and_trace(backend):
    rng = _rng("compose", backend)
    w = rng.normal(size=(4, 3))
    xs = rng.normal(size=(B, 4))

    def loss(w, x):
        return jx.reduce_sum(jx.tanh(jx.matmul(jx.reshape(x, (1, 4)), w)) ** 2)
    per_ex = jx.vmap(jx.grad(loss), in_axes=(None, 0))
    want = np.stack([np.asarray(jx.grad(loss)(w, x)) for x in xs])
    _check(jx.trace(per_ex)(w, xs), want, "trace(vmap(grad))")
    # grad of a vmapped function: the sum of the per-example gradients
    total = jx.grad(lambda w, xs: jx.reduce_sum(jx.vmap(loss, in_axes=(None, 0))(w, xs)))
    _check(total(w, xs), want.sum(0), "grad(vmap)")
    # the batched graph is ordinary IR: printed, one fused/compiled graph
    g = jx.make_graph(per_ex)(w, xs)
    assert "matmul" in str(g) and "float64[3,4,3]" in str(g)


def test_vmap_with_tapes(interp):
    rng = _rng("tape")
    xs = rng.normal(size=(B, 3))
    w = jx.Variable(rng.normal(size=(3,)))

    def per_example(x):
        xc = jx.identity(x)
        with jx.GradientTape() as tape:
            tape.watch(xc)
            y = jx.reduce_sum(jx.sin(xc) * w)
        return tape.gradient(y, xc)
    _check(jx.vmap(per_example)(xs), np.cos(xs) * np.asarray(w.numpy()), "tape inside vmap")
    x = jx.constant(xs)
    with jx.GradientTape() as tape:
        tape.watch(x)
        y = jx.reduce_sum(jx.vmap(lambda r: jx.exp(r) * w)(x))
    g_x, g_w = tape.gradient(y, [x, w])
    _check(g_x, np.exp(xs) * np.asarray(w.numpy()), "tape outside vmap: d/dx")
    _check(g_w, np.exp(xs).sum(0), "tape outside vmap: d/dw (an unbatched Variable)")


def test_variables_read_unbatched_and_assign_error(interp):
    v = jx.Variable(np.array([1.0, 2.0]))
    xs = np.arange(6.0).reshape(B, 2)
    _check(jx.vmap(lambda x: x * v)(xs), xs * np.array([1.0, 2.0]), "Variable read inside vmap")

    def bad(x):
        v.assign(x)
        return x
    with pytest.raises(ValueError, match="assigns the Variable"):
        jx.vmap(bad)(xs)
    with pytest.raises(ValueError, match="is a Variable and cannot be mapped"):
        jx.vmap(lambda a: a * 2)(v)
    _check(jx.vmap(lambda a, x: a * x, in_axes=(None, 0))(v, xs), xs * np.array([1.0, 2.0]), "Variable argument")


def test_random_draws_differ_per_example(interp):
    jx.random.set_seed(3)
    out = np.asarray(jx.vmap(lambda x: x + jx.random.uniform((4,)))(np.zeros((B, 4), np.float32)))
    assert out.shape == (B, 4)
    assert len({tuple(r) for r in out}) == B  # each example its own numbers
    assert ((out >= 0) & (out < 1)).all()
    # also inside a traced function called in the vmapped one (a call node: batched because it draws)
    noisy = jx.trace(lambda x: x + jx.random.uniform((4,)))
    out = np.asarray(jx.vmap(lambda x: noisy(x) * 1.0)(np.zeros((B, 4), np.float32)))
    assert len({tuple(r) for r in out}) == B
    # (the Jacobians' batch shares one draw: test_autodiff_reliability.test_jacobian_draws_random_numbers_once)


def test_eager_results_match_traced(backend):
    rng = _rng("eager", backend)
    xs = rng.normal(size=(B, 2, 3)).astype(np.float32)

    def f(x):
        return jx.reduce_max(jx.softmax(x), axis=0) + jx.reduce_sum(x[1:, :], axis=0)
    eager = jx.vmap(f)(xs)
    traced = jx.trace(jx.vmap(f))(xs)
    want = np.stack([np.asarray(f(jx.constant(x))) for x in xs])
    _check(eager, want, "eager")
    _check(traced, want, "traced")
