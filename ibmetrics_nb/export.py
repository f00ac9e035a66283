"""Exports of results: text formats for the command line, saved results, Excel and Markdown.

`format_results` writes the scores of one or more jobs as a fixed-width
table, JSON, CSV or Markdown. `save_result` and `load_result` keep a whole
result as strict JSON, `write_excel` writes one sheet per table, and
`result_markdown` a Markdown report.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ResponseFormatError

if TYPE_CHECKING:
    import pandas as pd

    from .result import MetricsResult

FORMATS = ("table", "json", "csv", "markdown")
SAVED_FORMAT = "ibmetrics_nb.result"
SAVED_VERSION = 1
MAX_SHEET_NAME = 31
INVALID_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def format_results(results: Sequence[MetricsResult], fmt: str) -> str:
    """Return the scores of `results` in `fmt` (one of FORMATS)."""
    if fmt == "json":
        payload = [_json_record(result) for result in results]
        return json.dumps(payload[0] if len(payload) == 1 else payload, indent=2, allow_nan=False) + "\n"

    import pandas as pd

    frames = [result.to_dataframe() for result in results]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "markdown":
        return markdown_table(frame) + "\n"
    if fmt == "table":
        return frame.to_string(index=False) + "\n"
    raise ValueError(f"invalid format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _json_record(result: MetricsResult) -> dict:
    return {
        "job_id": result.job_id,
        "job_type": result.job_type,
        "model_project_path": result.model_project_path,
        "response": _strict(result.raw),
    }


def _strict(value: Any) -> Any:
    """Replace NaN and infinities, which strict JSON cannot hold, by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def markdown_table(frame: pd.DataFrame) -> str:
    """Return a GitHub-flavoured Markdown table of `frame`, pipes escaped."""
    headers = [_markdown_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(value) for value in row) + " |")
    return "\n".join(lines)


def _markdown_cell(value: Any) -> str:
    if isinstance(value, float):
        text = "" if math.isnan(value) else f"{value:.4g}"
    else:
        text = "" if value is None else str(value)
    # Markdown renders inline HTML, so a class name such as <script> must be escaped.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


# --- saved results ------------------------------------------------------------


def result_document(
    raw: dict,
    *,
    job_id: str | None,
    job_type: str | None,
    model_project_path: str | None,
    warnings: Sequence[str] = (),
) -> dict:
    """Return a result as a strict-JSON document: the response plus the request that fetched it.

    NaN and infinities in the response become null. The keys are those of
    `ibmetrics fetch --format json`, plus `format`, `version` and the
    `warnings` of the original parse (such as duplicate keys, which strict
    JSON cannot keep).
    """
    return {
        "format": SAVED_FORMAT,
        "version": SAVED_VERSION,
        "job_id": job_id,
        "job_type": job_type,
        "model_project_path": model_project_path,
        "warnings": list(warnings),
        "response": _strict(raw),
    }


def read_result_document(document: Any, source: str) -> tuple[dict, dict]:
    """Check a saved-result document and return (response, keyword arguments of MetricsResult).

    Accepts documents written by `result_document` and the single-job output
    of `ibmetrics fetch --format json`. `source` names the file in errors.
    """
    if not isinstance(document, dict) or not isinstance(document.get("response"), dict):
        raise ResponseFormatError(
            f"{source} is not a saved result (expected an object with a 'response' object); "
            "for a response saved as is, use MetricsResult.from_json"
        )
    fmt = document.get("format", SAVED_FORMAT)
    version = document.get("version", SAVED_VERSION)
    if fmt != SAVED_FORMAT or not isinstance(version, int) or version > SAVED_VERSION:
        raise ResponseFormatError(
            f"{source} has format {fmt!r} version {version!r}; this version of ibmetrics_nb reads "
            f"{SAVED_FORMAT!r} up to version {SAVED_VERSION}"
        )
    warnings = document.get("warnings") or []
    options = {
        "job_id": _optional_text(document.get("job_id")),
        "job_type": _optional_text(document.get("job_type")),
        "model_project_path": _optional_text(document.get("model_project_path")),
        "warnings": [str(item) for item in warnings] if isinstance(warnings, list) else [],
    }
    return document["response"], options


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def save_result(result: MetricsResult, path: str | os.PathLike) -> Path:
    """Write a result to `path` as strict JSON (see `result_document`) and return the path."""
    document = result_document(
        result.raw,
        job_id=result.job_id,
        job_type=result.job_type,
        model_project_path=result.model_project_path,
        warnings=result._parse_warnings,
    )
    target = Path(path)
    write_text_atomic(target, json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return target


def load_result(path: str | os.PathLike) -> MetricsResult:
    """Read a result written by `save_result`."""
    from .parsing import load_json
    from .result import MetricsResult

    loaded = load_json(Path(path))
    response, options = read_result_document(loaded.data, str(path))
    return MetricsResult(response, **options)


def write_text_atomic(path: Path, text: str, mode: int | None = None, *, durable: bool = True) -> None:
    """Write `text` to `path` through a temporary file in the same folder and os.replace.

    Readers see the old file or the new one, never a partial write. `mode`
    sets the file's permissions (the temporary file starts as 0o600).
    `durable=False` skips the fsync, for files that may be lost in a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


# --- Excel --------------------------------------------------------------------


def sheet_name(title: str, used: set[str]) -> str:
    """Return a valid, unused Excel sheet name for `title` and add it to `used`.

    Excel allows at most 31 characters, none of `[]:*?/\\`, no leading or
    trailing apostrophe, and compares names without case. `used` contains the
    lower-cased names taken so far.
    """
    name = INVALID_SHEET_CHARACTERS.sub("_", str(title)).strip().strip("'").strip() or "Table"
    if name.lower() == "history":  # Excel reserves this name.
        name += "_"
    name = name[:MAX_SHEET_NAME]
    candidate = name
    number = 2
    while candidate.lower() in used:
        suffix = f" ({number})"
        candidate = name[: MAX_SHEET_NAME - len(suffix)].rstrip() + suffix
        number += 1
    used.add(candidate.lower())
    return candidate


def write_excel(result: MetricsResult, path: str | os.PathLike) -> Path:
    """Write a result as an Excel workbook and return the path.

    The first sheet is a summary (job, versions, record counts, headline
    F1, warnings and consistency findings). Then comes one sheet per table,
    with scores as fractions of 1, and sheets for the record counts per
    class and the hyperparameters. Text that starts with "=" is stored as
    text, never as a formula.
    """
    from openpyxl import Workbook

    workbook = Workbook()
    used: set[str] = set()
    summary = workbook.active
    summary.title = sheet_name("Summary", used)
    _write_rows(summary, [["item", "value"], *_summary_rows(result)])

    for title, frame in result.tables.items():
        sheet = workbook.create_sheet(sheet_name(title, used))
        header = [frame.index.name or "label", *(str(column) for column in frame.columns)]
        body = [[label, *values] for label, values in zip(frame.index, frame.itertuples(index=False, name=None))]
        _write_rows(sheet, [header, *body])

    classes = list(dict.fromkeys([*result.train_count, *result.test_count]))
    if classes:
        sheet = workbook.create_sheet(sheet_name("Record counts", used))
        rows = [[name, result.train_count.get(name), result.test_count.get(name)] for name in classes]
        _write_rows(sheet, [["class", "train records", "test records"], *rows])
    if result.hyperparams:
        sheet = workbook.create_sheet(sheet_name("Hyperparameters", used))
        _write_rows(sheet, [["name", "value"], *([name, value] for name, value in result.hyperparams.items())])

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(target)
    return target


def _summary_rows(result: MetricsResult) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["job_id", result.job_id],
        ["job_type", result.job_type],
        ["model_project_path", result.model_project_path],
        ["state", result.state],
        ["platform_version", result.platform_version],
        ["ibformers_version", result.ibformers_version],
        ["train_total", result.train_total],
        ["train_datasets", ", ".join(result.train_datasets)],
        ["test_total", result.test_total],
        ["test_datasets", ", ".join(result.test_datasets)],
    ]
    if result.headline is not None:
        title, label, value = result.headline
        rows.append([f"F1 ({label}, {title})", value])
    rows.extend(["warning", text] for text in result.warnings)
    rows.extend(["consistency finding", str(finding)] for finding in result.audit())
    return rows


def _write_rows(sheet: Any, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_excel_value(value) for value in row])
    # openpyxl stores any text that starts with "=" as a formula; data from a server must stay text.
    for cells in sheet.iter_rows():
        for cell in cells:
            if cell.data_type == "f":
                cell.data_type = "s"


def _excel_value(value: Any) -> Any:
    import pandas as pd
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if type(value).__module__ == "numpy":
        return _excel_value(value.item())
    if isinstance(value, (list, dict)):
        value = json.dumps(_strict(value), ensure_ascii=False)
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


# --- Markdown -------------------------------------------------------------------


def result_markdown(result: MetricsResult) -> str:
    """Return a Markdown report of a result: summary, warnings, then every table as sent.

    Table cells are the server's own text ("90.91%"), with pipes, line
    breaks and HTML special characters escaped.
    """
    from .display import summary_items

    lines = [f"# {_markdown_cell(result.job_id or 'Offline result')}", ""]
    lines.extend(f"- **{_markdown_cell(name)}:** {_markdown_cell(value)}" for name, value in summary_items(result))
    if result.warnings:
        lines.append("")
        lines.extend(f"> Warning: {_markdown_cell(text)}" for text in result.warnings)
    findings = result.audit() if result.is_finished else []
    if findings:
        lines.append("")
        lines.extend(f"> Consistency: {_markdown_cell(str(finding))}" for finding in findings)

    for table in result._tables:
        lines.extend(["", f"## {_markdown_cell(table.title)}", ""])
        if table.subtitle:
            lines.extend([_markdown_cell(table.subtitle), ""])
        if not table.headers:
            lines.append("(no headers and no rows)")
            continue
        lines.append("| " + " | ".join(_markdown_cell(header) for header in table.headers) + " |")
        lines.append("|" + "|".join("---" for _ in table.headers) + "|")
        lines.extend("| " + " | ".join(_markdown_cell(_raw_text(cell)) for cell in row) + " |" for row in table.rows)

    if result.hyperparams:
        lines.extend(["", "## Hyperparameters", "", "| name | value |", "|---|---|"])
        for name, value in result.hyperparams.items():
            lines.append(f"| {_markdown_cell(name)} | {_markdown_cell(_raw_text(value))} |")
    return "\n".join(lines) + "\n"


def _raw_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, (list, dict)):
        return json.dumps(_strict(cell), ensure_ascii=False)
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)
