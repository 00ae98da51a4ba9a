"""Jupyter and usability: graph pictures (Graphviz's dot when installed, faked here; the text otherwise), the
traced function's repr, traceback filtering, and the note after a slow compile."""
import html
import logging
import os
import subprocess
import sys
import traceback

import pytest

import jaxish as jx
from jaxish import backends, render, traceback_util, tracing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    inside = [f for f in frames if f[0].startswith(tracing.__file__.rsplit("/", 1)[0])]
    if not traceback_util.BARE_RAISE_KEEPS_FILTERING:  # Python 3.10: the outermost boundary's re-raise stays
        return inside[1:]
    return inside


def test_tracebacks_hide_jaxish_frames():
    outer = jx.trace(lambda x: jx.trace(_bad_user_code)(x) + 1.0)  # nested traced functions
    for fn in (jx.trace(_bad_user_code), outer, jx.make_graph(_bad_user_code)):
        with pytest.raises(ValueError, match="reshape") as err:
            fn(jx.ones(3))
        frames = _frames(err.value)
        assert ("_bad_user_code", "return jx.reshape(x, (5,))  # the user's line") in [(n, ln) for _, n, ln in frames]
        assert not _jaxish_frames(frames), frames  # the boundary re-raises with a bare raise: no frame of its own


def _scalar_bad(x):
    return jx.reduce_sum(jx.reshape(x, (5,)))  # the user's line


def _call_bad(x):
    return _scalar_bad(x)


@pytest.mark.parametrize("api", [
    "grad", "value_and_grad", "jacobian", "hessian", "vjp", "cond", "fori_loop", "while_loop", "scan", "grad_in_trace",
    "jvp", "jacfwd", "jacrev", "vmap",
])
def test_every_api_boundary_hides_jaxish_frames(api):
    x = jx.ones(3)
    run = {
        "grad": lambda: jx.grad(_call_bad)(x),
        "value_and_grad": lambda: jx.value_and_grad(_call_bad)(x),
        "jacobian": lambda: jx.jacobian(_call_bad)(x),
        "hessian": lambda: jx.hessian(_call_bad)(x),
        "vjp": lambda: jx.vjp(_call_bad, x),
        "cond": lambda: jx.cond(True, _call_bad, _call_bad, x),
        "fori_loop": lambda: jx.fori_loop(0, 2, lambda i, c: c + _call_bad(x), 0.0),
        "while_loop": lambda: jx.while_loop(lambda c: c < 1.0, lambda c: c + _call_bad(x), 0.0),
        "scan": lambda: jx.scan(lambda c, v: (c + _call_bad(x), v), 0.0, x),
        "grad_in_trace": lambda: jx.trace(jx.grad(_call_bad))(x),
        "jvp": lambda: jx.jvp(_call_bad, (x,), (x,)),
        "jacfwd": lambda: jx.jacfwd(_call_bad)(x),
        "jacrev": lambda: jx.jacrev(_call_bad)(x),
        "vmap": lambda: jx.vmap(lambda r: _call_bad(r))(jx.ones((2, 3))),
    }[api]
    with pytest.raises(ValueError, match="reshape") as err:
        run()
    frames = _frames(err.value)
    assert ("_scalar_bad", "return jx.reduce_sum(jx.reshape(x, (5,)))  # the user's line") in \
        [(n, ln) for _, n, ln in frames], frames
    assert not _jaxish_frames(frames), frames
    assert "JAXISH_TRACEBACK_FILTERING=off" in "\n".join(getattr(err.value, "__notes__", [])), api


def _tape_call(method, **kw):
    x = jx.ones(3)
    with jx.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * 2.0
    return lambda: getattr(t, method)(y, x, **kw)


@pytest.mark.parametrize("api", ["vjp_fn", "tape_gradient", "tape_jacobian"])
def test_errors_of_jaxish_own_checks_show_the_callers_line(api):
    # no user code runs below these boundaries: the check's error keeps the caller's frames only
    call = {"vjp_fn": lambda: jx.vjp(lambda x: x * 2.0, jx.ones(3))[1],
            "tape_gradient": lambda: _tape_call("gradient", output_gradients=jx.ones(5)),
            "tape_jacobian": lambda: _tape_call("jacobian", unconnected_gradients="sometimes")}[api]()
    arg = ((jx.ones(3), jx.ones(3)),) if api == "vjp_fn" else ()
    with pytest.raises((TypeError, ValueError)) as err:
        call(*arg)  # the caller's line
    frames = _frames(err.value)
    assert not _jaxish_frames(frames), (api, frames)
    assert frames[-1][0] == __file__ and len(frames) == (1 if api == "vjp_fn" else 2), frames  # the call's line


# ---- compile notes and JAXISH_LOG_COMPILES ----
@pytest.fixture
def no_disk_cache(monkeypatch):
    """Compile for real: machine code loaded from the disk cache (a warm JAXISH_CACHE_DIR) gets no note."""
    monkeypatch.setattr(jx.config._config, "disk_cache", False)


def test_note_after_a_slow_compile(monkeypatch, caplog, no_disk_cache):
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(backends, "SLOW_COMPILE_S", 0.0)  # every compile is "slow"

    @jx.trace
    def slow_fn(weights, batch):
        return jx.reduce_sum(weights * batch["x"] - 0.123)

    slow_fn(jx.ones(3), {"x": jx.ones(3)})
    notes = [r.getMessage() for r in caplog.records if "first run took" in r.getMessage()]
    assert len(notes) == 1
    assert "slow_fn(weights: float32[3], batch['x']: float32[3]) and its first run took" in notes[0]
    slow_fn(jx.ones(3), {"x": jx.ones(3)})  # a cache hit: no note
    assert len([r for r in caplog.records if "first run took" in r.getMessage()]) == 1


@pytest.mark.parametrize("api", ["grad", "tape", "nested"])
def test_note_after_every_slow_compile_users_wait_for(api, monkeypatch, caplog, no_disk_cache):
    # not only a @trace'd function's first call: grad(f)(x) run eagerly, a tape's backward graph; a graph run
    # inside another's first run is part of it (one note)
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(backends, "SLOW_COMPILE_S", 0.0)
    monkeypatch.setattr(jx.config._config, "backend", "cpu")
    x = jx.constant([1.0, 2.0, 0.789])  # constants of this test's own: graphs this process has not built
    if api == "grad":
        jx.grad(lambda w: jx.reduce_sum(jx.sin(w * 0.789)))(x)  # the user's line
    elif api == "tape":
        with jx.GradientTape() as t:
            t.watch(x)
            y = jx.reduce_sum(jx.cos(x * 0.789))
        t.gradient(y, x)  # the user's line
    else:
        jx.trace(lambda w: jx.cond(jx.reduce_sum(w) > 0.0, lambda v: v * 0.789, lambda v: v - 0.789, w))(x)
    notes = [r.getMessage() for r in caplog.records if "first run took" in r.getMessage()]
    assert len(notes) == 1, notes
    if api != "nested":
        assert "a graph of" in notes[0] and "test_jupyter_tools.py" in notes[0] and "# the user's line" in notes[0]
    else:
        assert "<lambda>(w: float32[3])" in notes[0]


def test_no_note_when_the_machine_code_comes_from_the_disk_cache(tmp_path):
    # a fresh process that loads a graph's machine code from the kernel cache waits about a second for Numba's
    # start-up: that is no compile, and no note says it is
    script = ("import logging, sys\n"
              "import jaxish as jx\n"
              "from jaxish import backends\n"
              "logging.basicConfig(stream=sys.stdout, format='%(message)s')\n"
              "backends.SLOW_COMPILE_S = 0.0\n"
              "jx.trace(lambda v: jx.sin(v) * 0.5 + 0.25)(jx.constant([1.0, 2.0]))\n"
              "print(backends.cpu.STATS)\n")
    env = {**os.environ, "JAXISH_CACHE_DIR": str(tmp_path), "JAXISH_BACKEND": "cpu",
           "PYTHONPATH": os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    first, second = (r.stdout for r in runs)
    assert "'compiled': 1" in first and "first run took" in first, first
    assert "'disk_loads': 1" in second and "first run took" not in second, second


def test_no_note_after_a_fast_compile(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="jaxish")
    monkeypatch.setattr(backends, "SLOW_COMPILE_S", 1e9)
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
