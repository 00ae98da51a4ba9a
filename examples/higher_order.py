"""Higher-order derivatives: Hessians and grad-of-grad, checked against finite differences.

jaxish differentiates graphs into graphs, so derivatives nest to any order:
``grad(grad(f))``, ``hessian(f)``, nested ``GradientTape``s. Each result here
is compared with central finite differences of the function itself (float64,
NumPy arithmetic on eager values), which use no autodiff at all.
"""
import numpy as np

import jaxish as jx


def f(x):
    """A scalar function of a vector, with cross terms."""
    return jx.reduce_sum(jx.tanh(x) ** 2 * x) + x[0] * x[1] * x[2] + jx.reduce_sum(jx.exp(0.3 * x))


def g(t):
    """A scalar function of a scalar."""
    return jx.sin(t) * t ** 3


def _value(fn, x) -> float:
    return float(fn(jx.constant(np.asarray(x, np.float64))))


def fd_hessian(fn, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central second differences of ``fn`` (four evaluations per entry)."""
    n = x.size
    out = np.empty((n, n))
    eye = np.eye(n) * h
    for i in range(n):
        for j in range(n):
            out[i, j] = (_value(fn, x + eye[i] + eye[j]) - _value(fn, x + eye[i] - eye[j])
                         - _value(fn, x - eye[i] + eye[j]) + _value(fn, x - eye[i] - eye[j])) / (4 * h * h)
    return out


def fd_derivative(fn, t: float, order: int, h: float = 1e-3) -> float:
    """The ``order``-th derivative by central differences (coefficients of the binomial stencil)."""
    from math import comb
    return sum((-1) ** k * comb(order, k) * _value(fn, t + (order / 2 - k) * h) for k in range(order + 1)) / h ** order


def main() -> dict:
    x = np.array([0.3, -0.7, 1.1, 0.5])
    errors = {}

    hess = jx.hessian(f)(jx.constant(x)).numpy()
    fd = fd_hessian(f, x)
    errors["hessian(f)"] = np.abs(hess - fd).max()
    print("hessian(f) at", x, "\n", np.array2string(hess, precision=5))
    assert np.allclose(hess, hess.T, atol=1e-12), "the Hessian is symmetric"

    compiled = jx.trace(jx.hessian(f))(jx.constant(x)).numpy()  # the same, traced and compiled
    errors["trace(hessian(f))"] = np.abs(compiled - fd).max()

    t = 0.8
    d = {1: jx.grad(g), 2: jx.grad(jx.grad(g)), 3: jx.grad(jx.grad(jx.grad(g)))}
    for order, fn in d.items():
        got = float(fn(jx.constant(t, jx.float64)))
        errors[f"grad^{order}(g)"] = abs(got - fd_derivative(g, t, order))
        print(f"d^{order}/dt^{order} sin(t) t^3 at t={t}: {got:.8f}")

    v = jx.Variable(jx.constant(t, jx.float64))  # the TensorFlow way: nested tapes
    with jx.GradientTape() as outer:
        with jx.GradientTape() as inner:
            y = g(v)
        dy = inner.gradient(y, v)
    d2y = outer.gradient(dy, v)
    errors["nested tapes (2nd)"] = abs(float(d2y) - fd_derivative(g, t, 2))

    print("\nlargest difference from finite differences:")
    for name, err in errors.items():
        print(f"  {name:<22} {err:.2e}")
    return errors


if __name__ == "__main__":
    errs = main()
    assert max(errs.values()) < 1e-5, errs
