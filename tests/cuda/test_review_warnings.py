"""The soft-placement warning of an op or graph that runs on the CPU points at the user's line."""
import warnings

import numpy as np
from cuda_helpers import on_gpu

import jaxish as jx


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if "soft device placement" in str(w.message)]


def test_fallback_warnings_name_the_callers_file(monkeypatch, soft_placement):
    from jaxish.backends.cuda import placement
    monkeypatch.setattr(placement, "_WARNED", set())   # (once per message and process)
    jx.config.set_soft_device_placement(True)
    h = on_gpu(np.array([1.0, 2.0], np.float16))
    eager = _caught(lambda: h * 3.0)
    traced = _caught(lambda: jx.trace(lambda a: a * a - 1.0)(h))
    assert len(eager) == 1 and len(traced) == 1
    for w in eager + traced:
        assert w.filename == __file__, (w.filename, str(w.message))
