"""Numerical edge cases: every elementwise primitive and reduction on edge values (0, -0.0, NaN, inf,
dtype min/max, uint8 >= 128) compiled vs NumPy, accumulator policy, integer means, cache keys of
literals, simplification rules, and long chains (0-d kernels are straight-line code)."""
import numpy as np
import pytest

import jaxish as tf
from jaxish import backends
from jaxish.backends.cpu import codegen
from jaxish.core import PRIMITIVES
from jaxish.dtypes import as_dtype
from jaxish.passes import optimize

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"]
# libm and NumPy's SIMD loops may differ in the last bit for these; everything else must be bit-exact
TRANSCENDENTAL = {"exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "erf", "logistic", "rsqrt", "pow"}


def edge_values(dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind == "u":
        return np.array([0, 1, 2, 3, 7, 127, 128, 200, 254, 255], dt)
    if dt.kind == "i":
        ii = np.iinfo(dt)
        return np.array([0, 1, -1, 2, -2, 3, -7, 5, ii.min, ii.max, ii.min + 1, ii.max - 1], dt)
    fi = np.finfo(dt)
    return np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 2.5, -2.5, 0.5, 3.0, -7.0,
                     fi.max, -fi.max, fi.tiny, -fi.tiny], dt)


def assert_same_values(got, want, what, tol_ulps=0):
    """Equal values, dtypes, NaN positions and signs of zeros (within ``tol_ulps`` for floats)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, NumPy {want.dtype}"
    if got.dtype.kind != "f":
        bad = got != want
    else:
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        if tol_ulps:
            with np.errstate(all="ignore"):
                spacing = np.abs(np.spacing(want.astype(got.dtype)))
                same |= np.isfinite(want) & (np.abs(got.astype(np.float64) - want) <= tol_ulps * spacing)
        bad = ~same | ((got == 0) & (want == 0) & (np.signbit(got) != np.signbit(want)))
    assert not bad.any(), f"{what}: {np.flatnonzero(bad).size} differ, first: got {got[bad][:4]}, NumPy {want[bad][:4]}"


def _elementwise_ops(dtype):
    """(primitive, arity) for every elementwise primitive that accepts ``dtype`` (bar convert, select)."""
    aval = tf.constant(edge_values(dtype)).aval
    ops = []
    for name, p in sorted(PRIMITIVES.items()):
        if p.kind != "elementwise" or name in ("convert", "select"):
            continue
        for arity in (1, 2):
            try:
                p.abstract_eval(*[aval] * arity)
            except (TypeError, ValueError):
                continue
            ops.append((p, arity))
            break
    return ops


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_elementwise_primitive_on_edge_values_matches_numpy(cpu_backend, dtype):
    e = edge_values(dtype)
    x, y = np.repeat(e, len(e)), np.tile(e, len(e))  # every pair of edge values
    if np.dtype(dtype).kind in "iu":  # integer pow: exponents >= 0 only (negative ones raise)
        ops = [(p, k) for p, k in _elementwise_ops(dtype) if p.name != "pow"]
    else:
        ops = _elementwise_ops(dtype)
    assert len(ops) >= 5
    outs = tf.trace(lambda a, b: [p.bind(a) if k == 1 else p.bind(a, b) for p, k in ops])(
        tf.constant(x), tf.constant(y))
    with np.errstate(all="ignore"):
        for (p, k), out in zip(ops, outs):
            want = p.impl(x) if k == 1 else p.impl(x, y)
            assert_same_values(out.numpy(), want, f"{p.name} on {dtype}", 4 if p.name in TRANSCENDENTAL else 0)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_integer_pow_wraps_like_numpy(cpu_backend, dtype):
    e = edge_values(dtype)
    x, y = np.repeat(e, 9), np.tile(np.arange(9, dtype=dtype), len(e))
    got = tf.trace(tf.pow)(tf.constant(x), tf.constant(y)).numpy()
    with np.errstate(all="ignore"):
        assert_same_values(got, np.power(x, y), f"pow on {dtype}")


@pytest.mark.parametrize("src", ["bool", "int8", "int32", "int64", "uint8", "float32", "float64"])
def test_convert_edge_values_match_numpy(cpu_backend, src):
    e = edge_values(src)
    targets = ["bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]
    if np.dtype(src).kind == "f":  # NaN, inf and out-of-range floats to ints are undefined (C, NumPy and TF alike)
        e = e[np.isfinite(e) & (np.abs(e) < 100)]
    outs = tf.trace(lambda a: [tf.cast(a, t) for t in targets])(tf.constant(e))
    for t, out in zip(targets, outs):
        with np.errstate(all="ignore"):
            assert_same_values(out.numpy(), e.astype(t), f"{src} -> {t}")


def test_sign_of_unsigned_and_signed_zero(backend):
    u = np.array([0, 1, 127, 128, 200, 255], np.uint8)
    f = np.array([-0.0, 0.0, np.nan, -np.inf, -3.0, 2.0], np.float32)
    for x in (u, f):
        for got in (tf.sign(tf.constant(x)), tf.trace(tf.sign)(tf.constant(x))):
            assert_same_values(got.numpy(), np.sign(x), f"sign({x.dtype})")
    assert tf.trace(tf.sign)(tf.constant(u)).numpy().tolist() == [0, 1, 1, 1, 1, 1]
    assert not np.signbit(tf.trace(tf.sign)(tf.constant(np.float32(-0.0))).numpy())


def test_float_remainder_has_the_sign_of_the_divisor_also_when_zero(backend):
    x = np.array([0.0, -0.0, 3.0, -3.0, 6.0, 1.0], np.float64)
    y = np.array([-1.0, 1.0, -3.0, 3.0, -2.0, -np.inf], np.float64)
    assert_same_values(tf.trace(tf.math.floormod)(tf.constant(x), tf.constant(y)).numpy(), np.remainder(x, y),
                       "floormod")


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64", "uint8", "float32", "float64"])
@pytest.mark.parametrize("axes", [(1,), (0,), (0, 1)])
def test_reductions_on_edge_values_match_the_reference(cpu_backend, dtype, axes):
    rng = np.random.default_rng(0)
    x = rng.choice(edge_values(dtype), (24, 7))
    if dtype.startswith("float"):
        x[1], x[2, :3] = -0.0, [-0.0, 0.0, -0.0]
    names = ["reduce_and", "reduce_or"] if dtype == "bool" else ["reduce_sum", "reduce_prod"]
    names += ["reduce_max", "reduce_min"]
    outs = tf.trace(lambda a: [PRIMITIVES[n].bind(a, axes=axes) for n in names])(tf.constant(x))
    with np.errstate(all="ignore"):
        for n, out in zip(names, outs):
            assert_same_values(out.numpy(), PRIMITIVES[n].impl(x, axes=axes), f"{n} {dtype} {axes}", 1)


# ---------------------------------------------------------------------------
# accumulators and integer means
# ---------------------------------------------------------------------------
def test_float32_product_and_sum_agree_between_eager_and_compiled(cpu_backend):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.9, 1.1, (50, 40)).astype(np.float32)
    over = np.array([3e38, 3e38, 0.0, 2.0], np.float32)  # overflows a float32 accumulator, not a float64 one
    for fn in (tf.reduce_prod, tf.reduce_sum):
        for a, axis in ((x, None), (x, 0), (x, 1), (over, None)):
            eager = fn(tf.constant(a), axis=axis).numpy()
            compiled = tf.trace(lambda t, fn=fn, axis=axis: fn(t, axis=axis))(tf.constant(a)).numpy()
            with np.errstate(over="ignore"):
                want = getattr(np, "prod" if fn is tf.reduce_prod else "sum")(a.astype(np.float64), axis=axis)
                want = want.astype(np.float32)
            assert_same_values(eager, want, f"eager {fn.__name__}", 1)
            assert_same_values(compiled, eager, f"compiled {fn.__name__}", 0 if fn is tf.reduce_prod else 1)
    assert tf.reduce_prod(tf.constant(over)).numpy() == 0.0


@pytest.mark.parametrize("length", [1, 7, 8, 9, 255, 257, 511, 512, 513, 1000, 1537])
def test_blocked_float_sums_and_products_across_block_sizes(cpu_backend, length):
    # kernels.py: blocks of BLOCK values added into column accumulators, folded in halves down to LANES at the
    # end of each row; every row length around those sizes, rows of several reduced axes, a full reduction
    from jaxish.backends.cpu.kernels import BLOCK, LANES
    assert (BLOCK, LANES) == (512, 8)   # the lengths above straddle these
    rng = np.random.default_rng(length)
    x = rng.standard_normal((3, length)).astype(np.float32)
    p = rng.uniform(0.99, 1.01, (3, 2, length)).astype(np.float32)
    f = tf.trace(lambda a, b: [tf.reduce_sum(a, axis=1), tf.reduce_sum(a), tf.reduce_prod(b, axis=[1, 2]),
                               tf.reduce_sum(b * 2.0 - 1.0, axis=2), tf.reduce_sum(-a, axis=0)])
    got = f(tf.constant(x), tf.constant(p))
    xd, pd = x.astype(np.float64), p.astype(np.float64)
    want = [xd.sum(1), xd.sum(), pd.prod((1, 2)), (pd * 2.0 - 1.0).sum(2), (-xd).sum(0)]
    for g, w in zip(got, want):   # float64 accumulators: the float32 result is the rounded float64 value
        np.testing.assert_allclose(g.numpy(), np.asarray(w, np.float32), rtol=2e-7, atol=1e-6)


def test_blocked_sums_full_blocks_round_once(cpu_backend):
    # kernels.block_tail: a full block adds its two halves pairwise in float64 before the column accumulators;
    # a float32 sum of positive values spanning 2**40 still rounds the float64 sum once (the correctly rounded
    # value, math.fsum), in a serial kernel, a row sum and a chunked parallel one; a float32 product as well
    import math

    from jaxish.backends.cpu.kernels import BLOCK, PARALLEL_THRESHOLD
    rng = np.random.default_rng(11)
    for n in (BLOCK * 37 + 3, PARALLEL_THRESHOLD + 4 * BLOCK + 5):
        x = (rng.uniform(1, 2, n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
        got = tf.trace(tf.reduce_sum)(tf.constant(x)).numpy()
        assert got == np.float32(math.fsum(x.astype(np.float64))), (n, got)
    rows = (rng.uniform(1, 2, (3, BLOCK * 5)) * 2.0 ** rng.integers(-20, 20, (3, BLOCK * 5))).astype(np.float32)
    got = tf.trace(lambda a: tf.reduce_sum(a, axis=1))(tf.constant(rows)).numpy()
    assert got.tolist() == [np.float32(math.fsum(r.astype(np.float64))) for r in rows]
    p = rng.uniform(0.999, 1.001, BLOCK * 9 + 1).astype(np.float32)
    got = tf.trace(tf.reduce_prod)(tf.constant(p)).numpy()
    np.testing.assert_allclose(got, np.prod(p.astype(np.float64)), rtol=6e-8)


def test_parallel_chunked_sum_matches_float64(cpu_backend):
    from jaxish.backends.cpu.kernels import PARALLEL_THRESHOLD
    n = PARALLEL_THRESHOLD + 12345
    x = np.random.default_rng(7).standard_normal(n).astype(np.float32)
    m = n // 7 * 7
    got = tf.trace(lambda a: [tf.reduce_sum(a * a), tf.reduce_sum(tf.reshape(a[:m], [7, -1]), axis=1)])(
        tf.constant(x))
    xd = x.astype(np.float64)
    np.testing.assert_allclose(got[0].numpy(), np.float32((xd * xd).sum()), rtol=2e-7)
    np.testing.assert_allclose(got[1].numpy(), xd[:m].reshape(7, -1).sum(1).astype(np.float32), rtol=2e-7,
                               atol=1e-5)
    # value and gradient: the flat chunked sum whose blocks' elementwise loop is a function of its own
    # (``kernel_block``), also writing the gradient
    f = lambda a: tf.reduce_sum(tf.tanh(0.5 * a + 1) ** 2)  # noqa: E731
    g = optimize(tf.make_graph(tf.value_and_grad(f))(tf.constant(x)), for_execution=True)
    assert "def kernel_block(" in "\n".join(codegen.generate(g).kernel_sources.values())
    v, d = tf.trace(tf.value_and_grad(f))(tf.constant(x))
    t = np.tanh(0.5 * xd + 1)
    np.testing.assert_allclose(v.numpy(), np.float32((t * t).sum()), rtol=2e-6)
    np.testing.assert_allclose(d.numpy(), t * (1 - t * t), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_integer_mean_is_exact_and_truncates_toward_zero(backend, dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(2)
    lo, hi = (-(2**57), 2**57) if dtype == "int64" else (info.min, info.max)  # int64 sums wrap (as TF's)
    x = rng.integers(lo, hi, (5, 7), dtype=dtype, endpoint=True)
    x[0, :3] = hi
    x[1] = [-7, -1, 0, 1, 2, -3, 1] if info.min < 0 else [7, 1, 0, 1, 2, 3, 1]
    if dtype == "int64":
        x[2] = [2**61 + 1, 2**61 + 3, -(2**60) + 7, 5, 9, 2**53 + 1, 3]  # exact above 2**53
    for axis in (None, 0, 1):
        s = np.sum(x.astype(object), axis=axis)  # exact Python integers
        n = x.size if axis is None else x.shape[axis]
        want = np.vectorize(lambda v: abs(v) // n * (1 if v >= 0 else -1), otypes=[object])(s).astype(dtype)
        f = lambda t, axis=axis: tf.reduce_mean(t, axis=axis)  # noqa: E731
        for got in (f(tf.constant(x)), tf.trace(f)(tf.constant(x))):
            assert got.dtype == as_dtype(dtype)
            np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "float32"])
def test_mean_of_no_elements(backend, dtype):
    # TensorFlow: NaN for floating means, 0 for integer means (its identity for Mean)
    for shape, axis in (((0,), None), ((0, 3), 0), ((2, 0), 1)):
        x = tf.zeros(shape, dtype)
        for got in (tf.reduce_mean(x, axis=axis), tf.trace(lambda t, axis=axis: tf.reduce_mean(t, axis=axis))(x)):
            want = np.full(np.sum(np.zeros(shape), axis=axis).shape, np.nan if dtype == "float32" else 0, dtype)
            assert_same_values(got.numpy(), want, f"mean of {shape} {dtype}")


# ---------------------------------------------------------------------------
# cache keys: literals by bit pattern and dtype
# ---------------------------------------------------------------------------
def test_negative_zero_literal_does_not_reuse_the_positive_zero_executable(backend):
    x = tf.constant(np.array([1.0, -2.0, 0.0], np.float32))
    pos = tf.trace(lambda t: t * 0.0)(x).numpy()
    neg = tf.trace(lambda t: t * -0.0)(x).numpy()
    assert_same_values(pos, x.numpy() * np.float32(0.0), "x * 0.0")
    assert_same_values(neg, x.numpy() * np.float32(-0.0), "x * -0.0")
    g1 = tf.make_graph(lambda t: t * 0.0)(x)
    g2 = tf.make_graph(lambda t: t * -0.0)(x)
    assert g1.key() != g2.key() and g1.fingerprint() != g2.fingerprint()


def test_cse_keeps_literals_of_different_sign_apart(backend):
    x = tf.constant(np.array([1.0, -2.0], np.float64))
    a, b = tf.trace(lambda t: (t * 0.0, t * -0.0))(x)
    assert_same_values(a.numpy(), x.numpy() * 0.0, "t * 0.0")
    assert_same_values(b.numpy(), x.numpy() * -0.0, "t * -0.0")


def test_nan_literal_graphs_hit_the_caches(backend):
    x = tf.constant(np.array([1.0, 2.0], np.float32))
    f = lambda t: tf.reduce_sum(t * float("nan") + t * t)  # noqa: E731
    g1, g2 = tf.make_graph(f)(x), tf.make_graph(f)(x)
    assert g1.key() == g2.key() and hash(g1.key()) == hash(g2.key())
    grad = tf.grad(f)
    grad(x)
    misses = backends.STATS["misses"]
    for _ in range(3):
        out = grad(x).numpy()
    assert backends.STATS["misses"] == misses
    assert np.isnan(out).all()


def test_float_params_compare_by_bit_pattern():
    from jaxish.ir import param_key
    assert param_key({"c": 0.0}) != param_key({"c": -0.0})
    assert param_key({"c": (1.0, float("nan"))}) == param_key({"c": (1.0, float("nan"))})
    assert param_key({"c": np.float32(1.0)}) != param_key({"c": 1.0})


# ---------------------------------------------------------------------------
# simplification rules against NumPy on edge values
# ---------------------------------------------------------------------------
RULES = [  # (jaxish fn, NumPy reference, primitives left after simplification, float tensors only)
    (lambda x: x * 1, lambda x: x * 1, [], False),
    (lambda x: 1 * x, lambda x: 1 * x, [], False),
    (lambda x: x + 0, lambda x: x + 0, ["add"], None),  # ints: removed; floats: x + 0.0 stays
    (lambda x: 0 - (-x), lambda x: 0 - (-x), ["neg", "sub"], False),
    (lambda x: x - 0, lambda x: x - 0, [], False),
    (lambda x: -(-x), lambda x: -(-x), [], False),
    (lambda x: x ** 1, lambda x: x ** 1, [], False),
    (lambda x: x ** 2, lambda x: x * x, ["mul"], False),
    (lambda x: x - x, lambda x: x - x, ["sub"], False),
    (lambda x: x * -x, lambda x: x * -x, ["mul", "neg"], False),     # -(x * x): signs, zeros, NaNs; ints wrap
    (lambda x: -x * -x, lambda x: -x * -x, ["mul"], False),           # x * x
    (lambda x: tf.cast(x, x.dtype), lambda x: x, [], False),
    (lambda x: x + (-0.0), lambda x: x + (-0.0), [], True),
    (lambda x: (-0.0) + x, lambda x: (-0.0) + x, [], True),
    (lambda x: x + 0.0, lambda x: x + 0.0, ["add"], True),
    (lambda x: x - 0.0, lambda x: x - 0.0, [], True),
    (lambda x: x - (-0.0), lambda x: x - (-0.0), ["sub"], True),
    (lambda x: x / 1, lambda x: x / 1, [], True),
    (lambda x: x * 0.0, lambda x: x * 0.0, ["mul"], True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8"])
@pytest.mark.parametrize("rule", range(len(RULES)))
def test_simplify_rules_keep_numpy_values(backend, rule, dtype):
    fn, ref, left, float_only = RULES[rule]
    if float_only and np.dtype(dtype).kind != "f":
        pytest.skip("a float literal")
    if float_only is None and np.dtype(dtype).kind != "f":
        left = []
    x = edge_values(dtype)
    graph = optimize(tf.make_graph(fn)(tf.constant(x)))
    assert [n.prim.name for n in graph.nodes] == left, str(graph)
    with np.errstate(all="ignore"):
        want = np.asarray(ref(x)).astype(dtype)
        assert_same_values(tf.trace(fn)(tf.constant(x)).numpy(), want, f"rule {rule} on {dtype}")


FOLDED = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "max": np.maximum,
          "min": np.minimum, "floordiv": np.floor_divide, "mod": np.remainder}


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "float32", "float64"])
@pytest.mark.parametrize("weak", [False, True])
def test_constant_folding_matches_numpy_and_keeps_the_abstract_value(dtype, weak):
    from jaxish.ir import Graph, Literal, Node, ShapedArray, Var
    from jaxish.passes import fold_constants
    aval = ShapedArray((), as_dtype(dtype), weak)
    e = edge_values(dtype)
    for name, ref in FOLDED.items():
        if name == "div" and np.dtype(dtype).kind != "f":
            continue
        for a, b in zip(np.repeat(e, len(e)), np.tile(e, len(e))):
            out = Var(aval)
            g = fold_constants(Graph([], [Node(PRIMITIVES[name], [Literal(a, aval), Literal(b, aval)], {}, [out])],
                                     [out]))
            (lit,) = g.outvars
            assert isinstance(lit, Literal) and lit.aval == aval and not g.nodes
            with np.errstate(all="ignore"):
                assert_same_values(lit.val, np.asarray(ref(np.asarray(a), np.asarray(b))), f"{name}({a}, {b})")


# ---------------------------------------------------------------------------
# long chains: 0-d kernels are straight-line code
# ---------------------------------------------------------------------------
def _euler(n):
    def f(x):
        for _ in range(n):
            x = x + 0.1 * tf.sin(x) * x
        return x
    return f


def _euler_ref(x, n):
    d = 1.0
    for _ in range(n):
        d *= 1 + 0.1 * (np.cos(x) * x + np.sin(x))
        x = x + 0.1 * np.sin(x) * x
    return x, d


def test_scalar_kernels_have_no_loop():
    g = optimize(tf.make_graph(tf.value_and_grad(_euler(3)))(tf.constant(0.5)), for_execution=True)
    prog = codegen.generate(g)
    assert len(prog.kernel_sources) == 1
    body = next(iter(prog.kernel_sources.values())).split("def kernel(")[1]
    assert "for " not in body and "range(" not in body, body
    assert "o0[0] = " in body


def test_loop_invariant_values_are_computed_outside_the_inner_loops():
    f = lambda x, s: tf.exp(s) * x + tf.sin(s)  # noqa: E731
    g = optimize(tf.make_graph(f)(tf.ones((3, 4)), tf.ones((3, 1))), for_execution=True)
    bodies = [b.split("def kernel(")[1] for b in codegen.generate(g).kernel_sources.values()]
    text = "\n".join(bodies)
    assert "_exp_f32(" in text and "_sin_f32(" in text, text
    for body in bodies:   # exp(s), sin(s) vary along axis 0 only: never inside a loop over axis 1
        lines = body.splitlines()
        inner = next((i for i, s in enumerate(lines) if "for i1 " in s), len(lines))
        assert not any("_exp_f32(" in s or "_sin_f32(" in s for s in lines[inner:]), body


def test_length_1_axes_get_no_loop_and_short_sums_are_plain(cpu_backend):
    # the seed's mean over a (32, 1) array: one loop over axis 0, added in order (no blocks: 32 <= SHORT_SUM)
    x = np.random.default_rng(1).standard_normal((32, 1)).astype(np.float32)
    f = lambda a: tf.reduce_mean(tf.square(a))  # noqa: E731
    g = optimize(tf.make_graph(f)(tf.constant(x)), for_execution=True)
    text = "\n".join(codegen.generate(g).kernel_sources.values())
    assert "for i0 " in text and "for i1 " not in text and "np.empty(" not in text, text
    np.testing.assert_allclose(float(tf.trace(f)(tf.constant(x))), np.mean(x.astype(np.float64) ** 2), rtol=1e-6)
    # a (1, n, 1) row sum with n > BLOCK is still blocked, and exact to float64 rounding of float32 values
    y = np.random.default_rng(2).standard_normal((1, 1000, 1))
    g = optimize(tf.make_graph(lambda a: tf.reduce_sum(a, axis=1))(tf.constant(y)), for_execution=True)
    text = "\n".join(codegen.generate(g).kernel_sources.values())
    assert "for s1_ in range(0, dims[1], " in text and "for i0 " not in text and "for i2 " not in text, text
    got = tf.trace(lambda a: tf.reduce_sum(a, axis=1))(tf.constant(y)).numpy()
    assert got.shape == (1, 1)
    np.testing.assert_allclose(got, y.sum(axis=1), rtol=1e-13)


@pytest.mark.parametrize("n", [1, 40])
def test_long_scalar_chain_value_and_gradient(backend, n):
    x0 = 0.5
    v, d = tf.trace(tf.value_and_grad(_euler(n)))(tf.constant(x0, tf.float64))
    want_v, want_d = _euler_ref(x0, n)
    np.testing.assert_allclose([float(v), float(d)], [want_v, want_d], rtol=1e-12)
    v32 = tf.trace(_euler(n))(tf.constant(np.float32(x0)))
    np.testing.assert_allclose(float(v32), want_v, rtol=1e-5)


def test_long_vector_chain_matches_numpy(backend):
    x = np.linspace(-1, 1, 33)

    def chain(t, xp):
        for i in range(300):
            t = xp.sin(t) if i % 3 == 0 else (t * 0.999 if i % 3 == 1 else t + 0.001)
        return t

    got = tf.trace(lambda t: chain(t, tf))(tf.constant(x)).numpy()
    np.testing.assert_allclose(got, chain(x, np), rtol=1e-13)
    grad = tf.trace(tf.grad(lambda t: tf.reduce_sum(chain(t, tf))))(tf.constant(x)).numpy()
    h = 1e-6
    fd = (chain(x + h, np) - chain(x - h, np)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
