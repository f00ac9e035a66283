"""MetricsResult built offline from the reference's examples: every accessor
checked against the example's own values, plus display and broken tables."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from conftest import example_path

from ibmetrics_nb import MetricsResult
from ibmetrics_nb.errors import MissingTableError, ResponseFormatError


@pytest.fixture(scope="module")
def classification() -> MetricsResult:
    return MetricsResult.from_json(example_path("classification-training.json"), job_id="job-c", job_type="training")


@pytest.fixture(scope="module")
def extraction() -> MetricsResult:
    return MetricsResult.from_json(example_path("extraction-training.json"), job_id="job-e", job_type="training")


def test_classification_fields(classification):
    assert classification.platform_version == "23.05.0"
    assert classification.ibformers_version == "2.1.0"
    assert classification.train_count == {"W2": 10, "ADP": 14}
    assert classification.train_total == 24
    assert classification.test_count == {"W2": 4, "ADP": 3}
    assert classification.test_total == 7
    assert classification.train_datasets == ["Paystubs"]
    assert classification.test_datasets == ["Paystubs"]
    assert classification.hyperparams["model_name"] == "layoutlm-base-uncased"
    assert classification.hyperparams["class_weights_ins_power"] == 0.3
    assert classification.is_finished
    assert not classification.is_incomplete


def test_duplicate_hyperparameter_is_a_warning(classification):
    assert any("class_weights_ins_power" in w for w in classification.warnings)


def test_tables_in_response_order(classification):
    assert list(classification.tables) == [
        "Record-wise Classifier Metrics",
        "Chunk-wise Classifier Metrics",
        "Train-Validation Curve",
        "Confusion Matrix",
        "Hyperparameter search results",
    ]


def test_per_class_table_values(classification):
    frame = classification.tables["Record-wise Classifier Metrics"]

    assert frame.index.name == "Class Type"
    assert list(frame.index) == ["W2", "ADP", "macro avg", "weighted avg"]
    assert list(frame.columns) == ["F1 Score", "Precision", "Recall", "Support", "ECE"]
    assert frame.loc["W2", "F1 Score"] == pytest.approx(0.9091)
    assert frame.loc["W2", "Precision"] == pytest.approx(1.0)
    assert frame.loc["W2", "Recall"] == pytest.approx(0.8333)
    assert frame.loc["ADP", "Support"] == 4.0
    assert frame.loc["ADP", "ECE"] == pytest.approx(0.125)
    assert math.isnan(frame.loc["macro avg", "ECE"])
    assert frame.attrs["subtitle"].startswith("Performance of the Classifier model")
    assert frame.attrs["show"] is True


def test_hidden_tables_keep_show_flag(classification):
    assert classification.tables["Confusion Matrix"].attrs["show"] is False
    assert classification.tables["Train-Validation Curve"].attrs["show"] is False


def test_confusion_df(classification):
    matrix = classification.confusion_df

    assert matrix.index.name == "true"
    assert matrix.columns.name == "predicted"
    assert list(matrix.index) == ["W2", "ADP"]
    assert list(matrix.columns) == ["W2", "ADP"]
    assert matrix.to_numpy().tolist() == [[5, 1], [0, 4]]
    assert all(dtype == "int64" for dtype in matrix.dtypes)


def test_loss_df(classification):
    loss = classification.loss_df

    assert list(loss.index) == ["Train", "Eval"]
    assert list(loss.columns) == [1, 2, 3]
    assert loss.loc["Train"].tolist() == [0.54, 0.21, 0.15]
    assert loss.loc["Eval"].tolist() == [0.25, 0.31, 0.29]


def test_trials_df_is_numeric(classification):
    trials = classification.trials_df

    assert list(trials.index) == ["0", "1", "2", "3", "5"]
    assert trials.loc["0", "learning_rate"] == pytest.approx(4.565751263925242e-06)
    assert trials.loc["3", "num_train_epochs"] == 21
    assert trials["Objective value"].tolist() == [1.0] * 5


def test_to_dataframe_columns_and_values(classification):
    frame = classification.to_dataframe()

    assert list(frame.columns) == ["job_id", "job_type", "table", "label", "is_average", "precision", "recall", "f1", "support", "ece"]
    assert len(frame) == 8
    w2 = frame[(frame.table == "Record-wise Classifier Metrics") & (frame.label == "W2")].iloc[0]
    assert w2.job_id == "job-c"
    assert w2.f1 == pytest.approx(0.9091)
    assert not w2.is_average
    assert frame[frame.label == "macro avg"].is_average.all()


def test_extraction_accessors(extraction):
    frame = extraction.tables["Individual fields level metrics"]

    assert frame.index.name == "Field Name"
    assert frame.loc["Gross Pay", "ECE"] == pytest.approx(0.166)
    assert frame.loc["Micro Average", "Support"] == 12
    assert math.isnan(frame.loc["Macro Average", "Support"])
    assert extraction.train_count == {"W2": 10}
    assert extraction.headline == ("Individual fields level metrics", "Macro Average", pytest.approx(0.8333))


def test_extraction_dataframe_has_nan_for_missing_metric(extraction):
    frame = extraction.to_dataframe()
    tokens = frame[frame.table == "Individual token level metrics"]

    assert tokens.ece.isna().all()
    assert tokens[tokens.label == "Gross Pay"].recall.iloc[0] == pytest.approx(0.95)


def test_frames_of_two_jobs_concatenate(classification, extraction):
    both = pd.concat([classification.to_dataframe(), extraction.to_dataframe()], ignore_index=True)

    assert len(both) == 16
    assert list(both.columns[:10]) == list(classification.to_dataframe().columns)


def test_missing_confusion_matrix_names_the_table(extraction):
    with pytest.raises(MissingTableError, match="has no Confusion Matrix table"):
        extraction.confusion_df


def test_legacy_result_says_rerun():
    data = json.loads(example_path("classification-training.json").read_text())
    data["metrics"] = [t for t in data["metrics"] if t["title"] != "Confusion Matrix"]
    data["platform_version"] = ""
    result = MetricsResult(data, job_id="old")

    assert result.is_incomplete
    assert "Confusion Matrix table" in result.missing
    assert any("re-run the job" in w for w in result.warnings)
    with pytest.raises(MissingTableError, match="re-run the job"):
        result.confusion_df


def test_unknown_tables_are_kept():
    data = {"metrics": [{"title": "Brand new table", "headers": ["Thing", "Value"], "rows": [["a", "50%"]]}]}
    result = MetricsResult(data)

    assert result.tables["Brand new table"].loc["a", "Value"] == 0.5
    assert "Brand new table" in result._repr_html_()


def test_legacy_fraction_and_bare_percent_scores():
    data = {"metrics": [{"title": "Classifier Metrics", "headers": ["class", "f1", "precision"], "rows": [["A", 0.875, "87.50"]]}]}
    frame = MetricsResult(data).tables["Classifier Metrics"]

    assert frame.loc["A", "f1"] == pytest.approx(0.875)
    assert frame.loc["A", "precision"] == pytest.approx(0.875)


def test_from_json_accepts_text_bytes_path_and_dict():
    path = example_path("classification-training.json")
    text = path.read_text()

    for source in (path, str(path), text, text.encode(), json.loads(text)):
        assert MetricsResult.from_json(source).test_total == 7


def test_from_json_rejects_non_object():
    with pytest.raises(ResponseFormatError, match="expected a JSON object"):
        MetricsResult.from_json("[1, 2]")


def test_html_has_summary_tables_and_images(classification):
    html = classification._repr_html_()

    assert "Record-wise Classifier Metrics" in html
    assert "90.91%" in html
    assert "<details open><summary>Record-wise" in html
    assert "<details><summary>Confusion Matrix" in html
    assert "rgba(31,119,180," in html
    assert "<svg" in html
    assert "<polyline" in html
    assert "89.90%" in html
    assert "<script" not in html


def test_mimebundle_has_text_and_html(classification):
    bundle = classification._repr_mimebundle_()

    assert set(bundle) == {"text/plain", "text/html"}
    assert "Job: job-c" in bundle["text/plain"]
    assert "F1: 89.90%" in bundle["text/plain"]


@pytest.mark.parametrize(
    "broken",
    [
        {"title": "Broken", "headers": ["a", "b"], "rows": None},
        {"title": "Broken", "headers": ["a", "b", "c"], "rows": [["x", 1]]},
        {"title": "Broken", "rows": [["x", 1]]},
        {"title": "Broken", "headers": "nope", "rows": "nope"},
    ],
)
def test_broken_table_does_not_break_display(broken):
    good = {"title": "Good", "headers": ["Class Type", "F1 Score"], "rows": [["A", "50.00%"]]}
    result = MetricsResult({"metrics": [broken, good]})

    html = result._repr_html_()
    text = repr(result) + result._repr_mimebundle_()["text/plain"]
    assert "Good" in html
    assert "50.00%" in html
    assert "Broken" in html
    assert 'class="ibm-note"' in html
    assert "Broken" in text


def test_repeated_headers_get_distinct_columns():
    data = {"metrics": [{"title": "T", "headers": ["Class Type", "F1 Score", "F1 Score", "Class Type"], "rows": [["A", "50%", "60%", "x"]]}]}

    frame = MetricsResult(data).to_dataframe()

    assert frame.loc[0, "f1"] == 0.5
    assert frame.loc[0, "f1_"] == 0.6
    assert frame.loc[0, "class_type"] == "x"


def test_from_json_reads_a_saved_result(classification, tmp_path):
    path = tmp_path / "saved.json"
    classification.save(path)

    result = MetricsResult.from_json(path)

    assert result.job_id == "job-c"
    assert result.table_titles == classification.table_titles
    assert result.confusion_df.to_numpy().tolist() == [[5, 1], [0, 4]]
