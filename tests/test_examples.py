"""The examples and notebooks run as shipped."""
import json
import pathlib
import runpy

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_code_cells_run(path, capsys):
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
