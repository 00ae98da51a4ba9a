"""jaxish's pytest plugin (entry point ``pytest11``): run a test on each backend, and count compiles.

* The fixture ``jaxish_backend`` runs a test once per backend: ``interpreter`` (the NumPy reference),
  ``cpu`` (Numba), and ``cuda`` when a GPU is usable -- under ``NUMBA_ENABLE_CUDASIM=1`` (set before Python
  starts) that is numba-cuda's simulator. The fixture's value is the backend's name; for ``cuda`` the test
  body runs inside ``jaxish.device('/gpu:0')``.

  .. code-block:: python

      def test_step(jaxish_backend):
          f = jaxish.trace(lambda x: x * 2.0)
          assert f(jaxish.ones(3)).numpy().tolist() == [2.0, 2.0, 2.0]

      @pytest.mark.jaxish_backends("cpu")   # only these backends, for this test
      def test_cpu_only(jaxish_backend): ...

  ``--jaxish-backends=cpu,interpreter`` chooses the backends for a whole run.
* ``--jaxish-compile-counts`` prints, after the run, how many signatures each test traced, how many graphs it
  built executables for, and how many of those Numba compiled or loaded from the kernel cache on disk: a
  test that compiles more than you expect shows up (a retrace on every call, a cache miss).

The plugin imports jaxish only when a test needs it, so that the ``JAXISH_*`` variables a ``conftest.py``
sets before importing jaxish still apply.
"""
from __future__ import annotations

import importlib.util
import sys

import pytest

KNOWN = ("interpreter", "cpu", "cuda")


def pytest_addoption(parser):
    group = parser.getgroup("jaxish")
    group.addoption("--jaxish-backends", default=None, metavar="NAMES",
                    help="comma-separated backends for the jaxish_backend fixture (interpreter, cpu, cuda); "
                         "default: interpreter, cpu, and cuda when a GPU or the CUDA simulator is usable")
    group.addoption("--jaxish-compile-counts", action="store_true", default=False,
                    help="report the traces and compiles of each test after the run")


def pytest_configure(config):
    config.addinivalue_line("markers", "jaxish_backends(*names): run a test that uses the jaxish_backend "
                                       "fixture only on these backends (interpreter, cpu, cuda)")
    option = config.getoption("--jaxish-backends")
    if option is not None:
        _check(option.split(","), "--jaxish-backends")
    if config.getoption("--jaxish-compile-counts"):
        config.pluginmanager.register(CompileCounter(), "jaxish-compile-counts")


def _check(names, where: str) -> list:
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in KNOWN]
    if bad:
        raise pytest.UsageError(f"{where}: unknown jaxish backend(s) {bad}; known: {', '.join(KNOWN)}")
    return names


def _cuda_usable() -> bool:
    if importlib.util.find_spec("numba_cuda") is None:
        return False
    from jaxish.devices import gpu_available
    return gpu_available()


def pytest_generate_tests(metafunc):
    if "jaxish_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("jaxish_backends")
    option = metafunc.config.getoption("--jaxish-backends")
    if marker is not None:
        names = _check(marker.args, f"{metafunc.definition.nodeid}: jaxish_backends marker")
        if option:
            chosen = set(_check(option.split(","), "--jaxish-backends"))
            names = [n for n in names if n in chosen]
    elif option:
        names = _check(option.split(","), "--jaxish-backends")
    else:
        names = ["interpreter", "cpu"] + (["cuda"] if _cuda_usable() else [])
    metafunc.parametrize("jaxish_backend", names, indirect=True, ids=names)


@pytest.fixture
def jaxish_backend(request):
    """The backend this run of the test uses (``interpreter``, ``cpu`` or ``cuda``), set for its duration."""
    import jaxish
    name = getattr(request, "param", None) or jaxish.config.get_backend()
    old = jaxish.config.get_backend()
    try:
        if name == "cuda":
            if not jaxish.devices.gpu_available():
                pytest.skip(f"jaxish_backend[cuda]: {jaxish.devices.gpu_unavailable_reason()}")
            jaxish.config.set_backend("cpu")
            with jaxish.device("/gpu:0"):
                yield name
        else:
            jaxish.config.set_backend(name)
            yield name
    finally:
        jaxish.config.set_backend(old)


def _counts() -> dict:
    """Process-wide counters (monotonic) of traces, executables built, Numba compiles and disk loads."""
    if "jaxish" not in sys.modules:
        return {"traces": 0, "graphs": 0, "compiled": 0, "disk_loads": 0}
    from jaxish import backends, tracing
    cpu = sys.modules.get("jaxish.backends.cpu")
    stats = cpu.STATS if cpu is not None else {}
    return {"traces": tracing._counted(tracing.TRACES), "graphs": backends.STATS.get("misses", 0),
            "compiled": stats.get("compiled", 0), "disk_loads": stats.get("disk_loads", 0)}


class CompileCounter:
    """``--jaxish-compile-counts``: the counters' increase over each test (setup, call and teardown)."""

    HEADERS = {"traces": "traced", "graphs": "graphs", "compiled": "compiled", "disk_loads": "from disk"}

    def __init__(self):
        self.rows: list = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        before = _counts()
        yield
        after = _counts()
        self.rows.append((item.nodeid, {k: after[k] - before[k] for k in after}))

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.section("jaxish compile counts")
        total = {k: sum(r[k] for _, r in self.rows) for k in self.HEADERS}
        busy = sorted((r for r in self.rows if any(r[1].values())), key=lambda r: (-r[1]["graphs"], r[0]))
        width = max([len(n) for n, _ in busy[:30]] + [4])
        tr.write_line(f"{'test':<{width}}  " + "  ".join(f"{h:>9}" for h in self.HEADERS.values()))
        for nodeid, r in busy[:30]:
            tr.write_line(f"{nodeid:<{width}}  " + "  ".join(f"{r[k]:>9}" for k in self.HEADERS))
        if len(busy) > 30:
            tr.write_line(f"... and {len(busy) - 30} more tests that traced or compiled")
        tr.write_line(f"{'total':<{width}}  " + "  ".join(f"{total[k]:>9}" for k in self.HEADERS))
        tr.write_line("traced: signatures traced by @trace; graphs: executables built (each a compile or a load "
                      "from the disk cache); compiled: Numba compilations in this process; from disk: machine "
                      "code loaded from the kernel cache (JAXISH_CACHE_DIR, or compiled by the compile worker)")
