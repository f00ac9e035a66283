"""Tests that the benchmarks still run, at the tiny size and without timing assertions.

The whole command runs once, in a subprocess from the repository root, as
a user runs it. The figures then come from its `--json` output. Timings at
the tiny size mean nothing, so only the shape of each figure is checked.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ibmetrics_nb.client import MetricsClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Figure  # noqa: E402
from benchmarks.many_jobs import (  # noqa: E402
    first_round_bound_seconds,
    ideal_seconds,
    min_poll_gap,
    request_times_by_job,
    schedule_report,
)
from benchmarks.run import exit_status, format_table  # noqa: E402

EXPECTED_BENCHMARKS = ("startup", "parsing", "display", "many_jobs", "cache")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("benchmarks")
    json_path = out / "figures.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--json", str(json_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"exit code {completed.returncode}\nstdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    report = json.loads(json_path.read_text(encoding="utf-8"))
    report["stdout"] = completed.stdout
    return report


def figures_of(report: dict, section: str) -> list[dict]:
    return [figure for figure in report["figures"] if figure["benchmark"] == section]


def assert_measured(figures: list[dict]) -> None:
    assert figures, "the benchmark produced no figures"
    for figure in figures:
        assert figure["name"] not in ("error", "not run"), figure["note"]
        assert isinstance(figure["value"], (int, float)), figure
        assert math.isfinite(figure["value"]), figure
        assert figure["value"] >= 0, figure
        assert figure["passed"] in (True, False, None), figure


def test_tiny_run_prints_table(tiny_run: dict) -> None:
    stdout = tiny_run["stdout"]
    assert "| Benchmark" in stdout
    assert "| Result" in stdout
    assert "targets met" in stdout
    assert "machine: " in stdout


def test_tiny_run_describes_machine(tiny_run: dict) -> None:
    machine = tiny_run["machine"]
    for key in ("cpus", "memory", "python", "pandas"):
        assert machine[key], key


# The parameter is not called `benchmark`, which is a fixture of pytest-benchmark.
@pytest.mark.parametrize("section", ["startup", "parsing", "display"])
def test_benchmark_measures_figures(tiny_run: dict, section: str) -> None:
    assert_measured(figures_of(tiny_run, section))


def test_startup_checks_imported_modules(tiny_run: dict) -> None:
    names = [figure["name"] for figure in figures_of(tiny_run, "startup")]
    assert "matplotlib or ipywidgets imported by %load_ext" in names
    assert "pandas or requests imported by %load_ext" in names


def test_parsing_has_baseline_ratio(tiny_run: dict) -> None:
    for figure in figures_of(tiny_run, "parsing"):
        assert figure["baseline"] > 0, figure
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"]), figure


def test_many_jobs_measures_figures(tiny_run: dict) -> None:
    if not hasattr(MetricsClient, "get_many"):
        pytest.skip("MetricsClient.get_many does not exist yet")
    figures = figures_of(tiny_run, "many_jobs")
    assert_measured(figures)
    # Five jobs, each RUNNING for two polls and then finished: three requests each.
    batch = next(figure for figure in figures if figure["name"].startswith("get_many, max_workers=4: 5 jobs"))
    assert batch["note"].startswith("15 requests;")
    gap = next(figure for figure in figures if figure["name"] == "shortest time between two requests for one job")
    assert "at most 3 requests for one job" in gap["note"]


def test_cache_measures_figures(tiny_run: dict) -> None:
    if "cache" not in inspect.signature(MetricsClient).parameters:
        pytest.skip("MetricsClient has no result cache yet")
    figures = figures_of(tiny_run, "cache")
    assert_measured(figures)
    requests = next(figure for figure in figures if figure["name"] == "requests sent by the re-run")
    assert requests["value"] == 0


def test_exit_status_needs_check_for_failures() -> None:
    failed = [Figure("parsing", "slow", 2.0, "s", target="< 1 s", passed=False)]
    passed = [Figure("parsing", "fast", 0.5, "s", target="< 1 s", passed=True)]

    assert exit_status(failed, errored=False, check=False) == 0
    assert exit_status(failed, errored=False, check=True) == 1
    assert exit_status(passed, errored=False, check=True) == 0
    assert exit_status(passed, errored=True, check=False) == 2


def test_format_table_shows_result_column() -> None:
    figures = [
        Figure("parsing", "slow", 2.0, "s", target="< 1 s", passed=False, baseline=1.0, baseline_name="plain"),
        Figure("display", "context", 0.001, "s"),
    ]
    table = format_table(figures).splitlines()

    assert "FAIL" in table[2]
    assert "2.00x" in table[2]
    assert "1.0 ms" in table[3]
    assert table[3].rstrip().endswith("|")


def test_poll_gap_from_request_log() -> None:
    def entry(job_id: str, at: float) -> dict:
        return {"time": at, "path": "/api/v2/model/metrics", "query": {"job_id": job_id}, "status": 200}

    log = [entry("a", 10.0), entry("b", 10.1), entry("a", 10.6), entry("b", 10.3), entry("a", 11.4)]
    log.append({"time": 10.2, "path": "/other", "query": {}, "status": 404})
    times = request_times_by_job(log)

    assert times == {"a": [10.0, 10.6, 11.4], "b": [10.1, 10.3]}
    assert min_poll_gap(times) == pytest.approx(0.2)
    assert min_poll_gap({"a": [1.0]}) is None
    assert "round" in schedule_report(times)


def test_ideal_schedule_bounds() -> None:
    client = MetricsClient("http://127.0.0.1:1", "token", poll_interval=0.5, max_poll_interval=30.0, cache=False)

    # 200 jobs of 3 requests at 50 ms: 30 s of latency, 3.75 s over 8 workers.
    assert ideal_seconds(client, 200, 2, 0.05, 8) == pytest.approx(3.75)
    # With 32 workers one job's own time wins: 0.5 s + 0.75 s between polls, then 50 ms.
    assert ideal_seconds(client, 200, 2, 0.05, 32) == pytest.approx(1.30)
    # The first round needs 7 latencies on 32 workers, so the last job starts 6 latencies late.
    assert first_round_bound_seconds(client, 200, 2, 0.05, 32) == pytest.approx(1.60)
    assert first_round_bound_seconds(client, 200, 2, 0.05, 8) == pytest.approx(3.75)
