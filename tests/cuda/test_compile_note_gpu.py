"""The slow-compile note covers CUDA programs: a compiled graph's first run on the GPU (a @trace'd function, and
grad(f)(x) run eagerly) logs one line that says it was built for the GPU, without the CPU kernel cache's
promise."""
import logging

import pytest

import jaxish as jx
from jaxish import backends


@pytest.mark.parametrize("api", ["trace", "grad"])
def test_note_after_a_cuda_program(api, gpu, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(backends, "SLOW_COMPILE_S", 0.0)
    x = jx.constant([1.0, 2.0, 0.617])  # a graph this process has not built
    if api == "trace":
        jx.trace(lambda v: jx.sin(v) * 0.617)(x)
    else:
        jx.grad(lambda v: jx.reduce_sum(jx.cos(v) * 0.617))(x)
    notes = [r.getMessage() for r in caplog.records if "first run took" in r.getMessage()]
    assert len(notes) == 1, notes
    assert "for the GPU" in notes[0] and "kernel cache on disk" not in notes[0], notes
    assert ("<lambda>(v: float32[3])" if api == "trace" else "test_compile_note_gpu.py") in notes[0], notes
