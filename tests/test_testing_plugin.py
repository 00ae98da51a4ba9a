"""jaxish's pytest plugin, used by a test suite of its own (pytester): the jaxish_backend fixture and its
marker, --jaxish-backends and --jaxish-compile-counts."""
import importlib.metadata

import pytest

pytest_plugins = ["pytester"]


def _plugin_args() -> list:
    """``-p jaxish.testing_plugin`` unless the installed package registers it already (entry point pytest11)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    registered = any(ep.value.startswith("jaxish.testing_plugin") for ep in eps)
    return [] if registered else ["-p", "jaxish.testing_plugin"]


USER_TESTS = """
import numpy as np
import pytest
import jaxish

SEEN = []

def test_double(jaxish_backend):
    SEEN.append(jaxish_backend)
    assert jaxish.config.get_backend() == ("cpu" if jaxish_backend == "cuda" else jaxish_backend)
    f = jaxish.trace(lambda x: x * 2.0 + 0.25)
    np.testing.assert_allclose(f(jaxish.ones(3)).numpy(), [2.25, 2.25, 2.25])

@pytest.mark.jaxish_backends("interpreter")
def test_interpreter_only(jaxish_backend):
    assert jaxish_backend == "interpreter" == jaxish.config.get_backend()

def test_no_fixture():
    assert jaxish.config.get_backend() == "cpu"

def test_each_backend_ran():
    assert SEEN[:2] == ["interpreter", "cpu"]
"""


def test_fixture_runs_the_test_on_each_backend(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*_plugin_args(), "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_double?interpreter? PASSED*", "*test_double?cpu? PASSED*",
                                 "*test_interpreter_only?interpreter? PASSED*"])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 5 and "failed" not in outcomes
    assert "test_interpreter_only[cpu]" not in result.stdout.str()


def test_backends_option_and_compile_counts(pytester):
    # a graph of its own (0.375), which this process has not built before
    user = USER_TESTS.replace('assert SEEN[:2] == ["interpreter", "cpu"]', 'assert SEEN == ["cpu"]')
    pytester.makepyfile(test_user=user.replace("0.25", "0.375").replace("2.25, 2.25, 2.25", "2.375, 2.375, 2.375"))
    result = pytester.runpytest(*_plugin_args(), "-v", "-p", "no:cacheprovider", "--jaxish-backends=cpu",
                                "--jaxish-compile-counts", "-k", "not interpreter_only")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*jaxish compile counts*", "test*traced*graphs*compiled*from disk",
                                 "test_user.py::test_double?cpu? *", "total *"])
    row = next(l for l in result.stdout.lines if l.startswith("test_user.py::test_double[cpu]") and "PASSED" not in l)
    traced, graphs, compiled, from_disk = map(int, row.split()[1:])
    assert (traced, graphs, compiled + from_disk) == (1, 1, 1)


def test_unknown_backend_is_a_usage_error(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "--jaxish-backends=tpu")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown jaxish backend(s) ?'tpu'?*"])


@pytest.mark.parametrize("name", ["interpreter", "cpu"])
def test_fixture_direct_parametrisation_restores_the_backend(name):
    import jaxish
    from jaxish import testing_plugin
    before = jaxish.config.get_backend()

    class Request:
        param = name

    gen = testing_plugin.jaxish_backend.__wrapped__(Request())
    assert next(gen) == name and jaxish.config.get_backend() == name
    with pytest.raises(StopIteration):
        next(gen)
    assert jaxish.config.get_backend() == before
