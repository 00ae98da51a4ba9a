"""The notebooks run as shipped: each is executed with nbclient in a fresh Jupyter kernel (skipped when nbclient,
nbformat, ipykernel or matplotlib are missing: the [notebooks] extra). They are stored without outputs."""
import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_tensors_variables_autodiff.ipynb", "02_tracing_and_graphs.ipynb", "03_performance.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: clear the outputs"
    assert sum(c["cell_type"] == "markdown" for c in nb["cells"]) >= 3, f"{name}: prose between the code"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the [notebooks] extra is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the [notebooks] extra is not installed")
    pytest.importorskip("ipykernel", reason="the [notebooks] extra is not installed")
    pytest.importorskip("matplotlib", reason="the [notebooks] extra is not installed")
    # the kernel is ipykernel's native "python3" (this interpreter), with this checkout first on its path and the
    # suite's JAXISH_* settings in its environment; matplotlib draws inline (MPLBACKEND must not be set)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})]
    if name != "02_tracing_and_graphs.ipynb":
        assert images, f"{name}: the plot was not drawn"

