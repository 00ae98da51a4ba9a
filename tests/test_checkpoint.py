"""jaxish.save / jaxish.load: round trips of pytrees of tensors and Variables, restoring into Variables, checks
against `like` naming the leaf, and atomic writes."""
import os

import numpy as np
import pytest

import jaxish as jx
from jaxish import optimizers as optim


def _tree():
    return {
        "dense": [jx.constant(np.arange(6, dtype=np.float32).reshape(2, 3)), jx.constant([0.5, -1.0])],
        "step": jx.constant(7, jx.int64),
        "flags": (jx.constant([True, False]), jx.constant(np.float64(2.5))),
        "nothing": None,
        3: jx.Variable(np.ones((2, 2), np.float64), name="v"),
    }


def _assert_same(a, b):
    la, ta = jx.tree_util.tree_flatten(a)
    lb, tb = jx.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_round_trip_without_like(tmp_path):
    path = tmp_path / "ckpt.npz"
    tree = _tree()
    jx.save(path, tree)
    back = jx.load(path)
    assert isinstance(back["flags"], tuple) and isinstance(back["dense"], list) and back["nothing"] is None
    assert isinstance(back[3], jx.Tensor)  # a saved Variable comes back as its value
    _assert_same(back, {**tree, 3: tree[3].read_value()})
    assert back["step"].dtype == jx.int64 and back["flags"][0].dtype == jx.bool


def test_load_into_variables(tmp_path):
    path = str(tmp_path / "params.npz")
    params = {"w": jx.Variable(np.arange(4.0, dtype=np.float32)), "b": jx.Variable(np.float32(1.0))}
    jx.save(path, params)
    fresh = {"w": jx.Variable(np.zeros(4, np.float32)), "b": jx.Variable(np.float32(0.0))}
    out = jx.load(path, like=fresh)
    assert out["w"] is fresh["w"] and out["b"] is fresh["b"]
    np.testing.assert_array_equal(fresh["w"].numpy(), np.arange(4.0))
    assert float(fresh["b"]) == 1.0


def test_optimizer_state_round_trip(tmp_path):
    """Functional state (a named tuple) with `like`; the Variable API's state through opt.variables."""
    opt = optim.Adam(0.1)
    params = {"w": jx.constant([1.0, 2.0])}
    state = opt.init(params)
    _, state = opt.update({"w": jx.constant([0.5, 0.5])}, state, params)
    jx.save(tmp_path / "s.npz", state)
    back = jx.load(tmp_path / "s.npz", like=opt.init(params))
    assert isinstance(back, optim.OptState) and int(back.count) == 1
    _assert_same(back, state)
    flat = jx.load(tmp_path / "s.npz")  # no template for a named tuple: a flat dict by path
    np.testing.assert_array_equal(flat["[1]['momentum']['w']"].numpy(), state.slots["momentum"]["w"].numpy())

    v = jx.Variable([1.0, 2.0])
    opt.apply_gradients([(jx.constant([1.0, 1.0]), v)])
    jx.save(tmp_path / "o.npz", opt.variables)
    opt2 = optim.Adam(0.1)
    opt2.build([v])
    jx.load(tmp_path / "o.npz", like=opt2.variables)
    assert int(opt2.iterations) == 1
    np.testing.assert_array_equal(opt2.get_slot(v, "velocity").numpy(), opt.get_slot(v, "velocity").numpy())


def test_mismatch_errors_name_the_leaf(tmp_path):
    path = tmp_path / "m.npz"
    jx.save(path, {"layer": {"w": jx.zeros((2, 3)), "b": jx.zeros((3,))}})
    with pytest.raises(ValueError, match=r"load: leaf \['layer'\]\['w'\] has shape \(2, 3\) in .*`like` has shape "
                                         r"\(3, 2\)"):
        jx.load(path, like={"layer": {"w": jx.zeros((3, 2)), "b": jx.zeros((3,))}})
    with pytest.raises(TypeError, match=r"load: leaf \['layer'\]\['b'\] has dtype float32 .*`like` has dtype "
                                        r"float64"):
        jx.load(path, like={"layer": {"w": jx.zeros((2, 3)), "b": jx.zeros((3,), jx.float64)}})
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \['layer'\]\['c'\].*not in `like`: "
                                         r"\['layer'\]\['b'\]"):
        jx.load(path, like={"layer": {"w": jx.zeros((2, 3)), "c": jx.zeros((3,))}})
    v = jx.Variable(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"\['layer'\]\['w'\]"):
        jx.load(path, like={"layer": {"w": v, "b": jx.zeros((3,))}})
    np.testing.assert_array_equal(v.numpy(), np.ones((3, 2)))  # not assigned


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(p, a=np.ones(2))
    with pytest.raises(ValueError, match="not a jaxish checkpoint"):
        jx.load(p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a jaxish checkpoint"):
        jx.load(tmp_path / "junk.npz")


def test_save_rejects_traced_and_unknown_leaves(tmp_path):
    with pytest.raises(TypeError, match=r"save: the leaf \['x'\] is a traced value"):
        jx.trace(lambda x: jx.save(tmp_path / "t.npz", {"x": x}))(jx.ones(2))
    with pytest.raises(TypeError, match=r"save: the leaf \[0\] has type str"):
        jx.save(tmp_path / "s.npz", ["a"])
    assert not os.listdir(tmp_path)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    jx.save(path, {"w": jx.constant([1.0, 2.0])})
    before = path.read_bytes()

    def crash(f, **arrays):  # a write that dies half way
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        jx.save(path, {"w": jx.constant([3.0, 4.0])})
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert os.listdir(tmp_path) == ["c.npz"]  # and no temporary file is left
    jx.save(path, {"w": jx.constant([3.0, 4.0])})  # overwriting works
    np.testing.assert_array_equal(jx.load(path)["w"].numpy(), [3.0, 4.0])
