"""Display cost and memory of a large result.

`_repr_html_` is timed on a fresh result each time, because a notebook shows
a result once, right after it is built, and the first call fills the
result's cached summary. Memory is what the result retains after `.tables`
and `.to_dataframe()`, measured with tracemalloc and compared with the size
of the response's JSON.
"""

from __future__ import annotations

import json
import statistics

from ibmetrics_nb.parsing import load_json
from ibmetrics_nb.result import MetricsResult

from .baseline import plain_parse
from .common import Figure, Size, cprofile_report, measure_memory, time_once, tracemalloc_report
from .parsing import build_result, large_body

NAME = "display"
MAX_HTML_SECONDS = 0.050
MAX_HTML_BYTES = 200_000
MAX_MEMORY_RATIO = 3.0


def _fresh_result(data: dict) -> MetricsResult:
    # One parsed document serves every repetition, which saves a second of parsing each time.
    # NOTE: this relies on MetricsResult not modifying `data`, which holds for this version
    # because read_tables copies the rows that it repairs.
    return MetricsResult(data, job_id="bench-display", job_type="training")


def html_figures(n_classes: int, repeats: int) -> list[Figure]:
    """Time `_repr_html_` on a response with `n_classes` classes and measure the HTML's size."""
    body = large_body(n_classes)
    data = load_json(body).data
    _fresh_result(data)._repr_html_()

    times = []
    html = ""
    for _ in range(repeats):
        result = _fresh_result(data)
        times.append(time_once(lambda: result._repr_html_()))
        html = result._repr_html_()
    seconds = statistics.median(times)
    html_bytes = len(html.encode("utf-8"))
    return [
        Figure(
            NAME,
            f"_repr_html_ of a {n_classes:,}-class result",
            seconds,
            "s",
            target=f"< {MAX_HTML_SECONDS * 1000:g} ms",
            passed=seconds < MAX_HTML_SECONDS,
            note=f"median of {repeats}, a fresh result each time",
            profile=lambda: cprofile_report(lambda: _fresh_result(data)._repr_html_()),
        ),
        Figure(
            NAME,
            f"HTML size of a {n_classes:,}-class result",
            html_bytes,
            "B",
            target=f"< {MAX_HTML_BYTES / 1000:g} KB",
            passed=html_bytes < MAX_HTML_BYTES,
        ),
    ]


def memory_figures(n_classes: int) -> list[Figure]:
    """Measure what a result retains after `.tables` and `.to_dataframe()`, against its JSON size."""
    body = large_body(n_classes)
    # The result keeps the bytes it is built from, as it keeps a response's body. A copy made
    # inside the measurement is counted, while `body` itself was allocated before it.
    _, retained, peak = measure_memory(lambda: build_result(bytes(memoryview(body))))
    _, loads_retained, _ = measure_memory(lambda: json.loads(body))
    _, plain_retained, plain_peak = measure_memory(lambda: plain_parse(body))
    json_size = len(body)
    return [
        Figure(
            NAME,
            f"memory retained by a {n_classes:,}-class result after tables + to_dataframe",
            retained,
            "B",
            target=f"<= {MAX_MEMORY_RATIO:g}x JSON",
            passed=retained <= MAX_MEMORY_RATIO * json_size,
            baseline=json_size,
            baseline_name="response JSON size",
            note="tracemalloc, including numpy buffers and the kept JSON bytes",
            profile=lambda: tracemalloc_report(lambda: build_result(bytes(memoryview(body)))),
        ),
        Figure(
            NAME,
            "peak memory while building it",
            peak,
            "B",
            baseline=json_size,
            baseline_name="response JSON size",
        ),
        Figure(
            NAME,
            "memory retained by json.loads of the same bytes",
            loads_retained,
            "B",
            baseline=json_size,
            baseline_name="response JSON size",
            note="the parsed document alone, which `raw` parses again on each access",
        ),
        Figure(
            NAME,
            "memory retained by the baseline: parsed document + plain DataFrames",
            plain_retained,
            "B",
            baseline=json_size,
            baseline_name="response JSON size",
            note=f"peak {plain_peak / 1e6:.1f} MB",
        ),
    ]


def run(size: Size) -> list[Figure]:
    """Measure the HTML for each class count in `size.display_classes`, then the memory."""
    figures = []
    for n_classes in size.display_classes:
        figures.extend(html_figures(n_classes, size.display_repeats))
    figures.extend(memory_figures(size.n_classes))
    return figures
