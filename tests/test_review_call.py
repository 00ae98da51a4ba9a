"""Review of the generated call (``jaxish.fast_call``, ``TracedFunction._mono``): defects found, each as a minimal
reproduction. Thread interleavings are reproduced deterministically by running, at the point where another
thread could run, what that thread does."""
from collections import deque

import numpy as np

import jaxish as tf


def test_clear_cache_racing_a_hit_does_not_leave_a_stale_guarded_call():
    """``clear_cache`` in another thread between the shortcut's lookup and its setting of ``_mono``: the cleared
    signature must not stay the function's first try for good (before the generated call, the racing call alone
    ran the cleared trace; every later call retraced). Here the function reads a global that changes, which is
    what ``clear_cache`` is for; a stale ``_mono`` also pins the cleared executable and its pooled buffers."""
    scale = {"v": 2.0}

    @tf.trace
    def f(x):
        return x * scale["v"]

    x = tf.constant(np.ones(3, np.float32))
    for _ in range(3):
        f(x)

    class RacyDict(dict):  # the other thread's clear_cache runs right after the lookup
        armed = True

        def get(self, key, default=None):
            hit = dict.get(self, key, default)
            if RacyDict.armed:
                RacyDict.armed = False
                f.clear_cache()
            return hit

    f._fast = RacyDict(f._fast)
    f._mono = None
    f(x)                      # the racing call: may run the cleared trace (it started before the clear)
    scale["v"] = 5.0          # changed after the clear returned: later calls retrace and see it
    np.testing.assert_array_equal(f(x).numpy(), np.full(3, 5.0, np.float32))
    assert f.cache_info().size == 1


def test_pool_keeps_at_most_two_sets_after_concurrent_calls():
    """``fast_call``'s pool "keeps the last two sets": calls that run at the same time (threads; here three calls
    run, deterministically, while another has taken its set) each make a new set, and every one goes back to the
    pool, which never shrinks again: each set (the outputs' buffers) stays allocated for as long as the signature
    is cached. Before the generated call the buffers' pool was cut to two after each call."""
    @tf.trace
    def f(x):
        return x * 2.0

    x = tf.constant(np.ones(4, np.float32))
    for _ in range(3):
        f(x)
    ns = f._mono.__globals__

    class Concurrent(deque):  # three other calls run right after this call took its set
        others = 3

        def popleft(self):
            item = deque.popleft(self)
            while Concurrent.others:
                Concurrent.others -= 1
                f(x)
            return item

    ns["P0"] = Concurrent(ns["P0"], maxlen=ns["P0"].maxlen)
    f(x)
    for _ in range(10):
        np.testing.assert_array_equal(f(x).numpy(), np.full(4, 2.0, np.float32))
    assert len(ns["P0"]) <= 2

