"""Bugs the differential fuzzer (tests/test_fuzz.py) found that issue 7 does not list: one minimal reproducer
each, a strict xfail while it is open (the fuzzer's generator then steers clear of it through
``fuzz.programs.KNOWN``, same name); when a bug is fixed, remove its xfail mark and its ``KNOWN`` entry."""
from __future__ import annotations

import numpy as np
import pytest

import jaxish as tf


def _traced(backend, fn):
    """``fn`` eagerly, or under ``@trace`` on ``backend``."""
    if backend == "eager":
        return fn
    def run(*args):
        old = tf.config.get_backend()
        tf.config.set_backend(backend)
        try:
            return tf.trace(fn)(*args)
        finally:
            tf.config.set_backend(old)
    return run


MODES = ["eager", "interpreter", "cpu"]


def test_empty_multi_index():
    x = np.zeros((0, 2, 2), np.float32)
    got = tf.constant(x)[:, [0], [1]]
    assert got.shape == x[:, [0], [1]].shape


@pytest.mark.parametrize("mode", MODES)
def test_slice_negative_step(mode):
    x = np.array([1.0, 2.0], np.float32)
    got = _traced(mode, lambda t: t[-3::-1])(tf.constant(x))
    np.testing.assert_array_equal(got.numpy(), x[-3::-1])


NO_OPS = {"transpose": lambda t: tf.transpose(t), "reshape": lambda t: tf.reshape(t, (2,)),
          "slice": lambda t: t[:], "broadcast_to": lambda t: tf.broadcast_to(t, (2,)),
          "squeeze": lambda t: tf.squeeze(t), "cast": lambda t: tf.cast(t, tf.float32),
          "reduce_sum_no_axes": lambda t: tf.reduce_sum(t, axis=[]),
          "reduce_max_no_axes": lambda t: tf.reduce_max(t, axis=[]),
          "concat_one": lambda t: tf.concat([t], axis=0), "add_n_one": lambda t: tf.add_n([t])}


@pytest.mark.parametrize("op", NO_OPS.values(), ids=NO_OPS.keys())
def test_tape_source_alias(op):
    # TensorFlow: y = op(x) is a new tensor; z = -x does not use it, so dz/dy is None while dz/dx is -1
    x = tf.constant([3.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = op(x)
        tape.watch(y)
        z = tf.reduce_sum(-x)
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_array_equal(gx.numpy(), [-1.0, -1.0])
    assert gy is None


@pytest.mark.parametrize("op", NO_OPS.values(), ids=NO_OPS.keys())
def test_no_op_result_under_a_tape_still_carries_the_gradient(op):
    x = tf.constant([3.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = tf.reduce_sum(op(x) * x)
    np.testing.assert_array_equal(tape.gradient(z, x).numpy(), [6.0, 8.0])


@pytest.mark.parametrize("op", NO_OPS.values(), ids=NO_OPS.keys())
def test_no_op_of_a_variable_is_a_tensor(op):
    v = tf.Variable([3.0, 4.0])
    out = op(v)
    assert isinstance(out, tf.Tensor) and not isinstance(out, tf.Variable)
    np.testing.assert_array_equal(out.numpy(), [3.0, 4.0])
    v.assign([5.0, 6.0])  # the result is a value, not a view of the Variable
    np.testing.assert_array_equal(out.numpy(), [3.0, 4.0])
    with tf.GradientTape() as tape:
        z = tf.reduce_sum(op(v) * 2.0)
    np.testing.assert_array_equal(tape.gradient(z, v).numpy(), [2.0, 2.0])
