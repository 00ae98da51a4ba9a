"""Run a random program in every mode and compare: values, Variables, random draws and gradients.

Modes: eager, ``@trace`` on the interpreter backend, ``@trace`` on the cpu (Numba) backend (called twice: the
second call, with other argument values, is a cache hit). Each mode's results are compared with a NumPy evaluation
of the same program fed with that mode's random draws (eager draws differ from traced ones by design; the two
traced modes must draw the same numbers): bit-exact where every op on the way is exact, otherwise within the
spread of NumPy runs perturbed by a few rounding errors after every inexact op (a tolerance that follows the
program's own conditioning). Gradients (``grad`` and ``GradientTape`` on each backend, of a weighted sum of the
outputs) are compared with each other and with central finite differences of the float64 version of the program,
computed with NumPy.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

import jaxish as tf
from fuzz.programs import ASSIGN, FLOATS, RANDOM, Program, index_out_of_range, run_numpy, to_jaxish
from jaxish.backends import cpu as cpu_backend

NOISY_RUNS = 4


@contextlib.contextmanager
def backend(name):
    old = tf.config.get_backend()
    tf.config.set_backend(name)
    try:
        yield
    finally:
        tf.config.set_backend(old)


class Mismatch(AssertionError):
    pass


def _np(x):
    return None if x is None else np.asarray(x.numpy() if hasattr(x, "numpy") else x)


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------
def compare(got, clean, noisy, exact, what, program):
    """``got`` (a mode's result) against the NumPy result ``clean``; ``noisy``: perturbed NumPy results."""
    def fail(msg):
        raise Mismatch(f"{what}: {msg}\nprogram:\n{program.text()}\n{program!r}")
    got = np.asarray(got)
    if got.dtype != clean.dtype:
        fail(f"dtype {got.dtype}, expected {clean.dtype}")
    if got.shape != clean.shape:
        fail(f"shape {got.shape}, expected {clean.shape}")
    if exact or clean.dtype.kind not in "f":
        if exact:
            same = _same(got, clean)
        else:   # an integer or boolean result computed from inexact floats: where the noisy runs agree
            stable = np.all([_same(n, clean) for n in noisy], axis=0) if noisy else np.ones(clean.shape, bool)
            same = _same(got, clean) | ~stable
        if not np.all(same):
            fail(f"{'exact ' if exact else ''}values differ at {np.argwhere(~same)[:5].tolist()}:\n"
                 f"got      {got[~same][:8]}\nexpected {clean[~same][:8]}")
        return
    c, g = clean.astype(np.float64), got.astype(np.float64)
    ns = np.array([n.astype(np.float64) for n in noisy])
    with np.errstate(all="ignore"):
        spread = np.max(np.abs(ns - c), axis=0) if len(ns) else np.zeros_like(c)
        nonfinite_stable = np.all((np.isnan(ns) == np.isnan(c)) & (np.isinf(ns) == np.isinf(c)), axis=0)
        eps = np.finfo(clean.dtype).eps
        tiny = np.finfo(clean.dtype).tiny * 4
        tol = 4 * spread + 4 * eps * np.abs(c) + tiny
        ok = (np.abs(g - c) <= tol) | (np.isnan(g) & np.isnan(c)) | (g == c)
        ok |= ~nonfinite_stable | np.isnan(spread) | np.isinf(spread)
    if not np.all(ok):
        bad = ~ok
        fail(f"values differ at {np.argwhere(bad)[:5].tolist()}:\ngot      {g[bad][:8]}\nexpected {c[bad][:8]}\n"
             f"tolerance {tol[bad][:8]}")


def _same(a, b):
    """Bitwise equality (NaN equals NaN; -0.0 and 0.0 differ)."""
    if a.dtype.kind == "f":
        return (a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))
    return a == b


def reference(program, args, var_init, draws):
    """The clean NumPy run and the noisy ones."""
    clean = run_numpy(program, args, var_init, draws)
    # random perturbations, and all up or all down (which bracket a monotone chain: int casts near a boundary)
    noises = [np.random.default_rng(k) for k in range(NOISY_RUNS)] + [3.0, -3.0]
    noisy = [run_numpy(program, args, var_init, draws, noise=n) for n in noises]
    return clean, noisy


def check_against_numpy(program, run, args, var_init, what):
    outs, draws, variables = run
    clean, noisy = reference(program, args, var_init, draws)
    for j, (got, c) in enumerate(zip(outs, clean.outputs)):
        compare(got, c, [n.outputs[j] for n in noisy], clean.exact_outputs[j], f"{what}: output {j}", program)
    for k, (got, c) in enumerate(zip(variables, clean.variables)):
        compare(got, c, [n.variables[k] for n in noisy], clean.exact_variables[k], f"{what}: Variable {k}",
                program)
    return clean


# ---------------------------------------------------------------------------
# forward runs
# ---------------------------------------------------------------------------
def new_variables(var_init):
    return [tf.Variable(tf.constant(v)) for v in var_init]


def run_forward(program: Program, mode: str, calls: int = 1):
    """[(outputs, draws, final Variable values) for each call] in ``mode`` ('eager', 'interpreter', 'cpu')."""
    args, var_init = program.arrays()
    variables = new_variables(var_init)
    fn = to_jaxish(program, variables)
    tf.random.set_seed(program.seed)
    results = []
    if mode == "eager":
        return [_collect(fn(*[tf.constant(a) for a in args]), variables)]
    with backend(mode):
        f = tf.trace(fn)
        fallbacks = cpu_backend.STATS["fallbacks"]
        for call in range(calls):
            args = program.arrays(call)[0]
            # the second call: other values, as NumPy arrays and tensors of non-contiguous views
            inputs = [tf.constant(a) for a in args] if call == 0 else \
                [v if k % 2 else tf.constant(v) for k, v in enumerate(map(strided, args))]
            results.append(_collect(f(*inputs), variables))
        if cpu_backend.STATS["fallbacks"] != fallbacks:
            raise Mismatch(f"the cpu backend fell back to the interpreter\n{program!r}")
    return results


@contextlib.contextmanager
def raising(what, program):
    """Turn an exception of jaxish into a Mismatch that shows the program."""
    try:
        yield
    except Mismatch:
        raise
    except Exception as e:  # noqa: BLE001 - every jaxish error is a finding here
        raise Mismatch(f"{what}: {type(e).__name__}: {e}\nprogram:\n{program.text()}\n{program!r}") from e


def strided(a: np.ndarray) -> np.ndarray:
    """A non-contiguous view with ``a``'s values."""
    buf = np.zeros(a.shape + (2,), a.dtype)
    buf[..., 1] = a
    return buf[..., 1]


def _collect(out, variables):
    outs, draws = out
    return [_np(o) for o in outs], [_np(d) for d in draws], [_np(v.read_value()) for v in variables]


def check_forward(program: Program, modes=("eager", "interpreter", "cpu")):
    """Every mode against NumPy; the traced modes draw the same random numbers."""
    args, var_init = program.arrays()
    traced_draws = None
    oob = index_out_of_range(program)
    for mode in modes:
        if mode == "eager" and oob:   # the documented IndexError, where traced modes clamp
            try:
                run_forward(program, mode)
            except IndexError as e:
                if "out of bounds" in str(e):
                    continue
            raise Mismatch(f"eager: no IndexError for an out-of-range index\n{program.text()}\n{program!r}")
        with raising(mode, program):
            runs = run_forward(program, mode, calls=1 if mode == "eager" else 2)
        state = var_init
        for call, run in enumerate(runs):
            call_args = program.arrays(call)[0]
            clean = check_against_numpy(program, run, call_args, state, f"{mode} (call {call + 1})")
            state = clean.variables
        if mode != "eager":
            draws = [d for run in runs for d in run[1]]
            if traced_draws is None:
                traced_draws = draws
            else:
                kinds = [op for op, _, _ in program.steps if op in RANDOM] * len(runs)
                for d0, d1, kind in zip(traced_draws, draws, kinds):
                    # uniform draws are exact; normal ones go through log1p, sqrt and cos (libm vs NumPy)
                    eps = 0 if kind == "random_uniform" else 4 * np.finfo(d0.dtype).eps
                    if not np.allclose(d0, d1, rtol=eps, atol=eps):
                        raise Mismatch(f"{mode}: random draws differ from the other traced mode:\n{d0}\n{d1}\n"
                                       f"{program.text()}\n{program!r}")


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------
def loss_weights(program: Program, outs) -> list:
    rng = np.random.default_rng(program.weights_seed)
    return [rng.uniform(-1, 1, np.shape(o)).astype(np.asarray(o).dtype) for o in outs]


def make_loss(program: Program, variables, weights, hook=None):
    fn = to_jaxish(program, variables, hook)

    def loss(*args):
        outs, draws = fn(*args)
        total = None
        for o, w in zip(outs, weights):
            term = tf.reduce_sum(o * tf.constant(w))
            total = term if total is None else total + term
        return total, draws
    return loss


def float_args(program):
    return [k for k, (dt, _, _) in enumerate(program.args) if dt in FLOATS]


def run_gradients(program: Program, mode: str, how: str, weights):
    """(loss, gradients w.r.t. the float arguments, gradients w.r.t. the Variables or None, draws, Variables,
    the tape's intermediate source: (value id, gradient) or None)."""
    args, var_init = program.arrays()
    variables = new_variables(var_init)
    source = {}
    loss = make_loss(program, variables, weights, hook=_source_hook(program, source))
    tensors = [tf.constant(a) for a in args]
    wrt = float_args(program)
    tf.random.set_seed(program.seed)
    with backend(mode):
        if how == "grad":
            if not wrt:
                return None
            (value, draws), g = tf.trace(tf.value_and_grad(loss, argnums=tuple(wrt), has_aux=True))(*tensors)
            g_args, g_vars = list(g), None
        else:
            with tf.GradientTape() as tape:
                tape.watch([tensors[k] for k in wrt])
                source["tape"] = tape
                value, draws = loss(*tensors)
            step = source.get("step")
            g = tape.gradient(value, [tensors[k] for k in wrt] + variables + ([step[1]] if step else []))
            g_args, g_vars = g[:len(wrt)], g[len(wrt):len(wrt) + len(variables)]
            step = step and (step[0], _np(g[-1]))
    return (_np(value), [_np(x) for x in g_args], None if g_vars is None else [_np(x) for x in g_vars],
            [_np(d) for d in draws], [_np(v.read_value()) for v in variables], None if how == "grad" else step)


def _source_hook(program, source):
    """A ``to_jaxish`` hook that makes a float intermediate (the first at or after a position drawn from the
    program's weights seed) a source of the tape in ``source['tape']`` too."""
    start = program.weights_seed % len(program.steps)

    def hook(i, value):
        tape = source.get("tape")
        if tape is not None and "step" not in source and i >= start and \
                program.steps[i][0] not in ("arg", "read") + RANDOM and getattr(value, "dtype", None) is not None \
                and value.dtype.is_floating:
            tape.watch(value)
            source["step"] = (i, value)
    return hook


def numpy_loss(program, args, var_init, draws, weights, **kw):
    run = run_numpy(program, args, var_init, draws, **kw)
    return sum(float(np.sum(o.astype(np.float64) * w)) for o, w in zip(run.outputs, weights)), run


def finite_differences(program: Program, draws, weights, h=1e-5, keys=None, data_flow=False):
    """Central differences of the float64 program (NumPy): {('arg', k), ('var', k) or ``keys`` (as ('step', i)):
    (gradient, usable)}, where ``usable`` is False at elements where steps h and h/2 disagree (a kink or a
    discontinuity nearby). A read of a Variable keeps its unperturbed value (a tape: the assignment is not
    differentiated, as in TensorFlow), or with ``data_flow`` it reads what the perturbed run assigned (``grad``
    of a traced function: JAX's data flow, ``tests/test_autodiff_assign_read.py``)."""
    p64 = program.to_float64()
    args, var_init = p64.arrays()
    draws = [np.asarray(d, np.float64) for d in draws]
    w64 = [w.astype(np.float64) for w in weights]
    l0, base = numpy_loss(p64, args, var_init, draws, w64)
    out = {"reads": None if data_flow else base.reads}
    if keys is None:
        keys = [("arg", k) for k in float_args(program)] + [("var", k) for k in range(len(var_init))]
    for key in keys:
        shape = {"arg": args, "var": var_init, "step": base.values}[key[0]][key[1]].shape
        grads, one_sided = [], np.zeros(shape)  # one_sided: |forward - backward difference| at step h
        for step in (h, h / 2):
            g = np.zeros(shape)
            for idx in np.ndindex(*shape):
                d = np.zeros(shape)
                d[idx] = step
                lp = numpy_loss(p64, args, var_init, draws, w64, perturb={key: d}, reads=out["reads"])[0]
                lm = numpy_loss(p64, args, var_init, draws, w64, perturb={key: -d}, reads=out["reads"])[0]
                g[idx] = (lp - lm) / (2 * step)
                if step == h:
                    with np.errstate(all="ignore"):
                        one_sided[idx] = abs((lp - l0) - (l0 - lm)) / step
            grads.append(g)
        g1, g2 = grads
        with np.errstate(all="ignore"):
            # a kink right at the point (max/min ties, abs(0)) gives consistent central differences at both
            # steps but different one-sided ones
            usable = np.isfinite(g1) & (np.abs(g1 - g2) <= 1e-4 * (1 + np.abs(g2))) \
                & (one_sided <= 1e-3 * (1 + np.abs(g2)))
        out[key] = (g2, usable)
    return out


GRAD_TOL = {"float16": (2e-2, 1e-2), "float32": (2e-3, 1e-3), "float64": (1e-6, 1e-7)}


def _close(got, want, dtype, what, program, usable=None):
    rtol, atol = GRAD_TOL[dtype]
    want = np.asarray(want, np.float64)
    got = np.zeros_like(want) if got is None else np.asarray(got, np.float64)
    if got.shape != want.shape:
        raise Mismatch(f"{what}: gradient shape {got.shape}, expected {want.shape}\n{program.text()}\n{program!r}")
    scale = float(np.max(np.abs(want), initial=0.0))
    with np.errstate(all="ignore"):
        ok = np.abs(got - want) <= rtol * np.abs(want) + atol * (1 + scale)
    if usable is not None:
        ok |= ~usable
    if not np.all(ok):
        raise Mismatch(f"{what}: gradients differ at {np.argwhere(~ok)[:5].tolist()}:\ngot      {got[~ok][:8]}\n"
                       f"expected {want[~ok][:8]}\nprogram:\n{program.text()}\n{program!r}")


def check_gradients(program: Program, modes=("interpreter", "cpu"), hows=("grad", "tape"), use_jax=False):
    """Gradients of a weighted sum of the outputs in each mode, against each other and finite differences (and
    JAX's gradients of the float64 program, where finite differences are usable, with ``use_jax``)."""
    dtype = program.args[0][0] if program.args else "float32"
    dtypes = {dt for dt, _, _ in program.args if dt in FLOATS} | {dt for dt, _, _ in program.variables}
    if dtypes - {"float32", "float64"} or len(dtypes) > 1:
        return
    dtype = dtypes.pop() if dtypes else "float32"
    # a cast to a narrower float rounds the cotangent too (as in JAX): the narrowest float sets the tolerance
    casts = {op[8:] for op, _, _ in program.steps if op.startswith("cast_to_float")}
    dtype = min(casts | {dtype}, key=lambda t: np.dtype(t).itemsize)
    oob = index_out_of_range(program)
    if oob:   # an eager run (and a tape) raises IndexError
        hows = tuple(h for h in hows if h != "tape")
    outs = run_forward(program, "interpreter" if oob else "eager")[0][0]
    if not all(np.all(np.isfinite(o)) and np.all(np.abs(o) < 1e4) for o in outs):
        return   # overflowing programs: finite differences say nothing
    weights = loss_weights(program, outs)
    fd_cache = {}
    args, var_init = program.arrays()
    for how in hows:
        first = None
        for mode in modes:
            with raising(f"{how} on {mode}", program):
                res = run_gradients(program, mode, how, weights)
            if res is None:
                continue
            value, g_args, g_vars, draws, variables, step = res
            what = f"{how} on {mode}"
            ref_loss, run = numpy_loss(program, args, var_init, draws, weights)
            for k, (got, c) in enumerate(zip(variables, run.variables)):
                if not np.allclose(got, c, rtol=1e-5, atol=1e-6, equal_nan=True):
                    raise Mismatch(f"{what}: Variable {k} is {got}, expected {c}\n{program.text()}\n{program!r}")
            key = (how == "grad",) + tuple(np.asarray(d).tobytes() for d in draws)
            if key not in fd_cache:
                fd_cache[key] = fd = finite_differences(program, draws, weights, data_flow=how == "grad")
                if use_jax:
                    from fuzz.jax_ref import jax_gradients
                    keys = [k for k in fd if k != "reads"]
                    jg = jax_gradients(program, draws, weights, keys, fd["reads"])
                    for k in keys:
                        _close(jg[k], fd[k][0], "float64", f"JAX d/d {k} vs finite differences", program, fd[k][1])
            fd = fd_cache[key]
            for k, g in zip(float_args(program), g_args):
                _close(g, fd[("arg", k)][0], dtype, f"{what}: d/d arg{k} vs finite differences", program,
                       fd[("arg", k)][1])
            for k, g in enumerate(g_vars or []):
                _close(g, fd[("var", k)][0], dtype, f"{what}: d/d var{k} vs finite differences", program,
                       fd[("var", k)][1])
            if step is not None:   # the tape's intermediate source
                skey = ("step", step[0])
                if skey not in fd:
                    fd[skey] = finite_differences(program, draws, weights, keys=[skey])[skey]
                _close(step[1], fd[skey][0], dtype, f"{what}: d/d v{step[0]} (a source) vs finite differences",
                       program, fd[skey][1])
            if first is None:
                first = (g_args, g_vars)
            else:
                for k, (g0, g1) in enumerate(zip(first[0], g_args)):
                    _close(g1, g0 if g0 is not None else np.zeros_like(g1), dtype,
                           f"{what}: d/d arg{k} vs {modes[0]}", program)


def _hessian_fd(program, args, wrt, v, weights, h):
    """Central differences along ``v`` of jaxish's eager gradient (H v, the Hessian being symmetric)."""
    def g(sign):
        moved = [a + sign * h * v[wrt.index(k)] if k in wrt else a for k, a in enumerate(args)]
        loss = make_loss(program, new_variables(program.arrays()[1]), weights)
        gs = tf.grad(lambda *a: loss(*a)[0], argnums=tuple(wrt))(*[tf.constant(a) for a in moved])
        return [_np(x) for x in gs]
    return [(p - m) / (2 * h) for p, m in zip(g(1), g(-1))]


def check_second_order(program: Program, modes=("interpreter",)):
    """Hessian-vector products by ``grad`` of ``grad`` of the float64 program, its loss a traced function called
    inside the traced outer one, against central differences of the first-order gradient along the vector."""
    p64 = program.to_float64()
    wrt = float_args(p64)
    if program.uses_random or not wrt or any(op in ASSIGN for op, _, _ in program.steps) or \
            index_out_of_range(program):
        return
    args, var_init = p64.arrays()
    outs = run_forward(p64, "eager")[0][0]
    if not all(np.all(np.isfinite(o)) and np.all(np.abs(o) < 1e4) for o in outs):
        return
    weights = loss_weights(p64, outs)
    rng = np.random.default_rng(program.weights_seed + 1)
    v = [rng.uniform(-1, 1, args[k].shape) for k in wrt]
    fd1, fd2 = (_hessian_fd(p64, args, wrt, v, weights, h) for h in (1e-5, 5e-6))
    for mode in modes:
        with raising(f"grad of grad on {mode}", program), backend(mode):
            loss = make_loss(p64, new_variables(var_init), weights)
            inner = tf.grad(tf.trace(lambda *a: loss(*a)[0]), argnums=tuple(wrt))

            def hv(*a):
                return tf.add_n([tf.reduce_sum(g * tf.constant(w)) for g, w in zip(inner(*a), v)])
            hvp = tf.trace(tf.grad(hv, argnums=tuple(wrt)))(*[tf.constant(a) for a in args])
        for k, got, f1, f2 in zip(wrt, hvp, fd1, fd2):
            with np.errstate(all="ignore"):
                usable = np.isfinite(f1) & (np.abs(f1 - f2) <= 1e-5 * (1 + np.abs(f2)))
            _close(_np(got), f2, "float32", f"grad of grad on {mode}: d/d arg{k} (H v) vs finite differences",
                   program, usable)


def quiet():
    """Warnings the programs may legitimately raise (float overflow in NumPy references, ...)."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", RuntimeWarning)
    return ctx


def check_jax(program: Program):
    """Eager jaxish against JAX evaluating the op table's reference formulas (long runs)."""
    from fuzz.jax_ref import run_jax
    args, var_init = program.arrays()
    mode = "interpreter" if index_out_of_range(program) else "eager"
    with raising(mode, program):
        outs, draws, variables = run_forward(program, mode)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = run_jax(program, args, var_init, draws)
    _, noisy = reference(program, args, var_init, draws)
    for j, (got, want) in enumerate(zip(outs, ref.outputs)):
        compare(got, np.asarray(want), [n.outputs[j] for n in noisy], ref.exact_outputs[j],
                f"{mode} vs JAX: output {j}", program)
    for k, (got, want) in enumerate(zip(variables, ref.variables)):
        compare(got, np.asarray(want), [n.variables[k] for n in noisy], ref.exact_variables[k],
                f"{mode} vs JAX: Variable {k}", program)
