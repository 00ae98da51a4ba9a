"""call_p: nested graphs as one primitive (a traced function inside a trace, grad's and a tape's backward graph).

Values are checked against NumPy and float64 finite differences; structure against the printed graph.
"""
import numpy as np
import pytest

import jaxish as tf
from jaxish.core.call import call, call_p
from jaxish.passes import inline_calls, optimize


def prims(g):
    return [n.prim.name for n in g.nodes]


@tf.trace
def inner(x):
    return tf.tanh(x) * x, tf.reduce_sum(x)


def outer(x):
    a, s = inner(x)
    return tf.reduce_sum(a * a) + s


X = np.array([0.3, -1.2, 2.0], np.float32)


def _outer_np(x):
    a = np.tanh(x) * x
    return np.sum(a * a) + np.sum(x)


def _fd_grad(f, x, eps=1e-6):
    x = x.astype(np.float64)
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])


def test_nested_trace_is_one_call_node_printed_nested():
    g = tf.make_graph(outer)(X)
    assert prims(g)[0] == "call"
    node = g.nodes[0]
    assert len(node.outvars) == 2 and prims(node.params["graph"]) == ["tanh", "mul", "reduce_sum"]
    text = str(g)
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if "= call[" in ln)
    assert lines[i + 1].strip().startswith("graph={ lambda")
    assert any(ln.startswith(" " * 12) and "tanh" in ln for ln in lines)  # the nested body, indented
    assert "] a" in text  # the call's operand after the nested graph


def test_grad_graph_is_a_call_and_key_includes_the_nested_graph():
    g1 = tf.make_graph(tf.grad(lambda x: tf.reduce_sum(tf.sin(x))))(X)
    g2 = tf.make_graph(tf.grad(lambda x: tf.reduce_sum(tf.cos(x))))(X)
    assert prims(g1) == ["call"] == prims(g2)
    assert g1.key() != g2.key() and g1.fingerprint() != g2.fingerprint()
    g3 = tf.make_graph(tf.grad(lambda y: tf.reduce_sum(tf.sin(y))))(X)
    assert g1.key() == g3.key()


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_value_and_gradient_through_a_call(backend, mode):
    f = tf.value_and_grad(outer)
    if mode == "traced":
        f = tf.trace(f)
    v, g = f(X)
    np.testing.assert_allclose(v.numpy(), _outer_np(X.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), _fd_grad(_outer_np, X), rtol=1e-5, atol=1e-6)


def test_second_derivative_through_nested_calls(backend):
    d2 = tf.grad(lambda x: tf.reduce_sum(tf.grad(outer)(x)))
    got = d2(X).numpy()
    x = X.astype(np.float64)
    # analytic: d/dx sum(grad) where grad = 2 a a' + 1, a = x tanh x
    t = np.tanh(x)
    a, da, dda = x * t, t + x * (1 - t * t), 2 * (1 - t * t) - 2 * x * t * (1 - t * t)
    np.testing.assert_allclose(got, 2 * (da * da + a * dda), rtol=1e-4, atol=1e-5)


def test_tape_records_a_traced_function_as_one_call(backend):
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = outer(x)
    assert [prim.name for prim, *_ in tape._records] == ["call", "mul", "reduce_sum", "add"]
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), _fd_grad(_outer_np, X), rtol=1e-5, atol=1e-6)


def test_nested_tapes_differentiate_a_call_twice(backend):
    x = tf.constant(X)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(inner(x)[0])
        g = t1.gradient(y, x)
    h = t2.gradient(g, x).numpy()
    t = np.tanh(X.astype(np.float64))
    np.testing.assert_allclose(h, 2 * (1 - t * t) - 2 * X * t * (1 - t * t), rtol=1e-4, atol=1e-5)


def test_call_with_integer_and_unused_outputs(backend):
    @tf.trace
    def split(x):
        return x * 2.0, tf.cast(x, tf.int32), tf.exp(x)

    def f(x):
        a, i, _ = split(x)
        return tf.reduce_sum(a * tf.cast(i, tf.float32))
    x = np.array([1.5, 2.5], np.float32)
    np.testing.assert_allclose(tf.grad(f)(x).numpy(), 2.0 * np.trunc(x), rtol=1e-6)
    np.testing.assert_allclose(tf.trace(f)(x).numpy(), np.sum(2 * x * np.trunc(x)), rtol=1e-6)


def test_inline_pass_splices_calls_recursively():
    g = tf.make_graph(tf.grad(outer))(X)
    flat = inline_calls(g)
    assert "call" not in prims(flat) and "tanh" in prims(flat)
    ex = optimize(g, for_execution=True)
    assert "call" not in prims(ex)


def test_call_checks_its_operands():
    g = tf.make_graph(lambda x: x * 2.0)(X)
    with pytest.raises(TypeError, match=r"call: input 0 has shape \(2,\)"):
        call(g, [tf.constant([1.0, 2.0])])
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        call(g, [tf.constant(X), tf.constant(X)])


def test_eager_call_runs_the_compiled_graph(backend):
    g = tf.make_graph(lambda x: (tf.sin(x), x + 1.0))(X)
    outs = call_p.bind(tf.constant(X), graph=g)
    np.testing.assert_allclose(outs[0].numpy(), np.sin(X), rtol=1e-6)
    np.testing.assert_array_equal(outs[1].numpy(), X + 1)


# ---------------------------------------------------------------------------
# tapes over call nodes: what is and is not a source (review findings, TensorFlow's semantics)
# ---------------------------------------------------------------------------
XT = np.array([0.5, 1.5, -2.0], np.float32)


@pytest.mark.parametrize("traced", [False, True])
def test_an_unwatched_tensor_gets_no_gradient(traced):
    v = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    x = tf.constant(XT)
    f = (lambda a: tf.reduce_sum(v * a))
    f = tf.trace(f) if traced else f
    with tf.GradientTape() as t:
        y = f(x)
    gv, gx = t.gradient(y, [v, x])
    np.testing.assert_array_equal(gv.numpy(), XT)
    assert gx is None  # x was an operand, never watched (TensorFlow: None)


def test_a_source_a_call_does_not_connect_gets_none():
    @tf.trace
    def f(a, b):
        return b * 2.0, a * 3.0
    x, y = tf.constant(XT), tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as t:
        t.watch([x, y])
        p, _ = f(x, y)
    gx, gy = t.gradient(p, [x, y])
    assert gx is None
    np.testing.assert_array_equal(gy.numpy(), [2.0, 2.0, 2.0])


def test_sibling_outputs_of_a_call_are_unconnected():
    @tf.trace
    def two(a):
        return a * a, tf.sin(a) * 3.0
    x = tf.constant(XT)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        p, q = two(x)
        z = tf.reduce_sum(p * q + q)
    gx, gp, gq = t.gradient(z, [x, p, q])
    x64 = XT.astype(np.float64)
    np.testing.assert_allclose(gp.numpy(), 3 * np.sin(x64), rtol=1e-6)
    np.testing.assert_allclose(gq.numpy(), x64 * x64 + 1, rtol=1e-6)
    np.testing.assert_allclose(gx.numpy(), 2 * x64 * 3 * np.sin(x64) + (x64 * x64 + 1) * 3 * np.cos(x64),
                               rtol=1e-5)
    assert t.jacobian(q, p) is None


def test_nested_assign_and_read_under_a_tape_does_not_depend_on_trace_order():
    """A traced function that assigns a Variable and reads it again, called from another traced function:
    under a tape the read is a read of the Variable (as eagerly), whether or not the caller was traced first
    without a tape."""
    def make():
        v = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))

        @tf.trace
        def inner(a):
            v.assign(v * a)
            return tf.reduce_sum(v * v)

        @tf.trace
        def outer(a):
            return inner(a) * 2.0
        return v, outer
    x = tf.constant(XT)
    results = []
    for warm in (False, True):
        v, outer = make()
        if warm:
            outer(x)
            v.assign([1.0, 2.0, 3.0])
        with tf.GradientTape() as t:
            y = outer(x)
        results.append(t.gradient(y, v).numpy())
    v_new = np.array([1.0, 2.0, 3.0]) * XT
    for g in results:
        np.testing.assert_allclose(g, 4 * v_new, rtol=1e-6)  # d(2 sum(v^2))/dv at the re-read value
