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
    assert prims(tape._builder.build([], [], prune=False)) == ["call", "mul", "reduce_sum", "add"]
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
