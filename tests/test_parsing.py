"""Cell conversion, strict JSON loading and table recognition."""

from __future__ import annotations

import math

import pytest
from conftest import example_path

from ibmetrics_nb import parsing
from ibmetrics_nb.errors import ResponseFormatError


def test_percent_column_becomes_fractions_without_touching_others():
    values, numbers = parsing.convert_column(["90.91%", "N/A", "0.051", 6.0, 7])

    assert values is not None
    assert values[0] == pytest.approx(0.9091)
    assert math.isnan(values[1])
    assert values[2] == pytest.approx(0.051)
    assert values[3] == 6.0
    assert values[4] == 7.0
    assert numbers == 4


@pytest.mark.parametrize("label", ["<=50%", "W2", "macro avg", "12% off", "%"])
def test_text_cells_are_not_numbers(label):
    assert parsing.to_number(label) is None


def test_column_with_a_label_stays_text():
    values, _ = parsing.convert_column(["<=50%", "90%"])

    assert values is None


@pytest.mark.parametrize("marker", ["N/A", "NAN", "NaN", "Unknown", "", "  ", None, float("nan")])
def test_missing_markers_become_nan(marker):
    assert math.isnan(parsing.to_number(marker))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("100.00%", 1.0), ("0.00%", 0.0), ("87.50", 87.5), ("1.0000", 1.0), (12, 12.0), ("4.565751263925242e-06", 4.565751263925242e-06), ("1,234", 1234.0)],
)
def test_numbers_in_every_spelling(cell, expected):
    assert parsing.to_number(cell) == pytest.approx(expected)


def test_booleans_are_not_numbers():
    assert parsing.to_number(True) is None


def test_invalid_json_reports_line_and_column():
    with pytest.raises(ResponseFormatError, match=r"invalid JSON at line 100, column 1"):
        parsing.load_json(example_path("extraction-training.as-documented.json"))


def test_duplicate_keys_are_reported():
    loaded = parsing.load_json(example_path("classification-training.json"))

    assert loaded.data["hyperparams"]["class_weights_ins_power"] == 0.3
    assert len(loaded.warnings) == 1
    assert "class_weights_ins_power" in loaded.warnings[0]
    assert "0.2" in loaded.warnings[0]


def test_nan_token_is_read_with_warning():
    loaded = parsing.load_json('{"a": NaN}')

    assert math.isnan(loaded.data["a"])
    assert "NaN" in loaded.warnings[0]


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(ResponseFormatError, match="file not found"):
        parsing.load_json(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("title", "headers", "kind"),
    [
        ("Record-wise Classifier Metrics", ["Class Type", "F1 Score", "Precision"], parsing.SCORES),
        ("Individual token level metrics", ["Field Name", "Precision", "Recall"], parsing.SCORES),
        ("Field-level Metrics", ["field", "exact_match", "precision", "recall", "f1"], parsing.SCORES),
        ("Splitter Metrics", ["class", "precision", "recall", "f1"], parsing.SCORES),
        ("Train-Validation Curve", ["Dataset Split", "Epoch 1", "2"], parsing.LOSS),
        ("Losses", ["Dataset Split", "Epoch 1"], parsing.LOSS),
        ("Confusion Matrix", ["class name", "A", "B"], parsing.CONFUSION),
        ("Hyperparameter search results", ["Trial number", "lr", "Objective value"], parsing.TRIALS),
        ("Something new", ["x", "y"], parsing.OTHER),
    ],
)
def test_table_kind_from_title_or_headers(title, headers, kind):
    assert parsing.classify(title, headers, []) == kind


def test_matrix_without_title_is_recognised_by_headers():
    rows = [["A", 1, 0], ["B", 0, 1]]

    assert parsing.classify("Table 4", ["class name", "A", "B"], rows) == parsing.CONFUSION


def test_short_and_long_rows_are_repaired_and_noted():
    table = parsing.read_table({"title": "T", "headers": ["a", "b", "c"], "rows": [["x", 1], ["y", 1, 2, 3]]}, 1)

    assert table.headers == ["a", "b", "c", "column_3"]
    assert table.rows[0] == ["x", 1, None, None]
    assert len(table.problems) == 2


def test_null_rows_give_empty_table():
    table = parsing.read_table({"title": "T", "headers": ["a"], "rows": None}, 1)

    assert table.rows == []
    assert "rows is null" in table.problems[0]


def test_non_table_entries_skipped():
    tables, warnings = parsing.read_tables([{"title": "A", "headers": ["x"], "rows": []}, "junk", 3])

    assert [t.title for t in tables] == ["A"]
    assert len(warnings) == 2


def test_duplicate_titles_stay_distinct():
    entry = {"title": "Same", "headers": ["x"], "rows": []}
    tables, _ = parsing.read_tables([entry, entry])

    assert [t.title for t in tables] == ["Same", "Same (2)"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [("macro avg", True), ("weighted avg", True), ("Micro Average", True), ("Macro Average", True), ("accuracy", True), ("W2", False), ("Average Pay", True), ("ADP", False)],
)
def test_average_labels(label, expected):
    assert parsing.is_average_label(label) is expected
