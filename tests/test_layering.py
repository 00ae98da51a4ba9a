"""Layering rules of the package, checked on its source: lower layers never import the front end (not even
inside a function), and no pass or backend finds or compares a primitive by its name."""
import ast
from pathlib import Path

import jaxish
from jaxish.core import PRIMITIVES

PACKAGE = Path(jaxish.__file__).parent


def _primitive_name_offences(path: Path, prim_names: set) -> list:
    """``(line, text)`` of each place in ``path`` that finds or compares a primitive by its name."""
    source = path.read_text()
    tree = ast.parse(source, str(path))
    found = []

    def is_prim_name(node) -> bool:  # ``<...prim>.name``, ``<...>_p.name``, ``prim_name``
        if isinstance(node, ast.Attribute) and node.attr == "name":
            base = node.value
            ident = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            return ident == "prim" or ident.endswith("_p") or ident.endswith("_prim")
        return isinstance(node, ast.Name) and node.id in ("prim_name", "primitive_name")

    def names_a_primitive(node) -> bool:  # "mul", or ("copy", "convert"), {"exp", ...}
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str) and node.value in prim_names
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(names_a_primitive(e) for e in node.elts)
        return False

    def is_name(node) -> bool:  # ``name``, ``op_name``, ``<...>.name``
        return isinstance(node, ast.Attribute) and node.attr == "name" or \
            isinstance(node, ast.Name) and "name" in node.id

    for node in ast.walk(tree):
        bad = False
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            bad = any(is_prim_name(o) for o in operands) or \
                (any(names_a_primitive(o) for o in operands) and any(is_name(o) for o in operands))
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Store):  # PRIMITIVES["mul"]
            bad = isinstance(node.value, ast.Name) and node.value.id == "PRIMITIVES" or \
                isinstance(node.value, ast.Attribute) and node.value.attr == "PRIMITIVES"
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) > 1:
            name = node.args[1]  # getattr(self, f"lib_{name}"): a lowering found by the primitive's name
            bad = isinstance(name, ast.JoinedStr) and bool(name.values) and \
                isinstance(name.values[0], ast.Constant) and str(name.values[0].value).startswith("lib_")
        if bad:
            found.append((node.lineno, ast.get_source_segment(source, node)))
    return sorted(found)


def test_no_primitive_name_comparisons():
    """Passes, backends and the core find a primitive's facets through the primitive object
    (``node.prim is mul_p``, ``prim.effects``, ``prim.reduce``, ``LOWERINGS[prim]``), never by its name;
    only a primitive's own family file (``jaxish/primitives/``) may use its name."""
    prim_names = set(PRIMITIVES)
    assert {"mul", "broadcast_to", "random_uniform", "matmul"} <= prim_names
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith("jaxish/primitives/"):
            continue
        offenders += [f"{rel}:{line}: {text}" for line, text in _primitive_name_offences(path, prim_names)]
    assert not offenders, "primitives looked up or compared by name:\n" + "\n".join(offenders)


def test_no_primitive_name_comparisons_catches_each_form(tmp_path):
    """The check itself finds each form it forbids, and lets dtype names and unrelated strings pass."""
    src = tmp_path / "bad.py"
    src.write_text(
        'a = n.prim.name == "mul"\n'
        'b = name in ("copy", "convert")\n'
        'c = PRIMITIVES["broadcast_to"]\n'
        'd = getattr(self, f"lib_{name}")\n'
        'e = prim.name in TABLE\n'
        'f = mul_p.name != other\n'
        'ok1 = dt.name in ("float32", "float64")\n'
        'ok2 = os.name == "posix"\n'
        'ok3 = n.prim is mul_p\n'
        'ok4 = entry[0] == "copy"\n'
        'PRIMITIVES[name] = self\n')
    lines = [line for line, _ in _primitive_name_offences(src, {"mul", "copy", "convert", "broadcast_to"})]
    assert sorted(lines) == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------------------
# imports go down the layers only
# ---------------------------------------------------------------------------
PKG = PACKAGE
LOWER = ("jaxish.core", "jaxish.ir", "jaxish.primitives", "jaxish.transforms", "jaxish.passes", "jaxish.backends",
         "jaxish.dtypes", "jaxish.lru", "jaxish.errors", "jaxish.config")
UPPER = {"jaxish", "jaxish.ops", "jaxish.creation", "jaxish.variables", "jaxish.indexing", "jaxish.tensor_methods",
         "jaxish.tape", "jaxish.tracing", "jaxish.autodiff", "jaxish.random", "jaxish.math", "jaxish.nn",
         "jaxish.linalg", "jaxish.testing", "jaxish.devices", "jaxish.static_args"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path):
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
    rel = Path(*name.split(".")[1:])
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
