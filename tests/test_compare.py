"""compare(): deltas to the baseline computed by hand, noise against real changes,
hyperparameter and dataset differences, the HTML, the F1 plot and the magic."""

from __future__ import annotations

import math

import matplotlib
import pytest
from conftest import CLASSIFICATION_JOB, example_path

import ibmetrics_nb
from ibmetrics_nb import MetricsResult
from ibmetrics_nb.comparison import Comparison
from ibmetrics_nb.errors import InvalidRequestError
from ibmetrics_nb.sandbox import default_jobs
from ibmetrics_nb.stats import fisher_exact_p

matplotlib.use("Agg")

RECORD = "Record-wise Classifier Metrics"


def catalogue_result(job_id: str) -> MetricsResult:
    job = next(job for job in default_jobs() if job.job_id == job_id)
    return MetricsResult(job.payload, job_id=job_id, job_type=job.job_type)


@pytest.fixture(scope="module")
def reference() -> MetricsResult:
    return MetricsResult.from_json(example_path("classification-training.json"), job_id="reference", job_type="training")


@pytest.fixture(scope="module")
def family() -> Comparison:
    return ibmetrics_nb.compare(
        [catalogue_result("retrain-job"), catalogue_result("pruning-job"), catalogue_result("evaluation-new-data")]
    )


def cell(frame, label: str, metric: str, job: str, table: str = RECORD):
    rows = frame[(frame["table"] == table) & (frame["label"] == label) & (frame["metric"] == metric) & (frame["job"] == job)]
    assert len(rows) == 1, (label, metric, job)
    return rows.iloc[0]


# --- deltas -----------------------------------------------------------------------


def test_deltas_by_hand(reference):
    # evaluation-job's matrix is W2 = [11, 1], ADP = [1, 7]: W2 F1 = 11/12 = 91.67%, ADP recall 7/8 = 87.50%.
    comparison = ibmetrics_nb.compare([reference, catalogue_result("evaluation-job")])
    frame = comparison.to_dataframe()

    w2 = cell(frame, "W2", "f1", "evaluation-job")
    assert w2.value == pytest.approx(0.9167)
    assert w2.baseline_value == pytest.approx(0.9091)
    assert w2.delta == pytest.approx(0.9167 - 0.9091)
    adp = cell(frame, "ADP", "recall", "evaluation-job")
    assert adp.delta == pytest.approx(0.875 - 1.0)
    support = cell(frame, "W2", "support", "evaluation-job")
    assert support.delta == 12 - 6
    macro = cell(frame, "macro avg", "f1", "evaluation-job")
    assert macro.delta == pytest.approx(0.8958 - 0.8990)


def test_baseline_rows(reference):
    frame = ibmetrics_nb.compare([reference, catalogue_result("evaluation-job")]).to_dataframe()
    baseline = frame[frame["job"] == "reference"]

    assert set(baseline["verdict"]) == {"baseline"}
    assert (baseline["delta"] == 0).all()
    assert baseline["p_value"].isna().all()


def test_tiny_test_sets_are_noise(reference):
    # 10 and 20 test records: every per-class difference is within the noise.
    frame = ibmetrics_nb.compare([reference, catalogue_result("evaluation-job")]).to_dataframe()
    tested = frame[frame["metric"].isin(["f1", "precision", "recall"]) & ~frame["is_average"] & (frame["job"] != "reference")]

    assert set(tested["verdict"]) == {"noise"}
    assert tested["p_value"].notna().all()


def test_real_change_and_noise(family):
    frame = family.to_dataframe()

    adp_recall = cell(frame, "ADP", "recall", "evaluation-new-data")
    # Retrain: 80 of 85 ADP records found; new data: 62 of 90.
    assert adp_recall.p_value == pytest.approx(fisher_exact_p(62, 28, 80, 5))
    assert adp_recall.p_value < 0.001
    assert adp_recall.verdict == "loss"
    paychex_precision = cell(frame, "Paychex", "precision", "evaluation-new-data")
    assert paychex_precision.verdict == "loss"
    paychex_recall = cell(frame, "Paychex", "recall", "evaluation-new-data")
    assert paychex_recall.delta > 0
    assert paychex_recall.verdict == "noise"
    pruned = frame[(frame["job"] == "pruning-job") & frame["metric"].isin(["f1", "precision", "recall"]) & ~frame["is_average"]]
    assert set(pruned["verdict"]) == {"noise"}


def test_changes_lists_only_real_ones(family):
    changes = family.changes()

    assert set(changes["verdict"]) == {"loss"}
    assert set(zip(changes["label"], changes["metric"])) == {
        ("ADP", "recall"),
        ("ADP", "f1"),
        ("Paychex", "precision"),
        ("Paychex", "f1"),
    }
    assert set(changes["job"]) == {"evaluation-new-data"}


def test_averages_support_and_ece_untested(family):
    frame = family.to_dataframe()
    others = frame[frame["job"] != family.baseline]

    assert set(others[others["is_average"]]["verdict"]) == {"untested"}
    assert set(others[others["metric"].isin(["support", "ece"])]["verdict"]) == {"untested"}


def test_gain_when_baseline_is_worse(family):
    reversed_order = ibmetrics_nb.compare(family.results, baseline="evaluation-new-data")
    frame = reversed_order.to_dataframe()

    assert reversed_order.jobs[0] == "evaluation-new-data"
    assert cell(frame, "ADP", "recall", "retrain-job").verdict == "gain"


def test_alpha_sets_threshold(family):
    strict = ibmetrics_nb.compare(family.results, alpha=0.001)

    assert set(zip(strict.changes()["label"], strict.changes()["metric"])) == {("ADP", "recall"), ("ADP", "f1")}


def test_label_in_one_job_only(reference):
    frame = ibmetrics_nb.compare([reference, catalogue_result("retrain-job")]).to_dataframe()

    paychex = frame[(frame["label"] == "Paychex") & (frame["metric"] == "f1") & (frame["table"] == RECORD)]
    assert list(paychex["job"]) == ["retrain-job"]
    assert math.isnan(paychex.iloc[0]["baseline_value"])
    assert paychex.iloc[0]["verdict"] == "untested"


# --- baseline and names ---------------------------------------------------------


def test_baseline_by_position_and_id(family):
    results = family.results

    assert ibmetrics_nb.compare(results, baseline=2).baseline == "evaluation-new-data"
    assert ibmetrics_nb.compare(results, baseline=-1).baseline == "evaluation-new-data"
    assert ibmetrics_nb.compare(results, baseline="pruning-job").jobs == ["pruning-job", "retrain-job", "evaluation-new-data"]


@pytest.mark.parametrize("baseline", [3, "no-such-job", 1.5, True])
def test_invalid_baseline(family, baseline):
    with pytest.raises(InvalidRequestError):
        ibmetrics_nb.compare(family.results, baseline=baseline)


def test_invalid_alpha_and_empty(family):
    with pytest.raises(InvalidRequestError):
        ibmetrics_nb.compare(family.results, alpha=5)
    with pytest.raises(InvalidRequestError):
        ibmetrics_nb.compare([])


def test_repeated_job_ids_get_unique_names(reference):
    other = MetricsResult(reference.raw, job_id="reference", job_type="evaluation")
    same = MetricsResult(reference.raw, job_id="reference", job_type="training")

    comparison = ibmetrics_nb.compare([reference, other, same])

    assert len(set(comparison.jobs)) == 3
    assert comparison.jobs[1] == "reference (evaluation)"


# --- hyperparameters and datasets ---------------------------------------------------


def test_hyperparams_only_differences(family):
    frame = family.hyperparams

    assert list(frame.index) == ["num_train_epochs", "do_hyperparam_optimization", "hp_search_num_trials", "pruning_sparsity"]
    assert frame.loc["num_train_epochs"].tolist() == [8, 2, 8]
    assert frame.loc["pruning_sparsity"].tolist() == [None, 0.5, None]
    assert list(frame.columns) == family.jobs


def test_hyperparams_against_reference(reference):
    frame = ibmetrics_nb.compare([reference, catalogue_result("retrain-job")]).hyperparams

    assert frame.loc["learning_rate"].tolist() == [5e-05, 2e-05]
    assert frame.loc["class_weights_ins_power"].tolist() == [0.3, 0.5]
    assert "model_name" not in frame.index


def test_datasets_only_differences(family):
    frame = family.datasets

    assert frame.loc["test records"].tolist() == [225, 225, 235]
    assert frame.loc["test datasets"].tolist() == ["Paystubs, Paystubs 2023"] * 2 + ["Paystubs 2025"]
    assert frame.loc["job type"].tolist() == ["training", "pruning", "evaluation"]
    assert "train records" not in frame.index
    assert "test records: Paychex" not in frame.index


def test_same_jobs_have_no_differences(reference):
    comparison = ibmetrics_nb.compare([reference, MetricsResult(reference.raw, job_id="copy", job_type="training")])

    assert comparison.hyperparams.empty
    assert comparison.datasets.empty
    assert "The jobs have the same hyperparameters." in comparison._repr_html_()


# --- display ----------------------------------------------------------------------


def test_html_marks_gains_losses_and_noise(family):
    html = family._repr_html_()

    assert html.count('class="ibm-loss"') == 8
    assert "ibm-gain" not in html.split("</style>")[-1]
    assert 'class="ibm-noise"' in html
    assert "\u25bc \u221225.23" in html  # ADP recall, 94.12% -> 68.89%
    assert "<script" not in html
    assert "Hyperparameters that differ" in html


def test_html_escapes_job_and_label_names(reference):
    raw = dict(reference.raw)
    evil = MetricsResult(raw, job_id="<img src=x onerror=alert(1)>", job_type="training")

    html = ibmetrics_nb.compare([reference, evil])._repr_html_()

    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_mimebundle_has_text(family):
    bundle = family._repr_mimebundle_()

    text = bundle["text/plain"]
    assert text.startswith("Comparison of 3 jobs, baseline retrain-job")
    assert "8 differences beyond noise" in text
    assert "evaluation-new-data vs baseline, Record-wise Classifier Metrics, ADP, recall: 94.12% -> 68.89%" in text
    assert "text/html" in bundle


def test_html_cuts_long_tables():
    from ibmetrics_nb.display import MAX_ROWS
    from ibmetrics_nb.sandbox import make_classification_payload

    first = MetricsResult(make_classification_payload(120, seed=1), job_id="a")
    second = MetricsResult(make_classification_payload(120, seed=2), job_id="b")

    html = ibmetrics_nb.compare([first, second])._repr_html_()

    assert f"{122 - MAX_ROWS} of 122 labels not shown" in html
    assert len(html) < 300_000


# --- plot and magic ---------------------------------------------------------------


def test_f1_plot_grouped_bars(family):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    ax = family.f1_plot()

    assert len(plt.get_fignums()) == before
    assert len(ax.patches) == 3 * 3
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["W2", "ADP", "Paychex"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == family.jobs
    heights = [patch.get_height() for patch in ax.patches]
    assert heights[2] == pytest.approx(0.9278)  # retrain-job, Paychex


def test_f1_plot_rejects_unknown_table(family):
    with pytest.raises(InvalidRequestError, match="Record-wise"):
        family.f1_plot(table="Nope")


def test_magic_with_several_jobs_compares(shell):
    comparison = shell.run_line_magic("ibmetrics", f"$project {CLASSIFICATION_JOB} retrain-job")

    assert isinstance(comparison, Comparison)
    assert comparison.jobs == [CLASSIFICATION_JOB, "retrain-job"]
    assert comparison.changes().empty


def test_compare_is_lazy_attribute():
    import subprocess
    import sys

    code = "import sys, ibmetrics_nb; assert 'ibmetrics_nb.comparison' not in sys.modules; ibmetrics_nb.compare; assert 'ibmetrics_nb.comparison' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compare_callable_after_submodule_import(reference):
    import ibmetrics_nb.comparison as module

    assert module is not None
    comparison = ibmetrics_nb.compare([reference, reference])

    assert isinstance(comparison, Comparison)
