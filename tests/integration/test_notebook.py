"""The example notebook stays runnable: executed headless in a fresh kernel (nbclient)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_the_example_notebook_runs_from_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTIME_FSYNC", "0")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code"
               for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    results = [out["data"]["text/plain"] for out in outputs if out.output_type == "execute_result"]
    assert results[0].startswith("Run('run_")
    # the sweep's worst backlog falls as capacity rises, and DuckDB read the same numbers
    worst = ast.literal_eval(results[3])
    assert [c for c, _ in worst] == [30, 40, 50, 60]
    assert all(a > b for (_, a), (_, b) in itertools.pairwise(worst) if a > 0)
    rows = [line.split() for line in results[4].splitlines()[1:]]
    assert [(int(r[1]), float(r[2])) for r in rows] == worst
