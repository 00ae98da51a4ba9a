"""Jupyter and usability: graph pictures (Graphviz's dot when installed, faked here; the text otherwise), the
traced function's repr, traceback filtering, and the note after a slow compile."""
import html
import logging
import subprocess
import traceback

import pytest

import jaxish as jx
from jaxish import render, tracing


def _f(x):
    return jx.reduce_sum(jx.tanh(x) * x)


@pytest.fixture
def graphs():
    x = jx.ones((2, 3))
    return [jx.make_graph(_f)(x), jx.make_graph(jx.grad(_f))(x)]  # forward and backward


def test_graph_html_without_dot_is_the_text(graphs, monkeypatch):
    monkeypatch.setattr(render, "dot_executable", lambda: None)
    for g in graphs:
        assert g._repr_svg_() is None
        out = g._repr_html_()
        assert out.startswith('<pre class="jaxish-graph">') and html.escape(g.pretty()) in out


def test_graph_svg_with_a_fake_dot(graphs, monkeypatch):
    calls = []

    def fake_run(cmd, input, capture_output, timeout, check):
        calls.append((cmd, input.decode()))
        svg = b'<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10"><g>fake</g></svg>\n'
        return subprocess.CompletedProcess(cmd, 0, stdout=svg, stderr=b"")

    monkeypatch.setattr(render, "dot_executable", lambda: "/opt/graphviz/bin/dot")
    monkeypatch.setattr(render.subprocess, "run", fake_run)
    for g in graphs:
        svg = g._repr_svg_()
        assert svg.startswith("<svg") and "<?xml" not in svg  # embeddable in HTML
        assert svg in g._repr_html_()
    assert [c[0] for c in calls] == [["/opt/graphviz/bin/dot", "-Tsvg"]] * 2
    assert all(src.startswith("digraph jaxish {") and src == g.to_dot() for (_, src), g in zip(calls, graphs))
    assert "tanh" in calls[0][1]


def test_graph_html_when_dot_fails(graphs, monkeypatch):
    monkeypatch.setattr(render, "dot_executable", lambda: "/opt/graphviz/bin/dot")
    monkeypatch.setattr(render.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, stdout=b"", stderr=b"syntax error"))
    assert graphs[0]._repr_svg_() is None and graphs[0]._repr_html_().startswith("<pre")


def test_graph_svg_with_the_real_dot(graphs):
    if render.dot_executable() is None:
        pytest.skip("Graphviz's dot is not on PATH")
    svg = graphs[1]._repr_svg_()
    assert svg.startswith("<svg") and "</svg>" in svg


def test_traced_function_repr():
    @jx.trace
    def loss(x):
        return x * 2.0

    assert repr(loss) == "<jaxish.trace loss (0 signatures cached)>"
    loss(jx.ones(2))
    assert repr(loss) == "<jaxish.trace loss (1 signature cached)>"
    loss(jx.ones(3))
    assert repr(loss) == "<jaxish.trace loss (2 signatures cached)>"

    class Printer:
        text = None

        def __init__(self):
            self.parts = []

        def text(self, s):  # noqa: F811 - IPython's pretty printer interface
            self.parts.append(s)

    p = Printer()
    loss._repr_pretty_(p, False)
    assert p.parts == [repr(loss)]


# ---- traceback filtering ----
def _bad_user_code(x):
    return jx.reshape(x, (5,))  # the user's line


def _frames(err):
    return [(f.filename, f.name, f.line) for f in traceback.extract_tb(err.__traceback__)]


def _jaxish_frames(frames):
    return [f for f in frames if f[0].startswith(tracing.__file__.rsplit("/", 1)[0])]


def test_tracebacks_hide_jaxish_frames():
    outer = jx.trace(lambda x: jx.trace(_bad_user_code)(x) + 1.0)  # nested traced functions
    for fn in (jx.trace(_bad_user_code), outer, jx.make_graph(_bad_user_code)):
        with pytest.raises(ValueError, match="reshape") as err:
            fn(jx.ones(3))
        frames = _frames(err.value)
        assert ("_bad_user_code", "return jx.reshape(x, (5,))  # the user's line") in [(n, ln) for _, n, ln in frames]
        inside = _jaxish_frames(frames)
        assert len(inside) == 1 and inside[0][0].endswith("tracing.py"), frames  # only the boundary's raise


def test_traceback_filtering_off_shows_everything(monkeypatch):
    monkeypatch.setattr(jx.config._config, "traceback_filtering", False)
    with pytest.raises(ValueError) as err:
        jx.trace(_bad_user_code)(jx.ones(3))
    assert len(_jaxish_frames(_frames(err.value))) > 3
    assert jx.config._Config({"JAXISH_TRACEBACK_FILTERING": "off"}).traceback_filtering is False
    assert jx.config._Config({}).traceback_filtering is True
    jx.config.set_traceback_filtering(True)
    assert jx.config.traceback_filtering()


# ---- compile notes and JAXISH_LOG_COMPILES ----
def test_note_after_a_slow_compile(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(tracing, "SLOW_COMPILE_S", 0.0)  # every compile is "slow"

    @jx.trace
    def slow_fn(weights, batch):
        return jx.reduce_sum(weights * batch["x"] - 0.123)

    slow_fn(jx.ones(3), {"x": jx.ones(3)})
    notes = [r.getMessage() for r in caplog.records if "first run took" in r.getMessage()]
    assert len(notes) == 1
    assert "slow_fn(weights: float32[3], batch['x']: float32[3]) and its first run took" in notes[0]
    slow_fn(jx.ones(3), {"x": jx.ones(3)})  # a cache hit: no note
    assert len([r for r in caplog.records if "first run took" in r.getMessage()]) == 1


def test_no_note_after_a_fast_compile(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(tracing, "SLOW_COMPILE_S", 1e9)
    monkeypatch.setattr(jx.config._config, "log_compiles", False)
    jx.trace(lambda x: x - 0.456)(jx.ones(2))
    assert not [r for r in caplog.records if "first run took" in r.getMessage()]


def test_log_compiles_names_arguments(monkeypatch, caplog):
    monkeypatch.setattr(jx.config._config, "log_compiles", True)
    caplog.set_level(logging.WARNING, logger="jaxish")

    @jx.trace
    def named(params, data):
        return params["w"] * data

    named({"w": jx.ones(2)}, jx.ones(2))
    named({"w": jx.ones(2)}, jx.ones(2, jx.float64))
    named({"w": jx.ones(4)}, jx.ones(4, jx.float64))
    msgs = [r.getMessage() for r in caplog.records if "jaxish: tracing" in r.getMessage()]
    assert "new dtype for argument 'data': float32 -> float64" in msgs[1]
    assert "new shape for argument 'params'['w']: (2,) -> (4,)" in msgs[2]
