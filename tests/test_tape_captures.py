"""A GradientTape outside a ``@trace``d function (or ``vmap``, or a control-flow body) that watches a tensor the
function closes over differentiates through everything the function computes from it -- also what it computes
from closed-over tensors alone (``x * x``, ``x + 1.0``), which tracing must not fold into a constant the tape cannot
see. TensorFlow's semantics: a ``tf.function`` takes its captured tensors as graph inputs.

Every case is checked against the same code run eagerly (no trace) and against float64 central differences, for a
0-d and a (3,) tensor, a constant and a Variable, traced under the tape (first call) and traced before the tape
was opened (a cached graph), and nested (a traced function inside a traced function).
"""
import numpy as np
import pytest

import jaxish as tf

SHAPES = [(), (3,)]
KINDS = ["constant", "variable"]
WHEN = ["first", "later"]


def _x(shape, kind, value=None):
    v = np.linspace(0.3, 1.1, int(np.prod(shape))).reshape(shape) if value is None else value
    return tf.constant(np.asarray(v, np.float64)) if kind == "constant" else tf.Variable(np.asarray(v, np.float64))


def _maybe_trace(fn, jit):
    return tf.trace(fn) if jit else fn


# --- the functions: make(x, jit) -> f(y); jit=False is the same code run eagerly -----------------------------------
def square_and_shift(x, jit):
    return _maybe_trace(lambda y: tf.reduce_sum(x * x * y + (x + 1.0)), jit)


def direct_and_derived(x, jit):  # one use of x with the argument, one from x alone: both paths count
    return _maybe_trace(lambda y: tf.reduce_sum(x * y + tf.exp(x) * x), jit)


def only_captures(x, jit):  # the argument is only added: every use of x is on captured values
    return _maybe_trace(lambda y: tf.reduce_sum(tf.sin(x) * 2.0 + x / 3.0) + y, jit)


def nested(x, jit):
    inner = _maybe_trace(lambda y: x * x * y, jit)
    return _maybe_trace(lambda y: tf.reduce_sum(inner(y) + tf.square(x)), jit)


def nested_inner_first(x, jit):  # the inner function is traced (and cached) before the outer one
    inner = _maybe_trace(lambda y: (x + 2.0) * (x + 2.0) + y, jit)
    inner(tf.constant(np.float64(0.5)))
    return _maybe_trace(lambda y: tf.reduce_sum(inner(y) * y), jit)


def vmap_in_trace(x, jit):
    mapped = tf.vmap(lambda a: a + x * x)
    return _maybe_trace(lambda y: tf.reduce_sum(mapped(tf.stack([y, 2.0 * y]))), jit)


def cond_in_trace(x, jit):
    return _maybe_trace(lambda y: tf.reduce_sum(tf.cond(y > 0.0, lambda: x * x * y, lambda: x + y)), jit)


def fori_in_trace(x, jit):
    return _maybe_trace(lambda y: tf.reduce_sum(tf.fori_loop(0, 3, lambda i, c: c * 0.5 + x * x, y + 0.0 * x)),
                        jit)


def while_in_trace(x, jit):
    def f(y):
        _, c = tf.while_loop(lambda s: s[0] < 2, lambda s: (s[0] + 1, s[1] + tf.exp(x) * x), (0, y + 0.0 * x))
        return tf.reduce_sum(c)
    return _maybe_trace(f, jit)


def scan_in_trace(x, jit):
    def f(y):
        c, _ = tf.scan(lambda c, e: (c + x * x * e, None), y + 0.0 * x, tf.constant(np.array([1.0, 2.0])))
        return tf.reduce_sum(c)
    return _maybe_trace(f, jit)


CASES = [square_and_shift, direct_and_derived, only_captures, nested, nested_inner_first, vmap_in_trace,
         cond_in_trace, fori_in_trace, scan_in_trace]


def _gradient(f, x, y):
    with tf.GradientTape() as tape:
        if not isinstance(x, tf.Variable):
            tape.watch(x)
        z = f(y)
    g = tape.gradient(z, x)
    return z, g


def _finite_differences(make, x0, y, h=1e-6):
    flat = np.array(x0, np.float64).reshape(-1)
    out = np.empty_like(flat)
    for i in range(flat.size):
        vals = []
        for s in (1.0, -1.0):
            v = flat.copy()
            v[i] += s * h
            vals.append(float(make(tf.constant(v.reshape(np.shape(x0))), False)(y).numpy()))
        out[i] = (vals[0] - vals[1]) / (2 * h)
    return out.reshape(np.shape(x0))


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("make", CASES, ids=lambda m: m.__name__)
def test_tape_differentiates_what_a_traced_function_computes_from_captures(interp, make, shape, kind, when):
    x = _x(shape, kind)
    y = tf.constant(np.float64(1.3))
    z_eager, g_eager = _gradient(make(x, False), x, y)
    f = make(x, True)
    if when == "later":  # traced (and cached) before any tape watches x
        np.testing.assert_allclose(f(y).numpy(), z_eager.numpy(), rtol=1e-12)
    z, g = _gradient(f, x, y)
    assert g is not None, "the tape lost the closed-over tensor"
    np.testing.assert_allclose(z.numpy(), z_eager.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), g_eager.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), _finite_differences(make, x.numpy(), y), rtol=1e-6, atol=1e-8)
    if when == "first":  # the graph traced under the tape, called again later under a new tape
        _, g2 = _gradient(f, x, y)
        np.testing.assert_allclose(g2.numpy(), g_eager.numpy(), rtol=1e-12)


@pytest.mark.parametrize("make", CASES, ids=lambda m: m.__name__)
def test_cases_compiled(cpu_backend, make):
    # the same on the cpu backend (the graphs traced again for the tape take x as a 0-d input), cached graph
    x = _x((), "constant")
    y = tf.constant(np.float64(1.3))
    z_eager, g_eager = _gradient(make(x, False), x, y)
    f = make(x, True)
    np.testing.assert_allclose(f(y).numpy(), z_eager.numpy(), rtol=1e-12)
    z, g = _gradient(f, x, y)
    assert g is not None, "the tape lost the closed-over tensor"
    np.testing.assert_allclose(z.numpy(), z_eager.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), g_eager.numpy(), rtol=1e-12)


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("shape", SHAPES)
def test_while_loop_body_computing_from_a_watched_capture_raises(interp, shape, when):
    # while_loop has no reverse mode: eagerly the tape's gradient raises; so must the traced function's, whose
    # body reads x (it must not fold x * exp(x) into a constant and return None)
    x = _x(shape, "constant")
    y = tf.constant(np.float64(1.3))
    with pytest.raises(ValueError, match="while_loop"):
        _gradient(while_in_trace(x, False), x, y)
    f = while_in_trace(x, True)
    if when == "later":
        f(y)
    with pytest.raises(ValueError, match="while_loop"):
        _gradient(f, x, y)


@pytest.mark.parametrize("shape", SHAPES)
def test_compiled_backend_and_no_retrace_per_call(backend, shape):
    x = _x(shape, "constant")
    y = tf.constant(np.float64(0.7))
    f = direct_and_derived(x, True)
    f(y)
    traces = tf.tracing._counted(tf.tracing.TRACES)
    g_eager = _gradient(direct_and_derived(x, False), x, y)[1].numpy()
    # a 0-d x was inlined as a literal: one more trace (for tapes that track x) on the first taped call, none
    # after; an array is a captured constant already
    more = 1 if shape == () else 0
    for _ in range(3):
        np.testing.assert_allclose(_gradient(f, x, y)[1].numpy(), g_eager, rtol=1e-12)
    assert tf.tracing._counted(tf.tracing.TRACES) == traces + more
    assert f.cache_info().traces == 1
    for _ in range(2):  # untaped calls use the first graph; a tape that watches nothing gets no gradient
        np.testing.assert_allclose(f(y).numpy(), _gradient(direct_and_derived(x, False), x, y)[0].numpy(),
                                   rtol=1e-12)
        with tf.GradientTape() as tape:
            z = f(y)
        assert tape.gradient(z, x) is None
    assert tf.tracing._counted(tf.tracing.TRACES) == traces + more
    assert (f.cache_info().hits, f.cache_info().misses) == (7, 1)


def test_weak_scalar_tensor_closed_over_and_watched_later(interp):
    # a weakly typed 0-d tensor (made from Python scalars) is a literal that folds; watched by a tape later,
    # the function is traced again with it captured
    x = tf.sqrt(2.0)
    assert x._weak
    f = tf.trace(lambda y: x * x * y + tf.exp(x))
    y = tf.constant(np.float32(1.5))
    f(y)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = f(y)
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), 2 * np.sqrt(2.0) * 1.5 + np.exp(np.sqrt(2.0)),
                               rtol=1e-6)


def test_recorded_intermediate_closed_over(interp):
    # the function closes over a tensor the tape recorded (not watched): the gradient flows through it to the
    # watched source, as in eager code
    w = tf.constant(np.float64(0.9))
    with tf.GradientTape() as tape:
        tape.watch(w)
        x = w * 3.0
        f = tf.trace(lambda y: x * x + y)
        z = f(tf.constant(np.float64(2.0)))
    assert float(tape.gradient(z, w)) == pytest.approx(2 * (0.9 * 3.0) * 3.0, rel=1e-12)


def test_second_order_through_captures(interp):
    x = tf.constant(np.float64(0.8))
    f = tf.trace(lambda y: x * x * x * y)
    y = tf.constant(np.float64(2.0))
    f(y)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            z = f(y)
        g = inner.gradient(z, x)
    assert float(g) == pytest.approx(3 * 0.8 ** 2 * 2.0, rel=1e-12)
    assert float(outer.gradient(g, x)) == pytest.approx(6 * 0.8 * 2.0, rel=1e-12)


def test_arguments_gradients_unchanged_by_captures(interp):
    # JAX-style: grad of a traced function w.r.t. its arguments treats closed-over tensors as constants
    x = tf.constant(np.float64(1.7))
    f = tf.trace(lambda y: x * x * y * y)
    y = tf.constant(np.float64(0.6))
    np.testing.assert_allclose(tf.grad(f)(y).numpy(), 2 * 1.7 ** 2 * 0.6, rtol=1e-12)
    with tf.GradientTape() as tape:  # watching x too: both gradients
        tape.watch([x, y])
        z = f(y)
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_allclose([float(gx), float(gy)], [2 * 1.7 * 0.36, 2 * 1.7 ** 2 * 0.6], rtol=1e-12)


def test_constant_operands_a_tape_saw_are_not_captures(interp):
    # reduce_mean's count is one shared literal tensor: the tape records it as a constant operand of the eager
    # mean, and the traced function inlines the same object. Nothing flows through it, so the function is not
    # traced again for the tape, and its graph keeps the literal
    f = tf.trace(lambda y: tf.reduce_mean(y * y))
    y = tf.constant(np.linspace(0.1, 0.9, 4))
    f(y)
    traces = tf.tracing._counted(tf.tracing.TRACES)
    with tf.GradientTape() as tape:
        tape.watch(y)
        z = tf.reduce_mean(y * 2.0) + f(y)
    np.testing.assert_allclose(tape.gradient(z, y).numpy(), 2.0 / 4 + 2 * y.numpy() / 4, rtol=1e-12)
    assert tf.tracing._counted(tf.tracing.TRACES) == traces


def _c(v):
    return tf.constant(np.asarray(v, np.float64))


def test_tape_inside_a_trace_calling_a_cached_traced_function(interp):
    # the tape is opened inside the step; the inner function, traced before, computes x * x from its capture
    x = _c(0.7)
    inner = tf.trace(lambda y: x * x * y)
    inner(_c(1.0))

    @tf.trace
    def step(y):
        with tf.GradientTape() as t:
            t.watch(x)
            z = inner(y) + x * x
        return t.gradient(z, x)
    assert float(step(_c(2.0))) == pytest.approx(2 * 0.7 * 2.0 + 2 * 0.7, rel=1e-12)


@pytest.mark.parametrize("how", ["grad", "value_and_grad in a trace"])
def test_derivative_functions_of_captures_under_an_outer_tape(interp, how):
    # d/dx of (d/dy x^2 y^2 = 2 x^2 y) is 4 x y: the inner derivative's graph takes x as an input
    x = _c(0.7)
    if how == "grad":
        f = tf.trace(lambda y: x * x * y * y)
        f(_c(1.0))
        g = tf.grad(f)
    else:
        g = tf.trace(lambda y: tf.value_and_grad(lambda a: x * x * a * a)(y)[1])
        g(_c(1.0))
    with tf.GradientTape() as t:
        t.watch(x)
        r = g(_c(1.5))
    assert float(r) == pytest.approx(2 * 0.49 * 1.5, rel=1e-12)
    assert float(t.gradient(r, x)) == pytest.approx(4 * 0.7 * 1.5, rel=1e-12)


def test_jacobian_and_method_captures(interp):
    x = _c(0.3)
    h = tf.trace(lambda y: tf.stack([x * x * y, x + y]))
    h(_c(1.0))
    with tf.GradientTape() as t:
        t.watch(x)
        z = h(_c(2.0))
    np.testing.assert_allclose(t.jacobian(z, x).numpy(), [2 * 0.3 * 2.0, 1.0], rtol=1e-12)

    class Model:
        def __init__(self):
            self.s = _c(1.2)

        @tf.trace
        def __call__(self, y):
            return self.s * self.s * y
    m = Model()
    m(_c(1.0))
    with tf.GradientTape() as t:
        t.watch(m.s)
        r = m(_c(2.0))
    assert float(t.gradient(r, m.s)) == pytest.approx(2 * 1.2 * 2.0, rel=1e-12)


def test_retraces_for_tapes_are_bounded(interp):
    # one re-trace per set of tracked captures, the most recent tracing._FOR_TAPES_MAX kept per signature;
    # the gradients stay right when a dropped one is traced again
    from jaxish.tracing import _FOR_TAPES_MAX
    xs = [tf.constant(np.float64(0.1 * (k + 1))) for k in range(_FOR_TAPES_MAX + 4)]
    f = tf.trace(lambda y: sum((x * x for x in xs), y * 0.0) * y)
    y = tf.constant(np.float64(2.0))
    f(y)
    for rounds in range(2):
        for x in xs:                      # d/dx (sum x_k^2) y = 2 x y
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = f(y)
            assert float(tape.gradient(z, x)) == pytest.approx(2 * float(x) * 2.0, rel=1e-12)
    (traced,) = [t for _, t in f._cache._data.items()]
    assert len(traced.for_tapes) == _FOR_TAPES_MAX
