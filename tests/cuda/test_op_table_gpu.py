"""The op table (tests/op_table.py) on the GPU: every entry's values and gradients against NumPy and the
interpreter.

The same sweep as the CPU suite (``tests/test_op_table.py``), with GPU
tensors: every dtype of every op (first case), every case (main dtype), the
NaN/inf inputs of every floating dtype, each eagerly (one small program per
op) and traced (one program per graph, called twice: a cache hit with other
inputs must be right and leave the first result alone); first derivatives of
every gradient case by ``grad`` and by ``GradientTape`` (float32, against the
interpreter's float64 gradient) and first and second derivatives of a
representative set in float64 against finite differences, all on the GPU.

What differs from the CPU suite, and why:

* shapes: the cases sized for the CPU's parallel kernels (``BIG``, 512x600)
  run at ``SIM_BIG`` (still several blocks and grid-stride loops) under the
  simulator, which runs every CUDA thread as Python;
* float16: the CUDA backend has no float16 lowering (the CPU backend runs
  float16 graphs on the interpreter too). Every float16 entry checks the
  error (``NotImplementedError`` naming float16 and the op) without soft
  placement and the values of the CPU fallback, on GPU tensors, with it.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
from cuda_helpers import GPU, on_gpu
from op_table import BIG, BY_NAME, FLOATS, OPS, generate
from test_op_table import (
    REF_TOL,
    ROUND_TOL,
    _rng,
    _tol,
    check_result,
    grad_inputs,
    make_inputs,
    reference,
    special_inputs,
    split_diff,
)

import jaxish as tf
from jaxish.backends.cuda.runtime import simulator
from jaxish.core.tensor import Tracer
from jaxish.testing import assert_allclose, check_grads

#: BIG's stand-in under the simulator: more elements than one grid-stride pass of the simulator's launches
SIM_BIG = (24, 40)

#: test id -> reason: entries that cannot pass on the simulated GPU (strict xfail, so a fix is noticed)
KNOWN: dict = {}


def _sim_case(case):
    if not simulator():
        return case
    shapes = tuple(SIM_BIG if s == BIG else (SIM_BIG[1],) if s == BIG[1:] else s for s in case.shapes)
    return case if shapes == case.shapes else replace(case, shapes=shapes)


def _float16(op, dtype, case) -> bool:
    return dtype == "float16" or op.name == "cast_to_float16"


def _param(test, values, id_):
    reason = KNOWN.get(f"{test}[{id_}]")
    return pytest.param(*values, id=id_, marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else [])


_FALLBACK_EXPECTED: list = [False]


@pytest.fixture(autouse=True)
def _on_the_gpu():
    """Nothing but the float16 entries may run on the CPU (soft placement would do so silently but for a
    one-time warning)."""
    from jaxish.backends.cuda.placement import STATS
    before = STATS["cpu_fallbacks"]
    _FALLBACK_EXPECTED[0] = False
    yield
    if not _FALLBACK_EXPECTED[0]:
        assert STATS["cpu_fallbacks"] == before, "part of the computation ran on the CPU (soft placement)"


# ---------------------------------------------------------------------------
# running one entry
# ---------------------------------------------------------------------------
def run_gpu(op, case, arrays, dtype, again=None):
    """Eager and traced on GPU tensors vs the NumPy reference; traced vs eager within float rounding; a
    second traced call (``again``: other inputs of the same shapes) is right and leaves the first alone."""
    ref, expected, scale = reference(op, case, arrays, dtype)
    xs = [on_gpu(a) for a in arrays]
    eager = op.fn(*xs, **case.params)
    assert eager.device == GPU, f"{op.name}: the eager result left the GPU"
    check_result(eager, ref, expected, scale, REF_TOL, what=f"eager {op.name} on the GPU")
    f = tf.function(lambda *a: op.fn(*a, **case.params))
    out = f(*xs)
    assert out.device == GPU, f"{op.name}: the traced result left the GPU"
    check_result(out, ref, expected, scale, REF_TOL, what=f"traced {op.name} on the GPU")
    if expected in FLOATS:
        rtol, atol = _tol(ROUND_TOL, expected, scale)
        assert_allclose(out.numpy(), eager.numpy(), rtol=max(rtol, 1e-5), atol=atol,
                        err_msg=f"traced vs eager {op.name} on the GPU")
    else:
        np.testing.assert_array_equal(out.numpy(), eager.numpy())
    if again is not None:
        first = out.numpy().copy()
        ref2, _, scale2 = reference(op, case, again, dtype)
        check_result(f(*[on_gpu(a) for a in again]), ref2, expected, scale2, REF_TOL,
                     what=f"second traced call of {op.name} on the GPU")
        np.testing.assert_array_equal(out.numpy(), first, err_msg="a second call changed the first result")


#: float16 entries whose programs compute nothing (a cast to the same dtype, x * 1 simplified to x)
COMPUTE_NOTHING = {("cast_to_float16", "float16"), ("mul_one", "float16")}


def run_float16(op, case, arrays, dtype):
    """No float16 on the CUDA backend: without soft placement an error naming float16 and the op, eagerly and
    traced; with soft placement (the default) the CPU computes it, on copies, and the result is on the GPU."""
    _FALLBACK_EXPECTED[0] = True
    ref, expected, scale = reference(op, case, arrays, dtype)
    xs = [on_gpu(a) for a in arrays]
    f = tf.function(lambda *a: op.fn(*a, **case.params))
    if (op.name, dtype) in COMPUTE_NOTHING:  # the optimised program has no node: nothing to refuse
        for out in (op.fn(*xs, **case.params), f(*xs)):
            assert out.device == GPU
            check_result(out, ref, expected, scale, REF_TOL, what=f"{op.name} of float16")
        return
    old = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(False)
    try:
        with pytest.raises(NotImplementedError, match="float16") as err:
            op.fn(*xs, **case.params)
        assert "soft_device_placement" in str(err.value), str(err.value)
        assert re.search(r"\(\w+ of .*float16\[", str(err.value)), f"the error names no op: {err.value}"
        with pytest.raises(NotImplementedError, match="float16"):
            f(*xs)
    finally:
        tf.config.set_soft_device_placement(old)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallback's warning is checked by test_placement
        tf.config.set_soft_device_placement(True)
        try:
            outs = [op.fn(*xs, **case.params), f(*xs)]
        finally:
            tf.config.set_soft_device_placement(old)
    for out, what in zip(outs, ("eager", "traced")):
        assert out.device == GPU, f"{what} {op.name}: the result of the CPU fallback is not on the GPU"
        check_result(out, ref, expected, scale, REF_TOL, what=f"{what} {op.name} (float16, CPU fallback)")


def _run(op, case, arrays, dtype, again=None):
    if _float16(op, dtype, case):
        run_float16(op, case, arrays, dtype)
    else:
        run_gpu(op, case, arrays, dtype, again)


# ---------------------------------------------------------------------------
# values: every dtype (first case), every case (main dtype), NaN/inf
# ---------------------------------------------------------------------------
DTYPE_PARAMS = [_param("test_dtype", (op, dt), f"{op.name}-{dt}") for op in OPS for dt in op.dtypes]


@pytest.mark.parametrize("op,dtype", DTYPE_PARAMS)
def test_dtype(op, dtype):
    case = _sim_case(op.cases[0])
    _run(op, case, make_inputs(op, case, dtype, _rng(op.name, case.id, dtype)), dtype,
         again=make_inputs(op, case, dtype, _rng("again", op.name, case.id, dtype)))


CASE_PARAMS = [_param("test_case", (op, case), f"{op.name}-{case.id}") for op in OPS for case in op.cases[1:]]


@pytest.mark.parametrize("op,case", CASE_PARAMS)
def test_case(op, case):
    """The other cases (the first is the dtype sweep's) at the op's main dtype."""
    dt = case.dtype or op.main_dtype
    case = _sim_case(case)
    _run(op, case, make_inputs(op, case, dt, _rng(op.name, case.id, dt)), dt)


SPECIAL_PARAMS = [_param("test_specials", (op, dt), f"{op.name}-{dt}")
                  for op in OPS for dt in op.dtypes if dt in FLOATS and op.specials]


@pytest.mark.parametrize("op,dtype", SPECIAL_PARAMS)
def test_specials(op, dtype):
    _run(op, op.cases[0], special_inputs(op, dtype), dtype)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------
GRAD_PARAMS = [_param("test_gradients", (op, case), f"{op.name}-{case.id}")
               for op in OPS if op.grad for case in op.grad_cases]


@pytest.mark.parametrize("op,case", GRAD_PARAMS)
def test_gradients(op, case):
    """``grad`` and ``GradientTape`` on GPU tensors (float32) agree with each other and with the interpreter's
    float64 gradient; the gradients stay on the GPU."""
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in grad_inputs(op, case)]
    f, xs = split_diff(op, case, arrays)
    w = _rng("cotangent", op.name).uniform(0.5, 1.5, np.shape(f(*[tf.constant(x) for x in xs]))).astype(np.float32)
    gw = on_gpu(w)
    gxs = [on_gpu(x) for x in xs]
    g_grad = tf.grad(lambda *a: tf.reduce_sum(f(*a) * gw), argnums=tuple(range(len(xs))))(*gxs)
    with tf.GradientTape() as tape:
        for x in gxs:
            tape.watch(x)
        y = tf.reduce_sum(f(*gxs) * gw)
    g_tape = tape.gradient(y, gxs)
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    try:
        w64 = tf.constant(w.astype(np.float64))
        g64 = tf.grad(lambda *a: tf.reduce_sum(f(*a) * w64), argnums=tuple(range(len(xs))))(
            *[tf.constant(x.astype(np.float64)) for x in xs])
    finally:
        tf.config.set_backend(old)
    for k, (a, b, c) in enumerate(zip(g_grad, g_tape, g64)):
        assert a.device == GPU and b.device == GPU, f"gradient {k} left the GPU"
        assert a.dtype == tf.float32 and b.dtype == tf.float32
        assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"grad vs tape, argument {k}")
        assert_allclose(a.numpy(), c.numpy().astype(np.float32), rtol=1e-4, atol=1e-5,
                        err_msg=f"GPU float32 vs float64 gradient, argument {k}")


#: second derivatives on the GPU, one or two ops of each family (the interpreter runs them all in test_op_table)
SECOND_ORDER = ["multiply", "divide", "pow", "maximum", "exp", "log", "tanh", "sigmoid", "erf", "softplus", "where",
                "clip_by_value", "rdiv_scalar", "reduce_sum", "reduce_mean", "reduce_max",
                "reduce_prod", "reduce_logsumexp", "matmul", "transpose", "concat", "broadcast_to", "tile", "gather",
                "softmax", "log_softmax"]
SECOND_PARAMS = [_param("test_second_order", (BY_NAME[n], BY_NAME[n].grad_cases[0]), n) for n in SECOND_ORDER]


@pytest.mark.parametrize("op,case", SECOND_PARAMS)
def test_second_order(op, case):
    """First and second derivatives (float64, everything on the GPU: the inputs, every finite-difference
    evaluation and the compiled backward-of-backward graphs) against central finite differences."""
    f, xs = split_diff(op, case, grad_inputs(op, case))
    seen = []

    def g(*a):
        out = f(*a)
        if not isinstance(out, Tracer):  # the finite differences' evaluations
            seen.append(out.device)
        return out
    with tf.device("/gpu:0"):
        check_grads(g, xs, order=2)
    assert seen and set(seen) == {GPU}


def test_table_is_covered():
    """Every op of the table, every dtype, case and gradient case is in this sweep."""
    ids = {p.id for p in DTYPE_PARAMS}
    assert all(f"{op.name}-{dt}" in ids for op in OPS for dt in op.dtypes)
    assert len(CASE_PARAMS) + len(OPS) == sum(len(op.cases) for op in OPS)
    assert len(GRAD_PARAMS) == sum(len(op.grad_cases) for op in OPS if op.grad)
    assert {op.name for op in OPS if op.grad} >= set(SECOND_ORDER)
    assert generate("real", SIM_BIG, "float32", np.random.default_rng(0)).size > 32 * 4  # > one grid pass
