"""Exports: save and load, Excel, Markdown, and `ibmetrics fetch` in all four
formats, run as a real subprocess against a sandbox on loopback."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys

import pytest
from conftest import CLASSIFICATION_JOB, example_path

from ibmetrics_nb import MetricsResult
from ibmetrics_nb.errors import ResponseFormatError
from ibmetrics_nb.export import MAX_SHEET_NAME, sheet_name
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, start

PROJECT = CLASSIFICATION_PROJECT


@pytest.fixture(scope="module")
def reference() -> MetricsResult:
    return MetricsResult.from_json(
        example_path("classification-training.json"), job_id=CLASSIFICATION_JOB, job_type="training", model_project_path=PROJECT
    )


def hostile_result() -> MetricsResult:
    """A result whose titles and labels test every escaping and naming rule."""
    scores = ["Class Type", "F1 Score", "Precision", "Recall", "Support"]
    payload = {
        "state": "DONE",
        "metrics": [
            {"title": "Record-wise Classifier Metrics", "headers": scores, "rows": [["=HYPERLINK(\"http://x\")", "50.00%", "50.00%", "50.00%", 2]]},
            {"title": "record-wise classifier metrics", "headers": scores, "rows": [["a|b", "NAN", "0.00%", "0.00%", 1]]},
            {"title": "A/B: [x]*? \\ weird", "headers": scores, "rows": [["<script>alert(1)</script>", "1.00%", "1.00%", "1.00%", 1]]},
            {"title": "A" * 40, "headers": ["k", "v"], "rows": [["x\x07y", 1]]},
            {"title": "A" * 40 + " again", "headers": ["k", "v"], "rows": [["y", math.nan]]},
            {"title": "History", "headers": ["k", "v"], "rows": [["z", 3]]},
        ],
        "hyperparams": {"list": [1, 2], "text": "=1+1"},
    }
    return MetricsResult(payload, job_id="hostile")


# --- save and load ----------------------------------------------------------------


def test_save_and_load_round_trip(reference, tmp_path):
    path = reference.save(tmp_path / "result.json")
    loaded = MetricsResult.load(path)

    assert loaded.raw == reference.raw
    assert (loaded.job_id, loaded.job_type, loaded.model_project_path) == (CLASSIFICATION_JOB, "training", PROJECT)
    assert loaded.warnings == reference.warnings
    assert list(loaded.tables) == list(reference.tables)
    for title, frame in reference.tables.items():
        assert loaded.tables[title].equals(frame), title
    assert loaded.to_dataframe().equals(reference.to_dataframe())
    assert loaded.audit() == reference.audit()


def test_saved_file_is_strict_json(tmp_path):
    payload = {"metrics": [{"title": "Classifier Metrics", "headers": ["class", "f1"], "rows": [["A", math.nan], ["B", math.inf]]}]}
    result = MetricsResult(payload, job_id="nan")

    path = result.save(tmp_path / "nan.json")
    document = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    loaded = MetricsResult.load(path)

    assert document["response"]["metrics"][0]["rows"] == [["A", None], ["B", None]]
    assert math.isnan(loaded.tables["Classifier Metrics"].loc["A", "f1"])
    assert document["format"] == "ibmetrics_nb.result"


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "bare.json").write_text(example_path("classification-training.json").read_text())
    (tmp_path / "future.json").write_text(json.dumps({"format": "ibmetrics_nb.result", "version": 99, "response": {}}))

    with pytest.raises(ResponseFormatError, match="from_json"):
        MetricsResult.load(tmp_path / "bare.json")
    with pytest.raises(ResponseFormatError, match="version 99"):
        MetricsResult.load(tmp_path / "future.json")
    with pytest.raises(ResponseFormatError, match="not found"):
        MetricsResult.load(tmp_path / "missing.json")


# --- Excel ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Record-wise Classifier Metrics", "Record-wise Classifier Metrics"),
        ("A/B: [x]*?", "A_B_ _x___"),
        ("'quoted'", "quoted"),
        ("", "Table"),
        ("History", "History_"),
        ("x" * 40, "x" * 31),
    ],
)
def test_sheet_name_rules(title, expected):
    assert sheet_name(title, set()) == expected


def test_sheet_names_unique_ignoring_case():
    used: set[str] = set()

    names = [sheet_name(title, used) for title in ["Scores", "scores", "SCORES", "y" * 40, "y" * 35]]

    assert names[:3] == ["Scores", "scores (2)", "SCORES (3)"]
    assert names[3] == "y" * 31
    assert names[4] == "y" * 27 + " (2)"
    assert all(len(name) <= MAX_SHEET_NAME for name in names)


def test_to_excel_sheets_and_values(reference, tmp_path):
    from openpyxl import load_workbook

    path = reference.to_excel(tmp_path / "result.xlsx")
    workbook = load_workbook(path)

    assert workbook.sheetnames == ["Summary", *reference.tables, "Record counts", "Hyperparameters"]
    scores = workbook["Record-wise Classifier Metrics"]
    assert [cell.value for cell in scores[1]] == ["Class Type", "F1 Score", "Precision", "Recall", "Support", "ECE"]
    assert [cell.value for cell in scores[2]] == ["W2", 0.9091, 1.0, 0.8333, 6.0, 0.051]
    assert scores["F4"].value is None  # "N/A" in the response
    summary = {row[0].value: row[1].value for row in workbook["Summary"].iter_rows(min_row=2)}
    assert summary["job_id"] == CLASSIFICATION_JOB
    assert summary["test_total"] == 7
    assert summary["F1 (macro avg, Record-wise Classifier Metrics)"] == pytest.approx(0.899)
    counts = [[cell.value for cell in row] for row in workbook["Record counts"].iter_rows()]
    assert counts == [["class", "train records", "test records"], ["W2", 10, 4], ["ADP", 14, 3]]


def test_to_excel_hostile_titles_and_cells(tmp_path):
    from openpyxl import load_workbook

    path = hostile_result().to_excel(tmp_path / "hostile.xlsx")
    workbook = load_workbook(path)

    names = workbook.sheetnames
    assert len({name.lower() for name in names}) == len(names)
    assert all(len(name) <= MAX_SHEET_NAME for name in names)
    assert "A_B_ _x___ _ weird" in names
    assert "History_" in names
    formula_cell = workbook["Record-wise Classifier Metrics"]["A2"]
    assert formula_cell.data_type == "s"
    assert formula_cell.value == '=HYPERLINK("http://x")'
    assert workbook["Hyperparameters"]["B3"].data_type == "s"
    assert workbook["Hyperparameters"]["B2"].value == "[1, 2]"
    assert workbook["A" * 31]["A2"].value == "xy"


# --- Markdown ---------------------------------------------------------------------


def test_to_markdown(reference):
    text = reference.to_markdown()

    assert text.startswith(f"# {CLASSIFICATION_JOB}\n")
    assert "## Record-wise Classifier Metrics" in text
    assert "| W2 | 90.91% | 100.00% | 83.33% | 6.0 | 0.051 |" in text
    assert "| class_weights_ins_power | 0.3 |" in text
    assert "> Warning: duplicate key" in text


def test_to_markdown_escapes(reference):
    text = hostile_result().to_markdown()

    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "| a\\|b |" in text


def test_to_markdown_lists_findings(reference):
    raw = json.loads(json.dumps(reference.raw))
    raw["metrics"][0]["rows"][0][2] = "95.00%"

    text = MetricsResult(raw, job_id="edited").to_markdown()

    assert "> Consistency: Record-wise Classifier Metrics, W2: precision is 95.00%" in text


# --- command line -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_sandbox():
    server = start()
    yield server
    server.stop()


@pytest.fixture
def run_cli(cli_sandbox, tmp_path):
    env = dict(os.environ, IB_ROOT_URL=cli_sandbox.url, IB_API_TOKEN=cli_sandbox.token, IBMETRICS_CACHE_DIR=str(tmp_path / "cache"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ibmetrics_nb.cli", *args], env=env, capture_output=True, text=True, timeout=60
        )

    return run


def test_cli_table(run_cli, cli_sandbox):
    done = run_cli("fetch", PROJECT, CLASSIFICATION_JOB)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["job_id", "job_type", "table", "label", "is_average"]
    assert len(lines) == 1 + 8
    assert cli_sandbox.token not in done.stdout + done.stderr


def test_cli_json(run_cli):
    done = run_cli("fetch", PROJECT, CLASSIFICATION_JOB, "--format", "json")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert document["job_id"] == CLASSIFICATION_JOB
    assert document["response"]["test_total"] == 7


def test_cli_json_loads_as_result(run_cli, tmp_path):
    done = run_cli("fetch", PROJECT, CLASSIFICATION_JOB, "--format", "json")
    (tmp_path / "fetched.json").write_text(done.stdout)

    loaded = MetricsResult.load(tmp_path / "fetched.json")

    assert loaded.job_id == CLASSIFICATION_JOB
    assert loaded.audit() == []


def test_cli_csv_several_jobs(run_cli):
    done = run_cli("fetch", PROJECT, CLASSIFICATION_JOB, "legacy-job", "retrain-job", "--format", "csv")

    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [row["job_id"] for row in rows].count(CLASSIFICATION_JOB) == 8
    assert {row["job_id"] for row in rows} == {CLASSIFICATION_JOB, "legacy-job", "retrain-job"}
    w2 = next(row for row in rows if row["job_id"] == CLASSIFICATION_JOB and row["label"] == "W2")
    assert float(w2["f1"]) == pytest.approx(0.9091)


def test_cli_json_several_jobs(run_cli):
    done = run_cli("fetch", PROJECT, CLASSIFICATION_JOB, "legacy-job", "--format", "json")

    assert [item["job_id"] for item in json.loads(done.stdout)] == [CLASSIFICATION_JOB, "legacy-job"]


def test_cli_markdown(run_cli):
    done = run_cli("fetch", "--type", "evaluation", PROJECT, "evaluation-job", "--format", "markdown")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("| job_id | job_type | table | label |")
    assert lines[1].startswith("|---|")
    assert any(line.startswith("| evaluation-job | evaluation | Record-wise Classifier Metrics | W2 |") for line in lines)


def test_cli_error_is_one_line(run_cli, cli_sandbox):
    done = run_cli("fetch", PROJECT, "no-such-job")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("ibmetrics: NotFoundError: HTTP 404")
    assert cli_sandbox.token not in done.stderr


def test_cli_uses_cache_and_refresh(run_cli, cli_sandbox):
    first = run_cli("fetch", PROJECT, "evaluation-job", "--type", "evaluation")
    after_first = cli_sandbox.requests_for(PROJECT, "evaluation-job", "evaluation")
    second = run_cli("fetch", PROJECT, "evaluation-job", "--type", "evaluation")
    after_second = cli_sandbox.requests_for(PROJECT, "evaluation-job", "evaluation")
    refreshed = run_cli("fetch", PROJECT, "evaluation-job", "--type", "evaluation", "--refresh")

    assert first.returncode == second.returncode == refreshed.returncode == 0
    assert second.stdout == first.stdout
    assert after_second == after_first
    assert cli_sandbox.requests_for(PROJECT, "evaluation-job", "evaluation") == after_first + 1
