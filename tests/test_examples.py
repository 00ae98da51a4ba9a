"""The examples and notebooks run as shipped."""
import json
import pathlib
import runpy

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", [ROOT / "notebooks" / "chapter1.ipynb"], ids=lambda p: p.name)
def test_notebook_code_cells_run(path, capsys):  # the other notebooks run under nbclient (test_notebooks.py)
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    out = capsys.readouterr().out
    assert "mean squared loss at iteration 1000 is 0.0000" in out
    np.testing.assert_allclose(namespace["weights"].numpy().ravel(), [0, 1, 2, 3, 4], atol=2e-2)


def test_linear_regression_example(capsys):
    ns = runpy.run_path(str(ROOT / "examples" / "linear_regression.py"))
    out = capsys.readouterr().out
    assert "mean squared loss at iteration    0" in out and "traces: 1" in out
    np.testing.assert_allclose(ns["weights"].numpy().ravel(), [0, 1, 2, 3, 4], atol=2e-2)
    np.testing.assert_allclose(ns["traced_weights"].numpy(), ns["weights"].numpy(), rtol=1e-4, atol=1e-5)


def test_mlp_digits_example(capsys):
    pytest.importorskip("sklearn", reason="examples/mlp_digits.py needs scikit-learn (the [examples] extra)")
    pytest.importorskip("tqdm", reason="examples/mlp_digits.py needs tqdm (the [examples] extra)")
    ns = runpy.run_path(str(ROOT / "examples" / "mlp_digits.py"))
    accuracy = ns["main"]()
    out = capsys.readouterr().out
    assert accuracy >= 0.95, out
    assert f"test accuracy: {100 * accuracy:.1f}%" in out and "1 trace of the training step" in out


def test_higher_order_example(capsys):
    ns = runpy.run_path(str(ROOT / "examples" / "higher_order.py"))
    errors = ns["main"]()
    assert set(errors) >= {"hessian(f)", "grad^2(g)", "grad^3(g)", "nested tapes (2nd)"}
    assert max(errors.values()) < 1e-5, errors
    assert "hessian(f) at" in capsys.readouterr().out
