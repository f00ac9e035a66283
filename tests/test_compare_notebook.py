"""notebooks/compare_jobs.ipynb runs in a real kernel without errors and shows
what it promises; the committed notebook matches its generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "compare_jobs.ipynb"
GENERATOR = ROOT / "tools" / "make_compare_notebook.py"


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel inherits IBMETRICS_CACHE_DIR from conftest, so it writes no cache of the user's.
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return notebook


def outputs_of(notebook: nbformat.NotebookNode, source_start: str) -> list:
    cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(source_start))
    return cell.outputs


def html_of(outputs: list) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


def test_notebook_runs_without_errors(executed):
    errors = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]

    assert errors == []
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


def test_tiny_comparison_is_all_noise(executed):
    html = html_of(outputs_of(executed, "%ibmetrics $project $reference_job retrain-job"))

    assert "Comparison of 2 jobs" in html
    assert 'class="ibm-loss"' not in html
    assert 'class="ibm-noise"' in html


def test_family_comparison_shows_real_losses(executed):
    html = html_of(outputs_of(executed, "comparison = many.compare()"))

    assert html.count('class="ibm-loss"') == 8
    assert "Hyperparameters that differ" in html


def test_partial_failures_listed(executed):
    (result,) = [o for o in outputs_of(executed, "{str(job)") if o.output_type == "execute_result"]

    assert result["data"]["text/plain"] == "{'no-such-job': 'NotFoundError', 'failed-job': 'JobFailedError'}"


def test_progress_widget_replaced_by_empty_output(executed):
    outputs = outputs_of(executed, "client = ibmetrics_nb.MetricsClient")
    displays = [o for o in outputs if o.output_type == "display_data"]

    assert [o["data"] for o in displays] == [{"text/plain": ""}]


def test_plots_shown_once(executed):
    for start in ("reference.scores_plot", "comparison.f1_plot()", "retrain = many", "retrain.trials_plot"):
        images = [o for o in outputs_of(executed, start) if "image/png" in o.get("data", {})]
        assert len(images) == 1, start


def test_tampered_copy_warns(executed):
    html = html_of(outputs_of(executed, "tampered"))

    assert "consistency check: 3 value(s)" in html


def test_cache_cell_reads_from_cache(executed):
    (result,) = [o for o in outputs_of(executed, "import time") if o.output_type == "execute_result"]

    assert "retrain-job: read from the cache" in result["data"]["text/plain"]


def test_notebook_matches_generator(monkeypatch):
    # The generator imports its shared cells from its own folder, as it does when run as a script.
    monkeypatch.syspath_prepend(str(GENERATOR.parent))
    spec = importlib.util.spec_from_file_location("make_compare_notebook", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = nbformat.read(NOTEBOOK, as_version=4)

    assert [cell.source for cell in committed.cells] == [cell.source for cell in generator.CELLS]
    assert all(not cell.get("outputs") for cell in committed.cells if cell.cell_type == "code")
