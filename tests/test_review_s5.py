"""Regressions found by the adversarial review of session 5's changes (round, ...).

References are NumPy's values (``np.round`` rounds halves to even, as ``tf.round``) or written literally.
"""
import numpy as np
import pytest

import jaxish as tf


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_keeps_infinities_and_the_sign_of_zero(mode, dtype):
    # tf.round(inf) is inf (x - floor(x) is NaN there: it was NaN), tf.round(-0.4) is -0.0 (it was +0.0);
    # values at and above 2**nmant are integers already and come back unchanged
    big = float(2 ** np.finfo(dtype).nmant)
    xs = np.array([np.inf, -np.inf, np.nan, -0.5, -0.4, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, 0.7, -1.2,
                   big + 2, -(big + 2), big - 0.5, big / 2 + 0.5], dtype)
    f = tf.round if mode == "eager" else tf.trace(tf.round)
    got = np.asarray(f(tf.constant(xs)))
    ref = np.round(xs)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(ref))


def test_round_has_a_zero_gradient_everywhere():
    # a step function: 0 everywhere, also where the input is large or infinite
    x = tf.constant(np.array([0.3, 2.5, -1.5, 2.0 ** 30, np.inf], np.float32))
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(tf.round(x))
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), np.zeros(5, np.float32))


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize("ord_", [1, np.inf, "fro", "euclidean"])
def test_norm_over_a_pair_of_axes_is_the_matrix_norm(mode, ord_):
    # tf.norm(x, ord=1, axis=(0, 1)) is the largest column sum of |x| (9 here), ord=inf the largest row sum (15);
    # both were the sum / max of every |x| (21 and 6)
    a = np.array([[1., -2., 3.], [4., 5., -6.]], np.float32)
    b = np.random.default_rng(1).standard_normal((3, 2, 4)).astype(np.float32)
    np_ord = "fro" if ord_ == "euclidean" else ord_
    for x, axis in ((a, (0, 1)), (a, (1, 0)), (a, [-2, -1]), (b, (0, 2)), (b, (2, 0))):
        for keep in (False, True):
            def f(t, axis=axis, keep=keep):
                return tf.norm(t, ord=ord_, axis=axis, keepdims=keep)
            got = np.asarray((f if mode == "eager" else tf.trace(f))(tf.constant(x)))
            ref = np.linalg.norm(x.astype(np.float64), ord=np_ord, axis=tuple(axis), keepdims=keep)
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=1e-6)
    assert float(tf.norm(tf.constant(a), ord=1, axis=(0, 1))) == 9.0
    assert float(tf.norm(tf.constant(a), ord=np.inf, axis=(0, 1))) == 15.0


def test_spectral_matrix_norm_is_refused_not_approximated():
    with pytest.raises(ValueError, match="norm: .*ord=2"):
        tf.norm(tf.constant(np.eye(2, dtype=np.float32)), ord=2, axis=(0, 1))
    with pytest.raises(ValueError, match="norm: .*two different axes"):
        tf.norm(tf.constant(np.eye(2, dtype=np.float32)), axis=(1, -1))


def test_tf_random_kernel_table_is_bounded_and_keeps_reused_streams(monkeypatch):
    # after set_seed every eager draw has a new seed pair: the table of streams grew by one entry per draw,
    # forever. Bounded now; a pair drawn again (an op seed) keeps its place, so it continues its stream
    from jaxish import tf_random
    monkeypatch.setattr(tf_random, "_MAX_KERNELS", 8)
    tf.random.set_seed(7)
    first = tf.random.uniform((3,), seed=5).numpy()
    for _ in range(20):
        tf.random.uniform((2,))
        second = tf.random.uniform((3,), seed=5).numpy()  # the same kernel: the stream continues
        assert not np.array_equal(second, first)
        first = second
    assert len(tf_random._STATE.kernels) <= 8
    # the same calls with an unbounded table give the same numbers (nothing reused was dropped)
    monkeypatch.setattr(tf_random, "_MAX_KERNELS", 2**16)
    tf.random.set_seed(7)
    ref = tf.random.uniform((3,), seed=5).numpy()
    for _ in range(20):
        tf.random.uniform((2,))
        ref = tf.random.uniform((3,), seed=5).numpy()
    np.testing.assert_array_equal(ref, second)


@pytest.mark.parametrize("op", ["eq", "ne"])
def test_comparing_with_a_list_of_traced_values(op):
    # x == [y, y] reads the list's shape first (TensorFlow's unbroadcastable == is one False): with traced
    # elements that read raised from inside NumPy (the error pointed at numpy/_core/fromnumeric.py); the list
    # is now stacked (TensorFlow's auto-packing), traced or not
    def f(x, y):
        return (x == [y, y]) if op == "eq" else (x != [y, y])
    x = tf.constant([1.0, 2.0])
    want = [False, True] if op == "eq" else [True, False]
    assert tf.trace(f)(x, tf.constant(2.0)).numpy().tolist() == want
    assert (f(x, tf.constant(2.0))).numpy().tolist() == want          # eagerly: elementwise
    assert (x == [1.0, 2.0, 3.0]).numpy().item() is False                # unbroadcastable: one False (TF)
    assert (x != [1.0, 2.0, 3.0]).numpy().item() is True


@pytest.mark.parametrize("mode", ["eager", "trace"])
def test_a_list_operand_that_does_not_fit_the_tensors_dtype_names_the_op(mode):
    # u8 + [300, 1, 1]: the list takes the tensor's dtype (TensorFlow's conversion), 300 does not fit in uint8;
    # the error named 'constant' (an inner op the user never called) instead of 'add'
    u8 = tf.constant([1, 2, 3], dtype=tf.uint8)

    def f():
        return u8 + [300, 1, 1]
    with pytest.raises(ValueError, match=r"^add: values out of range for uint8"):
        f() if mode == "eager" else tf.trace(f)()
    with pytest.raises(ValueError, match=r"^multiply: values out of range for uint8"):
        tf.multiply([1, -1, 1], u8) if mode == "eager" else tf.trace(lambda: tf.multiply([1, -1, 1], u8))()
    out = (lambda: u8 + [250, 1, 1])() if mode == "eager" else tf.trace(lambda: u8 + [250, 1, 1])()
    assert out.dtype == tf.uint8 and out.numpy().tolist() == [251, 3, 4]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("op", ["relu", "softplus"])
def test_eager_relu_and_softplus_without_a_tape_match_the_differentiable_form_bitwise(op, dtype):
    # eagerly with no tape they take a shorter form (the gradient-correct one cost 2.4x the eager time): its
    # values must be the same bits as under a tape (the gradient-correct form), infinities and zeros too (NaN
    # stays NaN);
    # the reference values are NumPy's
    fn = getattr(tf.nn, op)
    info = np.finfo(dtype)
    xs = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, info.tiny, -info.tiny, info.smallest_subnormal, 1e-3,
                   -1e-3, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 15.0, -15.0, 30.0, -30.0, info.max, -info.max], dtype)
    x = tf.constant(xs)
    eager = fn(x).numpy()
    with tf.GradientTape() as t:
        t.watch(x)
        taped = fn(x).numpy()
    nan = np.isnan(xs)
    np.testing.assert_array_equal(np.isnan(eager), nan)
    np.testing.assert_array_equal(np.isnan(taped), nan)   # (a NaN's sign bit is not compared)
    np.testing.assert_array_equal(eager[~nan].view(np.uint8), taped[~nan].view(np.uint8))
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.maximum(xs, 0) if op == "relu" else np.logaddexp(xs.astype(np.float64), 0).astype(dtype)
    ref = np.where(np.isnan(xs), np.nan, ref).astype(dtype)
    rtol = 0 if op == "relu" else 4 * info.eps
    np.testing.assert_allclose(eager, ref, rtol=rtol, atol=0 if op == "relu" else 4 * info.smallest_subnormal)
    if op == "relu":
        assert not np.signbit(eager[4])  # relu(-0.0) is +0.0, as tf.nn.relu's


def test_eager_invalid_argument_errors_pickle_as_their_own_class():
    # the TypeError and IndexError flavours of InvalidArgumentError are named 'InvalidArgumentError' (what a
    # traceback shows), which pickle resolved to the ValueError one: PicklingError (a worker process could
    # not send the error back). They round-trip now, still TypeError / IndexError
    import pickle

    from jaxish.errors import InvalidArgumentError
    for fn, base in ((lambda: tf.nn.softplus(tf.constant([1])), TypeError),
                     (lambda: tf.constant([1.0])[5], IndexError),
                     (lambda: tf.reshape(tf.constant([1.0, 2.0]), (3,)), ValueError)):
        with pytest.raises(InvalidArgumentError) as info:
            fn()
        e = pickle.loads(pickle.dumps(info.value))
        assert isinstance(e, InvalidArgumentError) and isinstance(e, base) and type(e) is type(info.value)
        assert str(e) == str(info.value)
