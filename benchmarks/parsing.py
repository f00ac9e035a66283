"""Parsing cost: a MetricsResult, its `.tables` and `.to_dataframe()`, against the plain baseline.

Both sides start from the same response bytes, as the server sends them.
The package side is `MetricsResult.from_json(body)` followed by `.tables`
and `.to_dataframe()`, which is what the client does with a finished
response plus what a user then asks for. The baseline is `json.loads` and
`pd.DataFrame(rows, columns=headers)` per table. Imports and first-use
caches are excluded by one untimed call of each.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from ibmetrics_nb.result import MetricsResult
from ibmetrics_nb.sandbox import make_classification_payload, read_data_file, splice_envelope

from .baseline import plain_tables
from .common import Figure, Size, cprofile_report, encode_finished, time_interleaved, time_once

if TYPE_CHECKING:
    import pandas as pd

NAME = "parsing"
MAX_RATIO = 2.0
MAX_TYPICAL_SECONDS = 0.005
# The example responses in the sandbox's data folder that are valid JSON.
TYPICAL_FILES = ("classification-training.json", "extraction-training.json")


def build_result(body: bytes) -> tuple[MetricsResult, pd.DataFrame]:
    """Build a result and everything the parsing target counts: the tables and the long frame."""
    result = MetricsResult.from_json(body)
    result.tables
    return result, result.to_dataframe()


def large_body(n_classes: int) -> bytes:
    """Return the finished response of a generated classification job with `n_classes` classes."""
    return encode_finished(make_classification_payload(n_classes))


def run(size: Size) -> list[Figure]:
    """Time the large response against the baseline, then each typical response."""
    body = large_body(size.n_classes)
    medians = time_interleaved(
        {"package": lambda: build_result(body), "baseline": lambda: plain_tables(body)},
        size.parse_repeats,
    )
    figures = [
        Figure(
            NAME,
            f"{size.n_classes:,}-class response ({len(body) / 1e6:.1f} MB): result + tables + to_dataframe",
            medians["package"],
            "s",
            target=f"<= {MAX_RATIO:g}x baseline",
            passed=medians["package"] <= MAX_RATIO * medians["baseline"],
            baseline=medians["baseline"],
            baseline_name="json.loads + pd.DataFrame per table",
            note=f"median of {size.parse_repeats}",
            profile=lambda: cprofile_report(lambda: build_result(body)),
        )
    ]

    for name in TYPICAL_FILES:
        typical = splice_envelope(read_data_file(name))
        build_result(typical)
        plain_tables(typical)
        package_times = [time_once(lambda: build_result(typical)) for _ in range(size.typical_repeats)]
        baseline_times = [time_once(lambda: plain_tables(typical)) for _ in range(size.typical_repeats)]
        package = statistics.median(package_times)
        figures.append(
            Figure(
                NAME,
                f"typical response {name} ({len(typical):,} B): result + tables + to_dataframe",
                package,
                "s",
                target=f"< {MAX_TYPICAL_SECONDS * 1000:g} ms",
                passed=package < MAX_TYPICAL_SECONDS,
                baseline=statistics.median(baseline_times),
                baseline_name="json.loads + pd.DataFrame per table",
                note=f"median of {size.typical_repeats}",
                profile=lambda typical=typical: cprofile_report(lambda: build_result(typical)),
            )
        )
    return figures
