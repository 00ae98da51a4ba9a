"""``jaxish.config``: every ``JAXISH_*`` variable is parsed there, once, at import; cache limits bound the caches."""
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import jaxish
from jaxish import config
from jaxish.lru import LRU

ROOT = pathlib.Path(__file__).resolve().parent.parent

SNAPSHOT = """
import json
from jaxish import config
print(json.dumps({"backend": config.get_backend(), "compile_worker": config.get_compile_worker(),
                  "compile_worker_timeout": config.compile_worker_timeout(),
                  "disk_cache": config.disk_cache_enabled(), "cache_dir": config.cache_dir(),
                  "log_compiles": config.log_compiles(), "strict_backend": config.strict_backend(),
                  "traceback_filtering": config.traceback_filtering(), **config.get_cache_limits()}))
"""

DEFAULTS = {"backend": "cpu", "compile_worker": True, "compile_worker_timeout": 600.0, "disk_cache": True,
            "log_compiles": False, "strict_backend": False, "traceback_filtering": True, "executable_cache_size": 512,
            "trace_cache_size": 256,
            "vjp_cache_size": 512, "aval_cache_size": 50_000,
            "disk_cache_max_bytes": 1 << 30}

# variable, value, setting, its parsed value
CASES = [
    ("JAXISH_BACKEND", "interpreter", "backend", "interpreter"),
    ("JAXISH_COMPILE_WORKER", "off", "compile_worker", False),
    ("JAXISH_COMPILE_WORKER_TIMEOUT", "2.5", "compile_worker_timeout", 2.5),
    ("JAXISH_DISK_CACHE", "0", "disk_cache", False),
    ("JAXISH_CACHE_DIR", "/tmp/jaxish-config-test", "cache_dir", "/tmp/jaxish-config-test"),
    ("JAXISH_LOG_COMPILES", "1", "log_compiles", True),
    ("JAXISH_STRICT_BACKEND", "True", "strict_backend", True),
    ("JAXISH_TRACEBACK_FILTERING", "off", "traceback_filtering", False),
    ("JAXISH_EXECUTABLE_CACHE_SIZE", "7", "executable_cache_size", 7),
    ("JAXISH_TRACE_CACHE_SIZE", "3", "trace_cache_size", 3),
    ("JAXISH_VJP_CACHE_SIZE", "2", "vjp_cache_size", 2),
    ("JAXISH_AVAL_CACHE_SIZE", "123", "aval_cache_size", 123),
    ("JAXISH_CACHE_MAX_BYTES", "512M", "disk_cache_max_bytes", 512 << 20),
]


def _clean_env(tmp_path, **extra) -> dict:
    """This environment without any JAXISH_ variable (XDG_CACHE_HOME in ``tmp_path``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXISH_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update(extra)
    return env


def _snapshot(tmp_path, **extra) -> dict:
    out = subprocess.run([sys.executable, "-c", SNAPSHOT], env=_clean_env(tmp_path, **extra), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# parsing, in a fresh process
# ---------------------------------------------------------------------------
def test_defaults(tmp_path):
    assert _snapshot(tmp_path) == dict(DEFAULTS, cache_dir=str(tmp_path / "xdg" / "jaxish"))


def test_the_cases_cover_every_variable():
    assert sorted(c[0] for c in CASES) == sorted(config.VARIABLES)


@pytest.mark.parametrize("var,value,setting,expected", CASES, ids=[c[0] for c in CASES])
def test_each_variable_is_parsed_at_import(tmp_path, var, value, setting, expected):
    got = _snapshot(tmp_path, **{var: value})
    assert got == {**DEFAULTS, "cache_dir": str(tmp_path / "xdg" / "jaxish"), setting: expected}


@pytest.mark.parametrize("var,value", [("JAXISH_BACKEND", "gpu"), ("JAXISH_DISK_CACHE", "maybe"),
                                       ("JAXISH_VJP_CACHE_SIZE", "-1")])
def test_a_bad_value_fails_the_import_naming_the_variable(tmp_path, var, value):
    out = subprocess.run([sys.executable, "-c", "import jaxish"], env=_clean_env(tmp_path, **{var: value}),
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: config:") and var in last and repr(value) in last, last


# ---------------------------------------------------------------------------
# parsing rules (the same code as at import, on a given environment)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("var,value", [
    ("JAXISH_BACKEND", "Numba"), ("JAXISH_COMPILE_WORKER", "2"), ("JAXISH_COMPILE_WORKER_TIMEOUT", "soon"),
    ("JAXISH_COMPILE_WORKER_TIMEOUT", "0"), ("JAXISH_COMPILE_WORKER_TIMEOUT", "-3"),
    ("JAXISH_COMPILE_WORKER_TIMEOUT", "inf"), ("JAXISH_COMPILE_WORKER_TIMEOUT", "nan"),
    ("JAXISH_DISK_CACHE", "disabled"), ("JAXISH_LOG_COMPILES", "verbose"), ("JAXISH_STRICT_BACKEND", "10"),
    ("JAXISH_EXECUTABLE_CACHE_SIZE", "lots"), ("JAXISH_TRACE_CACHE_SIZE", "1.5"), ("JAXISH_VJP_CACHE_SIZE", "-2"),
    ("JAXISH_VJP_CACHE_SIZE", "1K"), ("JAXISH_AVAL_CACHE_SIZE", "5e4"), ("JAXISH_CACHE_MAX_BYTES", "1X"),
])
def test_bad_values_raise_a_value_error_naming_the_variable(var, value):
    with pytest.raises(ValueError, match=re.escape(var)) as info:
        config._Config({var: value})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                            ("0", False), ("False", False), ("no", False), ("OFF", False)])
def test_on_off_values(value, expected):
    for var, setting in [("JAXISH_LOG_COMPILES", "log_compiles"), ("JAXISH_DISK_CACHE", "disk_cache")]:
        assert getattr(config._Config({var: value}), setting) is expected


def test_an_empty_value_counts_as_unset():
    c = config._Config({var: "" for var in config.VARIABLES} | {"XDG_CACHE_HOME": "/x"})
    assert c.backend == "cpu" and c.disk_cache and c.compile_worker and not c.log_compiles
    assert c.cache_dir == os.path.join("/x", "jaxish") and c.compile_worker_timeout == 600
    assert c.limits == {k: DEFAULTS[k] for k in c.limits}


def test_cache_dir_default_without_xdg():
    assert config._Config({}).cache_dir == os.path.join(os.path.expanduser("~"), ".cache", "jaxish")


# ---------------------------------------------------------------------------
# setters
# ---------------------------------------------------------------------------
@pytest.fixture
def saved_config(monkeypatch):
    """Every setting is restored after the test."""
    for name in ("compile_worker_timeout", "disk_cache", "cache_dir", "log_compiles", "strict_backend", "_backend"):
        monkeypatch.setattr(config._config, name, getattr(config._config, name))
    monkeypatch.setattr(config._config, "limits", dict(config._config.limits))
    return config


def test_setters_and_accessors(saved_config, tmp_path):
    config.set_log_compiles(True)
    config.set_strict_backend(False)
    config.set_disk_cache(False)
    config.set_compile_worker_timeout(12)
    config.set_cache_dir(tmp_path)
    assert config.log_compiles() and not config.strict_backend() and not config.disk_cache_enabled()
    assert config.compile_worker_timeout() == 12.0 and config.cache_dir() == str(tmp_path)
    config.set_cache_dir(None)
    assert config.cache_dir() == config._config.default_cache_dir
    with pytest.raises(ValueError, match="compile_worker_timeout"):
        config.set_compile_worker_timeout(0)
    with pytest.raises(ValueError, match="unknown backend"):
        config.set_backend("gpu")
    config.backend = "interpreter"
    assert config.get_backend() == "interpreter"


def test_set_cache_limits_takes_the_new_limits(saved_config):
    config.set_cache_limits(vjp_cache_size=2, aval_cache_size=4)
    assert [config.cache_limit(k) for k in ("vjp_cache_size", "aval_cache_size")] == [2, 4]
    config.set_cache_limits(8, 9, "1K")   # the original three, positionally
    assert config.get_cache_limits() == {"executable_cache_size": 8, "trace_cache_size": 9,
                                         "disk_cache_max_bytes": 1024, "vjp_cache_size": 2, "aval_cache_size": 4}
    for name in ("vjp_cache_size", "aval_cache_size"):
        with pytest.raises(ValueError, match=name):
            config.set_cache_limits(**{name: -1})
    assert config.cache_limit("vjp_cache_size") == 2


def test_an_lru_bounded_by_a_limit_follows_it(saved_config):
    """The policy every in-memory cache uses: ``LRU(lambda: cache_limit(name))``, the bound read on each insert."""
    cache = LRU(lambda: config.cache_limit("vjp_cache_size"))
    config.set_cache_limits(vjp_cache_size=2)
    for k in range(5):
        cache[k] = k
    assert cache.keys() == [3, 4]
    cache.get(3)             # used: 4 is now the least recently used
    config.set_cache_limits(vjp_cache_size=1)
    cache[5] = 5
    assert cache.keys() == [5]
    config.set_cache_limits(vjp_cache_size=0)
    cache[6] = 6
    assert len(cache) == 0


def _grads_of_5_functions():
    x = np.ones(3, np.float32)
    for k in range(5):
        jaxish.grad(lambda v, k=k: jaxish.reduce_sum(jaxish.sin(v) * float(k + 1)))(x)


def _tapes_of_5_shapes():
    for k in range(5):
        v = jaxish.Variable(np.ones(k + 1, np.float32))
        with jaxish.GradientTape() as t:
            y = jaxish.reduce_sum(jaxish.sin(v) * 2.0)
        t.gradient(y, v)


def _eager_ops_of_5_shapes():
    for k in range(5):
        jaxish.ones((k + 1, 11)) * 3.0


@pytest.mark.parametrize("limit,module,cache,work", [
    ("vjp_cache_size", "transforms.vjp", "_VJP_CACHE", _grads_of_5_functions),
    ("vjp_cache_size", "transforms.vjp", "_VJP_CACHE", _tapes_of_5_shapes),  # tapes use the same cache
    ("aval_cache_size", "core.trace", "_AVAL_CACHE", _eager_ops_of_5_shapes),
])
def test_set_cache_limits_bounds_the_cache(saved_config, limit, module, cache, work):
    config.set_cache_limits(**{limit: 2})
    work()
    import importlib
    assert len(getattr(importlib.import_module(f"jaxish.{module}"), cache)) <= 2


# ---------------------------------------------------------------------------
# one place, documented
# ---------------------------------------------------------------------------
# the compile worker's environment: a copy of this one, with the worker itself turned off
_ALLOWED = {("backends/cpu/compile_worker.py", 'env = dict(os.environ, JAXISH_COMPILE_WORKER="0")')}


def test_only_config_reads_the_environment():
    pkg = ROOT / "jaxish"
    found = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        if rel == "config.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\benviron\b|\bgetenv\b|\bputenv\b", line) and (rel, line.strip()) not in _ALLOWED:
                found.append(f"jaxish/{rel}:{n}: {line.strip()}")
    assert not found, "read JAXISH_ variables through jaxish.config, not os.environ:\n" + "\n".join(found)


def _names_in(paths) -> set:
    return {m for p in paths for m in re.findall(r"\bJAXISH_[A-Z0-9_]*[A-Z0-9]", p.read_text())}


def test_every_variable_is_parsed_by_config_and_listed_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration"):]
    section = section[:section.index("\n## ", 1)]
    listed = set(re.findall(r"^\| `(JAXISH_[A-Z0-9_]+)` \| [^|]+ \|", section, re.M))
    in_package = _names_in((ROOT / "jaxish").rglob("*.py"))
    assert in_package <= set(config.VARIABLES), in_package - set(config.VARIABLES)
    in_tests = _names_in((ROOT / "tests").rglob("*.py"))
    assert set(config.VARIABLES) | in_tests <= listed, (set(config.VARIABLES) | in_tests) - listed
    for name, (var, default) in config._LIMITS.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{var}`"))
        assert name in row, row
