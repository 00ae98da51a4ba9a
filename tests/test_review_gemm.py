"""Adversarial review of the GEMM update fusion (``backends/cpu/gemm_update.py``) and of simplify's negation
rule (``x * -y -> -(x * y)``): minimal repros of the defects found, each against an independent reference
(the interpreter backend, NumPy)."""
import numpy as np
import pytest

import jaxish as tf

mm = tf.matmul


def _interpreted(fn, *args):
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        return fn(*args).numpy()
    finally:
        tf.config.set_backend(old)


def _square(n, seed):
    return tf.constant((np.random.default_rng(seed).standard_normal((n, n)) * 0.05).astype(np.float32))


LOOP_BODIES = {
    # the SGD-in-a-loop form gemm_update fuses: the loop body's result buffer is the pooled buffer p<k>,
    # the same array every iteration, so from the second iteration on it is also the carried ``w`` that
    # BLAS reads as an operand while writing C (C aliases A)
    "w - c*(w@a)": lambda w, a: w - 0.5 * mm(w, a),
    "w - c*(a@w)": lambda w, a: w - 0.5 * mm(a, w),
    # pre-existing, without gemm_update: any non-elementwise step whose output is pooled
    "w@a": lambda w, a: mm(w, a),
    "transpose(w) + 1": lambda w, a: tf.transpose(w) + 1.0,
}


@pytest.mark.parametrize("body", sorted(LOOP_BODIES))
def test_loop_carry_in_a_pooled_buffer_is_not_overwritten(cpu_backend, body):
    """A loop body's result of at least ``buffers.POOL_BYTES`` (512 x 512 float32 = 1 MiB) that becomes the
    next carry must not be written into the buffer the carry already lives in."""
    step = LOOP_BODIES[body]
    w, a = _square(512, 0), _square(512, 1)

    def f(w, a):
        return tf.fori_loop(0, 3, lambda i, w: step(w, a), w)
    want = _interpreted(f, w, a)
    got = tf.trace(f)(w, a).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_while_loop_sgd_carry_in_a_pooled_buffer(cpu_backend):
    w, a = _square(512, 2), _square(512, 3)

    def f(w, a):
        return tf.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] - 0.5 * mm(c[1], a)),
                             (tf.constant(0), w))[1]
    np.testing.assert_allclose(tf.trace(f)(w, a).numpy(), _interpreted(f, w, a), rtol=1e-4, atol=1e-4)


def test_product_also_read_by_a_loop_body_is_not_dropped(cpu_backend):
    """The product's other use is inside a control-flow body (fine: checked, passes)."""
    rng = np.random.default_rng(4)
    a, b, w = (tf.constant(rng.standard_normal(s).astype(np.float32)) for s in ((40, 30), (30, 20), (40, 20)))

    def f(a, b, w):
        p = mm(a, b)
        return w - 0.5 * p + tf.fori_loop(0, 2, lambda i, c: c + p, tf.zeros((40, 20)))
    np.testing.assert_allclose(tf.trace(f)(a, b, w).numpy(), _interpreted(f, a, b, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["x * -y", "-x * y", "-x * -y"])
def test_negation_rule_keeps_nans_and_every_other_bit(backend, form):
    """``x * -y -> -(x * y)``: NaN exactly where NumPy's result is NaN, every other result bit for bit (signed zeros,
    infinities). The sign bit of a NaN may differ: IEEE 754 leaves it unspecified (documented in simplify.py)."""
    x = np.float32([np.nan, 2.0, -np.nan, 3.0, 0.0, -0.0, np.inf, 1e-45, -5.5])
    y = np.float32([2.0, np.nan, 2.0, -np.nan, -1.0, 3.0, -2.0, 0.5, -0.0])
    fn = {"x * -y": lambda x, y: x * -y, "-x * y": lambda x, y: -x * y, "-x * -y": lambda x, y: -x * -y}[form]
    want = fn(x, y)
    got = tf.trace(fn)(tf.constant(x), tf.constant(y)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok].view(np.uint32), want[ok].view(np.uint32))


LOOPS = {
    "scan": lambda w, a: tf.scan(lambda c, x: (c - 0.5 * mm(c, a), c), w, tf.zeros((3,))),
    "nested fori_loop": lambda w, a: tf.fori_loop(
        0, 2, lambda i, w: tf.fori_loop(0, 2, lambda j, w: w - 0.5 * mm(w, a), w) + 0.0 * w, w),
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_scan_and_nested_loop_carries_in_pooled_buffers(cpu_backend, loop):
    """The same defect through scan (carry and stacked outputs) and a loop inside a loop body."""
    f = LOOPS[loop]
    w, a = _square(512, 5), _square(512, 6)
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        ref = f(w, a)
    finally:
        tf.config.set_backend(old)
    want = [t.numpy() for t in (list(ref) if isinstance(ref, (tuple, list)) else [ref])]
    got = tf.trace(f)(w, a)
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    for g, r in zip(got, want):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-4, atol=1e-4)
