"""Adversarial review of issue 7's runtime fixes (items 10, 12, 13): the defects found, as regressions."""
import itertools
import sys

import numpy as np
import pytest
from thread_helpers import in_threads

import jaxish as tf

_DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32, np.float64]


# ---------------------------------------------------------------------------
# item 10: no public path hands out a Tensor's memory for writing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", _DTYPES, ids=lambda d: np.dtype(d).name)
def test_asarray_view_cannot_be_made_writeable(dtype):
    base = np.arange(6).astype(dtype).reshape(2, 3)
    for t in (tf.constant(base), tf.transpose(tf.constant(base)), tf.constant(base)[0]):
        expected = t.numpy()
        view = np.asarray(t)
        np.testing.assert_array_equal(view, expected)
        assert view.dtype == expected.dtype and view.shape == expected.shape
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view.flags.writeable = True
        np.testing.assert_array_equal(t.numpy(), expected)


def test_constant_output_of_a_compiled_graph_cannot_be_changed_through_a_view(backend):
    """The cpu backend returns the same array for a constant output on every call: a writeable view of it
    would change the results of later calls."""
    f = tf.trace(lambda x: (x, tf.constant(6.0) + 1.0))
    _, c = f(np.ones(2))
    view = np.asarray(c)
    with pytest.raises(ValueError):
        view.flags.writeable = True
    assert float(f(np.ones(2))[1]) == 7.0
    assert float(c) == 7.0


def test_np_array_of_a_variable_is_a_writeable_copy():
    """``np.array`` copies (NumPy's default ``copy=True``), as for a Tensor and a tf.Variable."""
    v = tf.Variable([1.0, 2.0])
    a = np.array(v)
    assert a.flags.writeable
    a[0] = 50.0
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    assert not np.asarray(v).flags.writeable  # no copy asked: a read-only view


# ---------------------------------------------------------------------------
# item 13: nested random-using traced calls draw independent streams
# ---------------------------------------------------------------------------
@tf.trace
def _leaf():
    return tf.random.uniform((64,), dtype=tf.float64)


@tf.trace
def _pair():
    return _leaf(), _leaf()


def test_calls_nested_in_a_different_order_draw_different_numbers(backend):
    """Keys derived by a plain sum made call 1 inside call 0 and call 0 inside call 1 share a stream."""
    @tf.trace
    def outer():
        return _pair(), _pair()

    tf.random.set_seed(1)
    (a0, a1), (b0, b1) = outer()
    rows = np.stack([a0.numpy(), a1.numpy(), b0.numpy(), b1.numpy()])
    for i, j in itertools.combinations(range(4), 2):
        assert not np.array_equal(rows[i], rows[j]), (i, j)


def test_a_tree_of_nested_random_calls_is_independent_and_reproducible(backend):
    @tf.trace
    def level2():
        return tf.stack([_leaf(), tf.random.uniform((64,), dtype=tf.float64), _leaf()])

    @tf.trace
    def level3():
        return tf.concat([level2(), _leaf()[None], level2()], axis=0)

    @tf.trace
    def tree():
        return tf.concat([level3(), level3(), level2()], axis=0)

    tf.random.set_seed(11)
    rows = tree().numpy()
    assert rows.shape == (17, 64)
    assert len({r.tobytes() for r in rows}) == len(rows)
    # independent: no two streams correlated beyond chance (|r| < 0.5 for 64 uniform samples: p < 1e-5)
    corr = np.corrcoef(rows)
    assert np.max(np.abs(corr - np.eye(len(rows)))) < 0.5
    tf.random.set_seed(11)
    np.testing.assert_array_equal(tree().numpy(), rows)


# ---------------------------------------------------------------------------
# item 12: more threads
# ---------------------------------------------------------------------------
@pytest.fixture
def _frequent_thread_switches():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _in_threads(works):
    in_threads(lambda i: works[i](), len(works), timeout=300)


def test_nested_traced_functions_traced_from_several_threads(backend, _frequent_thread_switches):
    """Outer traces (holding its per-signature lock) trace inner while other threads call inner directly."""
    scale = 1.0 + float(np.random.default_rng().integers(1, 2**20)) / 2**21

    @tf.trace
    def inner(x):
        return tf.tanh(x) * scale

    @tf.trace
    def outer(x):
        return inner(x) + inner(x * 2.0)

    x = np.linspace(-1.0, 1.0, 5)

    def call(fn, ref):
        def work():
            for _ in range(5):
                np.testing.assert_allclose(fn(x).numpy(), ref, rtol=1e-15)
        return work
    ref_in, ref_out = np.tanh(x) * scale, np.tanh(x) * scale + np.tanh(2 * x) * scale
    _in_threads([call(outer, ref_out), call(inner, ref_in)] * 3)
    assert outer.cache_info().misses == 1 and inner.cache_info().misses == 1


# ---------------------------------------------------------------------------
# NumPy scalar arguments keep their dtype (np.float64 subclasses float; it was a weak float32)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("scalar", [np.float64(1.0), np.float32(1.0), np.float16(1.0), np.int64(2**40)],
                         ids=lambda s: type(s).__name__)
def test_numpy_scalar_arguments_keep_their_dtype(backend, scalar):
    small = 1e-10 if isinstance(scalar, np.floating) else 3
    expected = scalar + small  # NumPy 2: a NumPy scalar is strongly typed, a Python scalar weak
    traced = tf.trace(lambda x: x + small)(scalar)
    eager = tf.add(scalar, small)
    for r in (traced, eager):
        assert r.numpy().dtype == expected.dtype
        assert r.numpy().item() == expected.item()
    f = tf.trace(lambda x: x)
    assert f(scalar).dtype == f(np.asarray(scalar)).dtype == np.asarray(scalar).dtype
