"""The README's demo: `ibmetrics demo` runs the quickstart in a real kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo") / "quickstart.html"
    completed = subprocess.run(
        [sys.executable, "-m", "ibmetrics_nb.cli", "demo", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    return completed, output


def test_demo_exits_cleanly(demo):
    completed, output = demo

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert f"wrote {output}" in completed.stdout


def test_demo_prints_one_line_per_job(demo):
    lines = demo[0].stdout.splitlines()[1:]

    assert lines[0].startswith("dc991a28-bd92-47bb-ajj8-e0f2ca930e51: training, F1 89.90% (macro avg")
    assert any(line.startswith("legacy-job:") and "incomplete" in line for line in lines)
    assert any(line.startswith("failed-job: JobFailedError") for line in lines)


def test_demo_html_has_table_matrix_and_loss_curve(demo):
    html = demo[1].read_text(encoding="utf-8")

    assert "Record-wise Classifier Metrics" in html
    assert "90.91%" in html
    assert "true \\ predicted" in html
    assert "<polyline" in html
    assert html.count("data:image/png;base64") >= 2
    assert "NotFoundError: HTTP 404 for job no-such-job" in html


def test_demo_html_has_no_token(demo):
    html = demo[1].read_text(encoding="utf-8")

    assert "sbx-" not in html


def test_quickstart_matches_generator(monkeypatch):
    import importlib.util
    from pathlib import Path

    import nbformat

    tools = Path(__file__).resolve().parents[1] / "tools"
    monkeypatch.syspath_prepend(str(tools))
    spec = importlib.util.spec_from_file_location("make_quickstart", tools / "make_quickstart.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = nbformat.read(tools.parent / "notebooks" / "quickstart.ipynb", as_version=4)

    assert [cell.source for cell in committed.cells] == [cell.source for cell in generator.CELLS]
