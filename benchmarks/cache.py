"""The on-disk cache of finished jobs: a re-run against the first, uncached run.

The first run fetches `size.cache_jobs` finished jobs one after another into
an empty cache folder. The re-run uses a new client on the same folder, as
a restarted kernel would, and must send no request. A warm-up fetch of
another job comes first, so that neither run pays for first-use imports.
"""

from __future__ import annotations

import tempfile
import time

from ibmetrics_nb.client import MetricsClient
from ibmetrics_nb.result import MetricsResult
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, Job

from .common import BenchmarkUnavailable, Figure, Size, cprofile_report, make_jobs, running_sandbox
from .sandbox_process import SandboxProcess

NAME = "cache"
MAX_CACHED_RATIO = 0.05


def fetch_all(url: str, token: str, jobs: list[Job], cache_dir: str) -> tuple[float, list[MetricsResult]]:
    """Fetch every job with a new client on `cache_dir`, one after another, and return the time and the results."""
    try:
        client = MetricsClient(url, token, cache=cache_dir)
    except TypeError:
        raise BenchmarkUnavailable("MetricsClient takes no cache argument in this version of ibmetrics_nb") from None
    with client:
        started = time.perf_counter()
        results = [client.get_metrics(job.project, job.job_id) for job in jobs]
        return time.perf_counter() - started, results


def _serve_cache_jobs(size: Size) -> tuple[list[Job], list[Job], SandboxProcess]:
    # One extra job for the warm-up, which the measured runs never fetch.
    jobs = make_jobs(CLASSIFICATION_PROJECT, size.cache_jobs + 1, size.job_classes, 0, "bench-cache")
    return jobs[:1], jobs[1:], running_sandbox(jobs, size.latency, size.sandbox_nodelay)


def profile_cached_run(size: Size) -> str:
    """Fill a new cache, then return a cProfile report of the re-run."""
    warm_up, jobs, server = _serve_cache_jobs(size)
    with tempfile.TemporaryDirectory(prefix="ibmetrics-bench-cache-") as cache_dir, server as sandbox:
        fetch_all(sandbox.url, sandbox.token, warm_up, cache_dir)
        fetch_all(sandbox.url, sandbox.token, jobs, cache_dir)
        return cprofile_report(lambda: fetch_all(sandbox.url, sandbox.token, jobs, cache_dir))


def run(size: Size) -> list[Figure]:
    """Fetch the jobs into an empty cache, then fetch them again from it."""
    warm_up, jobs, server = _serve_cache_jobs(size)
    with tempfile.TemporaryDirectory(prefix="ibmetrics-bench-cache-") as cache_dir, server as sandbox:
        # The first warm-up fetch goes over HTTP and the second reads the cache, so both paths are warm.
        fetch_all(sandbox.url, sandbox.token, warm_up, cache_dir)
        fetch_all(sandbox.url, sandbox.token, warm_up, cache_dir)
        uncached, first = fetch_all(sandbox.url, sandbox.token, jobs, cache_dir)
        requests_before = sandbox.request_count
        cached, second = fetch_all(sandbox.url, sandbox.token, jobs, cache_dir)
        requests_sent = sandbox.request_count - requests_before
    changed = [a.job_id for a, b in zip(first, second) if a.table_titles != b.table_titles or a.raw != b.raw]
    if changed:
        raise RuntimeError(f"the cached results of {len(changed)} jobs differ from the fetched ones, such as {changed[0]!r}")

    return [
        Figure(
            NAME,
            f"re-run of {size.cache_jobs} finished jobs from the cache",
            cached,
            "s",
            target=f"< {MAX_CACHED_RATIO:.0%} of baseline",
            passed=cached < MAX_CACHED_RATIO * uncached,
            baseline=uncached,
            baseline_name="first, uncached run",
            note=f"sequential get_metrics, latency {size.latency * 1000:g} ms",
            profile=lambda: profile_cached_run(size),
        ),
        Figure(
            NAME,
            "requests sent by the re-run",
            requests_sent,
            "count",
            target="0",
            passed=requests_sent == 0,
            note=f"sandbox request_count before the re-run: {requests_before}",
            profile=lambda: profile_cached_run(size),
        ),
    ]
