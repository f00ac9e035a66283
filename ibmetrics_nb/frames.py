"""Build pandas DataFrames from parsed tables.

Kept apart from `parsing` so that the magic can load without importing
pandas: this module is imported the first time a result is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .parsing import (
    CONFUSION,
    FRACTION_METRICS,
    SCORES,
    NumericRows,
    RawTable,
    convert_column,
    epoch_number,
    is_average_label,
    metric_name,
    to_number,
)

SCORE_COLUMNS = ["precision", "recall", "f1", "support", "ece"]


def table_frame(table: RawTable) -> pd.DataFrame:
    """Return the table as a DataFrame indexed by its first column.

    Numeric columns become float64 (percent strings as fractions, missing
    markers as NaN); any column with a text cell keeps the raw cells. A
    confusion matrix whose cells are all integers keeps them as one int32 or
    int64 block, shared read-only with the parsed table. The
    subtitle, `show` flag, kind and repair notes go to `df.attrs`.
    """
    headers = table.headers or ["label"]
    if isinstance(table.rows, NumericRows):
        frame = _block_frame(table, table.rows)
    else:
        labels = [_label(row[0]) if row else "" for row in table.rows]
        columns = _convert_body(table, len(headers) - 1)
        # Built on positions first, so that Series columns line up by row and not by label.
        frame = pd.DataFrame(dict(zip(range(len(columns)), columns)), index=pd.RangeIndex(len(labels)))
        frame.index = pd.Index(labels, name=headers[0], dtype=object)
        frame.columns = pd.Index(headers[1:], dtype=object)
    frame.attrs.update(
        title=table.title,
        subtitle=table.subtitle,
        show=table.show,
        kind=table.kind,
        problems=list(table.problems),
    )
    if table.kind == SCORES:
        _rescale_percent_columns(frame, _percent_string_columns(table))
    return frame


def _block_frame(table: RawTable, rows: NumericRows) -> pd.DataFrame:
    """Build the frame of a table stored as one numpy block.

    A confusion matrix of integers keeps its integer dtype and shares the
    parsed table's read-only block, so that a large matrix is not stored
    twice. Every other table gets a float64 copy, as `_convert_body` gives.
    """
    index = pd.Index([_label(cell) for cell in rows.labels], name=table.headers[0], dtype=object)
    columns = pd.Index(table.headers[1:], dtype=object)
    if table.kind == CONFUSION and rows.values.dtype.kind == "i":
        # NOTE: the frame is read-only, so assigning a cell in place raises ValueError
        # ("assignment destination is read-only"). Edit a .copy() instead.
        return pd.DataFrame(rows.values, index=index, columns=columns, copy=False)
    return pd.DataFrame(rows.values.astype(float), index=index, columns=columns, copy=False)


def _label(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _convert_body(table: RawTable, width: int) -> list[Any]:
    if width <= 0:
        return []

    body = [row[1:] for row in table.rows]
    fast = _all_numeric(body, width)
    if fast is not None:
        return [fast[:, i] for i in range(width)]

    columns: list[Any] = []
    for index in range(width):
        cells = [row[index] for row in body]
        values, _ = convert_column(cells)
        if values is not None:
            columns.append(np.array(values, dtype=float))
        else:
            # An explicit object Series: pandas 3 would infer its str dtype
            # from a bare object array and turn None cells into NaN.
            columns.append(pd.Series(cells, dtype=object))
    return columns


def _all_numeric(body: list[list[Any]], width: int) -> np.ndarray | None:
    """Convert a body of plain numbers in one step, or return None.

    `parsing.numeric_rows` already stores most such bodies as one block, so
    this path only receives bodies with integers that a block cannot store exactly.
    Strings are excluded because numpy would accept "nan" or reject "12%".
    """
    if not body:
        return np.empty((0, width))
    for row in body:
        for cell in row:
            if type(cell) not in (int, float):
                return None
    try:
        return np.asarray(body, dtype=float).reshape(len(body), width)
    except OverflowError:
        # An integer beyond float range; the slow path reads it as infinity.
        return None


def _percent_string_columns(table: RawTable) -> set[int]:
    """Return the body column positions that contain at least one percent string."""
    if isinstance(table.rows, NumericRows):
        return set()
    return {
        index - 1
        for row in table.rows
        for index, cell in enumerate(row)
        if index and isinstance(cell, str) and cell.rstrip().endswith("%")
    }


def _rescale_percent_columns(frame: pd.DataFrame, percent_columns: set[int]) -> None:
    # Older platforms wrote raw fractions and one score as "87.50" with no
    # percent sign. A fraction above 1 is impossible, so such values are
    # percentages. A column with percent strings states its scale in those
    # cells, so its bare numbers are kept as sent.
    rescaled = []
    for position, header in enumerate(frame.columns):
        if metric_name(header) not in FRACTION_METRICS or position in percent_columns:
            continue
        column = frame.iloc[:, position]
        if column.dtype != float:
            continue
        mask = (column > 1) & (column <= 100)
        if mask.any():
            frame.iloc[:, position] = column.where(~mask, column / 100)
            rescaled.append(str(header))
    if rescaled:
        frame.attrs["problems"].append(f"values above 1 in {', '.join(rescaled)} were read as percentages")


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a float copy of `frame` in which every cell that is not a number is NaN.

    Cells convert as `parsing.to_number` converts them. pd.to_numeric is not
    used because it raises OverflowError, even with errors="coerce", for an
    integer beyond float range.
    """
    columns = {}
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype == float:
            columns[position] = column.to_numpy(dtype=float, copy=True)
        else:
            columns[position] = np.array([_number_or_nan(cell) for cell in column], dtype=float)
    numeric = pd.DataFrame(columns, index=frame.index)
    numeric.columns = frame.columns
    numeric.attrs = frame.attrs
    return numeric


def _number_or_nan(cell: Any) -> float:
    value = to_number(cell)
    return math.nan if value is None else value


def confusion_frame(table: RawTable) -> pd.DataFrame:
    """Return a confusion matrix: index `true`, columns `predicted`, int counts."""
    frame = table_frame(table)
    frame.index.name = "true"
    frame.columns.name = "predicted"

    if frame.shape[1] and all(dtype.kind == "i" for dtype in frame.dtypes):
        # Counts stored as one integer block: a writable int64 copy of it.
        counts = pd.DataFrame(frame.to_numpy(dtype="int64", copy=True), index=frame.index, columns=frame.columns)
        counts.attrs = frame.attrs
        return counts

    numeric = _numeric(frame)
    # Counts beyond 2**53 are not exact in a float, and casting inf or 1e300 to int64 gives garbage.
    exact = numeric.notna().all().all() and (numeric.abs() <= 2**53).all().all()
    if exact and (numeric % 1 == 0).all().all():
        numeric = numeric.astype("int64")
    numeric.attrs = frame.attrs
    return numeric


def loss_frame(table: RawTable) -> pd.DataFrame:
    """Return the loss curve: index = split, integer epoch columns."""
    frame = table_frame(table)
    frame.index.name = "split"
    frame.columns = pd.Index(
        [epoch_number(h, position) for position, h in enumerate(frame.columns, start=1)], name="epoch"
    )
    return _numeric(frame)


def score_rows(frame: pd.DataFrame, job_id: Any, job_type: Any, title: str) -> pd.DataFrame:
    """Return one long-format row per label of a per-class or per-field table."""
    # Renamed by position, because a table may repeat a header.
    names: list[str] = []
    for header in frame.columns:
        name = metric_name(header)
        while name in names or name in ("job_id", "job_type", "table", "label", "is_average"):
            name += "_"
        names.append(name)

    body = frame.reset_index(drop=True)
    body.columns = pd.Index(names, dtype=object)
    labels = list(frame.index)
    head = pd.DataFrame(
        {
            "job_id": pd.array([job_id] * len(labels), dtype=object),
            "job_type": pd.array([job_type] * len(labels), dtype=object),
            "table": pd.array([title] * len(labels), dtype=object),
            "label": pd.array(labels, dtype=object),
            "is_average": np.array([is_average_label(label) for label in labels], dtype=bool),
        }
    )
    for name in SCORE_COLUMNS:
        if name not in body.columns:
            body[name] = math.nan
    extras = [c for c in body.columns if c not in SCORE_COLUMNS]
    return pd.concat([head, body[SCORE_COLUMNS + extras]], axis=1)


def empty_score_rows() -> pd.DataFrame:
    """Return the long-format frame with its columns and no rows."""
    columns = ["job_id", "job_type", "table", "label", "is_average"] + SCORE_COLUMNS
    frame = pd.DataFrame({name: pd.array([], dtype=object) for name in columns})
    frame["is_average"] = frame["is_average"].astype(bool)
    for name in SCORE_COLUMNS:
        frame[name] = frame[name].astype(float)
    return frame

