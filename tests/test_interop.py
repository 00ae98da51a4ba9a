"""Interoperability: DLPack both ways (NumPy always; PyTorch and JAX when importable), torch.tensor/as_tensor,
array methods, and NumPy functions on concrete and traced tensors."""
import numpy as np
import pytest

import jaxish as jx

X = np.arange(6, dtype=np.float32).reshape(2, 3)


def _ptr(a) -> int:
    return np.asarray(a).__array_interface__["data"][0]


# ---- DLPack with NumPy ----
@pytest.mark.parametrize("value", [X, np.arange(4, dtype=np.int64), np.array([True, False]), np.float64(2.5)],
                         ids=["float32", "int64", "bool", "0-d"])
def test_numpy_from_dlpack_is_zero_copy_and_read_only(value):
    t = jx.constant(value)
    a = np.from_dlpack(t)
    assert a.dtype == t.dtype.np and a.shape == tuple(t.shape)
    np.testing.assert_array_equal(a, value)
    assert _ptr(a) == _ptr(t._value)  # shares the tensor's buffer
    assert not a.flags.writeable  # exported read-only: tensors are immutable
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_copies_for_old_consumers_and_on_request():
    t = jx.constant(X)

    class OldConsumer:  # a consumer of the pre-1.0 protocol, which cannot signal read-only
        def __dlpack__(self, stream=None):
            return t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return t.__dlpack_device__()

    a = np.from_dlpack(OldConsumer())
    np.testing.assert_array_equal(a, X)
    assert _ptr(a) != _ptr(t._value)
    c = np.from_dlpack(t, copy=True)
    assert _ptr(c) != _ptr(t._value) and c.flags.writeable
    with pytest.raises(BufferError, match="read-only"):
        t.__dlpack__(copy=False)  # no max_version: the old protocol, which cannot share read-only memory


def test_from_dlpack_numpy():
    a = np.arange(5.0)
    t = jx.from_dlpack(a)
    assert t.dtype == jx.float64 and _ptr(t._value) == _ptr(a)
    owned = jx.from_dlpack(a, copy=True)
    a[0] = 42.0
    assert float(owned[0]) == 0.0 and float(t[0]) == 42.0  # shared (documented), copy=True owns its values
    with pytest.raises(TypeError, match="from_dlpack: list does not implement the DLPack protocol"):
        jx.from_dlpack([1.0, 2.0])


def test_traced_values_do_not_export():
    with pytest.raises(jx.ConcretizationError, match="DLPack export"):
        jx.trace(lambda x: np.from_dlpack(x))(jx.ones(2))


# ---- PyTorch ----
@pytest.mark.parametrize("value", [np.float32(3.0), X, np.arange(4, dtype=np.int64), np.array([True, False])],
                         ids=["0-d", "2-d", "int64", "bool"])
def test_torch_tensor_and_as_tensor(value):
    torch = pytest.importorskip("torch")
    t = jx.constant(value)
    for fn in (torch.tensor, torch.as_tensor, torch.from_dlpack):
        r = fn(t)
        assert tuple(r.shape) == tuple(t.shape)
        np.testing.assert_array_equal(r.numpy(), value)
    assert torch.as_tensor(t).data_ptr() == _ptr(t._value)  # zero copy
    assert torch.tensor(t).data_ptr() != _ptr(t._value)  # torch.tensor copies, as always


def test_from_dlpack_torch():
    torch = pytest.importorskip("torch")
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    t = jx.from_dlpack(src)
    assert t.dtype == jx.float32 and tuple(t.shape) == (2, 3)
    assert _ptr(t._value) == src.data_ptr()
    np.testing.assert_array_equal((t * 2).numpy(), src.numpy() * 2)
    back = torch.from_dlpack(t)
    assert back.data_ptr() == src.data_ptr()  # a round trip without a copy


# ---- JAX ----
def test_jax_round_trip():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    a = jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3)
    t = jx.from_dlpack(a)
    np.testing.assert_array_equal(t.numpy(), np.asarray(a))
    b = jax.dlpack.from_dlpack(jx.constant(X))
    np.testing.assert_array_equal(np.asarray(b), X)
    np.testing.assert_array_equal(np.asarray(jnp.asarray(jx.constant(X))), X)


# ---- array methods ----
@pytest.mark.parametrize("kind", ["tensor", "variable", "traced"])
def test_array_methods(kind):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.0

    def methods(t):
        return (t.T, t.reshape(6, 4), t.reshape((4, -1)), t.astype(jx.int32), t.sum(), t.sum(axis=1),
                t.mean(axis=(0, 2), keepdims=True), t.max(axis=-1), t.min(axis=0, keepdims=True),
                t.sum(axis=0, dtype=jx.float64))

    want = (x.T, x.reshape(6, 4), x.reshape(4, -1), x.astype(np.int32), x.sum(), x.sum(axis=1),
            x.mean(axis=(0, 2), keepdims=True), x.max(axis=-1), x.min(axis=0, keepdims=True),
            x.sum(axis=0, dtype=np.float64))
    t = jx.constant(x)
    got = methods(jx.Variable(x)) if kind == "variable" else jx.trace(methods)(t) if kind == "traced" else methods(t)
    for g, w in zip(got, want):
        assert g.dtype.np == w.dtype and tuple(g.shape) == w.shape
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-6)


def test_item_tolist_len():
    t = jx.constant(X)
    assert t.item(1, 2) == 5.0 and jx.constant(2.5).item() == 2.5 and isinstance(jx.constant(3).item(), int)
    assert t.tolist() == X.tolist() and jx.constant(1.5).tolist() == 1.5
    assert len(t) == 2 and len(jx.Variable(X)) == 2 and jx.Variable(X).tolist() == X.tolist()
    with pytest.raises(ValueError, match=r"item: only a Tensor with one element .* shape \(2, 3\)"):
        t.item()
    with pytest.raises(TypeError, match="len"):
        len(jx.constant(1.0))
    with pytest.raises(jx.ConcretizationError):
        jx.trace(lambda v: v.item())(jx.constant(1.0))
    with pytest.raises(TypeError, match="out= is not supported"):
        t.sum(out=np.zeros(()))


# ---- NumPy functions ----
def test_numpy_functions_on_concrete_tensors():
    t = jx.constant(X)
    s = np.sin(t)
    assert type(s) is np.ndarray  # through __array__: NumPy in, NumPy out
    np.testing.assert_allclose(s, np.sin(X))
    assert type(np.concatenate([t, t])) is np.ndarray
    r = np.ones(3, np.float32) + t  # NumPy's operators defer to the tensor's reflected operator
    assert isinstance(r, jx.Tensor)
    np.testing.assert_array_equal(r.numpy(), X + 1)
    assert isinstance(np.float32(2) * t, jx.Tensor)
    m = np.mean(t, axis=0)  # NumPy calls the tensor's .mean method
    assert isinstance(m, jx.Tensor)
    np.testing.assert_allclose(m.numpy(), X.mean(0))


def test_numpy_functions_on_traced_values_name_the_jaxish_function():
    def uses(fn):
        return jx.trace(fn)(jx.constant(X))

    with pytest.raises(TypeError, match=r"np.sin cannot run on a traced value \(shape=\(2, 3\), dtype=float32, in "
                                        r"trace of .*use jaxish.sin\(x\) instead"):
        uses(lambda x: np.sin(x))
    with pytest.raises(TypeError, match="use jaxish.exp"):
        uses(lambda x: np.exp(x) + 1)
    with pytest.raises(TypeError, match="np.concatenate cannot run on a traced value.*use jaxish.concat"):
        uses(lambda x: np.concatenate([x, x]))
    with pytest.raises(TypeError, match=r"np.add.reduce cannot run on a traced value"):
        uses(lambda x: np.add.reduce(x))
    # operators and method-backed functions run as jaxish ops
    out = uses(lambda x: (np.ones(3, np.float32) + x, np.float32(2) * x, np.sum(x, axis=1), np.max(x)))
    for got, want in zip(out, (X + 1, 2 * X, X.sum(1), X.max())):
        np.testing.assert_allclose(got.numpy(), want)


def test_numpy_operands_on_the_left():
    t, v = jx.constant([1.0, 2.0, 3.0]), jx.Variable([1.0, 2.0, 3.0])
    for got, want in [(np.bool_(True) & (t > 1), [False, True, True]),
                      (np.array([True, False, False]) | (t > 2), [True, False, True]),
                      (np.arange(3.0) - v, [-1.0, -1.0, -1.0]), (np.float64(1) == t, [True, False, False])]:
        assert isinstance(got, jx.Tensor)
        np.testing.assert_array_equal(got.numpy(), want)
