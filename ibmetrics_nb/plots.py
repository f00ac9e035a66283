"""Matplotlib plots of a result, imported only when a plot is drawn.

Each function draws on the `ax` it is given. Without one it makes a new
Figure that is not registered with pyplot, so repeated calls leave pyplot's
open figures unchanged and `plt.show()` does not show it. In a Jupyter
kernel such a figure is shown once, as a PNG, when the cell finishes, so
changes made to the returned Axes in the same cell are still drawn.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from .frontend import in_kernel, ipython_shell

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

MAX_TICK_LABELS = 40
MAX_ANNOTATED_CLASSES = 20
NORMALIZE_CHOICES = (None, "true", "pred", "all")

_pending: list[Figure] = []
_hooked_shells: set[int] = set()


def new_axes(figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    """Return the Axes of a new Figure that a kernel shows at the end of the cell."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots()
    _show_at_end_of_cell(figure)
    return axes


def _show_at_end_of_cell(figure: Figure) -> None:
    if not in_kernel():
        return
    shell = ipython_shell()
    if id(shell) not in _hooked_shells:
        shell.events.register("post_execute", _show_pending)
        _hooked_shells.add(id(shell))
    _pending.append(figure)


def _show_pending() -> None:
    from IPython.display import Image, display

    figures = list(_pending)
    _pending.clear()
    for figure in figures:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        display(Image(data=buffer.getvalue(), format="png"))


def plot_loss(loss: pd.DataFrame, ax: Axes | None = None, title: str = "Loss per epoch") -> Axes:
    """Draw one line per split (Train, Eval) of loss against epoch."""
    if ax is None:
        ax = new_axes()

    for split, values in loss.iterrows():
        ax.plot(list(loss.columns), list(values), marker="o", label=str(split))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.set_xticks(list(loss.columns))
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def plot_confusion(
    confusion: pd.DataFrame, normalize: str | None = None, ax: Axes | None = None, title: str = "Confusion matrix"
) -> Axes:
    """Draw the confusion matrix as a heat map, counts or normalised."""
    if normalize not in NORMALIZE_CHOICES:
        from .errors import InvalidRequestError

        raise InvalidRequestError(f"invalid normalize {normalize!r}: expected None, 'true', 'pred' or 'all'")

    matrix = normalize_matrix(confusion, normalize)
    classes = [str(c) for c in confusion.index]
    if ax is None:
        size = min(4.0 + 0.3 * len(classes), 12.0)
        ax = new_axes((size + 1.0, size))

    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="Blues", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="fraction" if normalize else "count")
    if len(classes) <= MAX_TICK_LABELS:
        ax.set_xticks(range(len(confusion.columns)), [str(c) for c in confusion.columns], rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
    if len(classes) <= MAX_ANNOTATED_CLASSES:
        _annotate(ax, matrix, normalize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    # A long job ID would run past a small figure's edges, so the title wraps.
    ax.set_title(title if not normalize else f"{title} (normalised by {normalize})", fontsize="medium", wrap=True)
    return ax


def normalize_matrix(confusion: pd.DataFrame, normalize: str | None) -> pd.DataFrame:
    """Divide counts by row ("true"), column ("pred") or grand ("all") totals."""
    matrix = confusion.astype(float)
    if normalize == "true":
        return matrix.div(matrix.sum(axis=1).replace(0, float("nan")), axis=0).fillna(0.0)
    if normalize == "pred":
        return matrix.div(matrix.sum(axis=0).replace(0, float("nan")), axis=1).fillna(0.0)
    if normalize == "all":
        total = matrix.to_numpy().sum()
        return matrix / total if total else matrix
    return matrix


def _annotate(ax: Axes, matrix: pd.DataFrame, normalize: str | None) -> Any:
    values = matrix.to_numpy(dtype=float)
    threshold = (values.max() + values.min()) / 2
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            value = values[row, column]
            text = f"{value:.2f}" if normalize else f"{value:g}"
            color = "white" if value > threshold else "black"
            ax.text(column, row, text, ha="center", va="center", color=color)


# --- scores, calibration and trials -----------------------------------------------

SCORE_LIMITS = (0.0, 1.05)
INTERVAL_METRICS = ("precision", "recall", "f1")


def plot_result_scores(result: Any, metric: str = "f1", table: str | None = None, ax: Axes | None = None) -> Axes:
    """Draw one bar per label of a score table, with 95% intervals for precision, recall and F1."""
    title = _score_table(result, table)
    frame = result.to_dataframe(intervals=metric in INTERVAL_METRICS)
    frame = frame[(frame["table"] == title) & ~frame["is_average"]]
    if metric not in frame.columns or frame[metric].isna().all():
        from .errors import InvalidRequestError

        metrics = [c for c in frame.columns[5:] if not c.endswith(("_low", "_high")) and frame[c].notna().any()]
        raise InvalidRequestError(f"table {title!r} has no values of {metric!r}; metrics with values: {', '.join(metrics)}")

    labels, cut = _first_labels(list(frame["label"]))
    frame = frame.iloc[: len(labels)]
    values = frame[metric].to_numpy(dtype=float)
    errors = None
    if metric in INTERVAL_METRICS:
        low = frame[f"{metric}_low"].to_numpy(dtype=float)
        high = frame[f"{metric}_high"].to_numpy(dtype=float)
        errors = [_clip_error(values - low), _clip_error(high - values)]

    if ax is None:
        ax = new_axes((max(6.0, min(0.35 * len(labels) + 2, 16.0)), 4.0))
    ax.bar(range(len(labels)), values, yerr=errors, capsize=3, color="#1f77b4", ecolor="#333")
    _label_axis(ax, labels)
    ax.set_ylabel(metric + (" (error bars: 95% interval)" if errors is not None else ""))
    if metric in INTERVAL_METRICS:
        ax.set_ylim(*SCORE_LIMITS)
    ax.set_title(result._plot_title(f"{metric} per label\n{title}{cut}"))
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_result_ece(result: Any, table: str | None = None, ax: Axes | None = None) -> Axes:
    """Draw the expected calibration error (ECE) per class; lower is better calibrated."""
    if table is None:
        frame = result.to_dataframe()
        with_ece = frame[~frame["is_average"] & frame["ece"].notna()]
        if with_ece.empty:
            from .errors import MissingTableError

            raise MissingTableError(f"job {result.job_id or '(offline result)'} has no ECE values in its score tables")
        table = str(with_ece["table"].iloc[0])
    return plot_result_scores(result, metric="ece", table=table, ax=ax)


def plot_trials(trials: pd.DataFrame, param: str | None = None, ax: Axes | None = None, title: str = "Hyperparameter search") -> Axes:
    """Draw each trial's objective (the last column) by trial number, or against `param`."""
    from .errors import InvalidRequestError

    if trials.shape[1] == 0 or trials.empty:
        raise InvalidRequestError("the hyperparameter search table has no trials to plot")
    objective_name = str(trials.columns[-1])
    objective = _numeric(trials.iloc[:, -1])
    if ax is None:
        ax = new_axes()

    if param is None:
        positions = range(len(trials))
        ax.scatter(positions, objective, color="#1f77b4", zorder=3)
        _label_axis(ax, [str(label) for label in trials.index], rotation=0)
        ax.set_xlabel(str(trials.index.name or "trial"))
    else:
        parameters = [str(c) for c in trials.columns[:-1]]
        if param not in parameters:
            raise InvalidRequestError(f"invalid param {param!r}: expected one of {', '.join(parameters)}")
        values = _numeric(trials[param])
        ax.scatter(values, objective, color="#1f77b4", zorder=3)
        finite = values[values == values]
        if len(finite) and (finite > 0).all() and finite.max() / finite.min() > 100:
            ax.set_xscale("log")
        ax.set_xlabel(param)
    if objective.notna().any():
        best = int(objective.to_numpy().argmax())
        x = best if param is None else _numeric(trials[param]).iloc[best]
        ax.scatter([x], [objective.iloc[best]], s=120, facecolors="none", edgecolors="#d62728", zorder=4, label="best trial")
        ax.legend()
    ax.set_ylabel(objective_name)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return ax


def plot_grouped_scores(
    values: pd.DataFrame,
    lows: pd.DataFrame | None = None,
    highs: pd.DataFrame | None = None,
    ax: Axes | None = None,
    title: str = "F1 per label",
    ylabel: str = "f1",
) -> Axes:
    """Draw grouped bars: one group per label (row), one bar per job (column), with optional intervals."""
    labels, cut = _first_labels([str(label) for label in values.index])
    values = values.iloc[: len(labels)]
    jobs = [str(column) for column in values.columns]
    if ax is None:
        ax = new_axes((max(6.0, min(0.3 * len(labels) * max(len(jobs), 1) + 2, 16.0)), 4.0))

    width = 0.8 / max(len(jobs), 1)
    for position, job in enumerate(values.columns):
        heights = values[job].to_numpy(dtype=float)
        errors = None
        if lows is not None and highs is not None and job in lows.columns:
            low = lows[job].iloc[: len(labels)].to_numpy(dtype=float)
            high = highs[job].iloc[: len(labels)].to_numpy(dtype=float)
            errors = [_clip_error(heights - low), _clip_error(high - heights)]
        offsets = [index - 0.4 + width * (position + 0.5) for index in range(len(labels))]
        ax.bar(offsets, heights, width=width, yerr=errors, capsize=2, label=str(job), ecolor="#333")
    _label_axis(ax, labels)
    ax.set_ylim(*SCORE_LIMITS)
    ax.set_ylabel(ylabel + (" (error bars: 95% interval)" if lows is not None else ""))
    ax.set_title(title + cut)
    # Bars reach up to 1 in every group, so the legend goes beside the axes.
    ax.legend(title="job", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def _score_table(result: Any, table: str | None) -> str:
    titles = list(result.score_tables)
    if table is None:
        if not titles:
            from .errors import MissingTableError

            raise MissingTableError(f"job {result.job_id or '(offline result)'} has no score table")
        return titles[0]
    if table not in titles:
        from .errors import InvalidRequestError

        raise InvalidRequestError(f"invalid table {table!r}: expected one of {', '.join(map(repr, titles)) or 'no score tables'}")
    return table


def _first_labels(labels: list[str]) -> tuple[list[str], str]:
    """Keep at most MAX_TICK_LABELS labels; return them and a title suffix such as " (first 40 of 120)"."""
    if len(labels) <= MAX_TICK_LABELS:
        return labels, ""
    return labels[:MAX_TICK_LABELS], f" (first {MAX_TICK_LABELS} of {len(labels)})"


def _label_axis(ax: Axes, labels: list[str], rotation: int = 45) -> None:
    ax.set_xticks(range(len(labels)), labels, rotation=rotation, ha="right" if rotation else "center")


def _clip_error(values: Any) -> Any:
    import numpy as np

    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)


def _numeric(column: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").astype(float)
