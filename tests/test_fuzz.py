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
from fuzz.check import check_forward, check_gradients, check_jax, check_second_order
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
def _has_jax() -> bool:
    try:
        import jax  # noqa: F401
        return True
    except ImportError:
        return False


HAS_JAX = _has_jax()


@budget(ci=2000, share=2.0)
@given(programs())
def test_fuzz_eager_and_interpreter(program):
    """Cheap (no Numba compilation): many programs."""
    check_forward(program, modes=("eager", "interpreter"))


@budget(ci=250)
@given(programs())
def test_fuzz_all_modes(program):
    check_forward(program)


@budget(ci=80, share=0.4)
@given(programs(grad=True))
def test_fuzz_gradients(program):
    check_gradients(program)


@budget(ci=1000, share=1.0)
@given(programs(grad=True))
def test_fuzz_gradients_interpreter(program):
    check_gradients(program, modes=("interpreter",), use_jax=HAS_JAX and LONG)


@budget(ci=40, share=0.2)
@given(programs(grad=True, max_steps=3))
def test_fuzz_second_order(program):
    """grad of grad through a nested traced call (the cpu backend too in long runs)."""
    check_second_order(program, modes=("interpreter", "cpu") if LONG else ("interpreter",))


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
@budget(ci=100, share=1.0)
@given(programs())
def test_fuzz_against_jax(program):
    check_jax(program)


# ---------------------------------------------------------------------------
# programs the fuzzer found (shrunk), each run through every check
# ---------------------------------------------------------------------------
def known_bug(name, program):
    return pytest.param(program, marks=pytest.mark.xfail(strict=True, reason=KNOWN[name]), id=name)


def fixed_bug(name, program):
    return pytest.param(program, id=name)


REGRESSIONS = [
    # the harness's own mistakes: a NumPy reference's keepdims shape on 0-d inputs, rounding of composite
    # adapters and of log_softmax (cancellation against max(x)), 1-ulp differences of normal draws between backends
    pytest.param(Program(args=(('float32', (), 0.8217701315879822),), steps=(
        ('arg', (), {'n': 0}), ('reduce_logsumexp', (0,), {'axis': None, 'keepdims': True})), outputs=(1,)),
        id="logsumexp-keepdims-0d"),
    pytest.param(Program(args=(('float32', (), -0.07882019132375717), ('float16', (), -2.15625)), steps=(
        ('arg', (), {'n': 0}), ('squash', (0,), {'lo': -6.0, 'hi': 6.0}), ('cast_to_int8', (1,), {}),
        ('arg', (), {'n': 1}), ('negative', (3,), {})), outputs=(1, 4)), id="squash-rounding"),
    pytest.param(Program(args=(('float64', (2, 2, 2), [
        [[0.0709297482015403, 2.702782177955612], [-2.135042323682198, 2.6918966828234634]],
        [[-1.1290112879370873, -0.4600413061645461], [1.9662155629226508, -0.5448051817850326]]]),),
        steps=(('arg', (), {'n': 0}), ('log_softmax', (0,), {'axis': 0})), outputs=(1,)), id="log-softmax"),
    pytest.param(Program(args=(('float32', (2,), [1.0, -2.7541589736938477]),), steps=(
        ('read', (), {'var': 0}), ('arg', (), {'n': 0}), ('getitem', (1,), {'key': (('b', [False, False]),)}),
        ('random_normal', (), {'shape': (2, 3), 'dtype': 'float64'})), outputs=(3,),
        variables=(('float32', (), 0.8217701315879822),)), id="normal-draws"),
    pytest.param(Program(args=(('float16', (2, 2, 2), [[[0.0, -2.134765625], [2.69140625, 0.0]],
                                                       [[-0.4599609375, 0.5], [-0.544921875, float("inf")]]]),),
                         steps=(('arg', (), {'n': 0}), ('squash', (0,), {'lo': -8.0, 'hi': 8.0}),
                                ('squash', (1,), {'lo': -6.0, 'hi': 6.0}), ('cast_to_int8', (2,), {})),
                         outputs=(3,)), id="int-cast-at-rounding-boundary"),
    # JAX's floor division gives +0.0 where NumPy and TensorFlow give -0.0 (floor(-0.0 / 2))
    pytest.param(Program(args=(('float32', (), -1.1290112733840942),), steps=(
        ('arg', (), {'n': 0}), ('scalar', (0,), {'op': 'multiply', 'value': 0, 'left': False}),
        ('scalar', (1,), {'op': 'floordiv', 'value': 2, 'left': False})), outputs=(2,)), id="jax-floordiv-zero"),
    # a tape source on a no-op transpose (it was an alias of its input; now a tensor of its own, as in TensorFlow)
    pytest.param(Program(args=(('float32', (), 0.8217701315879822), ('float32', (), -1.381279706954956)), steps=(
        ('arg', (), {'n': 0}), ('transpose', (0,), {}), ('arg', (), {'n': 1}), ('negative', (2,), {}),
        ('negative', (0,), {})), outputs=(4,)), id="tape-source-alias"),
    # the harness's kink test: tied maxima give consistent central differences (1/2) but one-sided ones disagree
    pytest.param(Program(args=(('float32', (2,), [0.8217701315879822, -1.381279706954956]),), steps=(
        ('arg', (), {'n': 0}), ('concat', (0, 0, 0), {'axis': 0}), ('reduce_max', (1,), {'axis': None})),
        outputs=(2,)), id="max-ties-kink"),
    # a tape source on a reduction over no axes (it was an alias of its input too)
    pytest.param(Program(args=(('float32', (), 0.8217701315879822), ('float32', (), -1.381279706954956),
                               ('float32', (), -2.7541589736938477)), steps=(
        ('arg', (), {'n': 0}), ('reduce_sum', (0,), {'axis': None}), ('arg', (), {'n': 1}), ('negative', (2,), {}),
        ('arg', (), {'n': 2}), ('negative', (4,), {}), ('negative', (0,), {})), outputs=(6,)),
        id="tape-source-alias-reduce"),
    # the harness's finite differences froze every Variable read (a tape's semantics) also for ``grad``, which
    # differentiates a read after an assignment as data flow (JAX's; tests/test_autodiff_assign_read.py)
    pytest.param(Program(args=(('float32', (), -1.381279706954956), ('float32', (), -2.7541589736938477)), steps=(
        ('read', (), {'var': 0}), ('arg', (), {'n': 0}), ('assign', (1,), {'var': 0}), ('arg', (), {'n': 1}),
        ('negative', (3,), {}), ('read', (), {'var': 0})), outputs=(5,),
        variables=(('float32', (), 0.8217701315879822),)), id="grad-reads-what-it-assigned"),
    # jaxish bugs found by the fuzzer, fixed (issue 7 item 4 and two more)
    pytest.param(Program(args=(('float32', (), -0.0),), steps=(('arg', (), {'n': 0}), ('sign', (0,), {})),
                         outputs=(1,)), id="issue7-item4-sign-negative-zero"),
    # jaxish bugs (tests/test_fuzz_regressions.py has a reproducer of each)
    fixed_bug("empty-multi-index", Program(args=(('float32', (0, 2, 2), []),), steps=(
        ('arg', (), {'n': 0}), ('getitem', (0,), {'key': (('s', None, None, None), ('a', [0], 'int32'),
                                                          ('a', [1], 'int32'))})), outputs=(1,))),
    fixed_bug("slice-negative-step", Program(args=(('float32', (2,), [0.8217701315879822, -1.381279706954956]),),
                                             steps=(('arg', (), {'n': 0}),
                                                    ('getitem', (0,), {'key': (('s', -3, None, -1), ('n',))})),
                                             outputs=(1,))),
]


@pytest.mark.parametrize("program", REGRESSIONS)
def test_regression_program(program: Program):
    check_forward(program)
    if HAS_JAX:
        check_jax(program)
    if all(dt in ("float32", "float64") for dt, _, _ in program.args + program.variables):
        check_gradients(program, use_jax=HAS_JAX)


def test_known_bugs_are_listed():
    """Every bug the generator steers clear of has a strict-xfail reproducer in test_fuzz_regressions.py."""
    import test_fuzz_regressions
    for name in KNOWN:
        assert hasattr(test_fuzz_regressions, f"test_{name.replace('-', '_')}"), name
