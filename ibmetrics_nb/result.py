"""The metrics of one job, as a `MetricsResult`.

A result is built from one finished response of the metrics endpoint, or
offline from a saved response. It reads the response's tables when it is
built and derives everything else from them on first use: pandas tables,
the confusion matrix, the loss curve, one long-format frame of all scores,
the plots and the notebook display. `raw` returns the parsed response
unchanged.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import parsing
from .errors import MissingTableError, ResponseFormatError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from .audit import Finding

logger = logging.getLogger(__name__)

EXPECTED_KEYS = (
    "metrics",
    "platform_version",
    "ibformers_version",
    "train_count",
    "train_total",
    "train_datasets",
    "test_count",
    "test_total",
    "test_datasets",
    "hyperparams",
)
FINISHED_STATES = frozenset({"DONE", "COMPLETE", "COMPLETED"})
LEGACY_HINT = "jobs run before platform 23.07 may return incomplete results; re-run the job to get full results"


class MetricsResult:
    """The metrics of one training, pruning or evaluation job.

    Build one with `MetricsClient.get_metrics`, the `%ibmetrics` magic, or
    `MetricsResult.from_json` for a saved response. Scores are fractions of
    1 (the server's "90.91%" is 0.9091), and the raw cells stay in `raw`.
    """

    def __init__(
        self,
        data: dict,
        *,
        job_id: str | None = None,
        job_type: str | None = None,
        model_project_path: str | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        if not isinstance(data, dict):
            raise ResponseFormatError(f"expected a JSON object with a 'metrics' list, got a {type(data).__name__}")

        self._data: dict | None = data
        # The JSON text that `raw` parses again; see `_from_loaded`.
        self._source: bytes | str | None = None
        self._absent_keys = [key for key in EXPECTED_KEYS if key not in data]
        self.job_id = job_id
        self.job_type = job_type
        self.model_project_path = model_project_path
        self.state = _text_or_none(data.get("state")) or ("DONE" if "metrics" in data else None)

        self.platform_version = _text_or_none(data.get("platform_version"))
        self.ibformers_version = _text_or_none(data.get("ibformers_version"))
        self.train_count = _mapping(data.get("train_count"))
        self.test_count = _mapping(data.get("test_count"))
        self.train_total = data.get("train_total")
        self.test_total = data.get("test_total")
        self.train_datasets = _string_list(data.get("train_datasets"))
        self.test_datasets = _string_list(data.get("test_datasets"))
        self.hyperparams = _mapping(data.get("hyperparams"))

        self._tables, table_warnings = parsing.read_tables(data.get("metrics"))
        self.warnings: list[str] = list(warnings or []) + table_warnings
        # The warnings of reading the body (duplicate keys, NaN), which `save` keeps.
        self._parse_warnings = list(warnings or [])
        for table in self._tables:
            self.warnings.extend(f"table {table.title!r}: {problem}" for problem in table.problems)
        if self.missing:
            self.warnings.append(self.incomplete_message)

    # --- construction ------------------------------------------------------

    @classmethod
    def from_json(
        cls,
        source: str | bytes | os.PathLike | dict,
        *,
        job_id: str | None = None,
        job_type: str | None = None,
        model_project_path: str | None = None,
    ) -> MetricsResult:
        """Build a result from JSON text, bytes, a file path or a parsed dict.

        Invalid JSON raises `ResponseFormatError` with its line and column.
        Duplicate keys are kept as a standard parser keeps them (the last
        one wins) and listed in `warnings`. A file written by `save` (or by
        `ibmetrics fetch --format json`) is read as `load` reads it.
        """
        loaded = parsing.load_json(source)
        if _is_saved_result(loaded.data):
            from .export import read_result_document

            response, options = read_result_document(loaded.data, "the saved result")
            given = {"job_id": job_id, "job_type": job_type, "model_project_path": model_project_path}
            options.update({name: value for name, value in given.items() if value is not None})
            return cls(response, **options)
        return cls._from_loaded(loaded, job_id=job_id, job_type=job_type, model_project_path=model_project_path)

    @classmethod
    def _from_loaded(cls, loaded: parsing.LoadedJSON, **options: Any) -> MetricsResult:
        """Build a result that keeps the JSON text of `loaded` instead of its parsed document.

        `raw` parses the text again. The text is far smaller: 3.2 MB against
        10 MB parsed for the 1,000-class response of `benchmarks/display.py`.
        A `loaded` without text (from a dict) keeps the dict.
        """
        result = cls(loaded.data, warnings=loaded.warnings, **options)
        if loaded.source is not None:
            result._source = loaded.source
            result._data = None
        return result

    @property
    def raw(self) -> dict:
        """The parsed response, unchanged: NaN tokens as floats and the last value of a duplicate key.

        A result built from JSON text, bytes or a file keeps that text and
        parses it again on every access, so each access returns a new dict,
        equal to the last, and changes to it are not kept. Assign it to a
        variable to read it more than once. A result built from a dict
        returns that dict.
        """
        if self._data is not None:
            return self._data
        return parsing.load_json(self._source).data

    # --- state -------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """Whether the job had finished when the response was sent."""
        return (self.state or "").upper() in FINISHED_STATES

    @cached_property
    def missing(self) -> list[str]:
        """Parts of a finished response that are absent, such as the confusion matrix."""
        if not self.is_finished:
            return []

        missing = list(self._absent_keys)
        if "platform_version" not in missing and not self.platform_version:
            missing.append("platform_version (empty)")
        if self._is_classification() and self._find(parsing.CONFUSION) is None:
            missing.append("Confusion Matrix table")
        return missing

    @property
    def is_incomplete(self) -> bool:
        """Whether the server left out part of the job's results."""
        return bool(self.missing)

    @property
    def incomplete_message(self) -> str:
        """The one-line warning that names what is missing and how to get it."""
        return f"incomplete results for job {self._job_name()}: missing {', '.join(self.missing)}; {LEGACY_HINT}"

    def _is_classification(self) -> bool:
        for table in self._tables:
            if table.kind == parsing.SCORES and (
                "classifier" in table.title.lower() or table.headers[:1] in (["Class Type"], ["class"])
            ):
                return True
        return False

    def _job_name(self) -> str:
        return self.job_id or "(offline result)"

    # --- tables ------------------------------------------------------------

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the response, by title, in response order.

        The first header is the index, numeric columns are floats (scores as
        fractions), and `df.attrs` keeps the subtitle, `show`, the kind and
        any repair notes. Tables with unknown titles are kept too. A
        confusion matrix of integer counts stays integer (int32 when every
        count fits). Its frame is read-only because it shares memory with the
        parsed table, and `confusion_df` is a writable int64 copy.
        """
        from .frames import table_frame

        return {table.title: table_frame(table) for table in self._tables}

    @property
    def table_titles(self) -> list[str]:
        """Titles of all tables, in response order."""
        return [table.title for table in self._tables]

    @cached_property
    def score_tables(self) -> dict[str, pd.DataFrame]:
        """The per-class and per-field score tables, by title."""
        return {t.title: self.tables[t.title] for t in self._tables if t.kind == parsing.SCORES}

    @cached_property
    def confusion_df(self) -> pd.DataFrame:
        """The confusion matrix: rows are the true class, columns the predicted class."""
        from .frames import confusion_frame

        return confusion_frame(self._require(parsing.CONFUSION, "Confusion Matrix"))

    @cached_property
    def loss_df(self) -> pd.DataFrame:
        """Train and eval loss: one row per split, one integer column per epoch."""
        from .frames import loss_frame

        return loss_frame(self._require(parsing.LOSS, "Train-Validation Curve"))

    @cached_property
    def trials_df(self) -> pd.DataFrame:
        """Hyperparameter search trials, one row per trial, numeric where possible."""
        return self.tables[self._require(parsing.TRIALS, "Hyperparameter search results").title]

    def has_table(self, kind: str) -> bool:
        """Return whether the response has a table of `kind` ("scores", "confusion", "loss", "trials")."""
        return self._find(kind) is not None

    def _find(self, kind: str) -> parsing.RawTable | None:
        return next((table for table in self._tables if table.kind == kind), None)

    def _require(self, kind: str, name: str) -> parsing.RawTable:
        table = self._find(kind)
        if table is not None:
            return table

        message = f"job {self._job_name()} has no {name} table (tables: {', '.join(self.table_titles) or 'none'})"
        if self.is_incomplete:
            message += f"; {LEGACY_HINT}"
        raise MissingTableError(message)

    def to_dataframe(self, intervals: bool = False, confidence: float = 0.95) -> pd.DataFrame:
        """Return every per-class and per-field score as one long frame.

        One row per label of each score table, with the columns `job_id,
        job_type, table, label, is_average, precision, recall, f1, support,
        ece` and any other metric in snake_case. Scores are fractions and a
        metric a table lacks is NaN, so frames of many jobs concatenate.

        `intervals=True` adds each class's counts (`tp, fp, fn,
        counts_source`) and `confidence` intervals (`precision_low,
        precision_high, recall_low, recall_high, f1_low, f1_high`); see
        `ibmetrics_nb.stats`. Averages rows get NaN there.
        """
        import pandas as pd

        from .frames import empty_score_rows, score_rows

        parts = [score_rows(df, self.job_id, self.job_type, title) for title, df in self.score_tables.items()]
        frame = pd.concat(parts, ignore_index=True) if parts else empty_score_rows()
        if not intervals:
            return frame

        from .stats import interval_frame

        bounds = interval_frame(self, confidence)
        frame = frame.merge(bounds, on=["table", "label"], how="left", validate="many_to_one")
        frame.loc[frame["is_average"], bounds.columns[2:]] = None
        return frame

    def score_intervals(self, confidence: float = 0.95) -> pd.DataFrame:
        """Return each class's counts and confidence intervals, one row per class and table.

        Precision and recall get Wilson score intervals, F1 the Wilson
        interval of TP / (TP + FP + FN) mapped to F1. The counts come from
        the confusion matrix where it describes the table, else from the
        reported precision, recall and support. See `ibmetrics_nb.stats`.
        """
        from .stats import interval_frame

        return interval_frame(self, confidence)

    def audit(self) -> list[Finding]:
        """Return the reported values that disagree with the response's own counts.

        Per-class scores are recomputed from the confusion matrix (or F1
        from precision and recall where the matrix does not describe the
        table), and averages rows from the per-class rows. A difference
        within the rounding of the reported value is not a finding. See
        `ibmetrics_nb.audit`. The findings are computed once per result.
        """
        return list(self._findings)

    @cached_property
    def _findings(self) -> list[Finding]:
        from .audit import audit_result

        return audit_result(self)

    @cached_property
    def headline(self) -> tuple[str, str, float] | None:
        """The (table title, averages label, F1) shown first in summaries.

        The macro average of the first score table that has one, else its
        micro average, else its weighted average, else None. It is read from
        the raw cells, so that showing a result never builds every frame.
        """
        for table in self._tables:
            if table.kind != parsing.SCORES:
                continue
            names = [parsing.metric_name(h) for h in table.headers]
            if "f1" not in names[1:]:
                continue
            column = names.index("f1", 1)
            for pattern in ("macro", "micro", "weighted"):
                for row in table.rows:
                    label = str(row[0])
                    value = parsing.to_number(row[column])
                    if pattern in label.lower() and parsing.is_average_label(label) and value is not None:
                        return table.title, label, value / 100 if 1 < value <= 100 else value
        return None

    # --- plots -------------------------------------------------------------

    def loss_plot(self, ax: Axes | None = None) -> Axes:
        """Plot train and eval loss per epoch and return the Axes.

        Draws on `ax` when given, else on a new figure that a notebook shows
        once at the end of the cell.
        """
        from .plots import plot_loss

        return plot_loss(self.loss_df, ax=ax, title=self._plot_title("loss per epoch"))

    def confusion_plot(self, normalize: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot the confusion matrix as a heat map and return the Axes.

        `normalize` is None for counts, "true" to divide each row by its
        total, "pred" for each column, or "all" for the grand total.
        """
        from .plots import plot_confusion

        return plot_confusion(self.confusion_df, normalize=normalize, ax=ax, title=self._plot_title("confusion matrix"))

    def scores_plot(self, metric: str = "f1", table: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot one score per label as bars with their 95% intervals and return the Axes.

        `table` is a score table's title (default: the first). Precision,
        recall and F1 get error bars from `score_intervals`; other metrics,
        such as "ece", are drawn without.
        """
        from .plots import plot_result_scores

        return plot_result_scores(self, metric=metric, table=table, ax=ax)

    def ece_plot(self, table: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot the expected calibration error (ECE) per class and return the Axes.

        `table` defaults to the first score table that has ECE values.
        """
        from .plots import plot_result_ece

        return plot_result_ece(self, table=table, ax=ax)

    def trials_plot(self, param: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot the hyperparameter-search trials against their objective and return the Axes.

        Without `param`, the objective of each trial by trial number; with
        `param` (a column of `trials_df`, such as "learning_rate"), the
        objective against that hyperparameter.
        """
        from .plots import plot_trials

        return plot_trials(self.trials_df, param=param, ax=ax, title=self._plot_title("hyperparameter search"))

    def _plot_title(self, what: str) -> str:
        return f"{self.job_id}: {what}" if self.job_id else what.capitalize()

    # --- export ------------------------------------------------------------

    def to_excel(self, path: str | os.PathLike) -> Any:
        """Write the result as an Excel workbook: a summary sheet, then one sheet per table.

        Returns the path. Sheet names are the table titles, made valid for
        Excel (31 characters, no `[]:*?/\\`, unique). Needs openpyxl.
        """
        from .export import write_excel

        return write_excel(self, path)

    def to_markdown(self) -> str:
        """Return a Markdown report: the summary, warnings and every table as the server sent it."""
        from .export import result_markdown

        return result_markdown(self)

    def save(self, path: str | os.PathLike) -> Any:
        """Write the result to `path` as strict JSON (NaN as null) and return the path.

        The file contains the response, the job's ID, type and project, and
        the warnings of the original parse. `MetricsResult.load` reads it back.
        """
        from .export import save_result

        return save_result(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MetricsResult:
        """Read a result written by `save` (or by `ibmetrics fetch --format json` for one job)."""
        from .export import load_result

        return load_result(path)

    # --- display -----------------------------------------------------------

    def _repr_html_(self) -> str:
        from .display import render_html

        return render_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .display import render_html, render_text

        return {"text/plain": render_text(self), "text/html": render_html(self)}

    def __repr__(self) -> str:
        state = "" if self.is_finished else f" state={self.state!r}"
        return (
            f"<MetricsResult job_id={self.job_id!r} job_type={self.job_type!r}{state} "
            f"tables={len(self._tables)} warnings={len(self.warnings)}>"
        )


def _is_saved_result(data: Any) -> bool:
    """Return whether `data` is a saved-result document rather than a response."""
    return isinstance(data, dict) and isinstance(data.get("response"), dict) and "metrics" not in data


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _mapping(value: Any) -> dict:
    return dict(value) if isinstance(value, dict) else {}


def _string_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value]
    if isinstance(value, str):
        return [value]
    return []
