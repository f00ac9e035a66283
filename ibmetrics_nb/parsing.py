"""Parse metrics responses: strict JSON loading, cell values and table kinds.

The functions here are pure and know nothing of HTTP or display. They turn
the server's loosely typed tables into plain Python and pandas values:
percent strings, "N/A" markers, rows of the wrong length and renamed
headers from older platforms. Every repair they make is reported as a
warning string.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ResponseFormatError

if TYPE_CHECKING:
    import numpy as np

MISSING_MARKERS = frozenset({"", "n/a", "na", "nan", "none", "null", "unknown", "-"})

# Table kinds, recognised by title first and by the first header second.
SCORES = "scores"
CONFUSION = "confusion"
LOSS = "loss"
TRIALS = "trials"
OTHER = "other"

SCORE_LABEL_HEADERS = frozenset({"class type", "field name", "class", "field", "label", "class name"})
METRIC_NAMES = {
    "f1 score": "f1",
    "f1-score": "f1",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "support": "support",
    "ece": "ece",
    "exact_match": "exact_match",
    "exact match": "exact_match",
    "accuracy": "accuracy",
}
# Columns whose values are fractions of 1; a bare number above 1 in them is a percentage.
FRACTION_METRICS = frozenset({"f1", "precision", "recall", "exact_match", "accuracy"})
AVERAGE_LABEL = re.compile(r"\b(avg|average|averages|overall|total)\b|^(accuracy|micro|macro|weighted|samples)$", re.I)
EPOCH_HEADER = re.compile(r"^\s*(?:epoch\s*)?(\d{1,9})\s*$", re.I)


# --- JSON -----------------------------------------------------------------


@dataclass
class LoadedJSON:
    """A parsed document plus what the parser had to tolerate to read it.

    `source` is the text it was parsed from: the bytes of a bytes input or
    a file, the `str` of JSON text, and None for a dict. `load_json(source)`
    parses it again to an equal document.
    """

    data: Any
    warnings: list[str] = field(default_factory=list)
    source: bytes | str | None = None


def load_json(source: str | bytes | bytearray | os.PathLike | dict) -> LoadedJSON:
    """Parse a metrics document from JSON text, bytes, a file path or a dict.

    A `str` that starts with `{` or `[` (after white space) is JSON text and
    any other `str` is a file path. Invalid JSON raises `ResponseFormatError`
    with the line and column. Duplicate keys and NaN or Infinity tokens are
    accepted, as Python's json module does, but each is reported in
    `warnings`, because a standard parser would drop or mangle them silently.
    """
    if isinstance(source, dict):
        return LoadedJSON(source)

    if isinstance(source, (bytes, bytearray)):
        kept: bytes | str = bytes(source)
    elif isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        kept = source
    else:
        kept = _read_file(source)
    text = _decode_bytes(kept) if isinstance(kept, bytes) else kept
    warnings: list[str] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict:
        result = dict(pairs)
        if len(result) != len(pairs):
            warnings.extend(_describe_duplicates(pairs))
        return result

    def note_constant(name: str) -> float:
        warnings.append(f"the response contains the non-standard JSON value {name}; it was read as a float")
        return float(name.replace("Infinity", "inf"))

    try:
        data = json.loads(text, object_pairs_hook=keep_pairs, parse_constant=note_constant)
    except json.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ResponseFormatError("invalid JSON: arrays or objects are nested too deeply to read") from None
    except ValueError as exc:
        # Python refuses integers of more than sys.get_int_max_str_digits() digits (4300 by default).
        raise ResponseFormatError(f"invalid JSON: {_first_line(exc)}") from None
    return LoadedJSON(data, _dedupe(warnings), kept)


def _read_file(source: str | os.PathLike) -> bytes:
    if isinstance(source, str) and (not source.strip() or "\x00" in source or "\n" in source):
        raise ResponseFormatError(f"expected JSON text starting with '{{' or a file path, got {_start_of(source)!r}")
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ResponseFormatError(f"file not found: {_start_of(str(path))}") from None
    except IsADirectoryError:
        raise ResponseFormatError(f"expected a JSON file, got a directory: {path}") from None
    except OSError as exc:
        # A long text that is not JSON arrives here as a file name that is too long.
        raise ResponseFormatError(
            f"cannot read {_start_of(str(path))!r} as a file ({exc.strerror or type(exc).__name__}); "
            "pass JSON text starting with '{' or an existing file path"
        ) from None


def _start_of(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _decode_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResponseFormatError(f"the response is not UTF-8 text (invalid byte at offset {exc.start})") from None


def _describe_duplicates(pairs: list[tuple[str, Any]]) -> list[str]:
    seen: dict[str, list[Any]] = {}
    for key, value in pairs:
        seen.setdefault(key, []).append(value)
    return [
        f"duplicate key {key!r} with values {', '.join(_short(v) for v in values)}; the last one is kept"
        for key, values in seen.items()
        if len(values) > 1
    ]


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- cells ----------------------------------------------------------------


def is_missing(cell: Any) -> bool:
    """Return True for None, NaN and the missing markers such as "N/A"."""
    if cell is None:
        return True
    if isinstance(cell, float):
        return math.isnan(cell)
    if isinstance(cell, str):
        return cell.strip().lower() in MISSING_MARKERS
    return False


def to_number(cell: Any) -> float | None:
    """Convert one cell to a float, or return None when it is not a number.

    "90.91%" becomes 0.9091, "0.051" 0.051, 6 becomes 6.0, and the missing
    markers become NaN. Booleans and text such as "<=50%" return None.
    """
    if isinstance(cell, bool):
        return None
    if isinstance(cell, float):
        return cell
    if isinstance(cell, int):
        try:
            return float(cell)
        except OverflowError:
            return math.inf if cell > 0 else -math.inf
    if is_missing(cell):
        return math.nan
    if not isinstance(cell, str):
        return None

    text = cell.strip().replace(",", "") if _is_grouped_number(cell) else cell.strip()
    scale = 1.0
    if text.endswith("%"):
        text = text[:-1].rstrip()
        scale = 0.01
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isnan(value) or text.lower() in ("inf", "+inf", "-inf", "infinity", "-infinity"):
        return value
    return round(value * scale, 12) if scale != 1.0 else value


def _is_grouped_number(cell: str) -> bool:
    return bool(re.fullmatch(r"\s*-?\d{1,3}(,\d{3})+(\.\d+)?%?\s*", cell))


def convert_column(cells: list[Any]) -> tuple[list[float] | None, int]:
    """Convert a column to floats if every cell is a number or missing.

    Returns the floats (or None when any cell is text) and the number of
    cells that held a real number.
    """
    values: list[float] = []
    numbers = 0
    for cell in cells:
        value = to_number(cell)
        if value is None:
            return None, 0
        if not math.isnan(value):
            numbers += 1
        values.append(value)
    return values, numbers


def metric_name(header: Any) -> str:
    """Map a column header to its standard metric name, else to snake_case."""
    text = str(header).strip()
    known = METRIC_NAMES.get(text.lower())
    if known:
        return known
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    return snake or "value"


def is_average_label(label: Any) -> bool:
    """Return True for averages rows such as "macro avg" or "Micro Average"."""
    return bool(AVERAGE_LABEL.search(str(label).strip()))


def epoch_number(header: Any, position: int) -> int:
    """Return the epoch of a loss-curve header ("Epoch 1", "2"), else its position."""
    match = EPOCH_HEADER.match(str(header))
    return int(match.group(1)) if match else position


# --- tables ---------------------------------------------------------------


class NumericRows(Sequence):
    """The rows of a table whose body cells are all JSON numbers, stored as one numpy block.

    `labels` contains each row's first cell as sent and `values` the other
    cells, read-only: int32 when every cell is an integer that fits, else
    int64, else float64. For a block that mixes integers and floats,
    `int_cells` marks the cells sent as integers, so that a row reads back
    with the same Python types. Indexing, slicing and iteration build each
    row as a new list, equal to the row that the server sent.
    """

    __slots__ = ("labels", "values", "int_cells")

    def __init__(self, labels: list[Any], values: np.ndarray, int_cells: np.ndarray | None = None) -> None:
        self.labels = labels
        self.values = values
        self.int_cells = int_cells

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self.labels)))]
        return self._row(range(len(self.labels))[index])

    def __iter__(self) -> Iterator[list[Any]]:
        for i in range(len(self.labels)):
            yield self._row(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (NumericRows, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<NumericRows {len(self.labels)} x {self.values.shape[1]} {self.values.dtype}>"

    def _row(self, i: int) -> list[Any]:
        cells = self.values[i].tolist()
        if self.int_cells is not None:
            cells = [int(cell) if is_int else cell for cell, is_int in zip(cells, self.int_cells[i].tolist())]
        return [self.labels[i], *cells]


@dataclass
class RawTable:
    """One entry of the response's `metrics` list, checked and normalised.

    `headers` and `rows` are what the server sent, repaired only so that
    every row has one cell per header, and `problems` lists the repairs.
    When every body cell is a JSON number, `rows` is a `NumericRows` over
    one numpy block instead of a list of lists, because a large confusion
    matrix as Python lists takes about 2.5 times its JSON size.
    """

    title: str
    subtitle: str
    headers: list[str]
    rows: list[list[Any]] | NumericRows
    show: bool
    kind: str
    problems: list[str] = field(default_factory=list)


def row_labels(table: RawTable) -> list[Any]:
    """Return the first cell of each non-empty row, without building the rows of a `NumericRows`.

    The list may be the table's own, so callers must not modify it.
    """
    if isinstance(table.rows, NumericRows):
        return table.rows.labels
    return [row[0] for row in table.rows if row]


def read_tables(metrics: Any) -> tuple[list[RawTable], list[str]]:
    """Check the `metrics` list and return its tables and warnings.

    Entries that are not objects are skipped with a warning; every other
    entry becomes a table, however broken, so that nothing is dropped.
    """
    warnings: list[str] = []
    if metrics is None:
        return [], warnings
    if not isinstance(metrics, list):
        return [], [f"'metrics' is a {type(metrics).__name__}, not a list; no table was read"]

    tables: list[RawTable] = []
    titles: dict[str, int] = {}
    for position, entry in enumerate(metrics, start=1):
        if not isinstance(entry, dict):
            warnings.append(f"metrics entry {position} is a {type(entry).__name__}, not a table; it was skipped")
            continue
        table = read_table(entry, position)
        table.title = _unique_title(table.title, titles)
        tables.append(table)
    return tables, warnings


def _unique_title(title: str, titles: dict[str, int]) -> str:
    count = titles.get(title, 0) + 1
    titles[title] = count
    return title if count == 1 else f"{title} ({count})"


def read_table(entry: dict, position: int) -> RawTable:
    """Normalise one table entry; see `RawTable` for what is kept."""
    problems: list[str] = []
    title = _text(entry.get("title")) or f"Table {position}"
    subtitle = _text(entry.get("subtitle"))
    show = entry.get("show", True) is not False

    headers = entry.get("headers")
    if not isinstance(headers, list):
        problems.append("the table has no headers")
        headers = []
    headers = [_text(h) for h in headers]

    rows = entry.get("rows")
    if rows is None:
        problems.append("the table has no rows (rows is null)")
        rows = []
    elif not isinstance(rows, list):
        problems.append(f"rows is a {type(rows).__name__}, not a list")
        rows = []

    rows, headers = _fit_rows(rows, headers, problems)
    kind = classify(title, headers, rows)
    compact = numeric_rows(rows, len(headers))
    return RawTable(title, subtitle, headers, rows if compact is None else compact, show, kind, problems)


# Every integer of magnitude up to 2**53 is exact in a float64.
_MAX_EXACT_FLOAT_INT = 2**53


def numeric_rows(rows: list[list[Any]], width: int) -> NumericRows | None:
    """Store rows whose body cells are all ints or floats as a `NumericRows`, else return None.

    Every row must have `width` cells. Booleans and strings (such as "12%"
    or "nan") are not numbers here. An integer too large for int64, or an
    integer above 2**53 in a table that also has floats, keeps the rows as
    lists, because the block could not give it back exactly.
    """
    if not rows or width <= 1:
        return None
    import numpy as np

    types: set[type] = set()
    for row in rows:
        types.update(map(type, itertools.islice(row, 1, None)))
    if not types <= {int, float}:
        return None

    # Filled row by row, so that no list of all body cells is built next to the parsed rows.
    values = np.empty((len(rows), width - 1), dtype=np.int64 if types == {int} else np.float64)
    try:
        for index, row in enumerate(rows):
            values[index] = row[1:]
    except OverflowError:
        return None

    int_cells = None
    if types == {int}:
        limits = np.iinfo(np.int32)
        if limits.min <= values.min() and values.max() <= limits.max:
            values = values.astype(np.int32)
    elif int in types:
        int_cells = np.array([[type(cell) is int for cell in row[1:]] for row in rows], dtype=bool)
        if np.any(np.abs(values[int_cells]) > _MAX_EXACT_FLOAT_INT):
            return None
        int_cells.flags.writeable = False
    # Frames share this block, so it must not change under them.
    values.flags.writeable = False
    return NumericRows([row[0] for row in rows], values, int_cells)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _fit_rows(rows: list, headers: list[str], problems: list[str]) -> tuple[list[list[Any]], list[str]]:
    clean = [row if isinstance(row, list) else [row] for row in rows]
    not_lists = sum(1 for row in rows if not isinstance(row, list))
    if not_lists:
        problems.append(f"{not_lists} row(s) were not lists")

    width = max((len(row) for row in clean), default=0)
    if not headers and width:
        headers = ["label"] + [f"column_{i}" for i in range(1, width)]
    elif width > len(headers):
        extra = [f"column_{i}" for i in range(len(headers), width)]
        problems.append(f"some rows have more cells than the {len(headers)} headers; extra columns were named {extra[0]}...")
        headers = headers + extra

    short = 0
    for index, row in enumerate(clean):
        if len(row) < len(headers):
            short += 1
            clean[index] = row + [None] * (len(headers) - len(row))
    if short:
        problems.append(f"{short} row(s) have fewer cells than headers; the missing cells are empty")
    return clean, headers


def classify(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    """Return the kind of a table from its title, then its headers."""
    low_title = title.lower()
    first = headers[0].strip().lower() if headers else ""
    others = {metric_name(h) for h in headers[1:]}

    if "confusion" in low_title:
        return CONFUSION
    if "train-validation" in low_title or "loss" in low_title or first == "dataset split":
        return LOSS
    if "hyperparameter search" in low_title or first == "trial number":
        return TRIALS
    if first == "class name" and _is_square_matrix(headers, rows):
        return CONFUSION
    if others & {"f1", "precision", "recall"} or (first in SCORE_LABEL_HEADERS and "metrics" in low_title):
        return SCORES
    return OTHER


def _is_square_matrix(headers: list[str], rows: list[list[Any]]) -> bool:
    return len(rows) == len(headers) - 1 and [str(r[0]) for r in rows] == headers[1:]
