"""Regression tests from an adversarial differential review of the autodiff front end
(GradientTape, grad, value_and_grad, jacobian, hessian, vjp) against JAX's and
TensorFlow's documented semantics and float64 finite differences."""
import numpy as np
import pytest

import jaxish as jx


def _np(tree):
    return [np.asarray(t) for t in jx.tree_util.tree_flatten(tree)[0]]


# ---------------------------------------------------------------------------
# argnums: results follow argnums' order (JAX); bad argnums are clear errors
# ---------------------------------------------------------------------------
A = np.array([1.0, 2.0])
B = np.array([3.0, 5.0, 7.0])


def _prod_of_sums(a, b):
    return jx.reduce_sum(a ** 2) * jx.reduce_sum(b)


def test_grad_follows_argnums_order(backend):
    ga, gb = 2 * A * B.sum(), np.full(3, (A ** 2).sum())  # d/da, d/db by hand
    gb2, ga2 = jx.grad(_prod_of_sums, argnums=(1, 0))(A, B)
    np.testing.assert_allclose(gb2, gb)
    np.testing.assert_allclose(ga2, ga)
    (value, (gb3, ga3)) = jx.value_and_grad(_prod_of_sums, argnums=(1, 0))(A, B)
    np.testing.assert_allclose(gb3, gb)
    np.testing.assert_allclose(ga3, ga)


def test_jacobian_and_hessian_follow_argnums_order(backend):
    jb, ja = jx.jacobian(lambda a, b: a * jx.reduce_sum(b), argnums=(1, 0))(A, B)
    np.testing.assert_allclose(jb, np.outer(A, np.ones(3)))
    np.testing.assert_allclose(ja, np.eye(2) * B.sum())
    (hbb, hba), (hab, haa) = jx.hessian(_prod_of_sums, argnums=(1, 0))(A, B)
    assert [h.shape for h in (hbb, hba, hab, haa)] == [(3, 3), (3, 2), (2, 3), (2, 2)]
    np.testing.assert_allclose(hbb, np.zeros((3, 3)))
    np.testing.assert_allclose(hba, np.tile(2 * A, (3, 1)))
    np.testing.assert_allclose(hab, np.tile(2 * A[:, None], (1, 3)))
    np.testing.assert_allclose(haa, 2 * B.sum() * np.eye(2))


@pytest.mark.parametrize("argnums, exc, words", [
    ((0, 0), ValueError, "more than once"),
    ((1, -1), ValueError, "more than once"),
    (1.0, TypeError, "argnums must be an int"),
    ("a", TypeError, "argnums must be an int"),
    ((0, None), TypeError, "argnums must be an int"),
    (2, ValueError, "out of range"),
])
def test_bad_argnums_are_clear_errors(argnums, exc, words):
    for fn in (jx.grad, jx.value_and_grad, jx.jacobian, jx.hessian):
        with pytest.raises(exc, match=words):
            fn(_prod_of_sums, argnums=argnums)(A, B)


def test_numpy_integer_argnums():
    g = jx.grad(_prod_of_sums, argnums=np.int64(1))(A, B)
    np.testing.assert_allclose(g, np.full(3, (A ** 2).sum()))


# ---------------------------------------------------------------------------
# grad's output: one scalar (JAX), or a (scalar, aux) pair with has_aux
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fn, has_aux, words", [
    (lambda x: ((x[0], x[1]), x), True, "single scalar"),   # was: silently the gradient of x[0] only
    (lambda x: ({"loss": x[0]}, x), True, "single scalar"),
    (lambda x: {"a": x[0], "b": x}, True, "pair"),         # was: KeyError 1
    (lambda x: (x[0], x[1], x), True, "pair"),
    (lambda x: None, True, "pair"),
    (lambda x: (x[0],), False, "single scalar"),
    (lambda x: [x[0]], False, "single scalar"),
    (lambda x: None, False, "single scalar"),               # was: IndexError
])
def test_grad_rejects_outputs_that_are_not_one_scalar(fn, has_aux, words):
    for g in (jx.grad, jx.value_and_grad):
        with pytest.raises(TypeError, match=words):
            g(fn, has_aux=has_aux)(A)


def test_grad_has_aux_pair_with_list_and_none_aux(backend):
    g, aux = jx.grad(lambda x: [x[0] * x[1], None], has_aux=True)(A)
    np.testing.assert_allclose(g, [A[1], A[0]])
    assert aux is None


# ---------------------------------------------------------------------------
# GradientTape.jacobian: Variable targets, empty targets, TensorFlow's keywords
# ---------------------------------------------------------------------------
def test_tape_jacobian_of_a_variable_wrt_itself_is_the_identity(backend):
    v = jx.Variable([1.0, 2.0, 3.0])
    with jx.GradientTape() as tape:
        y = v * v
    jv, jy = tape.jacobian(v, [v, y])  # TensorFlow: d v / d v = I; y does not feed v: None
    np.testing.assert_array_equal(jv, np.eye(3))
    assert jy is None
    with jx.GradientTape(persistent=True) as tape:
        y = v * v
    np.testing.assert_array_equal(tape.jacobian(y, v), np.diag([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(tape.gradient(v, v), np.ones(3))


def test_tape_jacobian_of_an_empty_target(backend):
    a = jx.constant([1.0, 2.0, 3.0])
    b = jx.constant(5.0)
    for unconnected in ("none", "zero"):
        with jx.GradientTape() as tape:
            tape.watch([a, b])
            y = a[:0] * 2.0  # was: KeyError None
        ja, jb = tape.jacobian(y, [a, b], unconnected_gradients=unconnected)
        assert ja.shape == (0, 3) and ja.dtype == jx.float32
        assert (jb is None) if unconnected == "none" else (jb.shape == (0,))


def test_tape_jacobian_accepts_tensorflow_keywords(backend):
    a = jx.constant([1.0, 2.0])
    with jx.GradientTape() as tape:
        tape.watch(a)
        y = a * a
    j = tape.jacobian(y, a, parallel_iterations=4, experimental_use_pfor=False)
    np.testing.assert_array_equal(j, np.diag([2.0, 4.0]))


# ---------------------------------------------------------------------------
# GradientTape: Variable reads by iteration; a used non-persistent tape stops recording
# ---------------------------------------------------------------------------
def test_tape_records_iterating_a_variable(backend):
    v = jx.Variable([1.0, 2.0])
    with jx.GradientTape() as tape:
        a, b = v  # was: read the raw value, gradient None
        y = a * b * 3.0
    np.testing.assert_array_equal(tape.gradient(y, v), [6.0, 3.0])  # d(3 v0 v1)/dv
    with jx.GradientTape() as tape:
        y = jx.reduce_sum(jx.stack(list(v)) ** 2)
    np.testing.assert_array_equal(tape.gradient(y, v), [2.0, 4.0])


def test_used_non_persistent_tape_releases_its_records():
    x = jx.constant([1.0, 2.0])
    with jx.GradientTape() as tape:
        tape.watch(x)
        g = tape.gradient(x * x, x)
        for _ in range(50):  # was: every op on x still recorded (and kept) after the gradient
            x = jx.sin(x) * 2.0
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert tape._records == [] and tape._keep == []
    with pytest.raises(RuntimeError, match="only be called once"):
        tape.gradient(x, x)


# ---------------------------------------------------------------------------
# A traced function that assigns a Variable and reads it again, called under a tape:
# the read is a read of the Variable, as in eager code and TensorFlow (was: data flow)
# ---------------------------------------------------------------------------
def test_traced_assign_then_read_under_a_tape_matches_eager():
    v = jx.Variable(1.0)

    def f(x):
        v.assign(x * 2.0)
        return v * 3.0

    grads = []
    for fn in (f, jx.trace(f)):
        x = jx.constant(5.0)
        with jx.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        grads.append(tape.gradient(y, [x, v]))
    (ex, ev), (tx, tv) = grads
    assert ex is None and float(ev) == 3.0  # TensorFlow: the assignment cuts the tape
    assert tx is None and tv is not None and float(tv) == 3.0
