"""Figures, timing helpers and profiles shared by the benchmarks."""

from __future__ import annotations

import cProfile
import gc
import io
import json
import math
import pstats
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ibmetrics_nb.sandbox import METRICS_PATH, Job, make_classification_payload

from .sandbox_process import SandboxProcess

PROFILE_ENTRIES = 15


class BenchmarkUnavailable(Exception):
    """Raised by a benchmark whose package API does not exist in this version."""


@dataclass(frozen=True)
class Size:
    """The problem sizes, repetitions and sandbox settings of one run.

    `n_classes` sizes the parsing and memory response, `display_classes`
    the responses whose HTML is measured. `jobs` running jobs are fetched
    with get_many once per entry of `max_workers`, and `plain_jobs` others
    with the plain loop. Each job is RUNNING for `running_polls` requests
    and has `job_classes` classes. Times are in seconds: `latency` is added
    by the sandbox before each reply, `poll_interval` is the client's first
    interval between polls and `plain_sleep` the plain loop's sleep.
    """

    name: str
    startup_repeats: int
    n_classes: int
    parse_repeats: int
    typical_repeats: int
    display_classes: tuple[int, ...]
    display_repeats: int
    jobs: int
    plain_jobs: int
    running_polls: int
    job_classes: int
    latency: float
    poll_interval: float
    plain_sleep: float
    max_workers: tuple[int, ...]
    cache_jobs: int
    # Set by --sandbox-nodelay: turn off Nagle's algorithm on the sandbox's connections.
    sandbox_nodelay: bool = False


@dataclass
class Figure:
    """One measured figure, its baseline from the same run, and its target.

    `passed` is None for a figure shown for context only. `ratio` is
    `value / baseline` when both are given. `profile`, when set, re-runs the
    measured operation under a profiler and returns the report that the
    `--profile` option prints for a failed target.
    """

    benchmark: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None
    baseline: float | None = None
    baseline_name: str = ""
    note: str = ""
    profile: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def to_json(self) -> dict[str, Any]:
        """Return the figure as a JSON-ready dict, without the profile."""
        return {
            "benchmark": self.benchmark,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "target": self.target,
            "passed": self.passed,
            "note": self.note,
        }


def format_value(value: float | None, unit: str) -> str:
    """Format a figure with its unit, using a precision that suits its size."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "s":
        return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"
    if unit == "B":
        if value >= 1_000_000:
            return f"{value / 1_000_000:.1f} MB"
        return f"{value / 1000:.1f} KB" if value >= 1000 else f"{value:.0f} B"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "":
        return f"{value:g}"
    return f"{value:g} {unit}"


def format_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def time_once(func: Callable[[], Any]) -> float:
    """Return the wall time of one call in seconds, after a garbage collection."""
    gc.collect()
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def time_interleaved(funcs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Return the median time of each function over `repeats` calls.

    The functions run in turn (a, b, a, b, ...) so that a slow phase of a
    noisy machine weighs on all of them alike. One untimed call of each
    comes first, so imports and first-use caches are not counted.
    """
    for func in funcs.values():
        func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            times[name].append(time_once(func))
    return {name: statistics.median(values) for name, values in times.items()}


def measure_memory(build: Callable[[], Any]) -> tuple[Any, int, int]:
    """Return what `build` returns, the bytes still allocated after it, and the peak.

    Both figures come from tracemalloc, which also counts numpy's array
    buffers. Memory allocated before the call (such as the input bytes) is
    not counted, so the retained figure is the deep size of the returned value.
    """
    gc.collect()
    tracemalloc.start()
    try:
        value = build()
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, retained, peak


def cprofile_report(func: Callable[[], Any], entries: int = PROFILE_ENTRIES) -> str:
    """Run `func` under cProfile and return its top entries by cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(func)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(entries)
    return out.getvalue().strip()


def tracemalloc_report(build: Callable[[], Any], entries: int = PROFILE_ENTRIES) -> str:
    """Run `build` under tracemalloc and return the source lines whose allocations are still the largest afterwards."""
    gc.collect()
    tracemalloc.start(5)
    try:
        value = build()
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    del value
    lines = []
    for stat in snapshot.statistics("lineno")[:entries]:
        frame = stat.traceback[0]
        lines.append(f"{stat.size / 1_000_000:8.2f} MB  {stat.count:>9,} blocks  {frame.filename}:{frame.lineno}")
    return "\n".join(lines)


def encode_finished(payload: dict[str, Any]) -> bytes:
    """Return a finished payload as the sandbox sends it, with the status/state envelope."""
    return json.dumps({"status": "OK", "state": "DONE", **payload}).encode("utf-8")


def make_jobs(project: str, count: int, n_classes: int, running_polls: int, prefix: str) -> list[Job]:
    """Build `count` sandbox jobs with distinct classification payloads.

    Each body is encoded here, once, so that the server spends no time on
    JSON encoding while a benchmark is timed.
    """
    jobs = []
    for index in range(count):
        body = encode_finished(make_classification_payload(n_classes, seed=index))
        jobs.append(Job(project, f"{prefix}-{index:04d}", running_polls=running_polls, raw_body=body))
    return jobs


def running_sandbox(jobs: list[Job], latency: float, nodelay: bool) -> SandboxProcess:
    """Return a sandbox serving `jobs` in a child process, adding `latency` seconds before each reply.

    With `nodelay` its connections get TCP_NODELAY. Use the value as a context manager.
    """
    return SandboxProcess(jobs, latency=latency, nodelay=nodelay)


def keep_alive_request_seconds(nodelay: bool, repeats: int = 10) -> float:
    """Return the median time of one request over a kept-alive connection to a sandbox with no latency.

    A healthy loopback server returns a small response in about a
    millisecond. Some 40 ms means that replies stall (see
    `sandbox_process.set_nodelay`). That slows every client that keeps
    connections alive, as MetricsClient does, but not the plain loop,
    which opens a new connection for each request.
    """
    import requests

    job = make_jobs("bench/probe", 1, 5, 0, "bench-probe")[0]
    with running_sandbox([job], 0.0, nodelay) as sandbox, requests.Session() as session:
        url = sandbox.url + METRICS_PATH
        params = {"model_project_path": job.project, "job_id": job.job_id, "job_type": job.job_type}
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        times = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            session.get(url, params=params, headers=headers, timeout=10).raise_for_status()
            times.append(time.perf_counter() - started)
    # The first request opens the connection, so it is left out.
    return statistics.median(times[1:])
