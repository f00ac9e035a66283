"""The notebook display escapes data, stays small, and survives broken tables.

CI also runs these tests under pandas 2.2 (see .ci/test).
"""

from __future__ import annotations

import html
import json
import time

import pytest
from safety import HOSTILE_STRINGS, unexpected_markup

from ibmetrics_nb import MetricsResult, display
from ibmetrics_nb.sandbox import Reply, make_classification_payload, serve

SCRIPT = "<script>alert(1)</script>"


def hostile_payload(text: str) -> dict:
    """Build a finished response that carries `text` in every field that the display shows."""
    return {
        "status": "OK",
        "state": "DONE",
        "platform_version": text,
        "ibformers_version": text,
        "train_count": {text: 3, "A & B": 4},
        "test_count": {text: 1},
        "train_total": text,
        "test_total": 1,
        "train_datasets": [text, "A & B"],
        "test_datasets": [text],
        "hyperparams": {text: text, "loss_type": "<unk>"},
        "metrics": [
            {
                "title": f"Record-wise Classifier Metrics {text}",
                "subtitle": text,
                "headers": ["Class Type", "F1 Score", "Precision", text],
                "rows": [[text, "90.91%", text, "1"], ["macro avg", "50.00%", "N/A", text]],
            },
            {
                "title": "Confusion Matrix",
                "subtitle": text,
                "headers": ["class name", text, "<unk>"],
                "rows": [[text, 1, text], ["<unk>", 0, 2]],
            },
            {
                "title": "Train-Validation Curve",
                "headers": ["Dataset Split", "Epoch 1", text],
                "rows": [[text, 0.5, 0.4], ["Eval", 0.6, text]],
                "show": False,
            },
            {
                "title": "Hyperparameter search results",
                "subtitle": text,
                "headers": ["Trial number", text, "Objective value"],
                "rows": [["1", text, "0.9"]],
            },
            {"title": text, "headers": [text], "rows": None},
        ],
    }


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_data_strings_render_as_text(text):
    result = MetricsResult(hostile_payload(text), job_id=text, job_type="training", model_project_path=text)

    page = result._repr_html_()

    assert unexpected_markup(page) == []
    assert html.escape(text, quote=True) in page
    assert "A &amp; B" in page


def test_script_tag_never_survives():
    result = MetricsResult(hostile_payload(SCRIPT), job_id=SCRIPT)

    page = result._repr_html_()

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_warning_text_from_data_escaped():
    text = '{"metrics": [], "hyperparams": {"x": "<b>one</b>", "x": "<script>two</script>"}}'

    result = MetricsResult.from_json(text)
    page = result._repr_html_()

    assert any("duplicate key 'x'" in warning for warning in result.warnings)
    assert unexpected_markup(page) == []
    assert "&lt;b&gt;one&lt;/b&gt;" in page


def test_text_form_keeps_data_as_sent():
    result = MetricsResult(hostile_payload("<unk>"), job_id="<unk>")

    text = result._repr_mimebundle_()["text/plain"]

    assert "Job: <unk>" in text
    assert "&lt;" not in text


# --- large results ---------------------------------------------------------------


@pytest.fixture(scope="module")
def large() -> MetricsResult:
    payload = make_classification_payload(500, seed=3, epochs=3, trials=2)
    rows = [[f"field_{index}", f"{index % 100}.00%", "50.00%", "N/A", index] for index in range(20_000)]
    payload["metrics"].append(
        {"title": "Individual fields level metrics", "headers": ["Field Name", "Precision", "Recall", "F1 Score", "Support"], "rows": rows}
    )
    return MetricsResult(payload, job_id="large")


def test_large_result_renders_small_and_fast(large):
    started = time.perf_counter()
    page = large._repr_html_()
    elapsed = time.perf_counter() - started

    assert len(page.encode("utf-8")) < 200_000
    assert elapsed < 2.0


def test_large_result_says_what_was_left_out(large):
    page = large._repr_html_()

    assert "showing 25 of 500 classes; the full matrix is result.confusion_df" in page
    assert "19,960 of 20,000 rows not shown" in page
    assert "the full table is result.tables[&#x27;Individual fields level metrics&#x27;]" in page


def test_large_result_full_data_in_frames(large):
    assert large.confusion_df.shape == (500, 500)
    assert large.tables["Individual fields level metrics"].shape == (20_000, 4)
    # Two per-class tables of 500 classes and 2 averages rows each, plus the 20,000 fields.
    assert len(large.to_dataframe()) == 20_000 + 2 * 502


def test_wide_table_says_columns_left_out():
    headers = ["Class Type", *(f"metric {index}" for index in range(100))]
    result = MetricsResult({"metrics": [{"title": "Wide", "headers": headers, "rows": [["A", *range(100)]]}]})

    page = result._repr_html_()

    assert "70 of 100 columns not shown" in page
    assert result.tables["Wide"].shape == (1, 100)


def test_long_cell_and_many_hyperparameters_cut():
    hyperparams = {f"param_{index}": "v" * 10_000 for index in range(1000)}
    result = MetricsResult({"metrics": [], "hyperparams": hyperparams})

    page = result._repr_html_()

    assert len(page) < 100_000
    assert "800 of 1,000 hyperparameters not shown; all are in result.hyperparams" in page
    assert len(result.hyperparams["param_0"]) == 10_000


# --- broken tables -------------------------------------------------------------------


GOOD = {"title": "Good table", "headers": ["Class Type", "F1 Score"], "rows": [["W2", "91.50%"]]}


@pytest.mark.parametrize(
    "broken, note",
    [
        ({"title": "Broken", "headers": ["Class Type", "F1 Score"], "rows": None}, "the table has no rows (rows is null)"),
        ({"title": "Broken", "headers": ["Class Type", "F1 Score", "Recall"], "rows": [["W2"]]}, "1 row(s) have fewer cells than headers"),
        ({"title": "Broken", "rows": [["W2", 1]]}, "the table has no headers"),
        ({"title": "Broken", "headers": [], "rows": []}, "no headers and no rows"),
    ],
)
def test_broken_table_shows_note_and_others_render(broken, note):
    result = MetricsResult({"status": "OK", "state": "DONE", "metrics": [broken, GOOD]})

    page = result._repr_html_()
    text = repr(result)

    assert f'<p class="ibm-note">{note}' in page
    assert "Good table" in page
    assert "91.50%" in page
    assert text.startswith("<MetricsResult ")
    assert "Broken" in result._repr_mimebundle_()["text/plain"]


def test_renderer_failure_becomes_one_line_note(monkeypatch):
    def fail_on_confusion(table):
        raise ValueError("cannot draw this matrix\nsecond line")

    monkeypatch.setattr(display, "confusion_html", fail_on_confusion)
    result = MetricsResult(make_classification_payload(3, seed=0))

    page = result._repr_html_()

    assert "this part could not be shown (ValueError: cannot draw this matrix" in page
    assert "Record-wise Classifier Metrics" in page
    assert "Train-Validation Curve" in page


def test_display_never_touches_network():
    payload = {"status": "OK", "state": "DONE", **make_classification_payload(3, seed=0)}
    with serve() as sandbox:
        sandbox.script("p/fs/X", "job", replies=[Reply(200, payload)])
        from ibmetrics_nb import MetricsClient

        result = MetricsClient(sandbox.url, sandbox.token).get_metrics("p/fs/X", "job")
        count = sandbox.request_count
        sandbox.stop()

        for show in (repr, str, lambda r: r._repr_html_(), lambda r: r._repr_mimebundle_()):
            show(result)

        assert sandbox.request_count == count


def test_unfinished_result_shows_state_only():
    result = MetricsResult({"status": "OK", "state": "<RUNNING>"}, job_id="j")

    page = result._repr_html_()

    assert "&lt;RUNNING&gt;: not finished" in page
    assert unexpected_markup(page) == []
    assert "state='<RUNNING>'" in repr(result)


def test_raw_cells_shown_as_sent():
    rows = [["A", "90.91%"], ["B", "N/A"], ["C", "0.051"], ["D", 6.0], ["E", 7]]
    result = MetricsResult({"metrics": [{"title": "Classifier Metrics", "headers": ["class", "precision"], "rows": rows}]})

    page = result._repr_html_()

    for cell in ("90.91%", "N/A", "0.051", "<td>6</td>", "<td>7</td>"):
        assert cell in page


def test_saved_response_round_trip_renders_same():
    payload = hostile_payload("<unk>")

    first = MetricsResult(payload)._repr_html_()
    second = MetricsResult.from_json(json.dumps(payload))._repr_html_()

    assert first == second
