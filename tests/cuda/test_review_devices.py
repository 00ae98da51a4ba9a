"""'/gpu:1' (jaxish computes on GPU 0 only) says so, without claiming that there is no GPU at all."""
import warnings

import pytest

import jaxish as jx


def test_a_second_gpu_falls_back_with_a_message_about_it(monkeypatch, soft_placement):
    from jaxish import devices
    monkeypatch.setattr(devices, "_warned", set())
    jx.config.set_soft_device_placement(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jx.device("/gpu:1"):
            t = jx.constant([1.0])
    assert "CPU" in t.device
    (w,) = [w for w in caught if "/gpu:1" in str(w.message)]
    assert "GPU 0 only" in str(w.message) and "No GPU is available" not in str(w.message)
    jx.config.set_soft_device_placement(False)
    with pytest.raises(RuntimeError, match="GPU 0 only") as e:
        with jx.device("/gpu:1"):
            pass
    assert "no GPU is available" not in str(e.value)
