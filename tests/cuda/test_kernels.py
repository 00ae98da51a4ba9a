"""Each kernel path of the CUDA code generator against the CPU (NumPy reference for eager ops).

Sizes are small for the simulator but chosen to take every path: partial
blocks and grid-stride loops (more elements than ``max_blocks * block``),
flat / single-element / broadcast operands, each reduction strategy (serial
rows, a shared-memory tree per row, chunked rows with a second pass) on every
axis, small and tiled matmuls with partial tiles and batches.
"""
import numpy as np
import pytest
from cuda_helpers import GPU, on_gpu, rng

import jaxish as tf
from jaxish.testing import assert_allclose


def check(f, *arrays, rtol=1e-6, atol=1e-6, traced=True):
    """``f`` on GPU tensors (eagerly, and traced when ``traced``) equals ``f`` on CPU tensors."""
    want = f(*[tf.constant(a) for a in arrays])
    gs = [on_gpu(a) for a in arrays]
    outs = [f(*gs)] + ([tf.function(f)(*gs)] if traced else [])
    for got in outs:
        for g, w in zip(_flat(got), _flat(want)):
            assert g.device == GPU, "the result left the GPU"
            assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape)
            if w.dtype.is_floating:
                assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol)
            else:
                np.testing.assert_array_equal(g.numpy(), w.numpy())


def _flat(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [[(300,), (300,)], [(7, 45), (45,)], [(7, 1, 5), (1, 6, 5)], [(), (3, 4)],
                                    [(33,), ()], [(0, 3), (3,)]], ids=str)
def test_elementwise_broadcasts_and_blocks(shapes):
    r = rng(1)
    a, b = [r.standard_normal(s).astype(np.float32) for s in shapes]
    check(lambda x, y: (x * y + tf.exp(-tf.abs(x)), tf.where(x > y, x, y - 1.5)), a, b, rtol=2e-6)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "float64"])
def test_elementwise_dtypes(dtype):
    r = rng(2)
    a = r.integers(-100, 100, (5, 9)).astype(dtype)
    b = r.integers(1, 7, (9,)).astype(dtype)
    check(lambda x, y: (x * y + x, x // y, x % y, tf.maximum(x, y), tf.cast(x, tf.float32) / 3.0), a, b)


def test_bool_and_compare():
    r = rng(3)
    a, b = r.random((4, 6)) > 0.5, r.random((6,)) > 0.5
    check(lambda x, y: (tf.logical_and(x, y), tf.logical_or(x, tf.logical_not(y)), tf.cast(x, tf.int32)), a, b)


def test_float_specials():
    s = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 0.5], np.float32)
    a, b = np.meshgrid(s, s)
    check(lambda x, y: (x / y, tf.maximum(x, y), tf.minimum(x, y), x // y, x % y, tf.sign(x), tf.sqrt(x),
                        tf.tanh(x), tf.math.log1p(x), tf.pow(tf.abs(x), y), tf.floor(x)), a, b)


# ---------------------------------------------------------------------------
# reductions: every axis, each strategy
# ---------------------------------------------------------------------------
AXES = [None, 0, 1, 2, (0, 1), (0, 2), (1, 2)]
#: serial rows; few rows: a tree per row (innermost axis reduced) or coalesced threads (innermost axes kept),
#: with one pass (long runs per thread) or partial results and a second pass
STRATEGIES = {"serial": dict(serial_rows=1), "tree": dict(serial_rows=10 ** 9, items=10 ** 6),
              "chunked": dict(serial_rows=10 ** 9, items=1)}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_reductions_every_axis(axis, strategy, launch):
    launch(**STRATEGIES[strategy])
    x = rng(4).standard_normal((2, 5, 9)).astype(np.float32)
    x[1, 2, 3] = np.nan if strategy == "tree" else x[1, 2, 3]
    check(lambda t: (tf.reduce_sum(t, axis=axis), tf.reduce_max(t * 2.0, axis=axis)), x, rtol=1e-5,
          traced=axis is None)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_reduction_kinds(strategy, launch):
    launch(**STRATEGIES[strategy])
    r = rng(5)
    x = r.uniform(0.5, 1.5, (2, 37)).astype(np.float32)
    i = r.integers(-3, 4, (2, 37)).astype(np.int8)
    b = r.random((2, 37)) > 0.1
    check(lambda t, n, c: (tf.reduce_min(t, 1), tf.reduce_prod(t, 1), tf.reduce_sum(n, 1), tf.reduce_max(n),
                           tf.reduce_all(c, 1), tf.reduce_any(c), tf.reduce_mean(t)), x, i, b, rtol=1e-5,
          traced=False)


@pytest.mark.parametrize("items", [1, 10 ** 6], ids=["partials", "one-pass"])
@pytest.mark.parametrize("shape,axis", [((300, 5), 0), ((7, 40, 3), 1), ((40, 2, 3), 0), ((6, 30, 2), (0, 1))],
                         ids=str)
def test_coalesced_reductions(shape, axis, items, launch):
    """Innermost axes kept, few rows: consecutive threads read consecutive elements (each every nc-th of its
    row), several blocks, partial results combined by a second pass, elementwise outputs written on the way."""
    from jaxish.backends.cuda import kernels
    launch(serial_rows=10 ** 9, items=items)
    x = rng(12).standard_normal(shape).astype(np.float32)
    sources = []
    real = kernels.coalesced_source
    try:
        kernels.coalesced_source = lambda g, partial: sources.append(partial) or real(g, partial)
        check(lambda t: (tf.reduce_sum(t, axis=axis), tf.reduce_max(t, axis=axis), tf.exp(t) * 2.0,
                         tf.reduce_sum(tf.exp(t), axis=axis)), x, rtol=1e-5, traced=True)
    finally:
        kernels.coalesced_source = real
    assert sources and all(sources) == (items == 1)


def test_reduction_with_elementwise_outputs():
    """A fused group that writes an elementwise member and reduces it (softmax's pieces)."""
    x = rng(6).standard_normal((4, 21)).astype(np.float32)

    def f(t):
        e = tf.exp(t - tf.reduce_max(t, axis=1, keepdims=True))
        return e, e / tf.reduce_sum(e, axis=1, keepdims=True)
    check(f, x, rtol=1e-5)


def test_empty_reductions():
    x = np.zeros((0, 4), np.float32)
    check(lambda t: (tf.reduce_sum(t, 0), tf.reduce_max(t, 0), tf.reduce_sum(t, 1)), x)


# ---------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["small", "tiled"])
@pytest.mark.parametrize("shapes", [[(5, 7), (7, 6)], [(2, 3, 9), (9, 5)], [(2, 1, 4, 3), (3, 3, 2)],
                                    [(3, 0), (0, 2)]], ids=str)
def test_matmul(shapes, kind, launch):
    launch(small_matmul=0 if kind == "tiled" else 10 ** 9)
    r = rng(7)
    a, b = [r.standard_normal(s).astype(np.float32) for s in shapes]
    check(lambda x, y: x @ y, a, b, rtol=1e-5, atol=1e-5, traced=kind == "tiled")


def test_matmul_float64_and_int():
    r = rng(8)
    check(lambda x, y: x @ y, r.standard_normal((4, 6)), r.standard_normal((6, 3)), rtol=1e-12)
    check(lambda x, y: x @ y, r.integers(-9, 9, (4, 6)).astype(np.int8), r.integers(-9, 9, (6, 3)).astype(np.int8))


# ---------------------------------------------------------------------------
# shape ops, gather, arg reductions, iota, random
# ---------------------------------------------------------------------------
def test_shape_ops():
    x = rng(9).standard_normal((3, 4, 5)).astype(np.float32)
    check(lambda t: (tf.transpose(t, (2, 0, 1)), tf.transpose(t[0]), tf.reshape(t, (5, 12)), t[1:, ::-2, 3],
                     tf.concat([t, t * 2.0], axis=1), tf.tile(t[:, :1], (1, 2, 1)), tf.expand_dims(t, 0),
                     tf.stack([t[0], t[1]])), x)


def test_gather_and_gradients():
    x = rng(10).standard_normal((4, 6)).astype(np.float32)
    idx = np.array([5, -1, 0, 2, 5], np.int32)
    check(lambda t, i: (tf.gather(t, i, axis=1), tf.gather(t, i[2:4])), x, idx)
    xs = on_gpu(x)
    g = tf.grad(lambda t: tf.reduce_sum(tf.gather(t, on_gpu(idx), axis=1) * 2.0))(xs)
    assert g.device == GPU
    want = np.zeros_like(x)
    np.add.at(want, (slice(None), idx % 6), 2.0)
    np.testing.assert_allclose(g.numpy(), want)


def test_gather_out_of_range_gives_zeros_on_the_gpu():
    """As TensorFlow's GPU kernels (a kernel cannot raise); the CPU raises IndexError."""
    out = tf.gather(on_gpu([1.0, 2.0, 3.0]), on_gpu(np.array([0, 7], np.int32)))
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.0])


def test_arg_reductions_and_iota():
    x = rng(11).standard_normal((5, 7)).astype(np.float32)
    x[2, 4] = np.nan
    check(lambda t: (tf.argmax(t, 1), tf.argmin(t, 0), tf.argmax(t, 0, output_type=tf.int32)), x)
    with tf.device("/gpu:0"):
        r = tf.range(3, 40, 4)
        o = tf.one_hot(on_gpu(np.array([0, 3, 1], np.int32)), 4)
    assert r.device == GPU == o.device
    np.testing.assert_array_equal(r.numpy(), np.arange(3, 40, 4))
    np.testing.assert_array_equal(o.numpy(), np.eye(4, dtype=np.float32)[[0, 3, 1]])


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_random_uniform_matches_the_cpu(dtype):
    """Philox on the GPU draws the CPU's numbers (the same functions, compiled for the device)."""
    tf.random.set_seed(7)
    want = tf.random.uniform((5, 67), dtype=dtype)
    tf.random.set_seed(7)
    with tf.device("/gpu:0"):
        got = tf.random.uniform((5, 67), dtype=dtype)
    assert got.device == GPU
    np.testing.assert_array_equal(got.numpy(), want.numpy())
