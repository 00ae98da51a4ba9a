"""Differential fuzzing: random programs from the op table, run eagerly and through ``@trace`` on both backends.

Hypothesis draws programs (``tests/fuzz/programs.py``): broadcasting shapes, every dtype, compositions,
reductions over random axes, slices, integer and boolean indexing, matmuls, random draws, Variable reads and
assignments, NaN / inf / -0.0 / integer extremes in the arguments. ``tests/fuzz/check.py`` runs each one eagerly,
under ``@trace`` on the interpreter and on the cpu backend (twice: the second call is a cache hit with other
values) and compares every result with a NumPy evaluation of the same program (bit-exact where every op on the way
is exact); float programs' gradients (``grad`` and ``GradientTape``, both backends) are compared with each other
and with central finite differences of the float64 program.

Profiles: ``fuzz-ci`` (the default: derandomized, sized for a few minutes of CI) and ``long``
(``JAXISH_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py`` or ``--hypothesis-profile=long``), which also
compares with JAX when it is installed. A failure prints the shrunk program as a ``Program(...)`` expression: add it
to ``REGRESSIONS`` below (and a reproducer of the bug to ``tests/test_fuzz_regressions.py``).
"""
from __future__ import annotations

import os
import warnings

import pytest
from fuzz.check import check_forward, check_gradients
from fuzz.programs import KNOWN, Program, programs
from hypothesis import HealthCheck, given, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("fuzz-ci", deadline=None, derandomize=True, suppress_health_check=_QUIET,
                          print_blob=True, database=None)
settings.register_profile("long", deadline=None, suppress_health_check=_QUIET, print_blob=True,
                          max_examples=int(os.environ.get("JAXISH_FUZZ_EXAMPLES", "5000")))

LONG = "JAXISH_FUZZ_EXAMPLES" in os.environ or settings.get_current_profile_name() == "long"
PROFILE = settings.get_profile("long" if LONG else "fuzz-ci")


def budget(ci: int, share: float = 1.0):
    """The settings of one fuzz test: ``ci`` examples in CI, ``share`` of the long run's count otherwise."""
    if LONG:
        return settings(PROFILE, max_examples=max(1, int(PROFILE.max_examples * share)))
    return settings(PROFILE, max_examples=ci)


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the NumPy references of overflowing programs
        yield


# ---------------------------------------------------------------------------
# the fuzz tests
# ---------------------------------------------------------------------------
@budget(ci=600, share=2.0)
@given(programs())
def test_fuzz_eager_and_interpreter(program):
    """Cheap: no Numba compilation, so many programs."""
    check_forward(program, modes=("eager", "interpreter"))


@budget(ci=25)
@given(programs())
def test_fuzz_all_modes(program):
    check_forward(program)


@budget(ci=10, share=0.4)
@given(programs(grad=True))
def test_fuzz_gradients(program):
    check_gradients(program)


@budget(ci=300, share=1.0)
@given(programs(grad=True))
def test_fuzz_gradients_interpreter(program):
    check_gradients(program, modes=("interpreter",))


# ---------------------------------------------------------------------------
# programs the fuzzer found (shrunk): each runs every check; all pass now
# ---------------------------------------------------------------------------
REGRESSIONS: list = []


@pytest.mark.parametrize("program", REGRESSIONS, ids=lambda p: str(REGRESSIONS.index(p)))
def test_regression_program(program: Program):
    check_forward(program)
    if all(dt in ("float32", "float64") for dt, _, _ in program.args):
        check_gradients(program)


def test_known_bugs_are_listed():
    """Every bug the generator steers clear of has a strict-xfail reproducer in test_fuzz_regressions.py."""
    import test_fuzz_regressions
    for name in KNOWN:
        assert hasattr(test_fuzz_regressions, f"test_{name.replace('-', '_')}"), name
