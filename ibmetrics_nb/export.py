"""Text exports of results: fixed-width tables, JSON, CSV and Markdown."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .result import MetricsResult

FORMATS = ("table", "json", "csv", "markdown")


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
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")
