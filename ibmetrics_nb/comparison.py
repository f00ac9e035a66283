"""Compare jobs: per-label scores against a baseline job, with noise marked.

`compare(results)` returns a `Comparison`. The first result is the
baseline unless `baseline` names another. For every score table, label
and metric, the comparison contains each job's value and its difference
to the baseline. A difference in precision, recall or F1 of a per-class row
counts as a gain or a loss only when Fisher's exact test on the two jobs'
counts gives p < `alpha` (see `ibmetrics_nb.stats`); other differences
are noise. Averages rows, support and ECE have no test and are shown
without a verdict. The comparison also lists the hyperparameters, dataset
counts and versions that differ between the jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import stats
from .errors import InvalidRequestError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from .result import MetricsResult

TESTED_METRICS = ("f1", "precision", "recall")
SHOWN_METRICS = ("f1", "precision", "recall", "support")
METRIC_TITLES = {"f1": "F1", "precision": "precision", "recall": "recall", "support": "support"}
BASELINE = "baseline"
ID_COLUMNS = ("job_id", "job_type", "table", "label", "is_average")
COUNT_COLUMNS = ("tp", "fp", "fn", "counts_source")
MAX_CHANGES_LISTED = 20

COMPARE_STYLE = """<style>
.ibm-result td.ibm-gain{color:#1a7f37;font-weight:600}
.ibm-result td.ibm-loss{color:#c62828;font-weight:600}
.ibm-result td.ibm-noise{color:var(--jp-ui-font-color3,#999)}
.ibm-result th.ibm-group{text-align:center}
</style>"""


def compare(
    results: Iterable[MetricsResult],
    *,
    baseline: int | str = 0,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    alpha: float = stats.DEFAULT_ALPHA,
) -> Comparison:
    """Compare jobs' scores, hyperparameters and datasets against a baseline job.

    `results` is a list of `MetricsResult` (or a `ManyResults`). `baseline`
    is the position or job ID of the baseline job (default: the first).
    `confidence` sets the intervals and `alpha` the significance level of
    the test that separates real changes from noise.
    """
    return Comparison(list(results), baseline=baseline, confidence=confidence, alpha=alpha)


class Comparison:
    """Scores of several jobs side by side, with differences to a baseline job.

    `jobs` are the jobs' display names (the job ID, made unique), baseline
    first. `to_dataframe()` has one row per table, label, metric and job;
    `changes()` keeps the differences beyond noise. `hyperparams` and
    `datasets` list only what differs between the jobs.
    """

    def __init__(
        self,
        results: list[MetricsResult],
        *,
        baseline: int | str = 0,
        confidence: float = stats.DEFAULT_CONFIDENCE,
        alpha: float = stats.DEFAULT_ALPHA,
    ) -> None:
        if not results:
            raise InvalidRequestError("nothing to compare: pass at least one result")
        stats.z_value(confidence)
        if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise InvalidRequestError(f"invalid alpha {alpha!r}: expected a significance level between 0 and 1, such as 0.05")

        names = _job_names(results)
        first = _baseline_position(baseline, results, names)
        order = [first] + [index for index in range(len(results)) if index != first]
        self.results: list[MetricsResult] = [results[index] for index in order]
        self.jobs: list[str] = [names[index] for index in order]
        self.confidence = confidence
        self.alpha = alpha
        self._frame: pd.DataFrame | None = None

    @property
    def baseline(self) -> str:
        """The baseline job's name."""
        return self.jobs[0]

    # --- data ---------------------------------------------------------------

    def to_dataframe(self) -> pd.DataFrame:
        """Return one row per table, label, metric and job.

        Columns: table, label, is_average, metric, job, job_type and value,
        then low and high, the interval of precision, recall and F1 of
        per-class rows. baseline_value and delta (value minus the
        baseline's) follow, then p_value, from Fisher's exact test against
        the baseline, and verdict: "baseline", "gain", "loss", "noise" or
        "untested". Scores are fractions of 1.
        """
        if self._frame is None:
            self._frame = _comparison_frame(self.results, self.jobs, self.confidence, self.alpha)
        return self._frame.copy()

    def changes(self) -> pd.DataFrame:
        """Return the rows of `to_dataframe()` whose difference to the baseline is beyond noise."""
        frame = self.to_dataframe()
        return frame[frame["verdict"].isin([stats.GAIN, stats.LOSS])].reset_index(drop=True)

    @property
    def hyperparams(self) -> pd.DataFrame:
        """The hyperparameters whose values differ between jobs: one row per name, one column per job."""
        return _differing(
            {name: result.hyperparams for name, result in zip(self.jobs, self.results)}, index_name="hyperparameter"
        )

    @property
    def datasets(self) -> pd.DataFrame:
        """The dataset names, record counts and versions that differ: one row per item, one column per job."""
        return _differing({name: _dataset_items(result) for name, result in zip(self.jobs, self.results)}, index_name="item")

    # --- plots --------------------------------------------------------------

    def f1_plot(self, ax: Axes | None = None, table: str | None = None) -> Axes:
        """Draw each label's F1 as grouped bars, one bar per job, with 95% intervals; return the Axes.

        `table` is a score table's title (default: the baseline's first).
        Averages rows are left out.
        """
        from .plots import plot_grouped_scores

        frame = self.to_dataframe()
        titles = list(dict.fromkeys(frame["table"]))
        if table is None:
            if not titles:
                raise InvalidRequestError("the jobs have no score tables to plot")
            table = titles[0]
        elif table not in titles:
            raise InvalidRequestError(f"invalid table {table!r}: expected one of {', '.join(map(repr, titles))}")

        rows = frame[(frame["table"] == table) & (frame["metric"] == "f1") & ~frame["is_average"]]
        labels = list(dict.fromkeys(rows["label"]))
        jobs = [job for job in self.jobs if job in set(rows["job"])]

        def pivot(column: str) -> pd.DataFrame:
            return rows.pivot(index="label", columns="job", values=column).reindex(index=labels, columns=jobs)

        return plot_grouped_scores(pivot("value"), pivot("low"), pivot("high"), ax=ax, title=f"F1 per label\n{table}")

    # --- display ------------------------------------------------------------

    def summary_lines(self) -> list[str]:
        """Return the plain-text summary: jobs, headline F1 and the changes beyond noise."""
        lines = [f"Comparison of {len(self.jobs)} jobs, baseline {self.baseline}"]
        for name, result in zip(self.jobs, self.results):
            lines.append(f"  {name}: {_headline_text(result)}")
        frame = self.to_dataframe()
        changes = self.changes()
        tested = frame[frame["verdict"].isin([stats.GAIN, stats.LOSS, stats.NOISE])]
        lines.append(
            f"{len(changes)} differences beyond noise (Fisher's exact test, p < {self.alpha:g}), "
            f"{len(tested) - len(changes)} within noise"
        )
        for row in changes.head(MAX_CHANGES_LISTED).itertuples(index=False):
            lines.append(f"  {_change_text(row)}")
        if len(changes) > MAX_CHANGES_LISTED:
            lines.append(f"  ... {len(changes) - MAX_CHANGES_LISTED} more in .changes()")
        return lines

    def __repr__(self) -> str:
        return f"<Comparison jobs={self.jobs!r} baseline={self.baseline!r}>"

    def _repr_html_(self) -> str:
        return comparison_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": "\n".join(self.summary_lines()), "text/html": self._repr_html_()}


# --- building the frame -----------------------------------------------------


def _job_names(results: list[MetricsResult]) -> list[str]:
    """Name each job by its ID, adding the job type or a number where IDs repeat."""
    names = [result.job_id or f"job {index + 1}" for index, result in enumerate(results)]
    if len(set(names)) < len(names):
        names = [
            f"{name} ({result.job_type})" if result.job_type and names.count(name) > 1 else name
            for name, result in zip(names, results)
        ]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if names.count(name) == 1 else f"{name} #{seen[name]}")
    return unique


def _baseline_position(baseline: int | str, results: list[MetricsResult], names: list[str]) -> int:
    if isinstance(baseline, bool) or not isinstance(baseline, (int, str)):
        raise InvalidRequestError(f"invalid baseline {baseline!r}: expected a position or a job ID")
    if isinstance(baseline, int):
        if not -len(results) <= baseline < len(results):
            raise InvalidRequestError(f"invalid baseline {baseline}: there are {len(results)} jobs")
        return baseline % len(results)
    matches = [index for index, (name, result) in enumerate(zip(names, results)) if baseline in (name, result.job_id)]
    if not matches:
        raise InvalidRequestError(f"invalid baseline {baseline!r}: expected one of {', '.join(names)}")
    return matches[0]


def _comparison_frame(results: list[MetricsResult], jobs: list[str], confidence: float, alpha: float) -> pd.DataFrame:
    import pandas as pd

    parts = [_job_rows(result, name, confidence) for result, name in zip(results, jobs)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    columns = [
        "table", "label", "is_average", "metric", "job", "job_type", "value", "low", "high",
        "baseline_value", "delta", "p_value", "verdict",
    ]
    if frame.empty:
        return pd.DataFrame({name: pd.array([], dtype=object) for name in columns})

    key = ["table", "label", "metric"]
    base = frame[frame["job"] == jobs[0]][key + ["value", "successes", "trials"]]
    base = base.rename(columns={"value": "baseline_value", "successes": "base_successes", "trials": "base_trials"})
    frame = frame.merge(base, on=key, how="left")
    frame["delta"] = frame["value"] - frame["baseline_value"]

    p_values = []
    verdicts = []
    for row in frame.itertuples(index=False):
        if row.job == jobs[0]:
            p_values.append(math.nan)
            verdicts.append(BASELINE)
            continue
        p_value = math.nan
        if row.metric in TESTED_METRICS and not row.is_average:
            p_value = stats.difference_p_value(
                _proportion(row.successes, row.trials), _proportion(row.base_successes, row.base_trials)
            )
        p_values.append(p_value)
        verdicts.append(stats.verdict(row.delta, p_value, alpha))
    frame["p_value"] = pd.array(p_values, dtype=float)
    frame["verdict"] = pd.array(verdicts, dtype=object)
    return frame[columns]


def _proportion(successes: Any, trials: Any) -> tuple[int, int] | None:
    if successes is None or trials is None or successes != successes or trials != trials:
        return None
    return int(successes), int(trials)


def _job_rows(result: MetricsResult, name: str, confidence: float) -> pd.DataFrame:
    """Return one job's scores in long form: one row per table, label and metric, with counts."""
    import pandas as pd

    wide = result.to_dataframe(intervals=True, confidence=confidence)
    skip = set(ID_COLUMNS) | set(COUNT_COLUMNS)
    metrics = [c for c in wide.columns if c not in skip and not c.endswith(("_low", "_high"))]
    ordered = [m for m in ("f1", "precision", "recall", "support", "ece") if m in metrics]
    ordered += [m for m in metrics if m not in ordered]

    tp = wide["tp"].astype("Float64").to_numpy(dtype=float, na_value=math.nan)
    fp = wide["fp"].astype("Float64").to_numpy(dtype=float, na_value=math.nan)
    fn = wide["fn"].astype("Float64").to_numpy(dtype=float, na_value=math.nan)
    trials = {"recall": tp + fn, "precision": tp + fp, "f1": tp + fp + fn}

    parts = []
    for metric in ordered:
        values = pd.to_numeric(wide[metric], errors="coerce").astype(float)
        part = pd.DataFrame(
            {
                "table": wide["table"].to_numpy(dtype=object),
                "label": wide["label"].to_numpy(dtype=object),
                "is_average": wide["is_average"].to_numpy(dtype=bool),
                "metric": metric,
                "job": name,
                "job_type": result.job_type,
                "value": values.to_numpy(),
                "low": wide[f"{metric}_low"].to_numpy(dtype=float) if f"{metric}_low" in wide else math.nan,
                "high": wide[f"{metric}_high"].to_numpy(dtype=float) if f"{metric}_high" in wide else math.nan,
                "successes": tp if metric in trials else math.nan,
                "trials": trials.get(metric, math.nan),
            }
        )
        parts.append(part[part["value"].notna()])
    if not parts:
        return pd.DataFrame(columns=["table", "label", "is_average", "metric", "job", "job_type", "value", "low", "high", "successes", "trials"])
    return pd.concat(parts, ignore_index=True)


def _differing(items_by_job: dict[str, dict[str, Any]], index_name: str) -> pd.DataFrame:
    """Return the items whose value is not the same in every job; a missing item shows as None."""
    import pandas as pd

    jobs = list(items_by_job)
    names = list(dict.fromkeys(name for items in items_by_job.values() for name in items))
    missing = object()
    rows = {}
    for name in names:
        values = [items_by_job[job].get(name, missing) for job in jobs]
        if any(value != values[0] or (value is missing) != (values[0] is missing) for value in values[1:]):
            rows[name] = [None if value is missing else value for value in values]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=jobs, dtype=object)
    frame.index.name = index_name
    frame.columns.name = "job"
    return frame


def _dataset_items(result: MetricsResult) -> dict[str, Any]:
    items: dict[str, Any] = {
        "job type": result.job_type,
        "platform version": result.platform_version,
        "ibformers version": result.ibformers_version,
        "train datasets": ", ".join(result.train_datasets),
        "train records": result.train_total,
        "test datasets": ", ".join(result.test_datasets),
        "test records": result.test_total,
    }
    items.update({f"train records: {name}": count for name, count in result.train_count.items()})
    items.update({f"test records: {name}": count for name, count in result.test_count.items()})
    return items


def _headline_text(result: MetricsResult) -> str:
    from .display import format_fraction

    if not result.is_finished:
        return f"state {result.state or 'unknown'}: not finished, no scores"
    if result.headline is None:
        return "no F1 average"
    title, label, value = result.headline
    return f"F1 {format_fraction(value)} ({label}, {title})"


def _change_text(row: Any) -> str:
    return (
        f"{row.job} vs baseline, {row.table}, {row.label}, {row.metric}: "
        f"{_score(row.baseline_value)} -> {_score(row.value)} ({_points(row.delta)} points, p = {row.p_value:.2g})"
    )


def _score(value: float) -> str:
    return "n/a" if value is None or value != value else f"{value * 100:.2f}%"


def _points(delta: float) -> str:
    return f"{delta * 100:+.2f}".replace("-", "\u2212")


# --- HTML -----------------------------------------------------------------------


def comparison_html(comparison: Comparison) -> str:
    """Return the comparison as static HTML: summary, one section per score table, then what differs."""
    from .display import STYLE, esc, note_html

    frame = comparison.to_dataframe()
    parts = [STYLE, COMPARE_STYLE, '<div class="ibm-result">']
    parts.append(f"<p><b>{esc(f'Comparison of {len(comparison.jobs)} jobs')}</b>, baseline {esc(comparison.baseline)}</p>")
    items = "".join(
        f"<dt>{esc(name)}</dt><dd>{esc(_headline_text(result))}</dd>" for name, result in zip(comparison.jobs, comparison.results)
    )
    parts.append(f'<dl class="ibm-summary">{items}</dl>')
    parts.append(_verdict_summary_html(frame, comparison.alpha))

    if frame.empty:
        parts.append(note_html("the jobs have no score tables to compare"))
    for title in dict.fromkeys(frame["table"]):
        parts.append(_table_html(frame[frame["table"] == title], title, comparison.jobs))

    parts.append(_differing_html("Hyperparameters that differ", comparison.hyperparams, "The jobs have the same hyperparameters."))
    parts.append(_differing_html("Datasets and versions that differ", comparison.datasets, "The jobs have the same datasets, record counts and versions."))
    parts.append("</div>")
    return "".join(parts)


def _verdict_summary_html(frame: pd.DataFrame, alpha: float) -> str:
    from .display import esc

    if frame.empty:
        return ""
    gains = int((frame["verdict"] == stats.GAIN).sum())
    losses = int((frame["verdict"] == stats.LOSS).sum())
    noise = int((frame["verdict"] == stats.NOISE).sum())
    text = (
        f"{gains} gains and {losses} losses beyond noise, {noise} differences within noise (grey). "
        f"A per-class difference in F1, precision or recall counts when Fisher's exact test on the counts gives "
        f"p < {alpha:g}; differences are in percentage points; averages, support and ECE are not tested."
    )
    return f'<p class="ibm-note">{esc(text)}</p>'


def _table_html(rows: pd.DataFrame, title: str, jobs: list[str]) -> str:
    from .display import MAX_COLUMNS, MAX_ROWS, esc, note_html

    shown_jobs = jobs[: max(MAX_COLUMNS // len(SHOWN_METRICS), 2)]
    cells = {(row.label, row.metric, row.job): row for row in rows.itertuples(index=False)}
    labels = list(dict.fromkeys(rows["label"]))
    averages = dict(zip(rows["label"], rows["is_average"]))
    metrics = [metric for metric in SHOWN_METRICS if metric in set(rows["metric"])]

    group = "".join(
        f'<th class="ibm-group" colspan="{len(shown_jobs)}">{esc(METRIC_TITLES[metric])}</th>' for metric in metrics
    )
    names = "".join(f"<th>{esc(job)}</th>" for _ in metrics for job in shown_jobs)
    head = f'<tr><th class="ibm-label" rowspan="2">label</th>{group}</tr><tr>{names}</tr>'

    body = []
    for label in labels[:MAX_ROWS]:
        row_cells = "".join(_cell_html(cells.get((label, metric, job)), metric) for metric in metrics for job in shown_jobs)
        css = ' class="ibm-avg"' if averages.get(label) else ""
        body.append(f'<tr{css}><td class="ibm-label">{esc(label)}</td>{row_cells}</tr>')
    grid = f'<table class="ibm-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'

    notes = []
    if len(labels) > MAX_ROWS:
        notes.append(f"{len(labels) - MAX_ROWS:,} of {len(labels):,} labels not shown")
    if len(shown_jobs) < len(jobs):
        notes.append(f"{len(jobs) - len(shown_jobs)} of {len(jobs)} jobs not shown")
    note = note_html("; ".join(notes) + "; all are in .to_dataframe()") if notes else ""
    return f"<details open><summary>{esc(title)} <small>({len(labels)} labels)</small></summary>{grid}{note}</details>"


def _cell_html(row: Any, metric: str) -> str:
    from .display import esc

    if row is None:
        return '<td class="ibm-noise">\u2014</td>'
    value = f"{row.value:g}" if metric == "support" else f"{row.value * 100:.2f}%"
    if row.verdict == BASELINE or row.delta != row.delta:
        return f"<td>{esc(value)}</td>"
    delta = f"{row.delta:+g}".replace("-", "\u2212") if metric == "support" else _points(row.delta)
    css, mark = {
        stats.GAIN: (' class="ibm-gain"', "\u25b2 "),
        stats.LOSS: (' class="ibm-loss"', "\u25bc "),
        stats.NOISE: (' class="ibm-noise"', ""),
    }.get(row.verdict, ("", ""))
    return f"<td{css}>{esc(value)} <small>{esc(mark + delta)}</small></td>"


def _differing_html(title: str, frame: pd.DataFrame, same: str) -> str:
    from .display import MAX_HYPERPARAMS, esc, format_cell, note_html

    if frame.empty:
        return note_html(same)
    head = '<th class="ibm-label">' + esc(frame.index.name or "") + "</th>" + "".join(f"<th>{esc(job)}</th>" for job in frame.columns)
    rows = []
    for name, values in list(frame.iterrows())[:MAX_HYPERPARAMS]:
        cells = "".join(
            f'<td class="ibm-label">{esc("(not set)" if value is None else format_cell(value))}</td>' for value in values
        )
        rows.append(f'<tr><td class="ibm-label">{esc(name)}</td>{cells}</tr>')
    grid = f'<table class="ibm-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    note = ""
    if len(frame) > MAX_HYPERPARAMS:
        note = note_html(f"{len(frame) - MAX_HYPERPARAMS:,} of {len(frame):,} rows not shown; see .hyperparams and .datasets")
    return f"<details open><summary>{esc(title)} <small>({len(frame)})</small></summary>{grid}{note}</details>"

