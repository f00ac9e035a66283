"""The consistency audit on the reference's examples, on tampered copies of them,
on every sandbox job, and in the notebook display."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import CLASSIFICATION_JOB, example_path

from ibmetrics_nb import MetricsClient, MetricsResult
from ibmetrics_nb.audit import Finding, audit_result, tolerance
from ibmetrics_nb.display import MAX_AUDITED_CLASSES
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, default_jobs, make_classification_payload, make_extraction_payload

RECORD = "Record-wise Classifier Metrics"
CHUNK = "Chunk-wise Classifier Metrics"


@pytest.fixture
def raw() -> dict:
    return json.loads(example_path("classification-training.json").read_text())


def tampered(raw: dict, table: int, row: int, column: int, value) -> MetricsResult:
    edited = copy.deepcopy(raw)
    edited["metrics"][table]["rows"][row][column] = value
    return MetricsResult(edited, job_id="edited")


def by_cell(findings: list[Finding]) -> dict[tuple[str, str, str], Finding]:
    return {(f.table, f.label, f.metric): f for f in findings}


# --- consistent results -----------------------------------------------------------


def test_reference_classification_is_consistent():
    result = MetricsResult.from_json(example_path("classification-training.json"))

    assert result.audit() == []


def test_reference_extraction_is_consistent():
    result = MetricsResult.from_json(example_path("extraction-training.json"))

    assert result.audit() == []


def test_sandbox_reference_job_is_consistent(sandbox):
    with MetricsClient(sandbox.url, sandbox.token, cache=False) as client:
        result = client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    assert result.audit() == []


FINISHED_JOBS = [job for job in default_jobs() if job.payload is not None and job.final_state == "DONE"]


@pytest.mark.parametrize("job", FINISHED_JOBS, ids=lambda job: job.job_id)
def test_every_catalogue_payload_is_consistent(job):
    assert MetricsResult(job.payload).audit() == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_payloads_are_consistent(seed):
    assert MetricsResult(make_classification_payload(120, seed=seed)).audit() == []
    assert MetricsResult(make_extraction_payload(80, seed=seed)).audit() == []


# --- tampered copies ------------------------------------------------------------


def test_tampered_precision_is_found(raw):
    result = tampered(raw, 0, 0, 2, "95.00%")  # W2 precision, 100.00% in the response

    findings = by_cell(result.audit())

    finding = findings[(RECORD, "W2", "precision")]
    assert finding.reported == pytest.approx(0.95)
    assert finding.expected == pytest.approx(1.0)
    assert "confusion matrix" in finding.message
    assert "5 / 5" in finding.message


def test_tampered_precision_breaks_averages(raw):
    result = tampered(raw, 0, 0, 2, "95.00%")

    findings = by_cell(result.audit())

    assert findings[(RECORD, "macro avg", "precision")].expected == pytest.approx((0.95 + 0.80) / 2)
    assert findings[(RECORD, "weighted avg", "precision")].expected == pytest.approx((0.95 * 6 + 0.80 * 4) / 10)
    assert len(findings) == 3


def test_tampered_support_is_found(raw):
    result = tampered(raw, 0, 1, 4, 5.0)  # ADP support, 4 in the matrix

    findings = by_cell(result.audit())

    assert findings[(RECORD, "ADP", "support")].expected == 4
    assert findings[(RECORD, "macro avg", "support")].expected == 11


def test_tampered_matrix_is_found(raw):
    result = tampered(raw, 3, 1, 1, 2)  # ADP predicted as W2: 0 becomes 2

    findings = by_cell(result.audit())

    assert (RECORD, "W2", "precision") in findings
    assert (RECORD, "ADP", "recall") in findings
    assert (RECORD, "ADP", "support") in findings


def test_tampered_macro_average_only(raw):
    result = tampered(raw, 0, 2, 1, "91.00%")  # macro F1, 89.90% in the response

    findings = result.audit()

    assert [(f.table, f.label, f.metric) for f in findings] == [(RECORD, "macro avg", "f1")]
    assert findings[0].expected == pytest.approx((0.9091 + 0.8889) / 2)
    assert "unweighted mean" in findings[0].message


def test_tampered_table_without_matrix_checks_f1(raw):
    result = tampered(raw, 1, 1, 1, "85.00%")  # chunk-wise ADP F1; harmonic mean of 80% and 100% is 88.89%

    findings = by_cell(result.audit())

    finding = findings[(CHUNK, "ADP", "f1")]
    assert finding.expected == pytest.approx(2 * 0.8 / 1.8)
    assert "harmonic mean" in finding.message


def test_tampered_extraction_micro_average():
    raw = json.loads(example_path("extraction-training.json").read_text())
    raw["metrics"][1]["rows"][0][2] = "90.00%"  # token-level micro recall; 25 of 27 is 92.59%

    findings = by_cell(MetricsResult(raw).audit())

    finding = findings[("Individual token level metrics", "Micro Average", "recall")]
    assert finding.expected == pytest.approx(25 / 27)


def test_rounding_is_not_a_finding(raw):
    # 5/6 = 83.333...%; "83.33%" is within rounding, "83.34%" is not.
    assert tampered(raw, 0, 0, 3, "83.33%").audit() == []
    findings = by_cell(tampered(raw, 0, 0, 3, "83.34%").audit())
    assert (RECORD, "W2", "recall") in findings


def test_missing_value_is_not_a_finding(raw):
    assert tampered(raw, 0, 0, 2, "N/A").audit() == []


def test_class_missing_from_matrix(raw):
    edited = copy.deepcopy(raw)
    matrix = edited["metrics"][3]
    matrix["headers"].append("1099")
    matrix["rows"] = [row + [0] for row in matrix["rows"]] + [["1099", 1, 0, 2]]

    findings = MetricsResult(edited).audit()

    assert any(f.label == "1099" and f.metric == "label" for f in findings)


def test_unreadable_matrix_is_a_finding(raw):
    edited = copy.deepcopy(raw)
    edited["metrics"][3]["rows"][0][1] = "five"

    findings = MetricsResult(edited).audit()

    assert [f.metric for f in findings] == ["counts"]
    assert "not a count" in findings[0].message


def test_legacy_fractions_and_accuracy_row():
    legacy = next(job for job in default_jobs() if job.job_id == "legacy-job").payload
    edited = copy.deepcopy(legacy)
    edited["metrics"][0]["rows"][2][1] = "90.00"  # accuracy; 14 of 16 records is 87.50

    assert MetricsResult(legacy).audit() == []
    findings = MetricsResult(edited).audit()
    assert [(f.label, f.metric) for f in findings] == [("accuracy", "f1")]
    assert findings[0].expected == pytest.approx(14 / 16)


def test_audit_is_computed_once(raw):
    result = tampered(raw, 0, 0, 2, "95.00%")

    first = result.audit()
    first.clear()

    assert len(result.audit()) == 3


@pytest.mark.parametrize(
    "cell, metric, expected",
    [("90.91%", "f1", 0.00005), ("0.8333", "f1", 0.00005), (0.8333, "f1", 0.00005), ("87.50", "f1", 0.00005), (6.0, "support", 0.05), (6, "support", 0.5)],
)
def test_tolerance_from_reported_text(cell, metric, expected):
    assert tolerance(cell, metric) == pytest.approx(expected)


# --- display ----------------------------------------------------------------------


def test_html_warns_in_one_line(raw):
    html = tampered(raw, 0, 0, 2, "95.00%")._repr_html_()

    assert html.count("consistency check") == 1
    assert "3 value(s)" in html
    assert "result.audit()" in html


def test_html_of_consistent_result_has_no_warning(raw):
    assert "consistency check" not in MetricsResult(raw)._repr_html_()


def test_html_of_large_result_skips_audit():
    result = MetricsResult(make_classification_payload(MAX_AUDITED_CLASSES + 1, seed=0))

    html = result._repr_html_()

    assert "not checked for consistency here" in html
    assert "_findings" not in result.__dict__


def test_large_result_audited_on_request():
    payload = make_classification_payload(MAX_AUDITED_CLASSES + 1, seed=0)
    payload["metrics"][0]["rows"][7][2] = "1.00%"  # class_0008 precision

    findings = audit_result(MetricsResult(payload))

    assert any(f.label == "class_0008" and f.metric == "precision" for f in findings)
