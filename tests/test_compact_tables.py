"""Compact storage of a result: `raw` parsed again from the kept JSON text,
and tables of plain numbers stored as one numpy block behind `RawTable.rows`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CLASSIFICATION_JOB, example_path

from ibmetrics_nb import MetricsClient, MetricsResult, parsing
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, make_classification_payload


def table_entry(title: str, rows: list[list], headers: list[str] | None = None) -> dict:
    width = len(rows[0]) if rows else 1
    return {"title": title, "headers": headers or ["label"] + [f"c{i}" for i in range(1, width)], "rows": rows}


def read_one(entry: dict) -> parsing.RawTable:
    tables, _ = parsing.read_tables([entry])
    return tables[0]


# --- raw ------------------------------------------------------------------


def test_raw_from_bytes_equals_json_loads():
    body = example_path("classification-training.json").read_bytes()
    result = MetricsResult.from_json(body)

    assert result.raw == json.loads(body)
    assert result.raw is not result.raw
    assert result.raw == result.raw


def test_raw_keeps_last_duplicate_key():
    body = b'{"metrics": [], "hyperparams": {"lr": 1, "lr": 2}}'
    result = MetricsResult.from_json(body)

    assert result.raw["hyperparams"] == {"lr": 2}
    assert any("duplicate key 'lr'" in warning for warning in result.warnings)


def test_raw_keeps_nan_tokens():
    result = MetricsResult.from_json('{"metrics": [], "train_total": NaN}')

    assert np.isnan(result.raw["train_total"])
    assert any("NaN" in warning for warning in result.warnings)


def test_raw_from_file_path():
    path = example_path("classification-training.json")
    result = MetricsResult.from_json(path)

    assert result.raw == json.loads(path.read_bytes())


def test_raw_from_dict_is_that_dict():
    data = json.loads(example_path("classification-training.json").read_bytes())
    result = MetricsResult(data)

    assert result.raw is data


def test_client_result_raw_equals_response(fresh_sandbox):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.05) as client:
        result = client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB, refresh=True)
        data, _ = client.fetch_once(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    assert result.raw == data
    assert result.raw["metrics"][3]["rows"] == [["W2", 5, 1], ["ADP", 0, 4]]


# --- numeric rows ---------------------------------------------------------


def test_int_table_rows_index_and_slice():
    sent = [["a", 1, 2, 3], ["b", 4, 5, 6], ["c", 7, 8, 9]]
    table = read_one(table_entry("Counts", [list(row) for row in sent]))

    assert isinstance(table.rows, parsing.NumericRows)
    assert len(table.rows) == 3
    assert table.rows[0] == sent[0]
    assert table.rows[-1] == sent[-1]
    assert table.rows[1:] == sent[1:]
    assert table.rows[::-2] == sent[::-2]
    assert list(table.rows) == sent
    assert table.rows == sent
    assert all(type(cell) is int for row in table.rows for cell in row[1:])
    assert parsing.row_labels(table) == ["a", "b", "c"]
    with pytest.raises(IndexError):
        table.rows[3]


def test_int_table_block_is_int32_and_read_only():
    table = read_one(table_entry("Counts", [["a", 1, -2], ["b", 2**31 - 1, -(2**31)]]))

    assert table.rows.values.dtype == np.int32
    assert not table.rows.values.flags.writeable


def test_int_beyond_int32_uses_int64():
    table = read_one(table_entry("Counts", [["a", 1, 2**40]]))

    assert table.rows.values.dtype == np.int64
    assert table.rows[0] == ["a", 1, 2**40]


def test_mixed_ints_and_floats_keep_their_types():
    sent = [["Train", 1, 0.5, -0.0], ["Eval", 0.25, 2, 3]]
    table = read_one(table_entry("Loss", [list(row) for row in sent]))

    assert table.rows.values.dtype == np.float64
    assert table.rows == sent
    assert [type(cell) for cell in table.rows[0]] == [str, int, float, float]
    assert [type(cell) for cell in table.rows[1]] == [str, float, int, int]


@pytest.mark.parametrize(
    "rows",
    [
        [["a", 2**70]],
        [["a", 2**60], ["b", 0.5]],
        [["a", True]],
        [["a", "12%"]],
        [["a", None]],
    ],
    ids=["beyond-int64", "inexact-in-float", "bool", "percent-string", "null"],
)
def test_other_cells_keep_list_rows(rows):
    table = read_one(table_entry("Other", [list(row) for row in rows]))

    assert isinstance(table.rows, list)
    assert table.rows == rows


def test_empty_table_keeps_list_rows():
    assert read_one(table_entry("Empty", [], ["label", "x"])).rows == []


def test_repaired_rows_are_stored_padded():
    entry = table_entry("Counts", [["a", 1, 2], ["b", 3]], ["label", "x", "y"])
    table = read_one(entry)

    # The short row gets a None cell, so the table is not all numbers.
    assert table.rows == [["a", 1, 2], ["b", 3, None]]
    assert table.problems


# --- frames ---------------------------------------------------------------


def large_result(n_classes: int) -> MetricsResult:
    return MetricsResult.from_json(json.dumps(make_classification_payload(n_classes)).encode())


def test_confusion_table_keeps_integers():
    result = large_result(30)
    table = result.tables["Confusion Matrix"]
    matrix = result.confusion_df

    assert all(dtype == "int32" for dtype in table.dtypes)
    assert all(dtype == "int64" for dtype in matrix.dtypes)
    assert (table.to_numpy() == matrix.to_numpy()).all()
    assert list(table.index) == list(matrix.index)
    sent = next(entry for entry in result.raw["metrics"] if entry["title"] == "Confusion Matrix")
    assert table.to_numpy().tolist() == [row[1:] for row in sent["rows"]]


def test_confusion_table_read_only():
    result = large_result(5)
    table = result.tables["Confusion Matrix"]
    matrix = result.confusion_df

    with pytest.raises(ValueError, match="read-only"):
        table.iloc[0, 0] = 99
    matrix.iloc[0, 0] = 99
    assert result.tables["Confusion Matrix"].iloc[0, 0] != 99
    assert result._find(parsing.CONFUSION).rows[0][1] != 99


def test_numeric_score_table_frame_is_float_copy():
    entry = table_entry("Classifier Metrics", [["A", 0.5, 90], ["B", 1, 0.25]], ["Class", "Precision", "Recall"])
    result = MetricsResult({"metrics": [entry]})
    frame = result.tables["Classifier Metrics"]

    assert all(dtype == "float64" for dtype in frame.dtypes)
    assert frame.loc["A", "Recall"] == 0.9
    frame.iloc[0, 0] = 0.75
    assert result._tables[0].rows[0] == ["A", 0.5, 90]
