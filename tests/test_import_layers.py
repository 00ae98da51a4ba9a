"""The layering rule of docs/architecture.md, checked on the source: no module of the lower layers (the core,
the IR, primitives, transforms, passes, backends) imports a front-end or API module, not even inside a
function."""
from __future__ import annotations

import ast
import pathlib

import jaxish

PKG = pathlib.Path(jaxish.__file__).parent
LOWER = ("jaxish.core", "jaxish.ir", "jaxish.primitives", "jaxish.transforms", "jaxish.passes", "jaxish.backends",
         "jaxish.dtypes", "jaxish.lru", "jaxish.errors", "jaxish.config")
UPPER = {"jaxish", "jaxish.ops", "jaxish.creation", "jaxish.variables", "jaxish.indexing", "jaxish.tensor_methods",
         "jaxish.tape", "jaxish.tracing", "jaxish.autodiff", "jaxish.random", "jaxish.math", "jaxish.nn",
         "jaxish.linalg", "jaxish.testing", "jaxish.devices", "jaxish.static_args"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: pathlib.Path):
    """``(line, imported module)`` for every import in the file, relative ones resolved."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # `from . import ops` imports the module jaxish.ops, `from . import x` jaxish
                sub = f"{target}.{a.name}"
                yield node.lineno, sub if _is_module(sub) else target


def _is_module(name: str) -> bool:
    rel = pathlib.Path(*name.split(".")[1:])
    return (PKG / rel).with_suffix(".py").exists() or (PKG / rel / "__init__.py").exists()


def _is_upper(target: str) -> bool:
    return target in UPPER or any(target.startswith(u + ".") for u in UPPER - {"jaxish"})


def test_lower_layers_never_import_the_front_end():
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        if not mod.startswith(LOWER):
            continue
        for line, target in _imports(path):
            if _is_upper(target):
                offenders.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}")
    assert not offenders, "layering violations:\n" + "\n".join(offenders)


def test_the_check_sees_a_violation(tmp_path):
    """The walker resolves relative imports (so that the test above can fail)."""
    p = PKG / "core" / "_probe_for_test.py"
    p.write_text("def f():\n    from ..ops import add\n    from .. import variables\n")
    try:
        found = {t for _, t in _imports(p)}
    finally:
        p.unlink()
    assert "jaxish.ops" in found and "jaxish.variables" in found
    assert _is_upper("jaxish.ops") and not _is_upper("jaxish.core.tensor")
