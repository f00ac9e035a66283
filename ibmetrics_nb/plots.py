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
    ax.set_title(title if not normalize else f"{title} (normalised by {normalize})")
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
