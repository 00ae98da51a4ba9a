"""Helpers for users' test suites: ``check_grads`` and ``assert_allclose``."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

_TOL = {"float16": (1e-2, 1e-2), "float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14)}


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def assert_allclose(actual, desired, rtol: float | None = None, atol: float | None = None, err_msg: str = "") -> None:
    """Assert ``actual`` and ``desired`` are close, with tolerances chosen from the dtype.

    Integer and bool values must match exactly; NaNs must be in the same places.
    """
    a, d = _np(actual), _np(desired)
    if a.shape != d.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {d.shape}. {err_msg}")
    kind = a.dtype
    if kind.kind in "biu" and np.asarray(d).dtype.kind in "biu":
        np.testing.assert_array_equal(a, d, err_msg=err_msg)
        return
    names = [str(a.dtype), str(d.dtype)]
    tols = [_TOL.get(n, (0, 0)) for n in names]
    r = max(t[0] for t in tols) if rtol is None else rtol
    t = max(t[1] for t in tols) if atol is None else atol
    np.testing.assert_allclose(a.astype(np.float64), d.astype(np.float64), rtol=r, atol=t, err_msg=err_msg,
                               equal_nan=True)


def _numeric_grad(f: Callable, args: list, i: int, eps: float) -> np.ndarray:
    x = np.array(args[i], dtype=np.float64)
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gf = g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        fp = float(_np(f(*[x.copy() if j == i else a for j, a in enumerate(args)])))
        flat[k] = old - eps
        fm = float(_np(f(*[x.copy() if j == i else a for j, a in enumerate(args)])))
        flat[k] = old
        gf[k] = (fp - fm) / (2 * eps)
    return g


def check_grads(f: Callable, args: Sequence, order: int = 1, eps: float = 1e-6, rtol: float = 1e-5,
                atol: float = 1e-6) -> None:
    """Check reverse-mode gradients of scalar ``f`` against central differences in float64.

    Checks derivatives up to ``order`` (order 2 differentiates ``sum(grad(f))``
    again). Arguments are converted to float64.
    """
    from . import autodiff, ops
    from .creation import constant
    args = [np.asarray(_np(a), dtype=np.float64) for a in args]

    def scalar(fn):
        def h(*xs):
            return ops.reduce_sum(fn(*[constant(x, dtype="float64") for x in xs]))
        return h

    fn = f
    for level in range(order):
        h = scalar(fn)
        for i in range(len(args)):
            analytic = _np(autodiff.grad(h, argnums=i)(*[constant(a) for a in args]))
            numeric = _numeric_grad(h, args, i, eps)
            np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                       err_msg=f"check_grads: derivative of order {level + 1} w.r.t. argument {i}")
        prev = fn

        def fn(*xs, _prev=prev):
            g = autodiff.grad(scalar(_prev), argnums=tuple(range(len(xs))))(*xs)
            return ops.add_n([ops.reduce_sum(t) for t in g])
