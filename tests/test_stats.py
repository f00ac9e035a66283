"""Intervals, counts and tests of differences, checked against values computed by hand,
plus the interval columns of the display and the score plots."""

from __future__ import annotations

import math
import time

import matplotlib
import pytest
from conftest import example_path

from ibmetrics_nb import MetricsResult
from ibmetrics_nb.errors import InvalidRequestError, MissingTableError
from ibmetrics_nb.sandbox import make_classification_payload
from ibmetrics_nb.stats import (
    COUNTS_FROM_MATRIX,
    COUNTS_FROM_SCORES,
    GAIN,
    LOSS,
    NOISE,
    UNTESTED,
    counts_from_scores,
    f1_interval,
    fisher_exact_p,
    read_confusion,
    two_proportion_p,
    verdict,
    wilson_interval,
    z_value,
)

matplotlib.use("Agg")

Z95 = 1.959963984540054


def wilson_by_hand(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval, written out term by term."""
    p = successes / trials
    center = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return center - half, center + half


@pytest.fixture(scope="module")
def reference() -> MetricsResult:
    return MetricsResult.from_json(example_path("classification-training.json"), job_id="reference")


# --- Wilson -------------------------------------------------------------------


def test_z_value_for_95_percent():
    assert z_value(0.95) == pytest.approx(Z95, abs=1e-12)
    assert z_value(0.90) == pytest.approx(1.6448536269514722, abs=1e-12)


@pytest.mark.parametrize("confidence", [0, 1, -0.5, 95, "0.95", None])
def test_z_value_rejects_invalid_confidence(confidence):
    with pytest.raises(InvalidRequestError):
        z_value(confidence)


def test_wilson_five_of_six_by_hand():
    low, high = wilson_interval(5, 6)

    expected_low, expected_high = wilson_by_hand(5, 6)
    assert low == pytest.approx(expected_low, abs=1e-9)
    assert high == pytest.approx(expected_high, abs=1e-9)
    # The same numbers to four decimals, as tables of the Wilson interval print them.
    assert round(low, 4) == 0.4365
    assert round(high, 4) == 0.9699


@pytest.mark.parametrize("successes, trials", [(1, 2), (4, 5), (3, 7), (11, 12), (62, 90), (480, 500)])
def test_wilson_matches_formula(successes, trials):
    low, high = wilson_interval(successes, trials)
    expected_low, expected_high = wilson_by_hand(successes, trials)

    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)
    assert low < successes / trials < high


def test_wilson_zero_successes():
    low, high = wilson_interval(0, 10)

    assert low == 0.0
    # At p = 0 the upper bound simplifies to z^2 / (n + z^2).
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)


def test_wilson_all_successes():
    low, high = wilson_interval(4, 4)

    assert high == 1.0
    # At p = 1 the lower bound simplifies to n / (n + z^2).
    assert low == pytest.approx(4 / (4 + Z95**2), abs=1e-12)


def test_wilson_other_confidence_is_narrower():
    low95, high95 = wilson_interval(5, 6, 0.95)
    low80, high80 = wilson_interval(5, 6, 0.80)

    assert low80 > low95
    assert high80 < high95
    assert (low80, high80) == pytest.approx(wilson_by_hand(5, 6, z_value(0.80)))


def test_wilson_without_trials_is_nan():
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))
    assert all(math.isnan(bound) for bound in wilson_interval(math.nan, 5))


def test_wilson_rejects_impossible_counts():
    with pytest.raises(InvalidRequestError):
        wilson_interval(7, 6)
    with pytest.raises(InvalidRequestError):
        wilson_interval(-1, 6)


# --- F1 -----------------------------------------------------------------------


def test_f1_interval_maps_jaccard_interval():
    # W2 of the reference: TP 5, FP 0, FN 1, so J = 5/6 and F1 = 10/11.
    low, high = f1_interval(5, 0, 1)

    jaccard_low, jaccard_high = wilson_by_hand(5, 6)
    assert low == pytest.approx(2 * jaccard_low / (1 + jaccard_low), abs=1e-12)
    assert high == pytest.approx(2 * jaccard_high / (1 + jaccard_high), abs=1e-12)
    assert low < 10 / 11 < high


def test_f1_interval_unknown_false_positives():
    assert all(math.isnan(bound) for bound in f1_interval(0, None, 4))


# --- counts -------------------------------------------------------------------


def test_counts_from_scores_recovers_counts():
    # ADP of the reference: precision 80.00%, recall 100.00%, support 4.
    counts = counts_from_scores("ADP", 0.80, 1.0, 4.0)

    assert (counts.tp, counts.fp, counts.fn) == (4, 1, 0)
    assert counts.support == 4
    assert counts.predicted == 5
    assert counts.source == COUNTS_FROM_SCORES


def test_counts_from_rounded_scores():
    # 62 of 90 recall is 68.89% and 62 of 67 precision 92.54% once rounded.
    counts = counts_from_scores("ADP", 0.9254, 0.6889, 90)

    assert (counts.tp, counts.fp, counts.fn) == (62, 5, 28)


def test_counts_from_scores_zero_precision():
    counts = counts_from_scores("rare", 0.0, 0.0, 3)

    assert counts.tp == 0
    assert counts.fp is None
    assert counts.fn == 3
    assert all(math.isnan(bound) for bound in counts.intervals()["precision"])
    assert counts.intervals()["recall"] == pytest.approx(wilson_by_hand(0, 3), abs=1e-12)


@pytest.mark.parametrize("support", [math.nan, None, 2.5, -1])
def test_counts_from_scores_needs_whole_support(support):
    assert counts_from_scores("x", 0.5, 0.5, support) is None


def test_read_confusion_of_reference(reference):
    counts, problem = read_confusion(reference._find("confusion"))

    assert problem is None
    assert counts.total == 10
    w2, adp = counts.counts["W2"], counts.counts["ADP"]
    assert (w2.tp, w2.fp, w2.fn) == (5, 0, 1)
    assert (adp.tp, adp.fp, adp.fn) == (4, 1, 0)
    assert w2.source == COUNTS_FROM_MATRIX


def test_read_confusion_columns_in_other_order():
    payload = {
        "metrics": [
            {"title": "Confusion Matrix", "headers": ["class name", "B", "A"], "rows": [["A", 1, 9], ["B", 7, 2]]}
        ]
    }
    counts, problem = read_confusion(MetricsResult(payload)._find("confusion"))

    assert problem is None
    assert (counts.counts["A"].tp, counts.counts["A"].fn, counts.counts["A"].fp) == (9, 1, 2)
    assert (counts.counts["B"].tp, counts.counts["B"].fn, counts.counts["B"].fp) == (7, 2, 1)


@pytest.mark.parametrize(
    "headers, rows, words",
    [
        (["class name", "A", "B"], [["A", 1, 2]], "rows"),
        (["class name", "A", "B"], [["A", 1, 2], ["C", 3, 4]], "not the same classes"),
        (["class name", "A", "B"], [["A", 1, "x"], ["B", 3, 4]], "not a count"),
        (["class name", "A", "B"], [["A", 1, -2], ["B", 3, 4]], "not a count"),
        (["class name", "A", "B"], [["A", 1, 2.5], ["B", 3, 4]], "not a count"),
    ],
)
def test_read_confusion_rejects_bad_matrix(headers, rows, words):
    payload = {"metrics": [{"title": "Confusion Matrix", "headers": headers, "rows": rows}]}
    counts, problem = read_confusion(MetricsResult(payload)._find("confusion"))

    assert counts is None
    assert words in problem


# --- intervals of a result --------------------------------------------------------


def test_score_intervals_of_reference(reference):
    frame = reference.score_intervals()
    record = frame[frame["table"] == "Record-wise Classifier Metrics"].set_index("label")
    chunk = frame[frame["table"] == "Chunk-wise Classifier Metrics"].set_index("label")

    assert list(record.index) == ["W2", "ADP"]
    assert record.loc["W2", "counts_source"] == COUNTS_FROM_MATRIX
    assert chunk.loc["W2", "counts_source"] == COUNTS_FROM_SCORES
    assert (record.loc["W2", "recall_low"], record.loc["W2", "recall_high"]) == pytest.approx(wilson_by_hand(5, 6))
    assert (record.loc["ADP", "precision_low"], record.loc["ADP", "precision_high"]) == pytest.approx(wilson_by_hand(4, 5))
    assert record.loc["ADP", "recall_high"] == 1.0
    assert chunk.loc["ADP", "precision_low"] == pytest.approx(record.loc["ADP", "precision_low"])


def test_to_dataframe_with_intervals(reference):
    frame = reference.to_dataframe(intervals=True)
    plain = reference.to_dataframe()

    for column in ("precision_low", "precision_high", "recall_low", "recall_high", "f1_low", "f1_high", "tp", "fp", "fn"):
        assert column in frame.columns
    assert list(frame.columns[: len(plain.columns)]) == list(plain.columns)
    assert len(frame) == len(plain)
    averages = frame[frame["is_average"]]
    assert averages["f1_low"].isna().all()
    per_class = frame[~frame["is_average"]]
    assert (per_class["f1_low"] <= per_class["f1"]).all()
    assert (per_class["f1"] <= per_class["f1_high"]).all()


def test_to_dataframe_without_intervals_unchanged(reference):
    assert "f1_low" not in reference.to_dataframe().columns


def test_generated_payload_intervals_contain_scores():
    result = MetricsResult(make_classification_payload(60, seed=4))
    frame = result.to_dataframe(intervals=True)
    per_class = frame[~frame["is_average"]]

    for metric in ("precision", "recall", "f1"):
        assert (per_class[f"{metric}_low"] <= per_class[metric] + 1e-4).all()
        assert (per_class[metric] <= per_class[f"{metric}_high"] + 1e-4).all()


# --- tests of differences ------------------------------------------------------


def test_fisher_exact_by_hand():
    # Margins 4/4 and 4/4: P(x) = C(4,x) C(4,4-x) / C(8,4) = 1, 16, 36, 16, 1 out of 70.
    # Observed x = 3 (16/70); the tables as likely or less are x = 0, 1, 3, 4.
    assert fisher_exact_p(3, 1, 1, 3) == pytest.approx(34 / 70, abs=1e-12)
    assert fisher_exact_p(2, 2, 2, 2) == pytest.approx(1.0)


def test_fisher_exact_one_sided_extreme():
    # [[5, 0], [0, 5]]: only x = 0 and x = 5 are this unlikely, each 1 / C(10, 5).
    assert fisher_exact_p(5, 0, 0, 5) == pytest.approx(2 / 252, abs=1e-12)


def test_fisher_exact_degenerate_margins():
    assert fisher_exact_p(0, 0, 3, 4) == 1.0
    assert fisher_exact_p(5, 0, 7, 0) == 1.0


def test_fisher_large_counts_use_z_test():
    p = fisher_exact_p(6000, 4000, 5000, 5000)

    assert p == pytest.approx(two_proportion_p(6000, 10000, 5000, 10000))
    assert p < 1e-10


def test_two_proportion_by_hand():
    # p1 = 0.6, p2 = 0.5, pooled 0.55, se = sqrt(0.55 * 0.45 * (2 / 100)) = 0.070356.
    z = 0.1 / math.sqrt(0.55 * 0.45 * 0.02)
    expected = math.erfc(z / math.sqrt(2))

    assert two_proportion_p(60, 100, 50, 100) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "delta, p_value, expected",
    [(0.1, 0.01, GAIN), (-0.1, 0.01, LOSS), (0.1, 0.2, NOISE), (0.0, 0.01, NOISE), (0.1, math.nan, UNTESTED)],
)
def test_verdict(delta, p_value, expected):
    assert verdict(delta, p_value) == expected


# --- display ------------------------------------------------------------------


def test_html_has_interval_columns(reference):
    html = reference._repr_html_()

    assert "F1 95% CI" in html
    assert "precision 95% CI" in html
    # W2: F1 interval 60.77-98.47%, recall 43.65-96.99% (5 of 6).
    assert "60.8\u201398.5%" in html
    assert "43.6\u201397.0%" in html


def test_html_of_large_result_is_fast():
    result = MetricsResult(make_classification_payload(1000, seed=1), job_id="large")
    result._repr_html_()  # imports happen on the first call

    timings = []
    for _ in range(5):
        fresh = MetricsResult(result.raw, job_id="large")
        started = time.perf_counter()
        html = fresh._repr_html_()
        timings.append(time.perf_counter() - started)

    assert min(timings) < 0.05
    assert "95% CI" in html
    assert len(html) < 200_000


# --- plots ----------------------------------------------------------------------


def test_scores_plot_has_interval_bars(reference):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    ax = reference.scores_plot("recall")

    assert len(plt.get_fignums()) == before
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["W2", "ADP"]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == pytest.approx([5 / 6, 1.0], abs=1e-4)
    from matplotlib.container import BarContainer

    bars = next(container for container in ax.containers if isinstance(container, BarContainer))
    segments = bars.errorbar.lines[2][0].get_segments()
    w2_low, w2_high = segments[0][0][1], segments[0][1][1]
    assert (w2_low, w2_high) == pytest.approx(wilson_by_hand(5, 6), abs=1e-4)
    assert "Record-wise Classifier Metrics" in ax.get_title()


def test_scores_plot_on_given_axes(reference):
    from matplotlib.figure import Figure

    ax = Figure().subplots()

    assert reference.scores_plot("f1", table="Chunk-wise Classifier Metrics", ax=ax) is ax


def test_scores_plot_rejects_unknown_table_and_metric(reference):
    with pytest.raises(InvalidRequestError, match="Record-wise"):
        reference.scores_plot(table="No such table")
    with pytest.raises(InvalidRequestError, match="f1"):
        reference.scores_plot("accuracy")


def test_ece_plot(reference):
    ax = reference.ece_plot()

    assert [patch.get_height() for patch in ax.patches] == pytest.approx([0.051, 0.125])


def test_ece_plot_without_ece():
    payload = {"metrics": [{"title": "Classifier Metrics", "headers": ["class", "f1"], "rows": [["A", 0.5]]}]}

    with pytest.raises(MissingTableError):
        MetricsResult(payload).ece_plot()


def test_trials_plot(reference):
    ax = reference.trials_plot()
    by_param = reference.trials_plot("num_train_epochs")

    assert len(ax.collections[0].get_offsets()) == 5
    assert by_param.get_xlabel() == "num_train_epochs"
    assert sorted(by_param.collections[0].get_offsets()[:, 0]) == [6, 13, 14, 18, 21]


def test_trials_plot_rejects_unknown_param(reference):
    with pytest.raises(InvalidRequestError, match="learning_rate"):
        reference.trials_plot("momentum")


def test_confusion_plot_normalised_by_true_class(reference):
    from ibmetrics_nb.plots import normalize_matrix

    ax = reference.confusion_plot(normalize="true")
    matrix = normalize_matrix(reference.confusion_df, "true")

    assert matrix.sum(axis=1).tolist() == pytest.approx([1.0, 1.0])
    assert matrix.loc["W2", "W2"] == pytest.approx(5 / 6)
    assert "normalised by true" in ax.get_title()
