"""HTML and text forms of a `MetricsResult`.

Small pure functions build static HTML: no JavaScript, sections collapse
with `<details>`, and every value from the response passes through
`html.escape`. Tables render from the raw cells, so showing a result never
builds the pandas frames, and each table is cut to a fixed number of rows
and columns so that the HTML stays small whatever the job's size. A table
that cannot be rendered becomes a one-line note, because every part of the
HTML renders inside a guard that turns an exception into that note.
"""

from __future__ import annotations

import html
import logging
import math
from typing import TYPE_CHECKING, Any

from . import parsing

if TYPE_CHECKING:
    from .result import MetricsResult

logger = logging.getLogger(__name__)

MAX_ROWS = 40
MAX_COLUMNS = 30
MAX_MATRIX_CLASSES = 25
MAX_HYPERPARAMS = 200
MAX_CELL_CHARS = 200
# The display audits results with up to this many classes, to stay fast;
# result.audit() checks any size.
MAX_AUDITED_CLASSES = 200

STYLE = """<style>
.ibm-result{font-size:13px;line-height:1.4;max-width:100%;overflow-x:auto}
.ibm-result table.ibm-table{border-collapse:collapse;margin:4px 0 8px 0}
.ibm-result table.ibm-table th,.ibm-result table.ibm-table td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 6px;text-align:right;white-space:nowrap}
.ibm-result table.ibm-table th{background:var(--jp-layout-color2,#f5f5f5);font-weight:600}
.ibm-result table.ibm-table td.ibm-label,.ibm-result table.ibm-table th.ibm-label{text-align:left}
.ibm-result tr.ibm-avg td{font-style:italic}
.ibm-result details{margin:4px 0}
.ibm-result summary{cursor:pointer;font-weight:600}
.ibm-result .ibm-sub,.ibm-result .ibm-note{color:var(--jp-ui-font-color2,#666);margin:2px 0}
.ibm-result .ibm-warn{color:var(--jp-warn-color0,#8a5300);background:var(--jp-warn-color3,#fff4e0);padding:2px 6px;margin:2px 0}
.ibm-result dl.ibm-summary{display:grid;grid-template-columns:max-content auto;gap:1px 12px;margin:4px 0}
.ibm-result dl.ibm-summary dt{font-weight:600;white-space:nowrap}
.ibm-result dl.ibm-summary dd{margin:0}
.ibm-result table.ibm-table td.ibm-ci{color:var(--jp-ui-font-color2,#666)}
</style>"""


# --- whole result -------------------------------------------------------------


def render_html(result: MetricsResult) -> str:
    """Return the result's HTML: summary, warnings, then one section per table."""
    parts = [STYLE, '<div class="ibm-result">', _safe(summary_html, result)]
    parts.extend(warning_html(text) for text in result.warnings)

    if result.is_finished:
        parts.append(_safe(consistency_html, result))
        parts.extend(
            _safe(lambda table: table_section_html(table, interval_columns(result, table)), table)
            for table in result._tables
        )
        if result.hyperparams:
            parts.append(_safe(hyperparams_html, result.hyperparams))
    parts.append("</div>")
    return "".join(parts)


def render_text(result: MetricsResult) -> str:
    """Return the plain-text form: the summary lines and one line per table."""
    lines = [f"{name}: {value}" for name, value in summary_items(result)]
    lines.extend(f"warning: {text}" for text in result.warnings)
    for table in result._tables:
        hidden = ", hidden by default" if not table.show else ""
        lines.append(f"table {table.title!r}: {len(table.rows)} rows x {max(len(table.headers) - 1, 0)} columns{hidden}")
    return "\n".join(lines)


def _safe(render: Any, value: Any) -> str:
    # A broken part of the response must not hide the rest of it.
    try:
        return render(value)
    except Exception as exc:  # noqa: BLE001 - display must never raise
        logger.debug("could not render %r", value, exc_info=True)
        return note_html(f"this part could not be shown ({type(exc).__name__}: {exc})")


# --- summary ----------------------------------------------------------------


def summary_items(result: MetricsResult) -> list[tuple[str, str]]:
    """Return the (name, value) pairs shown at the top of a result."""
    items = [("Job", result.job_id or "(offline result)")]
    if result.model_project_path:
        items.append(("Project", result.model_project_path))
    if result.job_type:
        items.append(("Job type", result.job_type))
    if not result.is_finished:
        items.append(("State", f"{result.state or 'unknown'}: not finished, fetch again later for its metrics"))
        return items

    items.append(("Versions", f"platform {result.platform_version or 'unknown'}, ibformers {result.ibformers_version or 'unknown'}"))
    items.append(("Train records", _records(result.train_total, result.train_count, result.train_datasets)))
    items.append(("Test records", _records(result.test_total, result.test_count, result.test_datasets)))
    headline = result.headline
    if headline is not None:
        title, label, value = headline
        items.append(("F1", f"{format_fraction(value)} ({label}, {title})"))
    return items


def _records(total: Any, counts: dict, datasets: list[str]) -> str:
    text = "unknown" if total is None else str(total)
    if counts:
        shown = list(counts.items())[:10]
        text += " (" + ", ".join(f"{name}: {count}" for name, count in shown)
        text += ", ..." if len(counts) > len(shown) else ""
        text += ")"
    if datasets:
        text += " from " + ", ".join(datasets[:5]) + (", ..." if len(datasets) > 5 else "")
    return text


def summary_html(result: MetricsResult) -> str:
    rows = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in summary_items(result))
    return f'<dl class="ibm-summary">{rows}</dl>'


def warning_html(text: str) -> str:
    return f'<div class="ibm-warn">&#9888; {esc(text)}</div>'


def note_html(text: str) -> str:
    return f'<p class="ibm-note">{esc(text)}</p>'


def format_fraction(value: float) -> str:
    """Format a fraction of 1 as a percentage with two decimals."""
    return "n/a" if value is None or math.isnan(value) else f"{value * 100:.2f}%"


# --- tables -----------------------------------------------------------------


def consistency_html(result: MetricsResult) -> str:
    """Return a one-line warning when the result's scores disagree with its own counts, else ''."""
    from .audit import display_findings, summary_line

    findings = display_findings(result, MAX_AUDITED_CLASSES)
    if findings is None:
        return note_html(
            f"the scores were not checked for consistency here, because the result has more than "
            f"{MAX_AUDITED_CLASSES} classes; result.audit() checks them"
        )
    return warning_html(summary_line(findings)) if findings else ""


def interval_columns(result: MetricsResult, table: parsing.RawTable) -> tuple[list[str], list[list[str]]] | None:
    """Return the 95% interval columns of a score table's shown rows, or None (see `stats`)."""
    if table.kind != parsing.SCORES:
        return None
    from .stats import display_interval_columns

    try:
        return display_interval_columns(result, table, MAX_ROWS, max_matrix_classes=MAX_AUDITED_CLASSES)
    except Exception:  # noqa: BLE001 - the table must still show without its intervals
        logger.debug("could not compute the intervals of %r", table.title, exc_info=True)
        return None


def table_section_html(table: parsing.RawTable, extra_columns: tuple[list[str], list[list[str]]] | None = None) -> str:
    """Return one collapsible section; tables with `show: false` start closed.

    `extra_columns` (headers, cells of each shown row) is appended to the
    table's grid, as the interval columns of a score table are.
    """
    body = [f'<p class="ibm-sub">{esc(table.subtitle)}</p>' if table.subtitle else ""]
    body.extend(note_html(problem) for problem in table.problems)

    if table.kind == parsing.CONFUSION:
        body.append(confusion_html(table))
    elif table.kind == parsing.LOSS:
        body.append(loss_svg(table))
        body.append(grid_html(table))
    else:
        body.append(grid_html(table, extra_columns))

    size = f"{len(table.rows)} rows"
    opened = " open" if table.show else ""
    return f"<details{opened}><summary>{esc(table.title)} <small>({size})</small></summary>{''.join(body)}</details>"


def grid_html(table: parsing.RawTable, extra_columns: tuple[list[str], list[list[str]]] | None = None) -> str:
    """Return the table's cells as an HTML table, cut to MAX_ROWS x MAX_COLUMNS."""
    if not table.headers:
        return note_html("no headers and no rows")

    headers = table.headers[: MAX_COLUMNS + 1]
    rows = table.rows[:MAX_ROWS]
    extra_headers, extra_cells = extra_columns or ([], [])
    head = "".join(
        f'<th class="ibm-label">{esc(h)}</th>' if i == 0 else f"<th>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    head += "".join(f"<th>{esc(h)}</th>" for h in extra_headers)
    body = "".join(
        _row_html(row, len(headers), table.kind == parsing.SCORES, extra_cells[i] if i < len(extra_cells) else None)
        for i, row in enumerate(rows)
    )
    grid = f'<table class="ibm-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return grid + cut_note(table.title, len(table.rows), len(rows), len(table.headers), len(headers))


def _row_html(row: list[Any], width: int, mark_averages: bool, extra: list[str] | None = None) -> str:
    label = row[0] if row else ""
    cells = "".join(f"<td>{esc(format_cell(cell))}</td>" for cell in row[1:width])
    cells += "".join(f'<td class="ibm-ci">{esc(text)}</td>' for text in extra or [])
    css = ' class="ibm-avg"' if mark_averages and parsing.is_average_label(label) else ""
    return f'<tr{css}><td class="ibm-label">{esc(format_cell(label))}</td>{cells}</tr>'


def cut_note(title: str, total_rows: int, shown_rows: int, total_columns: int, shown_columns: int) -> str:
    """Say what a cut table left out and where the full data is."""
    left_out = []
    if shown_rows < total_rows:
        left_out.append(f"{total_rows - shown_rows:,} of {total_rows:,} rows")
    if shown_columns < total_columns:
        left_out.append(f"{total_columns - shown_columns:,} of {total_columns - 1:,} columns")
    if not left_out:
        return ""
    return note_html(f"{' and '.join(left_out)} not shown; the full table is result.tables[{title!r}]")


def format_cell(cell: Any) -> str:
    """Return a cell as the server sent it, shortened to MAX_CELL_CHARS."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        text = f"{cell:.6g}"
    else:
        text = str(cell)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 3] + "..."


def confusion_html(table: parsing.RawTable) -> str:
    """Return the confusion matrix with each cell shaded by its count."""
    classes = table.headers[1:]
    shown = min(len(classes), MAX_MATRIX_CLASSES)
    rows = [row[: shown + 1] for row in table.rows[:shown]]
    counts = [[_count(cell) for cell in row[1:]] for row in rows]
    peak = max((c for row in counts for c in row), default=0) or 1

    head = '<th class="ibm-label">true \\ predicted</th>' + "".join(f"<th>{esc(c)}</th>" for c in classes[:shown])
    body = []
    for row, row_counts in zip(rows, counts):
        cells = "".join(_shaded_cell(cell, count, peak) for cell, count in zip(row[1:], row_counts))
        body.append(f'<tr><td class="ibm-label">{esc(format_cell(row[0]))}</td>{cells}</tr>')
    grid = f'<table class="ibm-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

    note = ""
    if shown < len(classes) or shown < len(table.rows):
        note = note_html(
            f"showing {shown} of {len(classes):,} classes; the full matrix is result.confusion_df"
        )
    return grid + note


def _count(cell: Any) -> float:
    value = parsing.to_number(cell)
    return 0.0 if value is None or math.isnan(value) else value


def _shaded_cell(cell: Any, count: float, peak: float) -> str:
    alpha = max(0.0, min(count / peak, 1.0))
    color = "#fff" if alpha > 0.6 else "inherit"
    return f'<td style="background:rgba(31,119,180,{alpha:.2f});color:{color}">{esc(format_cell(cell))}</td>'


def loss_svg(table: parsing.RawTable, width: int = 360, height: int = 180) -> str:
    """Return the loss curve as an inline SVG line chart, one line per split."""
    epochs = [parsing.epoch_number(h, i) for i, h in enumerate(table.headers[1:], start=1)]
    series = []
    for row in table.rows:
        points = [(e, parsing.to_number(v)) for e, v in zip(epochs, row[1:])]
        points = [(e, v) for e, v in points if v is not None and math.isfinite(v)]
        if points:
            series.append((format_cell(row[0]), points))
    if not series:
        return note_html("no loss values to plot")

    values = [v for _, points in series for _, v in points]
    return _line_chart(series, min(epochs), max(epochs), min(values), max(values), width, height)


def _line_chart(series: list, x_min: float, x_max: float, y_min: float, y_max: float, width: int, height: int) -> str:
    left, right, top, bottom = 44, 90, 10, 28
    span_x = (x_max - x_min) or 1
    span_y = (y_max - y_min) or 1
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")

    def position(x: float, y: float) -> str:
        px = left + (x - x_min) / span_x * (width - left - right)
        py = top + (1 - (y - y_min) / span_y) * (height - top - bottom)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11" font-family="sans-serif">',
        "<title>Loss per epoch</title>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" fill="currentColor">{y_max:.3g}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" fill="currentColor">{y_min:.3g}</text>',
        f'<text x="{left}" y="{height - 10}" fill="currentColor">epoch {x_min:g}</text>',
        f'<text x="{width - right}" y="{height - 10}" text-anchor="end" fill="currentColor">{x_max:g}</text>',
    ]
    for index, (name, points) in enumerate(series[: len(colors)]):
        color = colors[index]
        path = " ".join(position(x, y) for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{width - right + 6}" y="{top + 14 * (index + 1)}" fill="{color}">{esc(name[:14])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hyperparams_html(hyperparams: dict) -> str:
    """Return the hyperparameters as a collapsed name/value table."""
    items = list(hyperparams.items())
    rows = "".join(
        f'<tr><td class="ibm-label">{esc(name)}</td><td class="ibm-label">{esc(format_cell(value))}</td></tr>'
        for name, value in items[:MAX_HYPERPARAMS]
    )
    grid = f'<table class="ibm-table"><thead><tr><th class="ibm-label">name</th><th class="ibm-label">value</th></tr></thead><tbody>{rows}</tbody></table>'
    note = ""
    if len(items) > MAX_HYPERPARAMS:
        note = note_html(f"{len(items) - MAX_HYPERPARAMS:,} of {len(items):,} hyperparameters not shown; all are in result.hyperparams")
    return f"<details><summary>Hyperparameters <small>({len(items)})</small></summary>{grid}{note}</details>"


def esc(value: Any) -> str:
    """Escape any value for HTML text and attributes."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)

