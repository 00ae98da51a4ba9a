"""The generated call of a traced function (``jaxish.fast_call``): after the first call, every eager call with
positional Tensors runs it -- guarded, Tensors pooled with their buffers, the output structure built by an
expression. Each test compares what it returns with NumPy (or with the general path's first call) and checks
that whatever a caller still holds keeps its value."""
import collections
import gc
import weakref

import numpy as np
import pytest
from thread_helpers import in_threads

import jaxish as tf
from jaxish.fast_call import MISS, free_refcount
from jaxish.tree_util import tree_flatten


def _x(n=5, scale=1.0):
    return tf.constant(np.linspace(-1, 1, n).astype(np.float32) * np.float32(scale))


def _vg():
    def f(x):
        return tf.reduce_sum(tf.tanh(0.5 * x + 1) ** 2 + tf.exp(-x * x))
    return tf.trace(tf.value_and_grad(f))


def _vg_ref(x):
    x = x.numpy().astype(np.float64)
    t = np.tanh(0.5 * x + 1)
    return np.sum(t ** 2 + np.exp(-x * x)), 2 * t * (1 - t * t) * 0.5 - 2 * x * np.exp(-x * x)


def test_value_and_grad_results_are_right_on_every_path():
    vg = _vg()
    for k in range(6):   # first call (general path), then the generated call, then its guarded form
        x = _x(7, 1.0 + k)
        v, g = vg(x)
        rv, rg = _vg_ref(x)
        assert v.shape == () and g.shape == (7,) and v.dtype == tf.float32 and g.dtype == tf.float32
        np.testing.assert_allclose(v.numpy(), rv, rtol=1e-5)
        np.testing.assert_allclose(g.numpy(), rg, rtol=1e-5, atol=1e-6)
    assert vg.cache_info().hits == 5 and vg.cache_info().misses == 1


def test_pooled_results_held_in_every_way_keep_their_values():
    """A 0-d result is a view of a (1,) buffer: every way of holding it (the Tensor, a NumPy view, an eager
    reshape, which views the buffer itself, a memoryview, a DLPack export) keeps it."""
    vg = _vg()
    vg(_x()), vg(_x())
    kept = []
    for k in range(10):
        x = _x(5, 1.0 + k)
        v, g = vg(x)
        rv, rg = _vg_ref(x)
        how = k % 5
        if how == 0:
            kept.append((rv, rg, v, g))
        elif how == 1:
            kept.append((rv, rg, np.asarray(v), np.asarray(g)))
        elif how == 2:
            kept.append((rv, rg, tf.reshape(v, (1,)), tf.reshape(g, (5, 1))))
        elif how == 3:
            kept.append((rv, rg, memoryview(np.asarray(v)), memoryview(np.asarray(g))))
        else:
            kept.append((rv, rg, np.from_dlpack(v), np.from_dlpack(g)))
        del v, g
        for _ in range(3):   # (the function is even: the scale's sign does not change the value)
            vg(_x(5, 0.37))
    gc.collect()
    for rv, rg, v, g in kept:
        np.testing.assert_allclose(np.asarray(v).reshape(()), rv, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(g).reshape(5), rg, rtol=1e-5, atol=1e-6)


def test_a_weakly_referenced_result_is_never_reused():
    vg = _vg()
    vg(_x()), vg(_x())
    v, g = vg(_x(5, 6.0))
    wv, wg = weakref.ref(v), weakref.ref(g)
    vals = v.numpy(), g.numpy()
    del v, g
    for _ in range(3):
        vg(_x(5, 0.37))
    for w, val in zip((wv, wg), vals):
        if w() is not None:
            np.testing.assert_array_equal(w().numpy(), val)


def test_dropped_results_reuse_their_tensors_and_buffers():
    if not free_refcount():
        pytest.skip("reference counts prove nothing on this interpreter: buffers are never reused")
    vg = _vg()
    x = _x(6)
    vg(x), vg(x)
    ids = set()
    for _ in range(6):
        v, g = vg(x)
        ids.add((id(v), id(g), v._value.base.ctypes.data, g._value.ctypes.data))
        del v, g
    assert len(ids) == 1


def test_a_result_held_for_good_does_not_make_every_call_allocate():
    if not free_refcount():
        pytest.skip("reference counts prove nothing on this interpreter: buffers are never reused")
    vg = _vg()
    x = _x(6)
    vg(x), vg(x)
    first = vg(x)        # held until the end
    want = [t.numpy() for t in first]
    ids = set()
    for _ in range(8):
        v, g = vg(_x(6, 0.37))
        ids.add((id(v), id(g)))
        del v, g
    assert len(ids) == 1
    for t, w in zip(first, want):
        np.testing.assert_array_equal(t.numpy(), w)


def test_a_result_passed_back_in_stays_on_the_guarded_call():
    @tf.trace
    def step(w):
        return w * 0.5 + 1.0

    w = tf.constant(np.full(4, 8.0, np.float32))
    ref = np.full(4, 8.0, np.float32)
    for _ in range(10):
        w = step(w)
        ref = ref * np.float32(0.5) + np.float32(1.0)
    np.testing.assert_array_equal(w.numpy(), ref)
    assert step._mono is not None and step._mono((w,)) is not MISS   # (the result's aval is the interned one)
    assert step.cache_info().misses == 1


@pytest.mark.parametrize("structure", ["dict", "nested", "none", "namedtuple", "single_tuple", "list"])
def test_output_structures(structure):
    Pair = collections.namedtuple("Pair", "a b")

    def f(x):
        a, b = x * 2.0, tf.reduce_sum(x)
        return {"dict": lambda: {"z": a, "a": b, "m": [a, b]},
                "nested": lambda: (a, [b, (a,)], ()),
                "none": lambda: (None, a, None),
                "namedtuple": lambda: Pair(a, b),
                "single_tuple": lambda: (b,),
                "list": lambda: [a, b]}[structure]()

    traced = tf.trace(f)
    x = _x(3)
    first = traced(x)
    for _ in range(3):
        out = traced(x)
        assert type(out) is type(first)
        assert tree_flatten(out)[1] == tree_flatten(first)[1]
        if isinstance(out, dict):
            assert list(out) == list(first)
        got = [t.numpy() for t in _leaves(out)]
        want = [t.numpy() for t in _leaves(first)]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    if structure == "namedtuple":
        assert isinstance(out, Pair)


def _leaves(tree):
    return tree_flatten(tree)[0]


def test_guard_falls_back_for_other_calls():
    """Another shape, a dtype, a keyword, a NumPy argument, a device scope, a trace around the call: each takes
    the general path and gives the right result; wrong argument counts raise the function's own error."""
    @tf.trace
    def f(x, y):
        return x * y + 1.0

    a, b = _x(4), _x(4, 2.0)
    ref = a.numpy() * b.numpy() + 1
    for _ in range(3):
        np.testing.assert_allclose(f(a, b).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(f(_x(6), _x(6)).numpy(), _x(6).numpy() ** 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(f(a, y=b).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(f(a.numpy(), b).numpy(), ref, rtol=1e-6)
    a64 = tf.constant(a.numpy().astype(np.float64))
    out = f(a64, tf.constant(b.numpy().astype(np.float64)))
    assert out.dtype == tf.float64
    with tf.device("/CPU:0"):
        np.testing.assert_allclose(f(a, b).numpy(), ref, rtol=1e-6)
    g = tf.trace(lambda x: f(x, b) * 2.0)
    np.testing.assert_allclose(g(a).numpy(), ref * 2, rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = tf.reduce_sum(f(a, b))
    np.testing.assert_allclose(tape.gradient(y, a).numpy(), b.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="positional argument"):
        f(a)
    with pytest.raises(TypeError, match="positional argument"):
        f(a, b, b)
    np.testing.assert_allclose(f(a, b).numpy(), ref, rtol=1e-6)


def test_variable_updates_alternate_and_keep_held_values():
    v = tf.Variable(np.ones(3, np.float32))

    @tf.trace
    def step(x):
        v.assign(v * 2.0 + x)
        return tf.reduce_sum(v)

    x = _x(3)
    ref = np.ones(3, np.float32)
    held = []
    for k in range(8):
        before = v.read_value()
        loss = step(x)
        ref = ref * np.float32(2) + x.numpy()
        np.testing.assert_array_equal(v.numpy(), ref)
        if k % 2:
            held.append((before, before.numpy().copy(), loss, np.sum(ref)))
    for t, val, loss, s in held:
        np.testing.assert_array_equal(t.numpy(), val)
        np.testing.assert_allclose(loss.numpy(), s, rtol=1e-6)


def test_threads_calling_the_guarded_call_keep_their_results():
    vg = _vg()
    vg(_x(16)), vg(_x(16))

    def work(t):
        held = []
        for k in range(150):
            x = _x(16, 1.0 + 0.01 * (t * 150 + k))
            v, g = vg(x)
            if k % 2:
                held.append((x, v, g))
        for x, v, g in held:
            rv, rg = _vg_ref(x)
            np.testing.assert_allclose(v.numpy(), rv, rtol=1e-5)
            np.testing.assert_allclose(g.numpy(), rg, rtol=1e-5, atol=1e-6)

    in_threads(work, 4)
