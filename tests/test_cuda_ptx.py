"""Every CUDA kernel the op table, the seed chapter and the examples generate compiles to PTX for sm_90 and sm_80.

Numba's CUDA simulator runs kernels as Python and checks no types; this test
puts them through numba-cuda's real compiler (NVVM) without a GPU. It runs in
the main test process (the simulator must be off) and skips, saying why,
where numba-cuda or NVVM is missing: NVVM comes with
``pip install "numba-cuda[cu13]"`` (or a CUDA toolkit).

1. **What runs on a GPU.** The op table's sweep (``tests/cuda/test_op_table_gpu.py``:
   every dtype, every case, first derivatives of every gradient case by
   ``grad`` and by a tape, second derivatives of its representative set), the
   seed chapter and ``examples/linear_regression.py`` run here on the CPU
   (interpreter backend) with two recorders: every graph handed to the
   executable cache (traced functions, ``grad``, tapes' backward graphs) is
   what ``Executable.call_tensors`` would give the CUDA backend, and every
   eager op (``core.trace.eval_primitive``) is the one-node program the
   backend builds for it on GPU tensors (``placement._eager_program``).
2. **Building.** Each distinct graph becomes a ``codegen.Program`` with a
   GPU's launch sizes, run on host arrays with its launches recorded instead
   of run; every branch and loop body of a control-flow node is run once, on
   zeros, when it is built, so its kernels are recorded too. float16 graphs
   must raise ``Unsupported`` (no float16 lowering).
3. **Compiling.** Each distinct (kernel module, argument types) is typed and
   lowered once and put through NVVM for each compute capability. A compile
   that succeeded is remembered in the cache directory (keyed by the module's
   text, the argument types, the compute capability and the Numba/numba-cuda
   versions), so a warm run compiles only new kernels.
"""
import contextlib
import hashlib
import importlib.util
import os
import pathlib
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from op_table import BY_NAME, OPS  # noqa: E402

import jaxish as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CCS = [(9, 0), (8, 0)]


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


# ---------------------------------------------------------------------------
# 1. recording what a GPU would run
# ---------------------------------------------------------------------------
class _Recording:
    """The graphs given to the executable cache and the eager ops, while the code runs on the CPU."""

    def __init__(self):
        self.graphs: dict = {}    # graph key -> optimised graph (as the CUDA backend gets it)
        self.eager: dict = {}     # (prim, avals, params) -> output aval(s)
        self.unhashable: list = []


@pytest.fixture(scope="module")
def recorded():
    """Run the op table's GPU sweep, the seed chapter and the example on the CPU, recording graphs and ops."""
    from jaxish import backends, tape
    from jaxish.core import state, trace
    from jaxish.passes import optimize
    rec = _Recording()
    mp = pytest.MonkeyPatch()
    real_compile = backends._compile

    def compile_(graph, backend):
        g = optimize(graph, for_execution=True, inline=True)
        rec.graphs.setdefault(g.key(), g)
        return real_compile(graph, backend)

    def record(prim, vals, params, out):
        key = (prim, tuple(v.aval for v in vals), tuple(sorted(params.items())))
        try:
            hash(key)
        except TypeError:  # pragma: no cover (no primitive has unhashable parameters today)
            rec.unhashable.append(prim.name)
            return
        rec.eager.setdefault(key, tuple(o.aval for o in out) if prim.multiple_results else out.aval)

    real_eval, real_binary = trace.eval_primitive, trace.eval_binary

    def eval_primitive(prim, vals, params):
        out = real_eval(prim, vals, params)
        record(prim, vals, params, out)
        return out

    def eval_binary(prim, a, b):
        out = real_binary(prim, a, b)
        record(prim, (a, b), {}, out)
        return out
    mp.setattr(backends, "_compile", compile_)
    for mod, name, fn in [(trace, "eval_primitive", eval_primitive), (trace, "eval_binary", eval_binary),
                          (tape, "eval_primitive", eval_primitive), (tape, "eval_binary", eval_binary),
                          (state, "_eval_primitive", eval_primitive)]:
        mp.setattr(mod, name, fn)
    old = tf.config.get_backend()
    tf.config.set_backend("interpreter")
    tf.clear_cache()
    try:
        _run_op_table()
        _run_seed_chapter()
        _run_example()
    finally:
        tf.config.set_backend(old)
        mp.undo()
        tf.clear_cache()
    return rec


def _run_op_table():
    sys.path.insert(0, str(ROOT / "tests" / "cuda"))
    from test_op_table import _rng, grad_inputs, make_inputs, split_diff
    from test_op_table_gpu import SECOND_ORDER

    from jaxish.testing import check_grads
    for op in OPS:
        entries = [(op.cases[0], dt) for dt in op.dtypes] + [(c, c.dtype or op.main_dtype) for c in op.cases[1:]]
        for case, dt in entries:
            ts = [tf.constant(a) for a in make_inputs(op, case, dt, _rng(op.name, case.id, dt))]
            op.fn(*ts, **case.params)                                   # eager: one program per op
            tf.function(lambda *a, op=op, case=case: op.fn(*a, **case.params))(*ts)
        for case in op.grad_cases if op.grad else ():
            arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in grad_inputs(op, case)]
            f, xs = split_diff(op, case, arrays)
            xs = [tf.constant(x) for x in xs]
            w = tf.constant(np.ones(tuple(f(*xs).shape), np.float32))
            tf.grad(lambda *a, f=f, w=w: tf.reduce_sum(f(*a) * w), argnums=tuple(range(len(xs))))(*xs)
            with tf.GradientTape() as t:
                for x in xs:
                    t.watch(x)
                y = tf.reduce_sum(f(*xs) * w)
            t.gradient(y, xs)
    for name in SECOND_ORDER:
        op = BY_NAME[name]
        case = op.grad_cases[0]
        f, xs = split_diff(op, case, grad_inputs(op, case))
        check_grads(f, xs, order=2)


def _run_seed_chapter():
    """Chapter 1 (/work/shared/seed), every line that computes, as the GPU test (tests/cuda/test_seed_gpu.py)
    runs it."""
    tf.random.set_seed(42)
    tf.constant(1, dtype=tf.int8), tf.constant([1, 2, 3], dtype=tf.float32)
    matrix = tf.constant(np.array([[1, 2], [3, 4]]), dtype=tf.float32)
    tf.shape(matrix)
    matrix = tf.cast(matrix, dtype=tf.int8)
    o = tf.zeros((2, 2))
    x = tf.random.uniform((3, 2))
    tf.ones_like(o)
    tf.identity(x)
    e = tf.random.uniform((3, 2), dtype=x.dtype)
    tf.math.reduce_all(x.__add__(e) == tf.add(x, e))
    tf.math.reduce_all(x.__mul__(e) == tf.multiply(x, e))
    tf.math.reduce_all(x.__matmul__(tf.transpose(e)) == tf.linalg.matmul(x, e, transpose_b=True))
    matrix[0, 1], matrix[1, :2], matrix[tf.newaxis, 1, :2]
    v = tf.Variable(x)
    tf.square(v)
    v.assign(tf.square(v))
    v.assign_sub(1 * tf.ones_like(v, dtype=v.dtype))
    a = tf.Variable([4], dtype=tf.float32)
    b = tf.Variable([5], dtype=tf.float32)

    def f(a, b, power=2, d=3):
        return tf.pow(a, power) + d * b
    with tf.GradientTape(watch_accessed_variables=True) as t:
        c = f(a, b)
    t.gradient(target=c, sources=[a, b])
    d = tf.constant(3, dtype=tf.float32)
    with tf.GradientTape() as t:
        t.watch(d)
        c = f(a, b, d=d)
    t.gradient(target=c, sources=[d])
    with tf.GradientTape(persistent=True) as t:
        c = f(a, b)
    t.gradient(c, [a]), t.gradient(c, [b])


def _run_example():
    """examples/linear_regression.py with 3 iterations per loop (the kernels are those of the first one)."""
    path = ROOT / "examples" / "linear_regression.py"
    src = path.read_text()
    short = re.sub(r"range\(1001\)", "range(3)", src)
    assert short.count("range(3)") == 2, "the example's loops changed: update this test"
    exec(compile(short, str(path), "exec"), {"__name__": "example"})


# ---------------------------------------------------------------------------
# 2. building the programs with a GPU's launch sizes, launches recorded
# ---------------------------------------------------------------------------
class _Device:
    compute_capability = (9, 0)


class _Recorder:
    """Stands for a kernel: ``rec[grid, block](*args)`` records the launch."""

    def __init__(self, kernel, body, launches):
        self.kernel, self.body, self.launches = kernel, body, launches

    def __getitem__(self, config):
        def launch(*args):
            self.launches.append((self.kernel, args, self.body))
        return launch


def _no_device(mp) -> None:
    """numba-cuda asks the current device for the compute capability of the device functions a kernel calls."""
    import numba.cuda.dispatcher as dispatcher
    mp.setattr(dispatcher, "get_current_device", lambda: _Device())


BODY_LAUNCHES: list = []   # the launches of branch and loop-body programs (a subset of gpu_launches' list)


class _HostArray(np.ndarray):
    """A host array standing for a device array, with the two methods the control-flow host steps call."""

    def copy_to_host(self):
        return np.asarray(self)

    def copy_to_device(self, a):
        self[...] = a


@contextlib.contextmanager
def gpu_launches():
    """Build programs as on a GPU (its launch sizes, host arrays for device arrays); yields the list of
    ``(kernel, args, body)`` their launches record.

    Control flow runs from the host (``cuda/control_flow.py``): a cond reads its branch index, a while its
    predicate, which recorded launches never compute (zeros: the first branch, no iteration). So every branch
    and loop body program is run once, on zeros, when it is built: all of their kernels launch."""
    from jaxish.backends.cuda import codegen, control_flow, runtime
    launches: list = []
    mp = pytest.MonkeyPatch()
    mp.setattr(runtime, "_CONFIG", [runtime.LaunchConfig(
        block=256, max_blocks=132 * 8, reduce_block=256, items=16, serial_rows=132 * 256, tile=16,
        small_matmul=16 * 16 * 16)])
    mp.setattr(runtime, "simulator", lambda: False)
    mp.setattr(runtime, "empty", lambda shape, dtype: np.zeros(shape, dtype).view(_HostArray))
    mp.setattr(runtime, "to_device", lambda a: np.ascontiguousarray(a).view(_HostArray))
    real_load, real_program = codegen.load_kernel, control_flow._program
    _no_device(mp)

    def program(graph):
        prog = real_program(graph)
        before = len(launches)
        run_program(prog, graph.invars, [])
        BODY_LAUNCHES.extend(launches[before:])
        return prog
    mp.setattr(control_flow, "_program", program)

    def load_kernel(body, extra=""):
        handle, kernel = real_load(body, extra)
        return handle, _Recorder(kernel, body, launches)
    mp.setattr(codegen, "load_kernel", load_kernel)
    try:
        yield launches
    finally:
        mp.undo()


def run_program(prog, invars, consts) -> None:
    prog([np.zeros(v.aval.shape, v.aval.dtype.np).view(_HostArray) for v in invars] +
         [np.asarray(c._value if hasattr(c, "_value") else c).view(_HostArray) for c in consts])


@pytest.fixture(scope="module")
def built(recorded):
    """``(launches, programs, float16 errors)`` of every recorded graph and eager op."""
    from jaxish.backends.cuda import placement
    from jaxish.backends.cuda.codegen import Program, Unsupported
    progs, f16 = [], []

    def build(make, invars, consts):
        try:
            prog = make()
        except Unsupported as e:
            if "float16" not in str(e):
                raise
            f16.append(str(e))
            return
        run_program(prog, invars, consts)
        progs.append(prog)
    with gpu_launches() as launches:
        for g in recorded.graphs.values():
            build(lambda g=g: Program(g), g.invars, g.consts)
        for (prim, avals, params), out in recorded.eager.items():
            build(lambda: placement._eager_program(prim, avals, dict(params), out),
                  [type("V", (), {"aval": a}) for a in avals], [])
    return launches, progs, f16


# ---------------------------------------------------------------------------
# 3. compiling
# ---------------------------------------------------------------------------
def _lower(kernel, sig):
    """Type and lower ``kernel`` for ``sig`` (what ``compile_ptx`` does before NVVM): its code library."""
    from numba.cuda.compiler import _compile_pyfunc_with_fixup
    return _compile_pyfunc_with_fixup(kernel.py_func, sig, device=False, abi="numba", cc=min(CCS))[0]


def _nvvm(libs, cc) -> None:
    """PTX for ``cc`` of the code libraries ``libs``, in one NVVM compilation unit (libdevice is linked once)."""
    from numba.cuda.cudadrv import nvrtc, nvvm
    opts = dict(libs[0]._nvvm_options, arch=nvrtc.get_arch_option(*cc))
    assert nvvm.compile_ir([ir for lib in libs for ir in lib.llvm_strs], **opts)


BATCH = 48


def _done_dir() -> pathlib.Path:
    import numba
    import numba_cuda

    from jaxish.config import cache_dir
    d = pathlib.Path(cache_dir()) / f"ptx-ok-{numba.__version__}-{numba_cuda.__version__}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def compile_all(launches, ccs) -> tuple:
    """``(kernels, compiled now, failures)``: every distinct (module, argument types) of ``launches``, typed
    and lowered once, then through NVVM for each of ``ccs`` in batches (a failing batch is compiled one kernel
    at a time to name the culprit). Successes leave a stamp in the cache directory."""
    import numba
    seen, failures, todo = set(), [], []
    done = _done_dir()
    with pytest.MonkeyPatch.context() as mp:
        _no_device(mp)
        for kernel, args, _ in launches:
            sig = tuple(numba.typeof(a) for a in args)
            key = (kernel.py_func.__module__, sig)   # the module's name is a hash of its text
            if key in seen:
                continue
            seen.add(key)
            stamp = done / hashlib.sha256(f"{key[0]}\0{sig}\0{ccs}".encode()).hexdigest()
            if stamp.exists():
                continue
            try:
                todo.append((key, _lower(kernel, sig), stamp))
            except Exception as e:  # noqa: BLE001
                failures.append(f"{key[0]} {sig}: {type(e).__name__}: {str(e)[:600]}")
        for i in range(0, len(todo), BATCH):
            batch = todo[i:i + BATCH]
            bad = set()
            for cc in ccs:
                try:
                    _nvvm([lib for _, lib, _ in batch], cc)
                    continue
                except Exception:  # noqa: BLE001 (found below, one kernel at a time)
                    pass
                for key, lib, _ in batch:
                    try:
                        _nvvm([lib], cc)
                    except Exception as e:  # noqa: BLE001
                        bad.add(key)
                        failures.append(f"{key[0]} {key[1]} cc={cc}: {type(e).__name__}: {str(e)[:600]}")
            for key, _, stamp in batch:
                if key not in bad:
                    stamp.touch()
    return len(seen), len(todo), failures


def test_float16_is_refused_by_name(built):
    _, _, f16 = built
    assert f16, "the op table has float16 entries: their programs must raise Unsupported"
    assert all("float16" in e and "cuda backend" in e for e in f16)


def test_every_generated_kernel_compiles_to_ptx(recorded, built):
    launches, progs, _ = built
    assert len(recorded.graphs) > 500 and len(recorded.eager) > 500 and progs
    n, fresh, failures = compile_all(launches, CCS)
    print(f"{len(recorded.graphs)} graphs, {len(recorded.eager)} eager ops, {len(progs)} programs: "
          f"{n} kernels, {fresh} compiled now for {CCS}")
    assert n > 300
    assert len({k.py_func.__module__ for k, _, _ in BODY_LAUNCHES}) > 10, "no branch or loop body kernels"
    assert not failures, f"{len(failures)} of {n} kernels do not compile:\n" + "\n".join(failures)


def test_kernel_paths_at_gpu_sizes_compile():
    """The reduction and matmul paths a GPU takes at larger sizes (tiled matmul, trees, chunked trees) for the
    narrow and wide dtypes."""
    from jaxish.backends.cuda.codegen import Program
    from jaxish.passes import optimize
    graphs = [(lambda a: a @ tf.transpose(a), [tf.constant(np.ones((64, 96), np.float32))]),
              (lambda a: a @ tf.transpose(a), [tf.constant(np.ones((64, 96), np.float64))]),
              (lambda a: (tf.reduce_sum(a), tf.reduce_max(a, 0), tf.reduce_sum(a, 1)),
               [tf.constant(np.ones((3000, 70), np.float32))]),
              (lambda a: tf.random.uniform((4, 5)) + a, [tf.constant(np.ones(5, np.float32))])]
    for dt in ("int8", "uint8", "int64", "float64", "bool"):  # serial rows, trees and chunked trees
        a = tf.constant(np.ones((3, 40000), dt))
        graphs.append((lambda t: (t == t, tf.reduce_max(t, 1), tf.reduce_min(t[:, :3], 1), tf.reduce_max(t)), [a]))
    progs = []
    with gpu_launches() as launches:
        for make, args in graphs:
            g = optimize(tf.make_graph(make)(*args), for_execution=True)
            prog = Program(g)
            run_program(prog, g.invars, g.consts)
            progs.append(prog)
    bodies = "\n".join(body for _, _, body in launches)
    assert "cuda.shared.array((16, 16)" in bodies and "cuda.blockIdx.y * chunk" in bodies  # tiled, chunked tree
    n, _, failures = compile_all(launches, CCS)
    assert not failures, f"{len(failures)} of {n} kernels do not compile:\n" + "\n".join(failures)

