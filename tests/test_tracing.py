"""``@jaxish.trace`` semantics: caching and retracing, static arguments, pytrees,
Variables as implicit inputs/outputs, randomness, logging, error messages and graphs."""
import logging
import os

import numpy as np
import pytest

import jaxish
import jaxish as tf

THIS_FILE = os.path.basename(__file__)


def f32(*v):
    return tf.constant(np.array(v, np.float32))


# ---------------------------------------------------------------------------
# caching and retracing
# ---------------------------------------------------------------------------
def test_no_retrace_on_repeated_signature(backend):
    calls = []

    @jaxish.trace
    def f(x, y):
        calls.append(1)
        return x * 2.0 + y

    x = f32(1, 2)
    np.testing.assert_array_equal(f(x, 1.0).numpy(), [3, 5])
    np.testing.assert_array_equal(f(x, 2.0).numpy(), [4, 6])  # a Python float is a dynamic (weak) input
    np.testing.assert_array_equal(f(f32(3, 4), 0.5).numpy(), [6.5, 8.5])
    info = f.cache_info()
    assert (info.hits, info.misses, info.traces) == (2, 1, 1)
    assert len(calls) == 1


def test_retrace_on_new_shape_and_dtype(backend):
    @jaxish.trace
    def f(x):
        return x * 2

    f(f32(1, 2))
    f(f32(1, 2, 3))
    assert f.cache_info().traces == 2
    out = f(tf.constant([1, 2], dtype=tf.int32))
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(out.numpy(), [2, 4])
    assert f.cache_info().traces == 3
    out = f(tf.constant([1.0, 2.0], dtype=tf.float64))
    assert out.dtype == tf.float64
    assert f.cache_info().traces == 4
    f(f32(5, 6))
    f(f32(5, 6, 7))
    info = f.cache_info()
    assert info.traces == 4 and info.hits == 2 and info.misses == 4


def test_retrace_on_new_static_argnums_value(backend):
    calls = []

    @jaxish.trace(static_argnums=(1,))
    def power(x, n):
        calls.append(n)
        out = x
        for _ in range(n - 1):  # Python control flow on a static value is fine
            out = out * x
        return out

    x = f32(2, 3)
    np.testing.assert_array_equal(power(x, 2).numpy(), [4, 9])
    np.testing.assert_array_equal(power(x, 2).numpy(), [4, 9])
    np.testing.assert_array_equal(power(x, 3).numpy(), [8, 27])
    assert calls == [2, 3]
    assert power.cache_info().traces == 2 and power.cache_info().hits == 1


def test_static_argnums_accepts_an_int():
    @jaxish.trace(static_argnums=1)
    def f(x, mode):
        return x + 1.0 if mode == "inc" else x - 1.0

    x = f32(1)
    np.testing.assert_array_equal(f(x, "inc").numpy(), [2])
    np.testing.assert_array_equal(f(x, "dec").numpy(), [0])
    assert f.cache_info().traces == 2


def test_retrace_on_new_static_argnames_value(backend):
    @jaxish.trace(static_argnames=("scale",))
    def f(x, scale=1):
        return x * scale

    x = f32(1, 2)
    np.testing.assert_array_equal(f(x, scale=2).numpy(), [2, 4])
    np.testing.assert_array_equal(f(x, scale=2).numpy(), [2, 4])
    np.testing.assert_array_equal(f(x, scale=3).numpy(), [3, 6])
    info = f.cache_info()
    assert info.traces == 2 and info.hits == 1


@pytest.mark.parametrize("how", ["argnums", "argnames"])
def test_unhashable_static_argument_is_a_type_error(how):
    if how == "argnums":
        f = jaxish.trace(lambda x, n: x, static_argnums=(1,))
        call = lambda: f(f32(1), [1, 2])
    else:
        f = jaxish.trace(lambda x, n=0: x, static_argnames=("n",))
        call = lambda: f(f32(1), n=[1, 2])
    with pytest.raises(TypeError, match="unhashable") as ei:
        call()
    assert "list" in str(ei.value) and "static" in str(ei.value)


# ---------------------------------------------------------------------------
# pytrees
# ---------------------------------------------------------------------------
def test_pytrees_in_and_out(backend):
    @jaxish.trace
    def f(p, pair, opt=None):
        s = p["w"] * pair[0] + p["b"]
        return {"s": s, "t": (pair[1][0] * 2.0, None), "l": [p["b"], s - 1.0]}

    p = {"w": f32(1, 2), "b": f32(10, 20)}
    pair = (f32(3, 4), [f32(5, 6)])
    out = f(p, pair, opt=None)
    assert set(out) == {"s", "t", "l"}
    assert isinstance(out["t"], tuple) and out["t"][1] is None
    assert isinstance(out["l"], list) and len(out["l"]) == 2
    np.testing.assert_array_equal(out["s"].numpy(), [13, 28])
    np.testing.assert_array_equal(out["t"][0].numpy(), [10, 12])
    np.testing.assert_array_equal(out["l"][0].numpy(), [10, 20])
    np.testing.assert_array_equal(out["l"][1].numpy(), [12, 27])
    f({"w": f32(0, 0), "b": f32(1, 1)}, (f32(3, 4), [f32(5, 6)]), opt=None)
    assert f.cache_info().traces == 1
    # a different structure retraces
    f({"w": f32(1, 2), "b": f32(10, 20)}, (f32(3, 4), [f32(5, 6)]), opt=f32(0))
    assert f.cache_info().traces == 2


# ---------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------
def test_variables_are_implicit_inputs(backend):
    v = tf.Variable([1.0, 2.0])

    @jaxish.trace
    def f(x):
        return x + v

    x = f32(1, 1)
    np.testing.assert_array_equal(f(x).numpy(), [2, 3])
    v.assign([10.0, 20.0])
    np.testing.assert_array_equal(f(x).numpy(), [11, 21])
    assert f.cache_info().traces == 1


def test_assignments_are_written_back(backend):
    v = tf.Variable([1.0, 2.0])
    counter = tf.Variable(0.0)

    @jaxish.trace
    def step(d):
        v.assign_add(d)
        counter.assign_add(1.0)
        return v * 1.0

    out = step(f32(1, 1))
    np.testing.assert_array_equal(out.numpy(), [2, 3])
    np.testing.assert_array_equal(v.numpy(), [2, 3])
    step(f32(1, 1))
    np.testing.assert_array_equal(v.numpy(), [3, 4])
    assert float(counter.numpy()) == 2.0

    @jaxish.trace
    def reset(d):
        v.assign(d * 10.0)
        return v.read_value() + 1.0  # reads after the assignment see the new value

    np.testing.assert_array_equal(reset(f32(1, 2)).numpy(), [11, 21])
    np.testing.assert_array_equal(v.numpy(), [10, 20])
    assert step.cache_info().traces == 1


def test_variable_passed_as_argument(backend):
    @jaxish.trace
    def bump(var, d):
        var.assign_add(d)
        return var * 1.0

    a = tf.Variable([1.0, 1.0])
    b = tf.Variable([5.0, 5.0])
    np.testing.assert_array_equal(bump(a, f32(1, 2)).numpy(), [2, 3])
    np.testing.assert_array_equal(bump(b, f32(1, 2)).numpy(), [6, 7])
    np.testing.assert_array_equal(a.numpy(), [2, 3])
    np.testing.assert_array_equal(b.numpy(), [6, 7])


def test_creating_a_variable_on_a_retrace_is_an_error():
    @jaxish.trace
    def f(x):
        w = tf.Variable(np.ones(x.shape, np.float32))
        return x * w

    np.testing.assert_array_equal(f(f32(1, 2)).numpy(), [1, 2])  # first trace: allowed
    with pytest.raises(ValueError) as ei:
        f(f32(1, 2, 3))
    msg = str(ei.value)
    assert "Variable" in msg and "retrace" in msg and "outside" in msg


# ---------------------------------------------------------------------------
# randomness
# ---------------------------------------------------------------------------
def test_random_ops_in_traced_code(backend):
    @jaxish.trace
    def noisy(x):
        return x + tf.random.uniform((4,)), tf.random.uniform((4,))

    x = tf.zeros((4,))
    a1, b1 = noisy(x)
    a2, b2 = noisy(x)
    assert not np.array_equal(a1.numpy(), a2.numpy())  # fresh values every call
    assert not np.array_equal(a1.numpy(), b1.numpy())  # two draws in one call differ
    assert np.all((a1.numpy() >= 0) & (a1.numpy() < 1))
    jaxish.random.set_seed(7)
    c1, _ = noisy(x)
    c2, _ = noisy(x)
    jaxish.random.set_seed(7)
    d1, _ = noisy(x)
    d2, _ = noisy(x)
    np.testing.assert_array_equal(c1.numpy(), d1.numpy())
    np.testing.assert_array_equal(c2.numpy(), d2.numpy())
    assert noisy.cache_info().traces == 1


# ---------------------------------------------------------------------------
# logging
# ---------------------------------------------------------------------------
def test_log_compiles(monkeypatch, caplog):
    monkeypatch.setattr(jaxish.config._config, "log_compiles", True)
    caplog.set_level(logging.DEBUG, logger="jaxish")

    @jaxish.trace
    def logged_fn(x):
        return x + 1.0

    logged_fn(f32(1, 2))
    logged_fn(f32(1, 2))
    logged_fn(f32(1, 2, 3))
    traces = [r.getMessage() for r in caplog.records if r.name == "jaxish" and "tracing" in r.getMessage()]
    assert len(traces) == 2, traces
    assert "logged_fn" in traces[0] and "first call" in traces[0]
    assert "logged_fn" in traces[1] and "shape" in traces[1] and "(2,)" in traces[1] and "(3,)" in traces[1]


def test_no_logs_by_default(monkeypatch, caplog):
    monkeypatch.setattr(jaxish.config._config, "log_compiles", False)
    caplog.set_level(logging.DEBUG, logger="jaxish")
    jaxish.trace(lambda x: x - 1.0)(f32(1))
    assert not [r for r in caplog.records if "tracing" in r.getMessage()]


# ---------------------------------------------------------------------------
# concretization errors
# ---------------------------------------------------------------------------
def _if_positive(x):
    if x > 0:
        return x
    return -x


def _to_float(x):
    return float(x) * 2


def _to_numpy(x):
    return x.numpy()


@pytest.mark.parametrize("fn, what", [(_if_positive, "bool"), (_to_float, "float"), (_to_numpy, "numpy")])
def test_concretization_errors(fn, what):
    traced = jaxish.trace(fn)
    with pytest.raises(jaxish.ConcretizationError) as ei:
        traced(tf.constant(1.0))
    msg = str(ei.value)
    assert isinstance(ei.value, TypeError)
    assert what in msg
    assert "'x'" in msg                       # the argument it depends on
    assert "where" in msg and "static" in msg  # how to fix it
    assert THIS_FILE in msg                    # the user's line


def test_concretization_error_names_pytree_leaf_and_variable():
    @jaxish.trace
    def f(params):
        if params["w"] > 0:
            return params["w"]
        return params["b"]

    with pytest.raises(jaxish.ConcretizationError, match=r"'params'\['w'\]"):
        f({"w": tf.constant(1.0), "b": tf.constant(2.0)})

    v = tf.Variable(1.0, name="gate")

    @jaxish.trace
    def g(x):
        return x if v > 0 else -x

    with pytest.raises(jaxish.ConcretizationError, match="gate"):
        g(tf.constant(1.0))


def test_concretization_error_names_argument_with_static_args():
    @jaxish.trace(static_argnums=(1,))
    def f(x, n):
        if x > n:
            return x
        return -x

    with pytest.raises(jaxish.ConcretizationError, match="'x'"):
        f(tf.constant(1.0), 2)


def test_static_argument_allows_python_control_flow():
    @jaxish.trace(static_argnums=(1,))
    def f(x, flag):
        if flag > 0:
            return x
        return -x

    np.testing.assert_array_equal(f(f32(1), 1).numpy(), [1])
    np.testing.assert_array_equal(f(f32(1), -1).numpy(), [-1])


# ---------------------------------------------------------------------------
# escaped tracers and shape errors
# ---------------------------------------------------------------------------
def test_escaped_tracer():
    leaked = []

    @jaxish.trace
    def leaky_function(x):
        leaked.append(x * 2.0)
        return x

    leaky_function(f32(1, 2))
    with pytest.raises(jaxish.EscapedTracerError, match="leaky_function"):
        leaked[0] + 1.0
    with pytest.raises(jaxish.EscapedTracerError, match="leaky_function"):
        tf.exp(leaked[0])
    with pytest.raises(jaxish.EscapedTracerError, match="leaky_function"):
        leaked[0].numpy()
    with pytest.raises(jaxish.EscapedTracerError, match="leaky_function"):
        jaxish.trace(lambda y: y + leaked[0])(f32(1, 2))
    assert issubclass(jaxish.EscapedTracerError, RuntimeError)


def test_shape_error_while_tracing_names_op_shapes_and_line():
    @jaxish.trace
    def bad_matmul(a, b):
        return tf.matmul(a, b)

    with pytest.raises(ValueError) as ei:
        bad_matmul(tf.ones((2, 3)), tf.ones((2, 3)))
    msg = str(ei.value)
    assert "matmul" in msg and "(2, 3)" in msg
    assert "bad_matmul" in msg
    assert f"{THIS_FILE}:" in msg and "tf.matmul(a, b)" in msg

    @jaxish.trace
    def bad_add(a, b):
        return a + b

    with pytest.raises(ValueError) as ei:
        bad_add(tf.ones((2, 3)), tf.ones((4,)))
    msg = str(ei.value)
    assert "add" in msg and "(2, 3)" in msg and "(4,)" in msg and f"{THIS_FILE}:" in msg and "a + b" in msg


# ---------------------------------------------------------------------------
# graphs
# ---------------------------------------------------------------------------
def _loss(w):
    return tf.reduce_sum(tf.tanh(w) ** 2)


def _same_loss(w):
    return tf.reduce_sum(tf.tanh(w) ** 2)


def _other_loss(w):
    return tf.reduce_sum(tf.sin(w) ** 2)


def test_make_graph_is_readable_text():
    g = jaxish.make_graph(_loss)(f32(1, 2))
    assert isinstance(g, jaxish.Graph)
    text = str(g)
    lines = text.splitlines()
    assert lines[0].startswith("{ lambda") and "float32[2]" in lines[0]
    body = [ln for ln in lines if " = " in ln]
    assert len(body) == len(g.nodes) >= 2       # one node per line
    assert any("tanh" in ln for ln in body)
    assert any("reduce_sum" in ln for ln in body)
    assert "float32[]" in text


def test_make_graph_of_grad_shows_backward_graph():
    fwd = jaxish.make_graph(_loss)(f32(1, 2))
    bwd = jaxish.make_graph(jaxish.grad(_loss))(f32(1, 2))
    text = str(bwd)
    assert "tanh" in text and "call[" in text  # the backward graph, nested in one call node
    assert [n.prim.name for n in bwd.nodes] == ["call"]
    from jaxish.passes import optimize
    executed = optimize(bwd, for_execution=True)  # inlined, and the unused forward value dropped
    assert "reduce_sum" not in str(executed)  # the gradient of sum(tanh(w)**2) is elementwise
    assert bwd.out_avals()[0].shape == (2,)
    assert fwd.fingerprint() != bwd.fingerprint()


def test_graph_fingerprint():
    x = f32(1, 2)
    a = jaxish.make_graph(_loss)(x).fingerprint()
    b = jaxish.make_graph(_same_loss)(x).fingerprint()
    c = jaxish.make_graph(_other_loss)(x).fingerprint()
    d = jaxish.make_graph(_loss)(f32(1, 2, 3)).fingerprint()
    assert a == b
    assert a != c and a != d


def test_traced_function_graph_method():
    @jaxish.trace
    def f(x):
        return tf.exp(x) * 2.0

    g = f.graph(f32(1, 2))
    assert "exp" in str(g)


# ---------------------------------------------------------------------------
# composition with tapes and grad
# ---------------------------------------------------------------------------
def test_gradient_tape_inside_traced_function(backend):
    w = tf.Variable([1.0, 2.0])

    @jaxish.trace
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(x ** 3 * w)
        gx, gw = tape.gradient(y, [x, w])
        return gx, gw

    gx, gw = grads(f32(1, 2))
    np.testing.assert_allclose(gx.numpy(), [3 * 1 * 1, 3 * 4 * 2])
    np.testing.assert_allclose(gw.numpy(), [1, 8])
    w.assign([2.0, 2.0])
    gx, _ = grads(f32(1, 2))
    np.testing.assert_allclose(gx.numpy(), [6, 24])
    assert grads.cache_info().traces == 1


def test_nested_tapes_inside_traced_function(backend):
    @jaxish.trace
    def second(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = x ** 3
            dy = inner.gradient(y, x)
        return outer.gradient(dy, x)

    np.testing.assert_allclose(second(f32(1, 2)).numpy(), [6, 12])


def test_tape_around_traced_function(backend):
    w = tf.Variable([1.0, 2.0])

    @jaxish.trace
    def loss(x):
        return tf.reduce_sum(x * w ** 2)

    x = f32(3, 4)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = loss(x)
    gx, gw = tape.gradient(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [1, 4])
    np.testing.assert_allclose(gw.numpy(), [2 * 3 * 1, 2 * 4 * 2])


def test_grad_of_traced_and_trace_of_grad(backend):
    f = jaxish.trace(lambda x: tf.reduce_sum(x ** 2))
    x = tf.constant([1.0, -2.0], dtype=tf.float64)
    np.testing.assert_allclose(jaxish.grad(f)(x).numpy(), [2, -4])
    tg = jaxish.trace(jaxish.grad(lambda x: tf.reduce_sum(x ** 2)))
    np.testing.assert_allclose(tg(x).numpy(), [2, -4])
    np.testing.assert_allclose(tg(x).numpy(), [2, -4])
    assert tg.cache_info().traces == 1


def test_nested_traced_functions(backend):
    @jaxish.trace
    def inner(x):
        return x * 3.0

    @jaxish.trace
    def outer(x):
        return inner(x) + inner(x * 2.0)

    np.testing.assert_array_equal(outer(f32(1, 2)).numpy(), [9, 18])
    np.testing.assert_array_equal(outer(f32(1, 2)).numpy(), [9, 18])
    assert outer.cache_info().traces == 1


def test_trace_decorating_a_method():
    class Scale:
        def __init__(self, w):
            self.w = tf.Variable(w)

        @jaxish.trace
        def __call__(self, x):
            return x * self.w

    a, b = Scale([1.0, 2.0]), Scale([3.0, 4.0])
    x = f32(2, 2)
    np.testing.assert_array_equal(a(x).numpy(), [2, 4])
    np.testing.assert_array_equal(b(x).numpy(), [6, 8])
    a.w.assign([5.0, 5.0])
    np.testing.assert_array_equal(a(x).numpy(), [10, 10])


def test_large_python_int_argument_is_not_truncated():
    f = jaxish.trace(lambda x: x * 1 + 1)
    try:
        out = f(2 ** 40)
    except (ValueError, OverflowError, TypeError):  # refusing, as eager tf.add(2**40, 1) does, is acceptable
        return
    assert int(out) == 2 ** 40 + 1
