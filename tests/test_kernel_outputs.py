"""What a real Jupyter kernel shows for the magic, errors and plots.

One notebook runs once through nbclient; each test reads the outputs of
one of its cells.
"""

from __future__ import annotations

import nbformat
import pytest
from conftest import CLASSIFICATION_JOB
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.kernel

CELLS = {
    "setup": (
        "import ibmetrics_nb, matplotlib.pyplot as plt\n"
        "from ibmetrics_nb import sandbox\n"
        "server = sandbox.start()\n"
        "ibmetrics_nb.set_token(server.token)\n"
        "project = sandbox.CLASSIFICATION_PROJECT\n"
        "%load_ext ibmetrics_nb\n"
        "%config IbMetrics.root_url = server.url\n"
        "%config IbMetrics.poll_interval = 0.05"
    ),
    "magic_last": f"%ibmetrics $project {CLASSIFICATION_JOB}",
    "magic_bound": f"r = %ibmetrics $project {CLASSIFICATION_JOB}",
    "magic_running": "%ibmetrics $project running-job",
    "error": "%ibmetrics $project no-such-job",
    "figures_before": "before = len(plt.get_fignums())",
    "loss_plot": "r.loss_plot()",
    "confusion_plot": "r.confusion_plot(normalize='true')",
    "thirty_plots": "for _ in range(30):\n    r.loss_plot()\nlen(plt.get_fignums()) - before",
    "given_axes": "fig, ax = plt.subplots()\ndrawn = r.loss_plot(ax=ax)\ndrawn is ax",
    "teardown": "server.stop()",
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, list]:
    notebook = new_notebook(cells=[new_code_cell(source) for source in CELLS.values()])
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return {name: cell.outputs for name, cell in zip(CELLS, notebook.cells)}


def rich(outputs: list) -> list:
    return [o for o in outputs if o.output_type in ("execute_result", "display_data") and "text/html" in o.get("data", {})]


def images(outputs: list) -> list:
    return [o for o in outputs if "image/png" in o.get("data", {})]


def visible(outputs: list) -> list:
    return [o for o in outputs if not (o.get("data", {}).keys() <= {"text/plain"} and not o.get("data", {}).get("text/plain"))]


def test_setup_cell_ran(outputs):
    assert not [o for o in outputs["setup"] if o.output_type == "error"]


def test_magic_result_shows_once(outputs):
    cell = outputs["magic_last"]

    assert len(cell) == 1
    assert cell[0].output_type == "execute_result"
    assert "Record-wise Classifier Metrics" in cell[0].data["text/html"]
    assert "Job: " in cell[0].data["text/plain"]


def test_bound_magic_shows_nothing(outputs):
    assert outputs["magic_bound"] == []


def test_running_job_shows_result_once(outputs):
    cell = outputs["magic_running"]

    assert len(rich(cell)) == 1
    assert len(visible(cell)) == 1


def test_error_is_one_line_and_fails_cell(outputs):
    errors = [o for o in outputs["error"] if o.output_type == "error"]

    assert len(errors) == 1
    assert errors[0].ename == "NotFoundError"
    assert len(errors[0].traceback) == 1
    assert errors[0].traceback[0].startswith("NotFoundError: HTTP 404 for job no-such-job")


def test_loss_plot_shows_one_image(outputs):
    assert len(images(outputs["loss_plot"])) == 1


def test_confusion_plot_shows_one_image(outputs):
    assert len(images(outputs["confusion_plot"])) == 1


def test_repeated_plots_leave_open_figures_unchanged(outputs):
    result = [o for o in outputs["thirty_plots"] if o.output_type == "execute_result"]

    assert result[0].data["text/plain"] == "0"


def test_plot_on_given_axes_uses_them(outputs):
    cell = outputs["given_axes"]
    result = [o for o in cell if o.output_type == "execute_result"]

    assert result[0].data["text/plain"] == "True"
    assert len(images(cell)) == 1


def test_no_output_contains_the_token(outputs):
    saved = nbformat.writes(new_notebook(cells=[new_code_cell(outputs=o) for o in outputs.values()]))

    assert "sbx-" not in saved
