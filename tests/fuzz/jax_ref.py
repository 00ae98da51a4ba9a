"""JAX as a second reference (long runs, when JAX is installed): the op table's reference formulas evaluated
with ``jax.numpy`` in float64 (x64 mode), for values and, through ``jax.grad``, for gradients.

The op table's references are NumPy expressions; those written as functions of ``tests/op_table.py`` look up
``np`` and ``scipy`` when called, so they run on JAX with those two names rebound (:func:`on_jax`); NumPy and
SciPy functions stored in the table are replaced by the ``jax.numpy`` / ``jax.scipy.special`` function of the same
name.
"""
from __future__ import annotations

import contextlib
from functools import partial
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
import op_table

import jaxish  # noqa: F401 - the op table needs it imported first
from fuzz.programs import REDUCTION_OPS, _axis, _getitem, promoted, run_numpy, weak_type

jax.config.update("jax_enable_x64", True)

_SCIPY = SimpleNamespace(special=SimpleNamespace(expit=jss.expit, erf=jss.erf, softmax=jax.nn.softmax,
                                                 logsumexp=jss.logsumexp))


@contextlib.contextmanager
def on_jax():
    """Rebind ``np`` and ``scipy`` in the op table's module to JAX."""
    saved = op_table.np, op_table.scipy
    op_table.np, op_table.scipy = jnp, _SCIPY
    try:
        yield
    finally:
        op_table.np, op_table.scipy = saved


SPECIAL = {
    # NumPy and TensorFlow: sign(-0.0) is +0.0 (issue 7 item 4); JAX's keeps -0.0
    "sign": lambda x: jnp.where(x == 0, jnp.zeros_like(x), jnp.sign(x)),
}


def _jax_fn(op):
    if op in SPECIAL:
        return SPECIAL[op]
    ref = op_table.BY_NAME[op].ref
    if isinstance(ref, np.ufunc) or getattr(ref, "__module__", "").startswith(("numpy", "scipy")):
        for mod in (jnp, jss):
            if hasattr(mod, ref.__name__):
                return getattr(mod, ref.__name__)
        raise KeyError(f"no JAX function for {op} ({ref.__name__})")
    return ref


FLOOR_DIVISIONS = ("floordiv", "floordiv_scalar")


def jax_op(op, xs, params, own_clamp=True):
    """One step on JAX arrays (float64-widened inputs, result rounded to the op's dtype); ``own_clamp``: an
    out-of-range traced index goes to JAX's indexing as it is (JAX clamps it; its gradient there is 0, where
    jaxish's goes to the element read: gradients clamp first)."""
    xs = promoted(op, xs)
    if op == "scalar":
        x, t = xs[0], weak_type(xs[0].dtype.name, params["value"])
        ys = [x.astype(t), jnp.asarray(params["value"]).astype(t)]
        return jax_op(params["op"], ys[::-1] if params["left"] else ys, {})
    if op == "getitem":
        return _getitem(*xs, key=params["key"], as_tensors=False, clamp=not own_clamp)
    if op == "squash":
        x, lo, hi = xs[0], params["lo"], params["hi"]
        r = lo + (hi - lo) * jss.expit(x.astype(jnp.float64)) if x.dtype.kind == "f" else \
            lo + jnp.remainder(x, jnp.asarray(hi - lo + 1, x.dtype))
        return r.astype(x.dtype)
    if op == "finite":
        return jnp.where(jnp.isfinite(xs[0]), xs[0], 0).astype(xs[0].dtype)
    row = op_table.BY_NAME[op]
    ups = [x.astype(jnp.float64) if x.dtype.kind == "f" else x for x in xs]
    dtype = xs[-1].dtype.name if op == "where" else xs[0].dtype.name
    r = jnp.asarray(_jax_fn(op)(*ups, **params))
    if op in FLOOR_DIVISIONS and r.dtype.kind == "f":
        # a zero quotient has the sign of x / y in NumPy and TensorFlow (floor(-0.0 / 2) is -0.0); JAX's is +0.0
        r = jnp.where(r == 0, jnp.copysign(0.0, ups[0] / (ups[1] if len(ups) > 1 else 3)), r)
    r = r.astype(row.out(dtype, params))
    if op in REDUCTION_OPS:
        r = r.reshape(np.sum(np.zeros(xs[0].shape), axis=_axis(params.get("axis")),
                             keepdims=params.get("keepdims", False)).shape)
    return r


def run_jax(program, args, var_init, draws=(), own_clamp=True, **kw):
    """:func:`fuzz.programs.run_numpy` with JAX."""
    with on_jax():
        return run_numpy(program, args, var_init, draws, op_fn=partial(jax_op, own_clamp=own_clamp), xp=jnp, **kw)


def jax_gradients(program, draws, weights, keys, reads):
    """Gradients of the weighted loss of the float64 program: {key: array} for ``('arg', k)`` / ``('var', k)``."""
    p64 = program.to_float64()
    args, var_init = p64.arrays()
    draws = [np.asarray(d, np.float64) for d in draws]

    def loss(deltas):
        run = run_jax(p64, args, var_init, draws, own_clamp=False, perturb=dict(zip(keys, deltas)), reads=reads)
        return sum(jnp.sum(o.astype(jnp.float64) * w) for o, w in zip(run.outputs, weights))
    zeros = [np.zeros(np.shape(args[k] if kind == "arg" else var_init[k])) for kind, k in keys]
    with on_jax():
        grads = jax.grad(loss)(zeros)
    return {key: np.asarray(g) for key, g in zip(keys, grads)}
