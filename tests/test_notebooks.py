"""Notebooks are executed against a real workspace so they stay alive."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_screening_workspace(path, screening, monkeypatch):
    ws, summary = screening
    monkeypatch.setenv("TECHSCREEN_WORKSPACE", str(ws))
    monkeypatch.setenv("TECHSCREEN_ROOT", str(ROOT))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    stages = summary["stages"]
    expected = {  # each notebook prints a line that names this run's own figures
        "01_ingest_overview.ipynb": f"{stages['ingest']['kept']:,} patents,",
        "02_technology_nodes.ipynb": f"clustering {stages['cluster']['run_id'][:8]}: "
        f"{stages['cluster']['n_nodes']:,} nodes",
        "03_technology_networks.ipynb": f"graph {stages['graph']['run_id'][:8]} of clustering "
        f"{stages['cluster']['run_id'][:8]}: {stages['cluster']['n_nodes']:,} technology nodes",
        "04_screening_walkthrough.ipynb": f"grade {stages['grade']['run_id'][:8]}: "
        f"{stages['grade']['graded']:,} technologies graded",
        "05_clustering_experiments.ipynb": "cluster runs: 1",
    }
    assert expected[path.name] in text
