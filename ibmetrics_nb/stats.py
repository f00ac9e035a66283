"""Per-class counts, confidence intervals and significance tests for scores.

Test sets are often tiny (the vendor's classification example scores 10
test records), so a reported score means little without its uncertainty.
This module recovers each class's counts (true positives TP, false
positives FP, false negatives FN) and turns them into intervals and tests:

- precision = TP / (TP + FP) and recall = TP / (TP + FN) get the Wilson
  score interval of a binomial proportion;
- F1 = 2 TP / (2 TP + FP + FN) gets the Wilson interval of the Jaccard
  index J = TP / (TP + FP + FN), mapped through F1 = 2 J / (1 + J);
- a difference between two jobs counts as a change when Fisher's exact
  test on the two jobs' (successes, failures) rejects equality at `alpha`.

The counts come from the confusion matrix for the score table that the
matrix describes, and from the reported precision, recall and support for
every other table. docs/STATISTICS.md explains the methods and their limits.

The functions use only the standard library and read the response's raw
cells, so the notebook display can call them without building DataFrames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from . import parsing
from .errors import InvalidRequestError

if TYPE_CHECKING:
    import pandas as pd

    from .result import MetricsResult

DEFAULT_CONFIDENCE = 0.95
DEFAULT_ALPHA = 0.05
COUNTS_FROM_MATRIX = "confusion matrix"
COUNTS_FROM_SCORES = "scores"
INTERVAL_METRICS = ("precision", "recall", "f1")
# Above this many values of the smaller margin, Fisher's exact test is
# replaced by the pooled two-proportion z-test, which agrees with it there.
MAX_EXACT_TEST_OUTCOMES = 2000


# --- intervals ------------------------------------------------------------


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Return the two-sided standard normal quantile for `confidence` (1.96 for 0.95)."""
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InvalidRequestError(f"invalid confidence {confidence!r}: expected a number between 0 and 1, such as 0.95")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: float, trials: float, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for `successes` out of `trials`.

    Unlike the normal (Wald) interval, it stays inside [0, 1] and does not
    collapse to a point at 0 or `trials` successes. No trials give (NaN, NaN).
    """
    if trials is None or successes is None or trials != trials or successes != successes:
        return math.nan, math.nan
    if trials <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= trials:
        raise InvalidRequestError(f"invalid counts: {successes} successes out of {trials} trials")

    z = z_value(confidence)
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0 or `trials` successes the bound is exactly 0 or 1, which rounding would miss.
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == trials else min(1.0, center + half_width)
    return low, high


def f1_from_jaccard(jaccard: float) -> float:
    """Map the Jaccard index J = TP / (TP + FP + FN) to F1 = 2 J / (1 + J)."""
    return 2 * jaccard / (1 + jaccard) if jaccard == jaccard else math.nan


def f1_interval(tp: int, fp: int | None, fn: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Return an interval for F1 from the class's counts.

    Given n = TP + FP + FN, F1 = 2 J / (1 + J) with J = TP / n, and F1
    rises with J. So the Wilson interval of J, TP successes in n trials,
    maps to an interval for F1. It treats n as fixed, which ignores the
    variation in how many records involve the class. Unknown FP gives NaN.
    """
    if fp is None:
        return math.nan, math.nan
    low, high = wilson_interval(tp, tp + fp + fn, confidence)
    return f1_from_jaccard(low), f1_from_jaccard(high)


# --- counts ---------------------------------------------------------------


@dataclass(frozen=True)
class ClassCounts:
    """The true positives, false positives and false negatives of one class.

    `fp` is None when it cannot be recovered: the reported precision is 0
    and there is no confusion matrix. `source` is where the counts come
    from: COUNTS_FROM_MATRIX or COUNTS_FROM_SCORES.
    """

    label: str
    tp: int
    fp: int | None
    fn: int
    source: str

    @property
    def support(self) -> int:
        """Records of the class in the test set (TP + FN)."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int | None:
        """Records predicted as the class (TP + FP), None when FP is unknown."""
        return None if self.fp is None else self.tp + self.fp

    def intervals(self, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, tuple[float, float]]:
        """Return the (low, high) interval of precision, recall and F1."""
        predicted = self.predicted
        return {
            "precision": wilson_interval(self.tp, predicted, confidence) if predicted else (math.nan, math.nan),
            "recall": wilson_interval(self.tp, self.support, confidence),
            "f1": f1_interval(self.tp, self.fp, self.fn, confidence),
        }

    def proportion(self, metric: str) -> tuple[int, int] | None:
        """Return (successes, trials) behind `metric`, as used by the tests of differences.

        Precision is TP of TP + FP, recall TP of TP + FN, and F1 is tested
        through the Jaccard index, TP of TP + FP + FN.
        """
        if metric == "recall":
            return self.tp, self.support
        if self.fp is None:
            return None
        if metric == "precision":
            return self.tp, self.tp + self.fp
        if metric == "f1":
            return self.tp, self.tp + self.fp + self.fn
        return None


def counts_from_scores(label: str, precision: float, recall: float, support: float) -> ClassCounts | None:
    """Recover a class's counts from its reported precision, recall and support.

    TP = recall x support and TP + FP = TP / precision, both rounded to the
    nearest integer; the server's two decimals of a percent are precise
    enough for that up to supports of about 5,000. Returns None when recall
    or support is missing, or when the support is not a whole count.
    """
    if not _is_number(recall) or not _is_number(support) or support < 0:
        return None
    if abs(support - round(support)) > 1e-6:
        return None
    support = int(round(support))
    tp = int(round(recall * support))
    if not 0 <= tp <= support:
        return None
    fp: int | None = None
    if _is_number(precision) and precision > 0:
        fp = max(int(round(tp / precision)) - tp, 0)
    # A precision of 0 (or a missing one) leaves the number of predictions unknown.
    return ClassCounts(label, tp, fp, support - tp, COUNTS_FROM_SCORES)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class ConfusionCounts:
    """Per-class counts read from a confusion matrix (rows true, columns predicted)."""

    counts: dict[str, ClassCounts]
    labels: list[str]
    total: int


def read_confusion(table: parsing.RawTable) -> tuple[ConfusionCounts | None, str | None]:
    """Read per-class counts from a raw confusion matrix table.

    Returns (counts, None), or (None, problem) when the table is not a
    square matrix of non-negative whole counts whose row labels match its
    column headers.
    """
    columns = [cell_label(header) for header in table.headers[1:]]
    labels = [cell_label(row[0]) if row else "" for row in table.rows]
    if len(labels) != len(columns):
        return None, f"it has {len(labels)} rows and {len(columns)} class columns"
    if len(set(labels)) != len(labels):
        return None, "a class appears in more than one row"
    if set(labels) != set(columns):
        return None, "its row labels are not the same classes as its column headers"

    matrix: list[list[int]] = []
    for row, label in zip(table.rows, labels):
        cells = row[1 : len(columns) + 1]
        # The usual matrix contains plain ints, and map and min check a row at C speed.
        if cells and set(map(type, cells)) == {int} and min(cells) >= 0:
            matrix.append(cells)
            continue
        values = []
        for cell in cells:
            value = parsing.to_number(cell)
            if value is None or not math.isfinite(value) or value < 0 or value != int(value):
                return None, f"the row of {label!r} has the value {cell!r}, which is not a count"
            values.append(int(value))
        matrix.append(values)

    position = {label: index for index, label in enumerate(columns)}
    order = [position[label] for label in labels]
    column_sums = [sum(column) for column in zip(*matrix)] if matrix else []
    counts = {}
    for index, label in enumerate(labels):
        row = matrix[index]
        column = order[index]
        tp = row[column]
        counts[label] = ClassCounts(label, tp, column_sums[column] - tp, sum(row) - tp, COUNTS_FROM_MATRIX)
    return ConfusionCounts(counts, labels, sum(sum(row) for row in matrix)), None


def confusion_of(result: MetricsResult) -> tuple[ConfusionCounts | None, str | None]:
    """Return `read_confusion` of the result's confusion matrix, read once per result.

    Returns (None, None) when the result has no confusion matrix.
    """
    matrix = result._find(parsing.CONFUSION)
    if matrix is None:
        return None, None
    return _memo(result, "confusion", lambda: read_confusion(matrix))


def cell_label(cell: Any) -> str:
    """Return a label cell as text, as the DataFrames show it (6.0 as "6")."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


# --- score tables ---------------------------------------------------------


@dataclass
class ScoreRow:
    """One row of a score table: its label, numeric values and raw cells by metric name."""

    label: str
    is_average: bool
    values: dict[str, float]
    cells: dict[str, Any]

    def value(self, metric: str) -> float:
        """Return the metric's value as a fraction (NaN when missing or not a number)."""
        return self.values.get(metric, math.nan)


def read_score_rows(table: parsing.RawTable, limit: int | None = None) -> list[ScoreRow]:
    """Read a score table's rows (the first `limit` ones) from its raw cells, scores as fractions of 1.

    The first column with a given metric name wins. As in
    `frames.table_frame`, a bare number above 1 in a score column is a
    percentage, unless the column also has percent strings.
    """
    positions: dict[str, int] = {}
    for index, header in enumerate(table.headers[1:], start=1):
        positions.setdefault(parsing.metric_name(header), index)
    percent_columns = {
        index
        for row in table.rows
        for index, cell in enumerate(row)
        if index and isinstance(cell, str) and cell.rstrip().endswith("%")
    }

    rows = []
    for row in table.rows[:limit]:
        label = cell_label(row[0]) if row else ""
        values: dict[str, float] = {}
        cells: dict[str, Any] = {}
        for metric, index in positions.items():
            cell = row[index] if index < len(row) else None
            value = _to_number(cell)
            if value is None:
                value = math.nan
            elif metric in parsing.FRACTION_METRICS and 1 < value <= 100 and index not in percent_columns:
                value /= 100
            values[metric] = value
            cells[metric] = cell
        rows.append(ScoreRow(label, parsing.is_average_label(label), values, cells))
    return rows


def _to_number(cell: Any) -> float | None:
    """Return `parsing.to_number(cell)`, faster for the usual cells: numbers and "90.91%"."""
    kind = type(cell)
    if kind is float or kind is int:
        return float(cell)
    if kind is str and cell.endswith("%"):
        try:
            return round(float(cell[:-1]) * 0.01, 12)
        except ValueError:
            pass
    return parsing.to_number(cell)


def _memo(result: MetricsResult, key: Any, compute: Any) -> Any:
    """Return `compute()`, computed once per result; the raw tables never change after parsing."""
    memo = result.__dict__.setdefault("_stats_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def score_rows_of(result: MetricsResult, table: parsing.RawTable) -> list[ScoreRow]:
    """Return `read_score_rows(table)`, read once per result."""
    return _memo(result, ("rows", table.title), lambda: read_score_rows(table))


def described_table(result: MetricsResult) -> str | None:
    """Return the title of the score table that the confusion matrix describes, or None.

    That is a score table whose per-class labels are the matrix's classes,
    or a subset or superset of them, so that the audit can report a class
    missing on either side. A title with "record" in it comes first,
    because the vendor's matrix counts records while its chunk-wise table
    counts chunks. Among the rest, the table with the most classes in
    common wins.
    """
    return _memo(result, "described", lambda: _find_described_table(result))


def _find_described_table(result: MetricsResult) -> str | None:
    matrix = result._find(parsing.CONFUSION)
    if matrix is None:
        return None
    classes = {cell_label(label) for label in parsing.row_labels(matrix)}
    candidates = []
    for position, table in enumerate(result._tables):
        if table.kind != parsing.SCORES:
            continue
        labels = {cell_label(label) for label in parsing.row_labels(table) if not parsing.is_average_label(label)}
        if labels & classes and (labels <= classes or classes <= labels):
            candidates.append(("record" not in table.title.lower(), -len(labels & classes), position, table.title))
    return min(candidates)[3] if candidates else None


def matrix_size(result: MetricsResult) -> int:
    """Return the number of classes of the result's confusion matrix, 0 without one."""
    matrix = result._find(parsing.CONFUSION)
    return 0 if matrix is None else len(matrix.rows)


def table_counts(
    result: MetricsResult, title: str, *, max_matrix_classes: int | None = None, limit: int | None = None
) -> dict[str, ClassCounts]:
    """Return the counts of each per-class row of a score table (the first `limit` rows), by label.

    Rows of the table that the confusion matrix describes take the matrix's
    counts, unless the matrix has more than `max_matrix_classes` classes.
    Other rows recover them from their reported scores, and rows where that
    is impossible are left out.
    """
    table = next((t for t in result._tables if t.title == title), None)
    if table is None:
        return {}

    matrix_counts: dict[str, ClassCounts] = {}
    if title == described_table(result) and (max_matrix_classes is None or matrix_size(result) <= max_matrix_classes):
        confusion, _ = confusion_of(result)
        if confusion is not None:
            matrix_counts = confusion.counts

    rows = score_rows_of(result, table) if limit is None else read_score_rows(table, limit)
    counts = {}
    for row in rows:
        if row.is_average:
            continue
        found = matrix_counts.get(row.label)
        if found is None:
            found = counts_from_scores(row.label, row.value("precision"), row.value("recall"), row.value("support"))
        if found is not None:
            counts[row.label] = found
    return counts


def interval_frame(result: MetricsResult, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Return the per-class counts and intervals of every score table as a long DataFrame.

    Columns: table, label, tp, fp, fn, counts_source, then precision_low,
    precision_high, recall_low, recall_high, f1_low and f1_high as
    fractions. Averages rows are not included, because their intervals
    would need the classes' joint distribution.
    """
    import pandas as pd

    z_value(confidence)
    records = []
    for table in result._tables:
        if table.kind != parsing.SCORES:
            continue
        for label, counts in table_counts(result, table.title).items():
            record: dict[str, Any] = {
                "table": table.title,
                "label": label,
                "tp": counts.tp,
                "fp": counts.fp,
                "fn": counts.fn,
                "counts_source": counts.source,
            }
            for metric, (low, high) in counts.intervals(confidence).items():
                record[f"{metric}_low"] = low
                record[f"{metric}_high"] = high
            records.append(record)

    columns = ["table", "label", "tp", "fp", "fn", "counts_source"]
    columns += [f"{metric}_{end}" for metric in INTERVAL_METRICS for end in ("low", "high")]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in ("tp", "fp", "fn"):
        frame[name] = frame[name].astype("Int64")
    for name in columns[6:]:
        frame[name] = frame[name].astype(float)
    return frame


# --- display --------------------------------------------------------------


def interval_text(low: float, high: float) -> str:
    """Format an interval of fractions as a percent range, "60.7–98.5%"."""
    if not (_is_number(low) and _is_number(high)):
        return ""
    return f"{low * 100:.1f}\u2013{high * 100:.1f}%"


def display_interval_columns(
    result: MetricsResult, table: parsing.RawTable, shown_rows: int, *, max_matrix_classes: int
) -> tuple[list[str], list[list[str]]] | None:
    """Return the 95% interval columns for the first `shown_rows` rows of a score table.

    Returns (headers, one list of cells per row), or None when the table has
    no per-class row with counts. Averages rows get empty cells.
    """
    counts = table_counts(result, table.title, max_matrix_classes=max_matrix_classes, limit=shown_rows)
    if not counts:
        return None

    headers = [f"{name} 95% CI" for name in ("F1", "precision", "recall")]
    cells = []
    for row in table.rows[:shown_rows]:
        label = cell_label(row[0]) if row else ""
        found = None if parsing.is_average_label(label) else counts.get(label)
        if found is None:
            cells.append(["", "", ""])
            continue
        intervals = found.intervals()
        cells.append([interval_text(*intervals[metric]) for metric in ("f1", "precision", "recall")])
    return headers, cells


# --- tests of differences -------------------------------------------------


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Return the two-sided p-value of Fisher's exact test on [[a, b], [c, d]].

    The p-value sums the hypergeometric probabilities of all tables with
    the same margins that are no more likely than the observed one. When
    the smaller margin exceeds MAX_EXACT_TEST_OUTCOMES, the pooled
    two-proportion z-test is used instead, to bound the run time.
    """
    for value in (a, b, c, d):
        if value < 0:
            raise InvalidRequestError(f"invalid 2x2 table [[{a}, {b}], [{c}, {d}]]: counts must be 0 or more")
    row1, row2 = a + b, c + d
    column1 = a + c
    total = row1 + row2
    if row1 == 0 or row2 == 0 or column1 == 0 or column1 == total:
        return 1.0
    low, high = max(0, column1 - row2), min(column1, row1)
    if high - low > MAX_EXACT_TEST_OUTCOMES:
        return two_proportion_p(a, row1, c, row2)

    def log_probability(x: int) -> float:
        return (
            _log_choose(column1, x) + _log_choose(total - column1, row1 - x) - _log_choose(total, row1)
        )

    observed = log_probability(a)
    # The relative tolerance keeps tables as likely as the observed one, up to rounding.
    threshold = observed + 1e-7
    p_value = 0.0
    for x in range(low, high + 1):
        log_p = log_probability(x)
        if log_p <= threshold:
            p_value += math.exp(log_p)
    return min(p_value, 1.0)


def two_proportion_p(successes1: int, trials1: int, successes2: int, trials2: int) -> float:
    """Return the two-sided p-value of the pooled two-proportion z-test."""
    if trials1 <= 0 or trials2 <= 0:
        return math.nan
    pooled = (successes1 + successes2) / (trials1 + trials2)
    variance = pooled * (1 - pooled) * (1 / trials1 + 1 / trials2)
    if variance <= 0:
        return 1.0
    z = (successes1 / trials1 - successes2 / trials2) / math.sqrt(variance)
    return 2 * (1 - NormalDist().cdf(abs(z)))


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def difference_p_value(first: tuple[int, int] | None, second: tuple[int, int] | None) -> float:
    """Return Fisher's p-value for two (successes, trials) proportions, NaN if either is missing."""
    if first is None or second is None:
        return math.nan
    (s1, n1), (s2, n2) = first, second
    if n1 <= 0 or n2 <= 0:
        return math.nan
    return fisher_exact_p(s1, n1 - s1, s2, n2 - s2)


GAIN = "gain"
LOSS = "loss"
NOISE = "noise"
UNTESTED = "untested"


def verdict(delta: float, p_value: float, alpha: float = DEFAULT_ALPHA) -> str:
    """Classify a difference: GAIN or LOSS when p < alpha, NOISE otherwise, UNTESTED without a test."""
    if not _is_number(p_value) or not _is_number(delta):
        return UNTESTED
    if p_value < alpha and delta != 0:
        return GAIN if delta > 0 else LOSS
    return NOISE
