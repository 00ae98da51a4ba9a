"""How an eager GradientTape records (the structure trie and its per-node hints) and the eager fast paths of
the seed's training loop (reduce_mean of every element, reflected scalar operators, Variable.assign_add,
tape.gradient as an API boundary), checked against NumPy references in float64."""
import os

import numpy as np
import pytest

import jaxish as tf
from jaxish import tape as tape_mod
from jaxish.core import Tensor

RNG = np.random.default_rng(7)
X = RNG.random((32, 5), dtype=np.float32)
Y = RNG.random((32, 1), dtype=np.float32)


def _linreg_grad(w):
    """d/dw mean((y - x @ w)^2), float64."""
    x, y, w = X.astype(np.float64), Y.astype(np.float64), w.astype(np.float64)
    return -2.0 / y.size * x.T @ (y - x @ w)


def test_seed_loop_records_its_structure_on_the_trie():
    x, y = tf.constant(X), tf.constant(Y)
    w = tf.Variable(RNG.random((5, 1), dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w)))
    # slots: x 0, the read of w 1, matmul 2, y 3, sub 4, mul 5, reduce_sum 6, the count 32 7, div 8
    assert [(p.name, ins, first, n) for p, _, ins, first, n in tape._records] == [
        ("matmul", (0, 1), 2, 1), ("sub", (3, 2), 4, 1), ("mul", (4, 4), 5, 1), ("reduce_sum", (5,), 6, 1),
        ("div", (6, 7), 8, 1)]
    assert tape._records[3][1] == {"axes": (0, 1)}
    g = tape.gradient(loss, w)
    np.testing.assert_allclose(g.numpy(), _linreg_grad(w.numpy()), rtol=1e-5, atol=1e-6)


def test_a_training_loop_adds_nothing_to_the_trie_after_its_first_step():
    x, y = tf.constant(X), tf.constant(Y)
    w0 = RNG.random((5, 1), dtype=np.float32)
    w = tf.Variable(w0)
    ref = w0.astype(np.float64)
    for step in range(6):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w)))
        g = tape.gradient(loss, w)
        w.assign_add(-0.05 * g)
        ref = ref - 0.05 * _linreg_grad(ref)
        if step == 1:
            nodes, plans = tape_mod._SHAPES.nodes, tape_mod._SHAPES.plans
    assert (tape_mod._SHAPES.nodes, tape_mod._SHAPES.plans) == (nodes, plans)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_structures_sharing_a_prefix_alternate_correctly():
    # each step leaves the other structure's hint on the shared prefix: the hint must be checked, not trusted
    x = tf.constant(X)
    w = tf.Variable(RNG.random((5, 1), dtype=np.float32))
    v = tf.constant(RNG.random((32, 1), dtype=np.float32))
    for k in range(6):
        with tf.GradientTape() as tape:
            h = tf.linalg.matmul(x, w)
            out = h - v if k % 2 else h * v       # same prefix, then sub or mul (a node of its own each)
            loss = tf.reduce_sum(out * out)
        g = tape.gradient(loss, w).numpy()
        x64, w64, v64 = X.astype(np.float64), w.numpy().astype(np.float64), v.numpy().astype(np.float64)
        if k % 2:
            ref = x64.T @ (2 * (x64 @ w64 - v64))
        else:
            ref = x64.T @ (2 * (x64 @ w64) * v64 * v64)
        np.testing.assert_allclose(g, ref, rtol=1e-5)


def test_equal_avals_of_other_objects_take_the_same_structure():
    # avals equal but not identical (a Tensor built without a cached aval): the hint's identity test fails,
    # the token (compared by equality) finds the same trie node, and the gradient is right
    w = tf.Variable(np.float32([1.5, -2.0, 0.25]))
    shapes = []
    for k in range(4):
        c = Tensor(np.float32([1.0, 2.0, 3.0]) * (k + 1))  # a new aval object each time (computed on use)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * c)
        shapes.append(tape._shape)
        np.testing.assert_array_equal(tape.gradient(loss, w).numpy(), np.float32([1.0, 2.0, 3.0]) * (k + 1))
    assert all(s is shapes[0] for s in shapes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 1)])
def test_reduce_mean_of_every_element_matches_numpy(shape, dtype):
    a = RNG.standard_normal(shape).astype(dtype)
    t = tf.constant(a)
    ref = a.astype(np.float64).mean()
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for _ in range(3):  # the first call fills the per-aval cache, the others use it
        m = tf.reduce_mean(t)
        assert m.dtype == tf.as_dtype(dtype) and m.shape == ()
        np.testing.assert_allclose(m.numpy(), ref, rtol=tol)
    # bitwise the sum divided by the count, as the composition it is
    assert tf.reduce_mean(t).numpy() == (tf.reduce_sum(t) / float(a.size)).numpy()
    # other axes and keepdims after the cache holds this aval
    np.testing.assert_allclose(tf.reduce_mean(t, keepdims=True).numpy(), a.astype(np.float64).mean(keepdims=True),
                               rtol=tol)
    np.testing.assert_allclose(tf.reduce_mean(t, axis=-1).numpy(), a.astype(np.float64).mean(axis=-1), rtol=tol)


def test_reduce_mean_edge_cases_unchanged():
    assert np.isnan(tf.reduce_mean(tf.zeros((0, 3))).numpy())
    assert np.isnan(tf.reduce_mean(tf.zeros((0, 3))).numpy())  # (again: from the cache if it was cached)
    assert tf.reduce_mean(tf.constant(2.5)).numpy() == np.float32(2.5)
    assert tf.reduce_mean(tf.constant([1, 2, 4])).numpy() == 2  # integer mean, truncated
    assert tf.reduce_mean(tf.Variable([1.0, 2.0, 4.5])).numpy() == np.float32(2.5)
    with pytest.raises(TypeError, match=r"^reduce_mean: "):
        tf.reduce_mean(tf.constant([True, False]))
    with pytest.raises(ValueError, match=r"^reduce_mean: "):
        tf.reduce_mean(tf.ones((2, 3)), axis=2)


def test_reduce_mean_gradient_under_a_tape():
    a = RNG.standard_normal((4, 6)).astype(np.float32)
    x = tf.constant(a)
    for _ in range(2):
        with tf.GradientTape() as tape:
            tape.watch(x)
            m = tf.reduce_mean(x)
        np.testing.assert_allclose(tape.gradient(m, x).numpy(), np.full((4, 6), 1 / 24), rtol=1e-6)


@pytest.mark.parametrize("scalar", [2, -3, 0.5, -0.0])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_reflected_operators_with_python_scalars(scalar, dtype):
    a = np.array([1, 2, 5], dtype=dtype)
    t = tf.constant(a)
    if dtype == np.int32 and isinstance(scalar, float):
        # a float scalar with an integer tensor: promoted as the forward op promotes it
        for rop, op in [(lambda: scalar * t, lambda: tf.multiply(scalar, t)),
                        (lambda: scalar - t, lambda: tf.subtract(scalar, t))]:
            r, f = rop(), op()
            assert r.dtype == f.dtype
            np.testing.assert_array_equal(r.numpy(), f.numpy())
        return
    np64 = a.astype(np.float64)
    for r, ref in [(scalar * t, scalar * np64), (scalar - t, scalar - np64), (scalar + t, scalar + np64)]:
        assert r.dtype == tf.as_dtype(dtype) and not r.aval.weak_type
        np.testing.assert_array_equal(r.numpy(), ref.astype(dtype))
    if dtype == np.float32:
        r = scalar / t
        np.testing.assert_allclose(r.numpy(), scalar / np64, rtol=1e-7)
        assert np.signbit((scalar * tf.constant([1.0])).numpy()[0]) == np.signbit(scalar * 1.0)


def test_reflected_operator_errors_name_the_op():
    with pytest.raises(ValueError, match=r"^subtract: "):
        2**40 - tf.constant([1, 2], dtype=tf.int32)


def test_assign_add_and_sub_keep_checks_and_do_not_alias():
    w = tf.Variable(np.float32([1.0, 2.0]))
    old = w.read_value()
    held = w.numpy()
    w.assign_add(tf.constant(np.float32([0.5, 0.25])))
    w.assign_sub(tf.constant(np.float32([1.0, 1.0])))
    np.testing.assert_array_equal(w.numpy(), np.float32([0.5, 1.25]))
    np.testing.assert_array_equal(old.numpy(), np.float32([1.0, 2.0]))  # the old value is untouched
    np.testing.assert_array_equal(held, np.float32([1.0, 2.0]))
    w.assign_add([1.0, 1.0])  # Python floats: converted to the Variable's dtype
    np.testing.assert_array_equal(w.numpy(), np.float32([1.5, 2.25]))
    assert not w.read_value().aval.weak_type and w.dtype == tf.float32
    with pytest.raises(ValueError, match=r"^assign_add: .*shape \(\)"):
        w.assign_add(1.0)  # no broadcasting, as TensorFlow's AssignAddVariableOp
    s = tf.Variable(np.float32(1.0))
    s.assign_add(0.5)  # a weak Python scalar of the Variable's shape
    assert s.numpy() == np.float32(1.5) and s.dtype == tf.float32 and not s.read_value().aval.weak_type
    with pytest.raises(TypeError, match=r"^assign_add: .*float64.*float32"):
        w.assign_add(tf.constant([1.0, 1.0], dtype=tf.float64))
    with pytest.raises(ValueError, match=r"^assign_sub: "):
        w.assign_sub(tf.constant(np.float32([1.0, 1.0, 1.0])))
    np.testing.assert_array_equal(w.numpy(), np.float32([1.5, 2.25]))  # unchanged by the failed updates


def test_assign_add_under_a_tape_is_recorded_as_before():
    w = tf.Variable(np.float32([1.0, 2.0]))
    x = tf.constant(np.float32([3.0, 4.0]))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        w.assign_add(x * 2.0)
        y = tf.reduce_sum(w * w)
    # as in TensorFlow, an assignment cuts the tape: y = sum(w * w) reads the new value, unconnected to x
    assert tape.gradient(y, x) is None
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), 2 * np.float32([7.0, 10.0]))


def _jaxish_frames(e):
    pkg = os.path.dirname(tf.__file__) + os.sep
    tb, files = e.__traceback__, []
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return [f for f in files if os.path.abspath(f).startswith(pkg)]


def test_gradient_errors_leave_no_jaxish_frames():
    w = tf.Variable(np.float32([1.0, 2.0]))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(w * w)
    tape.gradient(y, w)
    with pytest.raises(RuntimeError, match="only be called once") as info:
        tape.gradient(y, w)
    assert _jaxish_frames(info.value) == []
    # an error raised while building the backward graph (the Variable fast path): a while_loop has no reverse
    # mode
    with tf.GradientTape() as tape:
        y = tf.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * w), (0, tf.ones(2)))[1]
        y = tf.reduce_sum(y)
    with pytest.raises(ValueError, match="while") as info:
        tape.gradient(y, w)
    assert _jaxish_frames(info.value) == []
