"""jaxish against TensorFlow on the constructs of the seed chapter and their natural variations.

Every expected value, dtype, repr and exception class below was printed by TensorFlow 2.21 (CPU, NumPy 2.4)
running the same snippet with ``import tensorflow as tf``; none is computed by jaxish. Known, deliberate
differences (``jaxish.`` instead of ``tf.`` in reprs, JAX's promotion of mixed tensor dtypes) are not
asserted here.
"""
import warnings

import numpy as np
import pytest

import jaxish as tf

F32 = np.float32


# ---------------------------------------------------------------------------
# random: TensorFlow's eager streams after set_seed (the chapter prints them)
# ---------------------------------------------------------------------------
def test_chapter_uniform_draws_are_tensorflows():
    tf.random.set_seed(42)
    x = tf.random.uniform((3, 2))
    e = tf.random.uniform((3, 2), dtype=x.dtype)
    np.testing.assert_array_equal(x.numpy(), np.array(
        [[0.6645621, 0.44100678], [0.3528825, 0.46448255], [0.03366041, 0.68467236]], F32))
    np.testing.assert_array_equal(e.numpy(), np.array(
        [[0.68789124, 0.48447883], [0.9309944, 0.252187], [0.73115396, 0.89256823]], F32))


def test_chapter_variable_updates_print_tensorflows_values():
    tf.random.set_seed(42)
    v = tf.Variable(tf.random.uniform((3, 2)))
    v.assign(tf.square(v))
    v.assign_sub(1 * tf.ones_like(v, dtype=v.dtype))
    np.testing.assert_array_equal(v.numpy(), np.array(
        [[-0.5583572387695312, -0.8055130243301392], [-0.8754739165306091, -0.7842559814453125],
         [-0.9988669753074646, -0.5312237739562988]], F32))
    assert repr(v).endswith("numpy=\narray([[-0.55835724, -0.805513  ],\n       [-0.8754739 , -0.784256  ],\n"
                            "       [-0.998867  , -0.5312238 ]], dtype=float32)>")


@pytest.mark.parametrize("dtype, kwargs, want", [
    ("float64", {}, [0.6756311342741672, 0.03721592584000755, 0.42797528382765093, 0.8848389852040479,
                     0.2705259492857224]),
    ("float16", {}, [0.845703125, 0.7392578125, 0.1083984375, 0.150390625, 0.24609375]),
    ("float32", {"minval": -2.0, "maxval": 3.0}, [2.172268867492676, -0.8331669569015503, 2.3982596397399902,
                                                    -1.766753911972046, 2.017484188079834]),
    ("int64", {"minval": -5, "maxval": 100}, [69, 80, 61, 61, 74]),
])
def test_uniform_dtypes_and_ranges_are_tensorflows(dtype, kwargs, want):
    tf.random.set_seed(7)
    got = tf.random.uniform((5,), dtype=dtype, **kwargs)
    assert got.dtype.name == dtype
    np.testing.assert_array_equal(got.numpy(), np.array(want, dtype))


def test_uniform_int32_is_tensorflows():
    tf.random.set_seed(7)
    got = tf.random.uniform((9,), minval=0, maxval=10, dtype=tf.int32)
    assert got.numpy().tolist() == [4, 5, 7, 8, 4, 7, 8, 8, 7]


def test_normal_is_tensorflows():
    tf.random.set_seed(3)
    got = tf.random.normal((7,)).numpy()
    want = np.array([-0.8296372294425964, -1.8266271352767944, 0.12519359588623047, 1.1770081520080566,
                     -1.1696676015853882, -0.009324497543275356, 1.7336212396621704], F32)
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)  # TensorFlow's logf/sinf: within an ulp
    tf.random.set_seed(3)
    got64 = tf.random.normal((5,), dtype=tf.float64).numpy()
    np.testing.assert_allclose(got64, [-0.42362075848568365, 2.271344179087035, 0.6824860950771089,
                                       2.482783016005248, -1.5302578657613284], rtol=1e-15)


def test_op_seed_continues_its_stream_and_set_seed_restarts_it():
    tf.random.set_seed(1)
    a, b = tf.random.uniform((3,), seed=5), tf.random.uniform((3,), seed=5)
    np.testing.assert_array_equal(a.numpy(), np.array([0.19560599327087402, 0.029860854148864746,
                                                       0.3649308681488037], F32))
    np.testing.assert_array_equal(b.numpy(), np.array([0.4430607557296753, 0.8878122568130493,
                                                       0.529292106628418], F32))
    tf.random.set_seed(1)
    np.testing.assert_array_equal(tf.random.uniform((3,), seed=5).numpy(), a.numpy())


def test_scalar_uniform_has_shape_scalar():
    tf.random.set_seed(5)
    u = tf.random.uniform(())
    assert u.shape == () and repr(u) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=0.6263930797576904>"


def test_chapter_linear_regression_prints_tensorflows_losses(capsys):
    tf.random.set_seed(42)
    tf.random.uniform((3, 2))
    tf.random.uniform((3, 2))
    true_weights = tf.constant(list(range(5)), dtype=tf.float32)[:, tf.newaxis]
    x = tf.constant(tf.random.uniform((32, 5)), dtype=tf.float32)
    y = tf.constant(x @ true_weights, dtype=tf.float32)
    weights = tf.Variable(tf.random.uniform((5, 1)), dtype=tf.float32)
    for iteration in range(1001):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, weights)))
        if not (iteration % 100):
            print('mean squared loss at iteration {:4d} is {:5.4f}'.format(iteration, loss))
        weights.assign_add(-0.05 * tape.gradient(loss, weights))
    losses = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert losses == ["15.1603", "0.2243", "0.0586", "0.0161", "0.0046", "0.0013", "0.0004", "0.0001", "0.0000",
                      "0.0000", "0.0000"]
    np.testing.assert_allclose(weights.numpy().ravel(), [3.1751457e-03, 1.0003914, 2.002207, 2.999285, 3.9944589],
                               rtol=2e-6, atol=1e-6)  # summation order differs from TensorFlow's kernels


# ---------------------------------------------------------------------------
# reprs, .numpy() and Python conversions
# ---------------------------------------------------------------------------
def test_scalar_reprs_use_the_python_number():
    assert repr(tf.constant(0.1)) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=0.10000000149011612>"
    assert repr(tf.constant(1 / 3)) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=0.3333333432674408>"
    assert repr(tf.constant(0.1, dtype=tf.float16)) == \
        "<jaxish.Tensor: shape=(), dtype=float16, numpy=0.0999755859375>"
    assert repr(tf.Variable(0.1)) == "<jaxish.Variable 'Variable:0' shape=() dtype=float32, numpy=0.10000000149011612>"
    assert str(tf.constant(0.1)) == "jaxish.Tensor(0.1, shape=(), dtype=float32)"
    assert repr(tf.constant(5.0)) == "<jaxish.Tensor: shape=(), dtype=float32, numpy=5.0>"


def test_numpy_of_a_scalar_is_a_numpy_scalar():
    s = tf.constant(1.5).numpy()
    assert type(s) is np.float32 and s == 1.5
    assert type(tf.constant(1, dtype=tf.int8).numpy()) is np.int8
    assert type(tf.Variable(2.0).numpy()) is np.float32
    assert type(tf.constant([1.0]).numpy()) is np.ndarray


def test_python_conversions_follow_numpy():
    with pytest.raises(ValueError):
        bool(tf.constant([True, False]))
    assert bool(tf.constant([True])) is True
    with pytest.raises(TypeError):
        float(tf.constant([2.5]))
    with pytest.raises(TypeError):
        int(tf.Variable([3]))
    assert float(tf.constant(2.5)) == 2.5 and int(tf.constant(3)) == 3


# ---------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------
def test_python_floats_never_become_integers_nor_ints_booleans():
    with pytest.raises(TypeError):
        tf.constant([1.0, 2.0], dtype=tf.int32)
    with pytest.raises(TypeError):
        tf.constant([1, 0], dtype=tf.bool)
    assert tf.constant([True, False], dtype=tf.int32).numpy().tolist() == [1, 0]
    assert tf.constant(np.array([1.7, -2.7]), dtype=tf.int32).numpy().tolist() == [1, -2]


def test_constant_of_a_tensor_keeps_its_dtype():
    with pytest.raises(TypeError):
        tf.constant(tf.constant([1, 2]), dtype=tf.float32)
    with pytest.raises(TypeError):
        tf.constant([1, 2, 3], shape=(2, 2))
    with pytest.raises(ValueError):
        tf.convert_to_tensor(tf.constant([1, 2]), dtype=tf.float32)
    with pytest.raises(ValueError):
        tf.Variable(tf.constant([1, 2]), dtype=tf.float32)
    with pytest.raises(ValueError):
        tf.Variable(tf.constant([0.5]), dtype=tf.float64)


def test_linspace_of_integer_bounds_is_floating():
    assert tf.linspace(0, 10, 5).dtype == tf.float64
    assert tf.linspace(tf.constant(0, tf.int8), 10, 3).dtype == tf.float32
    assert tf.linspace(0.0, 10, 3).dtype == tf.float32
    np.testing.assert_array_equal(tf.linspace(0, 10, 5).numpy(), [0.0, 2.5, 5.0, 7.5, 10.0])


def test_unhashable_message_names_ref():
    with pytest.raises(TypeError, match=r"^Tensor is unhashable\. Instead, use tensor\.ref\(\) as the key\.$"):
        hash(tf.constant(1.0))
    with pytest.raises(TypeError, match=r"^Variable is unhashable\. Instead, use variable\.ref\(\) as the key"):
        {tf.Variable(1.0): 1}


def test_small_api_names():
    assert (tf.is_tensor(tf.constant(1)), tf.is_tensor(np.ones(1)), tf.is_tensor(tf.Variable(1.0))) == \
        (True, False, True)
    assert tf.float32.size == 4 and tf.float64.size == 8 and tf.int8.size == 1
    assert tf.Variable([[1.0]]).get_shape() == (1, 1) and tf.zeros((2, 3)).get_shape().as_list() == [2, 3]


# ---------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------
def test_numpy_operands_take_the_tensors_dtype():
    f = tf.constant([1.0, 2.0])
    for out in (f + np.array([1.0, 2.0]), np.array([1.0, 2.0]) + f, f + np.float64(1.5), np.float64(2.0) * f,
                tf.add(f, np.array([1.0, 2.0])), tf.maximum(f, np.array([1.5, 1.5])),
                tf.Variable([1.0, 2.0]) + np.array([1.0, 2.0]), f / np.array([2, 4])):
        assert out.dtype == tf.float32
    np.testing.assert_array_equal((f - np.float64(0.5)).numpy(), np.array([0.5, 1.5], F32))
    m = tf.constant([[1.0, 2.0]]) @ np.array([[1.0], [2.0]])
    assert m.dtype == tf.float32 and m.numpy().tolist() == [[5.0]]
    i8 = tf.constant([1, 2], dtype=tf.int8) + np.array([1000, 2])
    assert i8.dtype == tf.int8 and i8.numpy().tolist() == [-23, 4]
    assert (tf.constant([1.0, 2.0], dtype=tf.float16) * [1.0, 2.0]).dtype == tf.float16


def test_equality_of_unbroadcastable_shapes_is_one_boolean():
    a, b = tf.constant([1, 2]), tf.constant([1, 2, 3])
    eq, ne = a == b, a != b
    assert eq.shape == () and eq.dtype == tf.bool and not bool(eq)
    assert ne.shape == () and bool(ne)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.equal(a, b)


@pytest.mark.parametrize("call, base", [
    (lambda: tf.ones((2, 3)) + tf.ones((2, 4)), ValueError),
    (lambda: tf.matmul(tf.ones((2, 3)), tf.ones((2, 3))), ValueError),
    (lambda: tf.ones((2, 3)) @ tf.ones((2, 3)), ValueError),
    (lambda: tf.reshape(tf.range(6), (4, 2)), ValueError),
    (lambda: tf.concat([tf.ones((2, 2)), tf.zeros((1, 3))], 0), ValueError),
    (lambda: tf.stack([tf.constant([1, 2]), tf.constant([3, 4, 5])]), ValueError),
    (lambda: tf.reduce_sum(tf.ones((2, 3)), axis=2), ValueError),
    (lambda: tf.sqrt(tf.constant([4, 9])), TypeError),
    (lambda: tf.reduce_all(tf.constant([1, 0])), TypeError),
    (lambda: tf.constant([1, 2]) ** -1, ValueError),
    (lambda: tf.constant([True]) + tf.constant([False]), TypeError),
    (lambda: tf.Variable([1.0, 2.0]).assign_add(1.0), ValueError),
])
def test_eager_op_errors_are_invalid_argument_errors(call, base):
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        call()
    assert isinstance(e.value, base) and isinstance(e.value, tf.errors.OpError)
    assert type(e.value).__name__ == "InvalidArgumentError"


@pytest.mark.parametrize("call, base", [
    (lambda t: t[5], IndexError),
    (lambda t: t[-4], IndexError),
    (lambda t: t[0, 0], IndexError),
    (lambda t: t[::0], ValueError),
])
def test_eager_index_errors_are_invalid_argument_errors(call, base):
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        call(tf.range(3))
    assert isinstance(e.value, base)
    with pytest.raises(base) as e:
        tf.function(call)(tf.range(3))
    assert not isinstance(e.value, tf.errors.InvalidArgumentError)


def test_traced_op_errors_stay_value_errors():
    with pytest.raises(ValueError) as e:
        tf.function(lambda a, b: a + b)(tf.ones((2, 3)), tf.ones((2, 4)))
    assert not isinstance(e.value, tf.errors.InvalidArgumentError)


def test_new_math_names():
    np.testing.assert_array_equal(tf.round(tf.constant([0.5, 1.5, 2.5, -1.5])).numpy(),
                                  np.array([0.0, 2.0, 2.0, -2.0], F32))
    np.testing.assert_array_equal(tf.math.ceil(tf.constant([0.5, -1.5])).numpy(), np.array([1.0, -1.0], F32))
    np.testing.assert_allclose(tf.math.reduce_std(tf.constant([1.0, 2.0, 3.0, 4.0])).numpy(), 1.1180340051651,
                               rtol=1e-7)
    assert tf.math.reduce_variance(tf.constant([1.0, 2.0, 3.0, 4.0])).numpy() == 1.25
    np.testing.assert_array_equal(tf.math.divide_no_nan(tf.constant([1.0, 2.0]), tf.constant([0.0, 2.0])).numpy(),
                                  np.array([0.0, 1.0], F32))
    assert tf.norm(tf.constant([3.0, 4.0])).numpy() == 5.0


def test_divide_no_nan_gradient_is_finite():
    x, y = tf.Variable([1.0, 2.0]), tf.Variable([0.0, 2.0])
    with tf.GradientTape() as tape:
        z = tf.reduce_sum(tf.math.divide_no_nan(x, y))
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_array_equal(gx.numpy(), np.array([0.0, 0.5], F32))
    np.testing.assert_array_equal(gy.numpy(), np.array([0.0, -0.5], F32))


# ---------------------------------------------------------------------------
# Variables and tapes
# ---------------------------------------------------------------------------
def test_assign_read_value_false_returns_none():
    v = tf.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0], read_value=False) is None
    assert v.assign_add([1.0, 1.0], read_value=False) is None
    assert v.assign_sub([1.0, 1.0], read_value=False) is None
    assert v.numpy().tolist() == [3.0, 4.0]


def test_assign_dtype_mismatch_is_a_value_error_too():
    v = tf.Variable([1.0, 2.0])
    with pytest.raises(ValueError):
        v.assign(tf.constant([1, 2]))
    with pytest.raises(TypeError):
        tf.Variable([1, 2]).assign([1.5, 2.0])


def test_unconnected_gradients_enum():
    a, b = tf.Variable(1.0), tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = a * 2
    ga, gb = tape.gradient(y, [a, b], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert ga.numpy() == 2.0 and gb.numpy() == 0.0 and gb.dtype == tf.float32


def test_gradient_of_none_target_is_a_type_error():
    x = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        x * 2
    with pytest.raises(TypeError):
        tape.gradient(None, x)


def test_integer_source_gives_none():
    x = tf.constant(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
    assert tape.gradient(y, x) is None


# ---------------------------------------------------------------------------
# a nested list holding tensors is stacked (TensorFlow's auto-packing): differentiable and traceable
# ---------------------------------------------------------------------------
def test_lists_of_tensors_are_packed_and_differentiated():
    x = tf.constant(2.0)
    t = tf.constant([1.0, 1.0])
    with tf.GradientTape() as g:       # TF: d/dx sum(t * [x, 3x]) = 4
        g.watch(x)
        y = tf.reduce_sum(t * [x, x * 3.0])
    assert float(g.gradient(y, x)) == 4.0
    with tf.GradientTape() as g:       # TF: convert_to_tensor([[x, 2x], [1.0, 3]]) packs; gradient 3
        g.watch(x)
        y = tf.reduce_sum(tf.convert_to_tensor([[x, 2 * x], [1.0, 3]]))
    assert float(g.gradient(y, x)) == 3.0
    v = tf.Variable(3.0)
    with tf.GradientTape() as g:
        y = tf.reduce_sum(t * [v, 2 * v])
    assert float(g.gradient(y, v)) == 3.0
    # traced and under grad: the list holds tracers
    assert float(tf.trace(lambda a: tf.reduce_sum(tf.convert_to_tensor([a, 2 * a])))(x)) == 6.0
    assert float(tf.grad(lambda a: tf.reduce_sum(t * [a, a * a]))(x)) == 5.0
    assert float(tf.grad(lambda a: tf.reduce_sum([a, a * a] * t))(x)) == 5.0
    np.testing.assert_array_equal((t + [x, 1.0]).numpy(), np.array([3.0, 2.0], F32))
    assert tf.convert_to_tensor([x, 1]).dtype == tf.float32 and tf.convert_to_tensor([1, x]).dtype == tf.float32
    # TF: "Tensor conversion requested dtype float32 for Tensor with dtype int32"
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        t + [x, tf.constant(1)]
