"""Bad payloads become a package error or a result with a visible warning.

These tests need no server: they build results from JSON text, bytes and
dicts, the same way the client does after a response arrives. CI also runs
them under pandas 2.2 (see .ci/test).
"""

from __future__ import annotations

import copy
import json
import math

import pandas as pd
import pytest
from conftest import example_path

from ibmetrics_nb import MetricsResult
from ibmetrics_nb.errors import IbMetricsError, MissingTableError, ResponseFormatError
from ibmetrics_nb.parsing import load_json, to_number
from ibmetrics_nb.sandbox import default_jobs

SCORES = "Record-wise Classifier Metrics"


def scores_table(rows, headers=("Class Type", "Precision", "Recall")) -> dict:
    return {"title": SCORES, "subtitle": "", "headers": list(headers), "rows": rows}


def finished(**payload) -> dict:
    return {"status": "OK", "state": "DONE", **payload}


# --- invalid JSON ------------------------------------------------------------------


def test_documented_example_reports_missing_comma_position():
    path = example_path("extraction-training.as-documented.json")
    lines = path.read_text().splitlines()

    with pytest.raises(ResponseFormatError) as raised:
        MetricsResult.from_json(path)

    assert str(raised.value) == "invalid JSON at line 100, column 1: Expecting ',' delimiter"
    # The comma is missing between the object that ends on line 99 and the one that starts on line 100.
    assert lines[98].strip() == "}"
    assert lines[99].startswith("{")


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"metrics": [1, 2,]}', "line 1, column 19"),
        ('{"metrics":\n  [\n    {"title": "x"\n  ]\n}', "line 4, column 3"),
        ("{'metrics': []}", "line 1, column 2"),
        ('{"a": 1} {"b": 2}', "Extra data"),
        ("[" * 100_000, "nested too deeply"),
        ('{"train_total": ' + "1" * 5000 + "}", "invalid JSON: Exceeds the limit"),
    ],
)
def test_invalid_json_is_format_error(text, match):
    with pytest.raises(ResponseFormatError, match=match) as raised:
        MetricsResult.from_json(text)

    assert "\n" not in str(raised.value)
    assert raised.value.__cause__ is None


def test_bytes_that_are_not_utf8_are_format_error():
    with pytest.raises(ResponseFormatError, match="not UTF-8 text \\(invalid byte at offset 11\\)"):
        MetricsResult.from_json(b'{"title": "\xff"}')


def test_utf8_byte_order_mark_is_accepted():
    result = MetricsResult.from_json(b"\xef\xbb\xbf" + json.dumps(finished(metrics=[])).encode())

    assert result.is_finished


@pytest.mark.parametrize("text", ["<html><body>Sign in</body></html>", "a\x00b", "", "not json\nat all", "x" * 5000])
def test_non_json_text_is_format_error(text):
    with pytest.raises(ResponseFormatError) as raised:
        MetricsResult.from_json(text)

    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("document", [b"[1, 2]", b'"DONE"', b"42", b"null", b"true"])
def test_non_object_documents_rejected(document):
    with pytest.raises(ResponseFormatError, match="expected a JSON object"):
        MetricsResult.from_json(document)


# --- non-standard JSON that is read with a warning ------------------------------------------


def test_nan_and_infinity_tokens_read_with_warnings():
    result = MetricsResult.from_json('{"metrics": [], "train_total": NaN, "test_total": Infinity, "x": -Infinity}')

    assert math.isnan(result.train_total)
    assert result.test_total == math.inf
    assert any("non-standard JSON value NaN" in warning for warning in result.warnings)
    assert any("non-standard JSON value Infinity" in warning for warning in result.warnings)
    assert any("non-standard JSON value -Infinity" in warning for warning in result.warnings)


def test_duplicate_keys_reported_with_every_value():
    text = '{"metrics": [], "hyperparams": {"lr": 0.1, "epochs": 3, "lr": 0.2, "lr": "0.3"}}'

    result = MetricsResult.from_json(text)

    assert result.hyperparams == {"lr": "0.3", "epochs": 3}
    assert "duplicate key 'lr' with values 0.1, 0.2, '0.3'; the last one is kept" in result.warnings


def test_duplicate_keys_inside_tables_reported():
    text = '{"metrics": [{"title": "A", "title": "B", "headers": ["x"], "rows": []}]}'

    result = MetricsResult.from_json(text)

    assert result.table_titles == ["B"]
    assert any("duplicate key 'title'" in warning for warning in result.warnings)


def test_duplicate_key_in_reference_example_reported():
    result = MetricsResult.from_json(example_path("classification-training.json"))

    assert any("duplicate key 'class_weights_ins_power'" in warning for warning in result.warnings)


# --- tables that break the contract -----------------------------------------------------


def test_rows_longer_than_headers_get_named_columns():
    result = MetricsResult(finished(metrics=[scores_table([["A", "50%", "60%", "extra", 7]])]))

    frame = result.tables[SCORES]
    assert list(frame.columns) == ["Precision", "Recall", "column_3", "column_4"]
    assert frame.loc["A", "column_4"] == 7.0
    assert any("more cells than the 3 headers" in warning for warning in result.warnings)


def test_rows_shorter_than_headers_padded_with_missing():
    result = MetricsResult(finished(metrics=[scores_table([["A", "50%"], ["B", "10%", "20%"]])]))

    frame = result.tables[SCORES]
    assert math.isnan(frame.loc["A", "Recall"])
    assert frame.loc["B", "Recall"] == pytest.approx(0.2)
    assert any("1 row(s) have fewer cells than headers" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    "rows, warning",
    [
        (None, "rows is null"),
        ("A,B", "rows is a str, not a list"),
        ({"A": 1}, "rows is a dict, not a list"),
        (["A", "B"], "2 row(s) were not lists"),
    ],
)
def test_rows_of_wrong_type_become_a_note(rows, warning):
    result = MetricsResult(finished(metrics=[scores_table(rows)]))

    assert SCORES in result.tables
    assert any(warning in text for text in result.warnings)


@pytest.mark.parametrize("headers", [None, "Class Type", {"a": 1}, 7])
def test_missing_headers_are_named_from_rows(headers):
    table = {"title": "Mystery", "headers": headers, "rows": [["A", 1, 2]]}

    result = MetricsResult(finished(metrics=[table]))

    assert list(result.tables["Mystery"].columns) == ["column_1", "column_2"]
    assert any("the table has no headers" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    "metrics, warning",
    [
        ({"title": "x"}, "'metrics' is a dict, not a list"),
        ("tables", "'metrics' is a str, not a list"),
        (17, "'metrics' is a int, not a list"),
        ([1, "two", None], "metrics entry 1 is a int, not a table"),
    ],
)
def test_metrics_not_a_list_of_tables_warns(metrics, warning):
    result = MetricsResult(finished(metrics=metrics))

    assert result.tables == {}
    assert any(warning in text for text in result.warnings)


def test_unknown_table_shape_kept_as_generic_table():
    table = {"title": {"lang": "en"}, "subtitle": 5, "headers": ["When", 2024, None], "rows": [[{"a": 1}, [1, 2], True]], "show": "no"}

    result = MetricsResult(finished(metrics=[table]))

    (title,) = result.table_titles
    assert title == "{'lang': 'en'}"
    frame = result.tables[title]
    assert list(frame.columns) == ["2024", ""]
    assert frame.attrs["kind"] == "other"
    assert result.raw["metrics"][0]["rows"][0][1] == [1, 2]


def test_summary_fields_of_wrong_type_tolerated():
    payload = finished(
        metrics=[],
        platform_version=23.05,
        train_count=["a", "b"],
        test_count="many",
        train_datasets={"name": "x"},
        test_datasets="only-one",
        hyperparams=[["lr", 0.1]],
        train_total="7",
    )

    result = MetricsResult(payload)

    assert result.platform_version == "23.05"
    assert result.train_count == {}
    assert result.test_count == {}
    assert result.train_datasets == []
    assert result.test_datasets == ["only-one"]
    assert result.hyperparams == {}
    assert "Job: (offline result)" in result._repr_mimebundle_()["text/plain"]


def test_integer_beyond_float_range_becomes_infinity():
    table = {"title": "Counts", "headers": ["Class Type", "Count"], "rows": [["A", 10**400], ["B", -(10**400)], ["C", 1]]}

    frame = MetricsResult(finished(metrics=[table])).tables["Counts"]

    assert frame["Count"].tolist() == [math.inf, -math.inf, 1.0]
    assert to_number(10**400) == math.inf


def test_huge_table_keeps_every_row():
    rows = [[f"field_{index}", f"{index % 100}.00%", "N/A"] for index in range(20_000)]

    result = MetricsResult(finished(metrics=[scores_table(rows)]))

    frame = result.tables[SCORES]
    assert frame.shape == (20_000, 2)
    assert frame["Precision"].iloc[12_345] == pytest.approx(0.45)
    assert frame["Recall"].isna().all()


# --- percent strings next to other cells -----------------------------------------------------


def test_percent_column_numeric_view_keeps_raw_cells():
    column = ["90.91%", "N/A", "0.051", 6.0, 7]
    rows = [[label, cell] for label, cell in zip(["A", "B", "C", "D", "E"], column)]
    payload = finished(metrics=[scores_table(rows, headers=("Class Type", "Precision"))])
    sent = copy.deepcopy(payload)

    result = MetricsResult(payload)
    values = result.tables[SCORES]["Precision"].tolist()
    result._repr_html_()
    result.to_dataframe()

    assert values[0] == pytest.approx(0.9091)
    assert math.isnan(values[1])
    assert values[2] == pytest.approx(0.051)
    assert values[3] == 6.0
    assert values[4] == 7.0
    assert result.raw == sent
    assert [row[1] for row in result.raw["metrics"][0]["rows"]] == column


def test_class_label_with_percent_sign_stays_text():
    rows = [["<=50%", "80.00%"], [">50%", "70.00%"], ["macro avg", "75.00%"]]

    frame = MetricsResult(finished(metrics=[scores_table(rows, headers=("Class Type", "Precision"))])).tables[SCORES]

    assert list(frame.index) == ["<=50%", ">50%", "macro avg"]
    assert frame.loc["<=50%", "Precision"] == pytest.approx(0.8)


def test_column_with_percent_label_stays_text():
    table = {"title": "Bins", "headers": ["Bin", "Range"], "rows": [["a", "<=50%"], ["b", "12%"]]}

    frame = MetricsResult(finished(metrics=[table])).tables["Bins"]

    assert frame["Range"].tolist() == ["<=50%", "12%"]
    assert frame["Range"].dtype == object


def test_frame_dtypes_same_in_pandas_2_and_3():
    # pandas 3 would infer its string dtype for text; the frames keep object so code works on pandas 2.2 and 3.
    rows = [["A", "50%", "text"], ["B", "N/A", "more"]]
    table = {"title": "Mixed", "headers": ["Class Type", "Score", "Note"], "rows": rows}

    frame = MetricsResult(finished(metrics=[table])).tables["Mixed"]

    assert frame.index.dtype == object
    assert frame["Score"].dtype == "float64"
    assert frame["Note"].dtype == object


def test_editing_a_frame_leaves_raw_cells_alone():
    payload = finished(metrics=[scores_table([["A", "50%", "60%"]])])
    result = MetricsResult(payload)

    frame = result.tables[SCORES].copy()
    frame.iloc[0, 0] = 0.99

    assert result.raw["metrics"][0]["rows"][0] == ["A", "50%", "60%"]
    assert result.tables[SCORES].iloc[0, 0] == pytest.approx(0.5)
    assert isinstance(frame, pd.DataFrame)


# --- jobs from before platform 23.07 --------------------------------------------------------


@pytest.fixture
def legacy() -> MetricsResult:
    job = next(job for job in default_jobs() if job.job_id == "legacy-job")
    return MetricsResult({"status": "OK", "state": "DONE", **job.payload}, job_id="legacy-job")


def test_legacy_result_says_incomplete_and_rerun(legacy):
    assert legacy.is_incomplete
    assert "Confusion Matrix table" in legacy.missing
    assert "platform_version (empty)" in legacy.missing
    assert legacy.incomplete_message in legacy.warnings
    assert "incomplete results for job legacy-job" in legacy.incomplete_message
    assert "re-run the job to get full results" in legacy.incomplete_message
    assert "re-run the job" in legacy._repr_html_()


def test_legacy_result_missing_accessor_names_table(legacy):
    with pytest.raises(MissingTableError) as raised:
        legacy.confusion_df

    message = str(raised.value)
    assert message.startswith("job legacy-job has no Confusion Matrix table")
    assert "re-run the job" in message
    assert isinstance(raised.value, IbMetricsError)
    assert "\n" not in message


def test_legacy_result_keeps_what_it_has(legacy):
    assert legacy.table_titles
    assert not legacy.to_dataframe().empty


def test_load_json_accepts_dict_unchanged():
    document = {"metrics": []}

    assert load_json(document).data is document
