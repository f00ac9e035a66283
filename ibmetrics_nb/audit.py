"""Consistency audit: do a result's scores follow from its own counts?

The audit recomputes what the response states twice and reports every
disagreement larger than the rounding of the reported value:

- per-class precision, recall, F1 and support of the score table that the
  confusion matrix describes, from the matrix (see `stats.described_table`);
- per-class F1 of every other score table, as the harmonic mean of the
  reported precision and recall;
- averages rows from the per-class rows. A macro average is their
  unweighted mean and a weighted average their support-weighted mean. A
  micro average (and an accuracy row) comes from the summed counts, and
  an averages row's support is the sum of the supports.

The tolerance of each comparison comes from the reported text: "90.91%"
is exact to half of 0.01 percentage points, 0.8333 to half of 0.0001.
Averages add the rounding of the per-class values they are computed from.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import parsing
from .stats import (
    ClassCounts,
    ScoreRow,
    confusion_of,
    described_table,
    matrix_size,
    score_rows_of,
    table_counts,
)

if TYPE_CHECKING:
    from .result import MetricsResult

SCORE_METRICS = ("precision", "recall", "f1")
# Slack for float arithmetic on top of the rounding of the reported values.
FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class Finding:
    """One reported value that disagrees with what the response's counts imply.

    `reported` and `expected` are fractions of 1 for scores and counts for
    support. Either is None when the finding is about a missing class or
    an unreadable table.
    """

    table: str
    label: str
    metric: str
    reported: float | None
    expected: float | None
    message: str

    def __str__(self) -> str:
        return self.message


def audit_result(result: MetricsResult, *, max_matrix_classes: int | None = None) -> list[Finding]:
    """Return every inconsistency found in the result's score tables.

    With `max_matrix_classes`, a larger confusion matrix is not read, and
    only the checks that need no matrix run (the notebook display uses this
    to stay fast).
    """
    findings: list[Finding] = []
    matrix_title = described_table(result)
    use_matrix = matrix_title is not None and (max_matrix_classes is None or matrix_size(result) <= max_matrix_classes)

    confusion = None
    if use_matrix:
        matrix_table = result._find(parsing.CONFUSION)
        confusion, problem = confusion_of(result)
        if problem is not None:
            findings.append(
                Finding(matrix_table.title, "", "counts", None, None, f"{matrix_table.title}: cannot check the scores against it: {problem}")
            )

    for table in result._tables:
        if table.kind != parsing.SCORES:
            continue
        rows = score_rows_of(result, table)
        per_class = [row for row in rows if not row.is_average]
        if confusion is not None and table.title == matrix_title:
            findings.extend(_check_against_matrix(table.title, per_class, confusion.counts))
        else:
            findings.extend(_check_f1_harmonic(table.title, per_class))
        counts = table_counts(result, table.title, max_matrix_classes=max_matrix_classes)
        findings.extend(_check_averages(table.title, rows, per_class, counts))
    return findings


def summary_line(findings: list[Finding]) -> str:
    """Return the one-line warning that the notebook display shows for findings."""
    tables = sorted({finding.table for finding in findings})
    first = findings[0].message
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return (
        f"consistency check: {len(findings)} value(s) in {', '.join(tables)} disagree with the "
        f"response's own counts beyond rounding, for example: {first}{more}; see result.audit()"
    )


# --- tolerances -----------------------------------------------------------


def tolerance(cell: Any, metric: str) -> float:
    """Return half of the last unit that the reported cell shows, as a fraction for scores.

    "90.91%" gives 0.00005, "0.8333" 0.00005, 6.0 0.05 and 6 0.5. A score
    written as a bare percentage ("87.50") is scaled as the value is.
    """
    text = cell.strip() if isinstance(cell, str) else repr(cell)
    half_unit, percent = _half_unit(text)
    if percent:
        return half_unit / 100
    if metric in parsing.FRACTION_METRICS:
        value = parsing.to_number(cell)
        if value is not None and 1 < value <= 100:
            return half_unit / 100
    return half_unit


@functools.lru_cache(maxsize=4096)
def _half_unit(text: str) -> tuple[float, bool]:
    """Return (half of the last shown unit, whether the text is a percentage) for a number's text."""
    percent = text.endswith("%")
    digits = text.rstrip("%").strip().lower()
    mantissa, _, exponent_text = digits.partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    try:
        exponent = int(exponent_text) if exponent_text else 0
    except ValueError:
        exponent = 0
    return 0.5 * 10.0 ** (exponent - decimals), percent


def _differs(reported: float, expected: float, allowed: float) -> bool:
    return abs(reported - expected) > allowed + FLOAT_SLACK


def _ratio(numerator: float, denominator: float) -> float:
    # sklearn's default: a score with a zero denominator is 0.
    return numerator / denominator if denominator else 0.0


def _harmonic(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _show(metric: str, value: float) -> str:
    return f"{value:g}" if metric == "support" else _percent(value)


# --- per-class checks -----------------------------------------------------


def _check_against_matrix(title: str, rows: list[ScoreRow], counts: dict[str, ClassCounts]) -> list[Finding]:
    findings = []
    labels = {row.label for row in rows}
    for row in rows:
        found = counts.get(row.label)
        if found is None:
            findings.append(
                Finding(title, row.label, "label", None, None, f"{title}: class {row.label!r} is not in the confusion matrix")
            )
            continue
        predicted = found.tp + (found.fp or 0)
        tp, fp, fn = found.tp, found.fp or 0, found.fn
        expected = {
            "precision": (_ratio(tp, predicted), f"TP / (TP + FP) = {tp} / {predicted}"),
            "recall": (_ratio(tp, found.support), f"TP / (TP + FN) = {tp} / {found.support}"),
            "f1": (_ratio(2 * tp, 2 * tp + fp + fn), f"2 TP / (2 TP + FP + FN) = {2 * tp} / {2 * tp + fp + fn}"),
            "support": (float(found.support), f"the row of {row.label!r} sums to {found.support}"),
        }
        for metric, (value, reason) in expected.items():
            reported = row.value(metric)
            if math.isnan(reported):
                continue
            if _differs(reported, value, tolerance(row.cells[metric], metric)):
                findings.append(
                    Finding(
                        title,
                        row.label,
                        metric,
                        reported,
                        value,
                        f"{title}, {row.label}: {metric} is {_show(metric, reported)} but the confusion matrix "
                        f"gives {_show(metric, value)} ({reason})",
                    )
                )

    for label, found in counts.items():
        if label not in labels and (found.support or found.predicted):
            findings.append(
                Finding(
                    title,
                    label,
                    "label",
                    None,
                    None,
                    f"{title}: class {label!r} of the confusion matrix ({found.support} records) has no row",
                )
            )
    return findings


def _check_f1_harmonic(title: str, rows: list[ScoreRow]) -> list[Finding]:
    findings = []
    for row in rows:
        precision, recall, f1 = (row.value(metric) for metric in SCORE_METRICS)
        if any(math.isnan(value) for value in (precision, recall, f1)):
            continue
        p_tol = tolerance(row.cells["precision"], "precision")
        r_tol = tolerance(row.cells["recall"], "recall")
        # F1 rises with precision and recall, so the rounding bounds map to bounds of F1.
        low = _harmonic(max(precision - p_tol, 0.0), max(recall - r_tol, 0.0))
        high = _harmonic(min(precision + p_tol, 1.0), min(recall + r_tol, 1.0))
        allowed = tolerance(row.cells["f1"], "f1") + FLOAT_SLACK
        if f1 < low - allowed or f1 > high + allowed:
            expected = _harmonic(precision, recall)
            findings.append(
                Finding(
                    title,
                    row.label,
                    "f1",
                    f1,
                    expected,
                    f"{title}, {row.label}: F1 is {_percent(f1)} but the harmonic mean of its precision "
                    f"{_percent(precision)} and recall {_percent(recall)} is {_percent(expected)}",
                )
            )
    return findings


# --- averages -------------------------------------------------------------


def _check_averages(
    title: str, rows: list[ScoreRow], per_class: list[ScoreRow], counts: dict[str, ClassCounts]
) -> list[Finding]:
    findings = []
    if not per_class:
        return findings
    for row in rows:
        if not row.is_average:
            continue
        kind = _average_kind(row.label)
        if kind is None:
            continue
        for metric in SCORE_METRICS:
            reported = row.value(metric)
            if math.isnan(reported):
                continue
            expected = _expected_average(kind, metric, per_class, counts)
            if expected is None:
                continue
            value, propagated = expected
            if _differs(reported, value, tolerance(row.cells[metric], metric) + propagated):
                findings.append(
                    Finding(
                        title,
                        row.label,
                        metric,
                        reported,
                        value,
                        f"{title}, {row.label}: {metric} is {_percent(reported)} but the per-class rows give "
                        f"{_percent(value)} ({_AVERAGE_RULES[kind]})",
                    )
                )
        findings.extend(_check_average_support(title, row, per_class))
    return findings


_AVERAGE_RULES = {
    "macro": "the unweighted mean of the classes",
    "weighted": "the mean of the classes weighted by support",
    "micro": "from the summed counts of the classes",
    "accuracy": "correct records over all records",
}


def _average_kind(label: str) -> str | None:
    text = label.strip().lower()
    if "macro" in text:
        return "macro"
    if "weighted" in text:
        return "weighted"
    if "micro" in text:
        return "micro"
    if text == "accuracy":
        return "accuracy"
    return None


def _expected_average(
    kind: str, metric: str, per_class: list[ScoreRow], counts: dict[str, ClassCounts]
) -> tuple[float, float] | None:
    """Return (expected value, rounding it inherits from the per-class cells), or None if unknown."""
    if kind in ("macro", "weighted"):
        values = [row.value(metric) for row in per_class]
        if any(math.isnan(value) for value in values):
            return None
        tolerances = [tolerance(row.cells[metric], metric) for row in per_class]
        if kind == "macro":
            return sum(values) / len(values), sum(tolerances) / len(tolerances)
        supports = [row.value("support") for row in per_class]
        if any(math.isnan(support) for support in supports) or sum(supports) <= 0:
            return None
        total = sum(supports)
        value = sum(v * s for v, s in zip(values, supports)) / total
        return value, sum(t * s for t, s in zip(tolerances, supports)) / total

    if len(counts) != len(per_class) or any(item.fp is None for item in counts.values()):
        return None
    tp = sum(item.tp for item in counts.values())
    predicted = sum(item.tp + item.fp for item in counts.values())
    support = sum(item.support for item in counts.values())
    if kind == "accuracy":
        return _ratio(tp, support), 0.0
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    value = {"precision": precision, "recall": recall, "f1": _harmonic(precision, recall)}[metric]
    return value, 0.0


def _check_average_support(title: str, row: ScoreRow, per_class: list[ScoreRow]) -> list[Finding]:
    reported = row.value("support")
    supports = [item.value("support") for item in per_class]
    if math.isnan(reported) or any(math.isnan(support) for support in supports):
        return []
    expected = sum(supports)
    if abs(reported - expected) <= 0.5:
        return []
    return [
        Finding(
            title,
            row.label,
            "support",
            reported,
            expected,
            f"{title}, {row.label}: support is {reported:g} but the classes' supports sum to {expected:g}",
        )
    ]


def display_findings(result: MetricsResult, max_classes: int) -> list[Finding] | None:
    """Return the findings for the notebook display, or None when the result is too large to check there.

    The display runs the full audit (kept on the result) only when the
    confusion matrix and every score table have at most `max_classes`
    classes, so that showing a large result stays fast.
    """
    sizes = [matrix_size(result)]
    for table in result._tables:
        if table.kind == parsing.SCORES:
            sizes.append(sum(1 for label in parsing.row_labels(table) if not parsing.is_average_label(label)))
    if max(sizes) > max_classes:
        return None
    return result.audit()
