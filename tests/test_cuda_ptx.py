"""Every CUDA kernel the op table and the seed's training step generate compiles to PTX for sm_90 and sm_80.

Numba's CUDA simulator runs kernels as Python and checks no types; this test
puts them through numba-cuda's real compiler (NVVM) without a GPU: programs
are built with the launch sizes of a GPU, their launches are recorded instead
of run (on host arrays of the right dtypes and ranks), and each recorded
kernel is compiled with ``numba.cuda.compile_ptx`` for the recorded argument
types. It runs in the main test process (the simulator must be off) and
skips, saying why, where numba-cuda or NVVM is missing: NVVM comes with
``pip install "numba-cuda[cu13]"`` (or a CUDA toolkit).
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from op_table import BY_NAME, OPS  # noqa: E402

import jaxish as tf  # noqa: E402


def _why_not() -> str:
    if importlib.util.find_spec("numba_cuda") is None:
        return 'numba-cuda is not installed (pip install "jaxish[cuda]")'
    from numba.core import config
    if config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM is set: compiling to PTX needs Numba's real CUDA target"
    try:
        from numba import cuda
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(9, 0))
    except Exception as e:  # noqa: BLE001 (NvvmSupportError, a missing libNVVM, ...)
        return (f"NVVM is not available ({type(e).__name__}: {str(e).strip().splitlines()[0][:120]}); "
                f'pip install "numba-cuda[cu13]" brings it')
    return ""


WHY = _why_not()
pytestmark = pytest.mark.skipif(bool(WHY), reason=WHY)


class _Device:
    compute_capability = (9, 0)


class _Recorder:
    """Stands for a kernel: ``rec[grid, block](*args)`` records the launch."""

    def __init__(self, kernel, launches):
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, config):
        def launch(*args):
            self.launches.append((self.kernel, args))
        return launch


@pytest.fixture
def recording(monkeypatch):
    """Build CUDA programs without a GPU: GPU launch sizes, host arrays, recorded launches."""
    import numba.cuda.dispatcher as dispatcher

    from jaxish.backends.cuda import codegen, runtime
    launches: list = []
    monkeypatch.setattr(runtime, "_CONFIG", [runtime.LaunchConfig(
        block=256, max_blocks=132 * 8, reduce_block=256, items=16, serial_rows=132 * 256, tile=16,
        small_matmul=16 * 16 * 16)])
    monkeypatch.setattr(runtime, "simulator", lambda: False)
    monkeypatch.setattr(runtime, "empty", lambda shape, dtype: np.zeros(shape, dtype))
    monkeypatch.setattr(runtime, "to_device", lambda a: np.ascontiguousarray(a))
    real_load = codegen.load_kernel
    monkeypatch.setattr(codegen, "load_kernel", lambda body, extra="": (
        lambda hk: (hk[0], _Recorder(hk[1], launches)))(real_load(body, extra)))
    # numba-cuda asks the current device for the compute capability of device functions a kernel calls
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())
    yield launches


def _programs(graph_fns):
    """Build and run (recording) the CUDA program of each graph; returns the programs (they keep their kernel
    modules loaded)."""
    from jaxish.backends.cuda.codegen import Program
    from jaxish.passes import optimize
    progs = []
    for make, args in graph_fns:
        g = optimize(tf.make_graph(make)(*args), for_execution=True)
        prog = Program(g)
        prog([np.zeros(v.aval.shape, v.aval.dtype.np) for v in g.invars] +
             [np.asarray(c._value) for c in g.consts])
        progs.append(prog)
    return progs


def _compile_all(launches, ccs):
    import numba
    from numba import cuda
    seen, failures = set(), []
    for kernel, args in launches:
        sig = tuple(numba.typeof(a) for a in args)
        key = (kernel.py_func.__module__, sig)
        if key in seen:
            continue
        seen.add(key)
        for cc in ccs:
            try:
                cuda.compile_ptx(kernel.py_func, sig, cc=cc)
            except Exception as e:  # noqa: BLE001
                failures.append(f"{key[0]} {sig} cc={cc}: {type(e).__name__}: {str(e)[:600]}")
    return len(seen), failures


def _op_graphs(ops):
    from test_op_table import _rng, make_inputs
    out = []
    for op in ops:
        case = op.cases[0]
        dt = case.dtype or (op.main_dtype if op.main_dtype != "float16" else "float32")
        if dt == "float16" or op.name == "cast_to_float16":
            continue
        arrays = make_inputs(op, case, dt, _rng(op.name, case.id, dt))
        out.append((lambda *xs, op=op, case=case: op.fn(*xs, **case.params), [tf.constant(a) for a in arrays]))
        if op.grad and op.grad_cases:
            g_arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a
                        for a in make_inputs(op, op.grad_cases[0], "float32", _rng("ptx", op.name))]
            if all(a.dtype.kind == "f" for a in g_arrays):
                gc = op.grad_cases[0]
                out.append((lambda *xs, op=op, gc=gc: tf.grad(
                    lambda *a: tf.reduce_sum(op.fn(*a, **gc.params)), argnums=tuple(range(len(xs))))(*xs),
                    [tf.constant(a) for a in g_arrays]))
    return out


def test_op_table_kernels_compile_to_ptx(recording):
    progs = _programs(_op_graphs(OPS))
    n, failures = _compile_all(recording, [(9, 0)])
    print(f"{n} kernels compiled to PTX for sm_90")
    assert n > 50 and progs
    assert not failures, f"{len(failures)} of {n} kernels do not compile for sm_90:\n" + "\n".join(failures)


def test_seed_step_and_dtypes_compile_to_ptx_sm80_and_sm90(recording):
    x, y = tf.constant(np.ones((32, 5), np.float32)), tf.constant(np.ones((32, 1), np.float32))
    w = tf.Variable(np.ones((5, 1), np.float32))

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w)))
        w.assign_add(-0.05 * tape.gradient(loss, w))
        return loss
    big = tf.constant(np.ones((64, 96), np.float32))
    graphs = [(step, [x, y]), (lambda a: a @ tf.transpose(a), [big]),       # a tiled matmul
              (lambda a: (tf.reduce_sum(a), tf.reduce_max(a, 0)), [tf.constant(np.ones((3000, 70), np.float32))]),
              (lambda a: tf.random.uniform((4, 5)) + a, [tf.constant(np.ones(5, np.float32))])]
    graphs += _op_graphs([BY_NAME[n] for n in ("add", "reduce_sum", "argmax", "gather", "concat")])
    for dt in ("int8", "uint8", "int64", "float64", "bool"):  # serial rows, trees and chunked trees
        a = tf.constant(np.ones((3, 40), dt))
        graphs.append((lambda t: (t == t, tf.reduce_max(t, 1), tf.reduce_min(t[:, :3], 1), tf.reduce_max(t)), [a]))
    progs = _programs(graphs)
    n, failures = _compile_all(recording, [(9, 0), (8, 0)])
    assert progs and not failures, f"{len(failures)} of {n} kernels do not compile:\n" + "\n".join(failures)
