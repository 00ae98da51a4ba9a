"""Review of the eager fast paths (branch eager: the tape's structure trie with parent/step links and identity
hints, bind_unary/process_unary, the front-end fast paths of matmul/reduce_mean/square/reflected operators,
Variable.assign_add/sub, tape.gradient's Variable path): the cases the review exercised that
test_tape_recording.py does not, each against a float64 NumPy reference (or, for a structure, the general path).

No wrong answer was found (one memory defect: the last test); the others keep the reviewed behaviour:
alternating structures that share a prefix in several threads at once, a Variable updated while the tape
holds its old value, second derivatives through bind_unary (reduce_mean's fast path) under nested tapes,
persistent tapes mixing the Variable fast path with the general path, and the plan built from the trie
path when plans are not cached (vjp_cache_size=0).
"""
import sys
import threading

import numpy as np
import pytest

import jaxish as tf
from jaxish import config
from jaxish import tape as tape_mod

RNG = np.random.default_rng(2026)
X = RNG.standard_normal((4, 3)).astype(np.float32)
C = RNG.standard_normal((4, 2)).astype(np.float32)


def _ref_grad(kind, v):
    """d/dv of the loss ``kind`` of ``h = X @ v`` (the means are over 8 elements), in float64."""
    x, c, v = X.astype(np.float64), C.astype(np.float64), v.astype(np.float64)
    h = x @ v
    dh = {0: 2 * (h - c), 1: c, 2: np.full_like(h, 2.0), 3: h}[kind] / h.size
    return x.T @ dh


def _loss(kind, x, c, v):
    h = tf.linalg.matmul(x, v)  # the prefix every kind shares (its hints are overwritten by the others)
    if kind == 0:
        return tf.reduce_mean(tf.square(h - c))
    if kind == 1:
        return tf.reduce_mean(h * c)
    if kind == 2:
        return tf.reduce_mean(2.0 * h - c)
    return tf.reduce_mean(tf.square(h) * 0.5)


def test_threads_alternating_structures_with_a_shared_prefix():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors = []

    def work(kind):
        try:
            v = tf.Variable(RNG.standard_normal((3, 2)).astype(np.float32))
            x, c = tf.constant(X), tf.constant(C)
            for _ in range(40):
                k = kind if kind < 4 else _ % 4  # one thread switches structure every step
                with tf.GradientTape(persistent=(k == 3)) as tape:
                    loss = _loss(k, x, c, v)
                g = tape.gradient(loss, v).numpy()
                np.testing.assert_allclose(g, _ref_grad(k, v.numpy()), rtol=1e-4, atol=1e-6)
                v.assign_sub(tf.constant(np.float32(0.01) * g))
        except Exception as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1, 2, 3, 4, 0)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]


def test_variable_updated_while_recorded_uses_the_recorded_value():
    v = tf.Variable(np.float32([2.0, -1.0]))
    for _ in range(2):  # (the second step walks the hints)
        v.assign(tf.constant(np.float32([2.0, -1.0])))
        with tf.GradientTape() as tape:
            y = v * v                                   # reads v0
            v.assign_add(tf.constant(np.float32([10.0, 10.0])))  # the fast path (same dtype, strong)
            z = tf.reduce_sum(y * v)                    # reads v1 = v0 + 10: z = v0^2 v1
        v0 = np.float64([2.0, -1.0])
        # two reads of v, each its own graph input: d z/d v0 + d z/d v1 at the recorded values
        np.testing.assert_allclose(tape.gradient(z, v).numpy(), 2 * v0 * (v0 + 10) + v0 ** 2, rtol=1e-6)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v * v * v)
    v.assign_sub(tf.constant(np.float32([1.0, 1.0])))  # after recording, before the gradient
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), 3 * np.float64([12.0, 9.0]) ** 2, rtol=1e-6)


def test_second_derivative_through_reduce_mean_fast_path():
    a = np.float32([1.0, 2.0, 4.0])
    x = tf.constant(a)
    tf.reduce_mean(x)  # the per-aval cache holds x's aval: the tapes below see bind_unary's path
    for _ in range(2):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_mean(tf.square(x) * x)    # mean(x^3)
            g = inner.gradient(y, x)                    # x^2
            z = tf.reduce_mean(tf.square(g))            # mean(x^4) (as a function of x)
        a64 = a.astype(np.float64)
        np.testing.assert_allclose(g.numpy(), a64 ** 2, rtol=1e-6)
        np.testing.assert_allclose(outer.gradient(z, x).numpy(), 4 * a64 ** 3 / 3, rtol=1e-6)


def test_persistent_tape_mixes_the_variable_path_and_the_general_path():
    w = tf.Variable(RNG.standard_normal((3, 2)).astype(np.float32))
    b = tf.Variable(np.float32([0.5, -0.5]))
    x, c = tf.constant(X), tf.constant(C)
    with tf.GradientTape(persistent=True) as tape:
        h = tf.linalg.matmul(x, w) + b
        loss = tf.reduce_mean(tf.square(h - c))
    x64, c64, w64, b64 = (a.astype(np.float64) for a in (X, C, w.numpy(), b.numpy()))
    dh = 2 * (x64 @ w64 + b64 - c64) / 8
    gw, gb = x64.T @ dh, dh.sum(0)
    for _ in range(2):
        np.testing.assert_allclose(tape.gradient(loss, w).numpy(), gw, rtol=1e-5, atol=1e-6)       # fast path
        got = tape.gradient(loss, {"w": w, "b": [b]})                                              # general
        np.testing.assert_allclose(got["w"].numpy(), gw, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["b"][0].numpy(), gb, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(tape.gradient(loss, b).numpy(), gb, rtol=1e-5, atol=1e-6)       # fast path
        np.testing.assert_allclose(tape.gradient(loss, w, output_gradients=tf.constant(3.0)).numpy(), 3 * gw,
                                   rtol=1e-5, atol=1e-6)
    jac = tape.jacobian(h, b).numpy()  # d h[i, j] / d b[k] = (j == k)
    np.testing.assert_array_equal(jac, np.broadcast_to(np.eye(2, dtype=np.float32), (4, 2, 2)))
    u = tf.Variable(np.float32([1.0]))
    assert tape.gradient(loss, u) is None
    np.testing.assert_array_equal(tape.gradient(loss, u, unconnected_gradients="zero").numpy(), np.float32([0.0]))


@pytest.fixture
def _no_plan_cache():
    old = config.cache_limit("vjp_cache_size")
    config.set_cache_limits(vjp_cache_size=0)
    try:
        yield
    finally:
        config.set_cache_limits(vjp_cache_size=old)
        tape_mod._SHAPES.clear()


def test_plans_built_from_the_trie_path_without_a_plan_cache(_no_plan_cache):
    # every new trie node empties the trie (limit 0): a tape records on detached nodes and its plan is
    # built from its own path (parent/step links)
    v = tf.Variable(RNG.standard_normal((3, 2)).astype(np.float32))
    x, c = tf.constant(X), tf.constant(C)
    for k in (0, 1, 0, 2, 3):
        with tf.GradientTape() as tape:
            loss = _loss(k, x, c, v)
        np.testing.assert_allclose(tape.gradient(loss, v).numpy(), _ref_grad(k, v.numpy()), rtol=1e-4, atol=1e-6)


def test_emptied_trie_is_freed_without_the_cycle_collector():
    """Defect (low severity, memory; new in branch eager): a trie node now links to its parent and the parent's
    ``next`` to the node, so every trie is a reference cycle. When the trie is emptied (its bound, or
    ``clear_caches``), its plans (backward graphs, the targets' seed tensors) are freed only when the cyclic
    garbage collector runs, not when the last reference goes, as before (8f310c0 frees them at once).
    Fixed on branch review_eager: ``_ShapeTrie.clear`` drops the old trie's ``next`` links and hints."""
    import gc
    import weakref
    x = tf.constant(np.ones((64, 64), np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    shape = tape._shape
    tape.gradient(y, x)
    seed = weakref.ref(next(iter(shape.plans.values())).ones(0))  # the plan's seed: a target-shaped Tensor
    del shape, tape, y
    was = gc.isenabled()
    gc.disable()
    try:
        tape_mod._SHAPES.clear()
        assert seed() is None, "the emptied trie's plans are kept alive by parent/next cycles"
    finally:
        if was:
            gc.enable()
