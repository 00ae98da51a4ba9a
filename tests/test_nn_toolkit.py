"""jaxish.nn: per-example losses (against NumPy/SciPy float64 references, stable at large logits), initializers
(statistics and bounds, reproducible under set_seed), dropout (eager and traced) and l2_normalize."""
import numpy as np
import pytest
from scipy.special import expit
from scipy.special import log_softmax as np_log_softmax

import jaxish as jx
from jaxish import nn

RNG = np.random.default_rng(0)


def test_mean_squared_error_is_per_example(backend):
    t, p = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    want = ((t - p) ** 2).mean(-1)
    np.testing.assert_allclose(nn.mean_squared_error(t, p).numpy(), want, rtol=1e-12)
    got = jx.trace(nn.mean_squared_error)(jx.constant(t), jx.constant(p))
    assert got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["moderate", "large"])
def test_softmax_cross_entropy_integer_and_one_hot_labels(scale, backend):
    logits = RNG.normal(size=(5, 4)) * scale
    labels = np.array([0, 3, 1, 2, 3])
    want = -np_log_softmax(logits, axis=-1)[np.arange(5), labels]
    f = jx.trace(nn.softmax_cross_entropy)
    for lab in (labels, np.eye(4)[labels]):
        got = f(jx.constant(logits), jx.constant(lab)).numpy()
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-10)
    # float32 logits of 1e4: still finite and exact where the answer is 0 or a difference of logits
    got32 = nn.softmax_cross_entropy(jx.constant(logits, jx.float32), jx.constant(labels)).numpy()
    np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-3 * scale / 1e4 + 1e-5)


def test_softmax_cross_entropy_probabilities_and_gradient():
    logits, probs = RNG.normal(size=(3, 5)), RNG.dirichlet(np.ones(5), size=3)
    want = -(probs * np_log_softmax(logits, axis=-1)).sum(-1)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, probs).numpy(), want, rtol=1e-12)
    g = jx.grad(lambda x: jx.reduce_sum(nn.softmax_cross_entropy(x, jx.constant(probs))))(jx.constant(logits))
    soft = np.exp(np_log_softmax(logits, axis=-1))
    np.testing.assert_allclose(g.numpy(), soft * probs.sum(-1, keepdims=True) - probs, rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels must be class indices in \[0, 3\)"):
        nn.softmax_cross_entropy(jx.zeros((2, 3)), jx.constant([0, 3]))
    with pytest.raises(ValueError, match=r"integer labels must have shape logits.shape\[:-1\] = \(2,\)"):
        nn.softmax_cross_entropy(jx.zeros((2, 3)), jx.constant([[0, 1]]))
    with pytest.raises(ValueError, match="the logits' shape"):
        nn.softmax_cross_entropy(jx.zeros((2, 3)), jx.zeros((2, 4)))
    with pytest.raises(TypeError, match="logits must be floating-point"):
        nn.softmax_cross_entropy(jx.constant([[1, 2]]), jx.constant([0]))


@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["moderate", "large"])
def test_sigmoid_binary_cross_entropy(scale, backend):
    x = RNG.normal(size=(6, 2)) * scale
    z = RNG.uniform(size=(6, 2))
    p = expit(x)
    with np.errstate(divide="ignore"):
        naive = -(z * np.log(p) + (1 - z) * np.log1p(-p))
    want = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))  # the stable form, float64
    if scale == 1.0:
        np.testing.assert_allclose(want, naive, rtol=1e-10)  # the reference is the cross-entropy
    got = jx.trace(nn.sigmoid_binary_cross_entropy)(jx.constant(x), jx.constant(z)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got32 = nn.sigmoid_binary_cross_entropy(jx.constant(x, jx.float32), jx.constant(z, jx.float32)).numpy()
    assert np.isfinite(got32).all()
    np.testing.assert_allclose(got32, want, rtol=2e-6, atol=1e-6)


# ---- initializers ----
@pytest.mark.parametrize("name, shape, kind, scale", [
    ("glorot_uniform", (300, 200), "uniform", np.sqrt(6 / 500)),
    ("he_uniform", (300, 200), "uniform", np.sqrt(6 / 300)),
    ("glorot_normal", (300, 200), "normal", np.sqrt(2 / 500)),
    ("he_normal", (3, 3, 40, 50), "normal", np.sqrt(2 / (9 * 40))),
])
def test_initializer_statistics(name, shape, kind, scale):
    jx.random.set_seed(3)
    w = getattr(nn.initializers, name)(shape).numpy()
    assert w.shape == shape and w.dtype == np.float32
    std = scale / np.sqrt(3) if kind == "uniform" else scale
    n = w.size
    assert abs(w.mean()) < 5 * std / np.sqrt(n)
    assert abs(w.std() / std - 1) < 0.03
    if kind == "uniform":
        assert w.min() >= -scale and w.max() <= scale and w.max() > 0.99 * scale
    jx.random.set_seed(3)
    np.testing.assert_array_equal(getattr(nn.initializers, name)(shape).numpy(), w)  # reproducible


def test_initializer_fans_dtype_and_constants():
    assert nn.initializers.compute_fans((5,)) == (5, 5)
    assert nn.initializers.compute_fans((3, 3, 4, 8)) == (36, 72)
    assert nn.initializers.glorot_normal((4, 4), dtype=jx.float64).dtype == jx.float64
    np.testing.assert_array_equal(nn.initializers.zeros((2, 3)).numpy(), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(nn.initializers.ones((2,), jx.float64).numpy(), np.ones(2))
    with pytest.raises(TypeError, match="glorot_uniform: dtype must be floating-point"):
        nn.initializers.glorot_uniform((2, 2), dtype=jx.int32)
    v = jx.Variable(nn.initializers.he_normal((8, 4)))
    assert v.shape == (8, 4)


# ---- dropout, l2_normalize ----
def test_dropout_eager_scales_kept_values():
    x = jx.constant(np.arange(1, 10001, dtype=np.float32))
    y = nn.dropout(x, 0.3).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / 0.7, rtol=1e-6)
    assert nn.dropout(x, 0.3, training=False) is x
    assert nn.dropout(x, 0.0) is x


def test_dropout_traced_fresh_masks_and_gradient(backend):
    f = jx.trace(lambda x: nn.dropout(x, 0.5))
    x = jx.ones((2000,))
    a, b = f(x).numpy(), f(x).numpy()
    assert set(np.unique(a)) <= {0.0, 2.0} and abs((a == 0).mean() - 0.5) < 0.05
    assert (a != b).any()  # a new mask on each call
    jx.random.set_seed(11)
    c = f(x).numpy()
    jx.random.set_seed(11)
    np.testing.assert_array_equal(f(x).numpy(), c)
    # the gradient is the same draw's mask, scaled: for sum(dropout(v) * c), grad = mask * c / 0.5, and the
    # value is the sum of the gradient
    c = jx.constant(np.arange(1.0, 2001.0))
    y, g = jx.value_and_grad(lambda v: jx.reduce_sum(nn.dropout(v, 0.5) * c))(jx.ones((2000,), jx.float64))
    ratio = g.numpy() / c.numpy()
    assert set(np.unique(ratio)) == {0.0, 2.0}
    np.testing.assert_allclose(float(y), g.numpy().sum(), rtol=1e-12)


def test_dropout_errors():
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got 1.0"):
        nn.dropout(jx.ones(3), 1.0)
    with pytest.raises(TypeError, match="dropout: x must be floating-point"):
        nn.dropout(jx.constant([1, 2]), 0.5)


def test_l2_normalize(backend):
    x = RNG.normal(size=(3, 4))
    got = jx.trace(lambda v: nn.l2_normalize(v, axis=1))(jx.constant(x)).numpy()
    np.testing.assert_allclose(got, x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(nn.l2_normalize(x).numpy(), x / np.linalg.norm(x), rtol=1e-12)
    np.testing.assert_array_equal(nn.l2_normalize(jx.zeros((2, 3)), axis=-1).numpy(), np.zeros((2, 3)))
