"""The op table (tests/op_table.py) on the GPU: values and gradients against NumPy and the interpreter.

Under the simulator every program costs real time, so the GPU runs a subset
of the CPU suite's sweep: each op's first case eagerly and traced, NaN/inf
inputs at float32, the integer and float64 dtypes of a few ops of each
family, and first derivatives of every differentiable op (grad and tape).
float16 has no CUDA lowering yet (see test_placement.py).
"""
import numpy as np
import pytest
from cuda_helpers import GPU, on_gpu
from op_table import BY_NAME, OPS
from test_op_table import (
    FLOATS,
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
from jaxish.testing import assert_allclose


def run_gpu(op, case, arrays, dtype, traced=True):
    """Eager (and traced) on GPU tensors vs the NumPy reference; traced vs eager within float rounding."""
    ref, expected, scale = reference(op, case, arrays, dtype)
    xs = [on_gpu(a) for a in arrays]
    eager = op.fn(*xs, **case.params)
    assert eager.device == GPU, f"{op.name}: the eager result left the GPU"
    check_result(eager, ref, expected, scale, REF_TOL, what=f"eager {op.name} on the GPU")
    if not traced:
        return
    out = tf.function(lambda *a: op.fn(*a, **case.params))(*xs)
    assert out.device == GPU, f"{op.name}: the traced result left the GPU"
    check_result(out, ref, expected, scale, REF_TOL, what=f"traced {op.name} on the GPU")
    if expected in FLOATS:
        rtol, atol = _tol(ROUND_TOL, expected, scale)
        assert_allclose(out.numpy(), eager.numpy(), rtol=max(rtol, 1e-5), atol=atol)


def _dtype(op):
    return op.main_dtype if op.main_dtype != "float16" else "float32"


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_first_case(op):
    case = op.cases[0]
    dt = case.dtype or _dtype(op)
    if dt == "float16" or op.name == "cast_to_float16":
        pytest.skip("float16 has no CUDA lowering yet")
    run_gpu(op, case, make_inputs(op, case, dt, _rng(op.name, case.id, dt)), dt)


SPECIAL_OPS = [op for op in OPS if op.specials and "float32" in op.dtypes and op.name != "cast_to_float16"]


@pytest.mark.parametrize("op", SPECIAL_OPS, ids=lambda o: o.name)
def test_specials_float32(op):
    run_gpu(op, op.cases[0], special_inputs(op, "float32"), "float32", traced=False)


DTYPE_OPS = ["add", "multiply", "floordiv", "mod", "pow", "maximum", "abs", "sign", "where", "cast_to_int8",
             "cast_to_uint8", "cast_to_bool", "cast_to_float64", "reduce_sum", "reduce_prod", "reduce_max",
             "argmax", "matmul", "transpose", "gather", "concat"]
DTYPE_PARAMS = [pytest.param(BY_NAME[n], dt, id=f"{n}-{dt}") for n in DTYPE_OPS for dt in BY_NAME[n].dtypes
                if dt not in ("float16", "float32")]


@pytest.mark.parametrize("op,dtype", DTYPE_PARAMS)
def test_dtypes(op, dtype):
    if op.name == "sign" and dtype[0] in "iu" and simulator():
        pytest.xfail("simulator only: its kernels run the integer sign template (a > 0) - (a < 0) as Python, "
                     "where NumPy bools do not subtract (compiled code computes it in integers)")
    case = op.cases[0]
    run_gpu(op, case, make_inputs(op, case, dtype, _rng(op.name, case.id, dtype)), dtype, traced=False)


GRAD_PARAMS = [pytest.param(op, op.grad_cases[0], id=op.name) for op in OPS if op.grad and op.grad_cases]


@pytest.mark.parametrize("op,case", GRAD_PARAMS)
def test_gradients(op, case):
    """``grad`` and ``GradientTape`` on GPU tensors (float32) agree with each other and with the interpreter's
    float64 gradient."""
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
