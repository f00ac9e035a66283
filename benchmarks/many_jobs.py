"""Many running jobs: `client.get_many` against the ideal schedule and the plain loop.

Every job is RUNNING for `size.running_polls` requests and then finished,
and the sandbox adds `size.latency` seconds before every reply. The ideal
schedule is the larger of two bounds: one job's own polling time, and the
latency of all requests divided by the number of workers, since a job that
waits between polls occupies no worker. The plain loop is timed on
`size.plain_jobs` jobs and scaled to all of them, because it fetches one
job after another.

get_many runs once per worker count in `size.max_workers`, each time on
new job IDs, because the client's cache would return a job fetched before
without a request.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from typing import Any

from ibmetrics_nb.client import METRICS_PATH, MetricsClient
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, Job

from .baseline import plain_fetch
from .common import BenchmarkUnavailable, Figure, Size, keep_alive_request_seconds, make_jobs, running_sandbox
from .sandbox_process import SandboxProcess

NAME = "many_jobs"
MAX_IDEAL_RATIO = 1.5
MIN_SPEEDUP = 20.0
# The sandbox logs when it read a request, but get_many counts an interval from when its
# worker started the previous request. So when a request waits longer to be read than the
# next one (a burst of new connections on two cores), the logged gap falls short of the
# interval. A shortfall up to this fraction of the interval is allowed.
GAP_TOLERANCE_FRACTION = 0.05
# Slowest healthy keep-alive request to the sandbox at 0 ms latency; see keep_alive_request_seconds.
MAX_PROBE_SECONDS = 0.005


def poll_waits(client: MetricsClient, running_polls: int) -> list[float]:
    """Return the client's intervals between polls of a job that is RUNNING for `running_polls` polls.

    This is the backoff of `get_metrics` and `get_many`: `poll_interval`,
    then half as long again each time, up to `max_poll_interval`.
    """
    waits = []
    interval = client.poll_interval
    for _ in range(running_polls):
        waits.append(interval)
        interval = min(interval * 1.5, client.max_poll_interval)
    return waits


def ideal_seconds(client: MetricsClient, jobs: int, running_polls: int, latency: float, workers: int) -> float:
    """Return the ideal time to fetch `jobs` jobs: one job's own time, or all latency spread over the workers.

    One job's own time counts each interval from the moment the previous
    request was sent, as get_many schedules polls, so a poll is due one
    interval after the previous one or when its reply arrives, whichever
    is later. It ends with the latency of the last request.
    """
    one_job = sum(max(wait, latency) for wait in poll_waits(client, running_polls)) + latency
    all_latency = jobs * (running_polls + 1) * latency
    return max(one_job, all_latency / workers)


def first_round_bound_seconds(client: MetricsClient, jobs: int, running_polls: int, latency: float, workers: int) -> float:
    """Return a tighter lower bound than `ideal_seconds`, for context.

    The first requests of all jobs need `jobs / workers` latencies to go
    out, so the last job to start cannot finish before that spread plus
    its own polling time. `ideal_seconds` leaves this spread out.
    """
    one_job = sum(max(wait, latency) for wait in poll_waits(client, running_polls)) + latency
    spread = (math.ceil(jobs / workers) - 1) * latency
    return max(one_job + spread, ideal_seconds(client, jobs, running_polls, latency, workers))


def request_times_by_job(log: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Group the sandbox's request log by job id and sort each job's request times."""
    times: dict[str, list[float]] = defaultdict(list)
    for entry in log:
        if entry["path"] == METRICS_PATH and entry["query"].get("job_id"):
            times[entry["query"]["job_id"]].append(entry["time"])
    return {job_id: sorted(values) for job_id, values in times.items()}


def min_poll_gap(times_by_job: dict[str, list[float]]) -> float | None:
    """Return the shortest time between two requests for the same job, or None if no job had two."""
    gaps = [later - earlier for times in times_by_job.values() for earlier, later in zip(times, times[1:])]
    return min(gaps) if gaps else None


def schedule_report(times_by_job: dict[str, list[float]]) -> str:
    """Describe when each round of polls was sent: the n-th request of every job.

    A scheduler whose waiting jobs hold workers shows rounds that spread
    out over many seconds instead of starting one poll interval apart.
    """
    if not times_by_job:
        return "no requests were logged"
    start = min(times[0] for times in times_by_job.values())
    rounds = max(len(times) for times in times_by_job.values())
    lines = ["seconds after the first request, for the n-th request of every job", "round  requests     first    median      last"]
    for index in range(rounds):
        offsets = [times[index] - start for times in times_by_job.values() if len(times) > index]
        lines.append(
            f"{index + 1:5d}  {len(offsets):8d}  {min(offsets):8.3f}  {statistics.median(offsets):8.3f}  {max(offsets):8.3f}"
        )
    return "\n".join(lines)


def fetch_many(client: MetricsClient, jobs: list[Job], max_workers: int) -> Any:
    """Fetch every job with `client.get_many`, without a progress bar, and return the results.

    Raises if any job failed or came back unfinished.
    """
    get_many = getattr(client, "get_many", None)
    if get_many is None:
        raise BenchmarkUnavailable("MetricsClient.get_many does not exist in this version of ibmetrics_nb")
    many = get_many([(job.project, job.job_id) for job in jobs], max_workers=max_workers, progress=False)
    many.raise_for_errors()
    unfinished = [result.job_id for result in many if not result.is_finished]
    if len(many) != len(jobs) or unfinished:
        raise RuntimeError(f"get_many returned {len(many)} results for {len(jobs)} jobs, {len(unfinished)} of them unfinished")
    return many


def time_get_many(
    sandbox: SandboxProcess, size: Size, jobs: list[Job], workers: int
) -> tuple[float, float, float, dict[str, list[float]]]:
    """Fetch `jobs` with get_many and return the time, the ideal time, the tighter bound and the request times by job."""
    with MetricsClient(sandbox.url, sandbox.token, poll_interval=size.poll_interval) as client:
        started = time.perf_counter()
        fetch_many(client, jobs, workers)
        elapsed = time.perf_counter() - started
        ideal = ideal_seconds(client, len(jobs), size.running_polls, size.latency, workers)
        bound = first_round_bound_seconds(client, len(jobs), size.running_polls, size.latency, workers)
    ids = {job.job_id for job in jobs}
    times = {job_id: times for job_id, times in request_times_by_job(sandbox.request_log).items() if job_id in ids}
    return elapsed, ideal, bound, times


def run(size: Size) -> list[Figure]:
    """Fetch `size.jobs` running jobs with get_many for each worker count, then time the plain loop on a few others."""
    batches = {
        workers: make_jobs(CLASSIFICATION_PROJECT, size.jobs, size.job_classes, size.running_polls, f"bench-many-{workers}")
        for workers in size.max_workers
    }
    # One plain job more than are timed: the first one is the warm-up.
    plain = make_jobs(CLASSIFICATION_PROJECT, size.plain_jobs + 1, size.job_classes, size.running_polls, "bench-plain")
    all_jobs = [job for jobs in batches.values() for job in jobs] + plain

    figures = [probe_figure(size)]
    times_by_job: dict[str, list[float]] = {}
    elapsed_by_workers: dict[int, float] = {}
    with running_sandbox(all_jobs, size.latency, size.sandbox_nodelay) as sandbox:
        warm_up(sandbox, plain[0])
        for workers, jobs in batches.items():
            elapsed, ideal, bound, times = time_get_many(sandbox, size, jobs, workers)
            times_by_job.update(times)
            elapsed_by_workers[workers] = elapsed
            figures.append(
                Figure(
                    NAME,
                    f"get_many, max_workers={workers}: {size.jobs} jobs, each RUNNING for {size.running_polls} polls",
                    elapsed,
                    "s",
                    target=f"<= {MAX_IDEAL_RATIO:g}x ideal",
                    passed=elapsed <= MAX_IDEAL_RATIO * ideal,
                    baseline=ideal,
                    baseline_name="ideal schedule",
                    note=(
                        f"{sum(len(t) for t in times.values())} requests; bound with the first round's spread "
                        f"{bound:.2f} s ({elapsed / bound:.2f}x)"
                    ),
                    profile=lambda times=times: schedule_report(times),
                )
            )

        plain_started = time.perf_counter()
        for job in plain[1:]:
            plain_fetch(sandbox.url, sandbox.token, job.project, job.job_id, sleep=size.plain_sleep)
        plain_elapsed = time.perf_counter() - plain_started

    workers = size.max_workers[0]
    figures.append(plain_figure(size, workers, elapsed_by_workers[workers], plain_elapsed))
    figures.append(gap_figure(size, times_by_job))
    return figures


def warm_up(sandbox: SandboxProcess, job: Job) -> None:
    """Fetch one job with get_metrics and again with the plain loop, so that no timed run pays for first-use imports."""
    with MetricsClient(sandbox.url, sandbox.token, poll_interval=0.01, cache=False) as client:
        client.get_metrics(job.project, job.job_id)
    # Adding the job again restarts its RUNNING polls.
    sandbox.add_job(job)
    plain_fetch(sandbox.url, sandbox.token, job.project, job.job_id, sleep=0.01)


def probe_figure(size: Size) -> Figure:
    probe = keep_alive_request_seconds(size.sandbox_nodelay)
    return Figure(
        NAME,
        "sandbox check: one kept-alive request at 0 ms latency",
        probe,
        "s",
        target=f"< {MAX_PROBE_SECONDS * 1000:g} ms",
        passed=probe < MAX_PROBE_SECONDS,
        note="about 40 ms means replies stall on Nagle's algorithm; every get_many request pays it (--sandbox-nodelay)",
        profile=nodelay_report,
    )


def nodelay_report() -> str:
    """Compare a kept-alive request to the sandbox as it ships and with TCP_NODELAY set."""
    shipped = keep_alive_request_seconds(nodelay=False)
    nodelay = keep_alive_request_seconds(nodelay=True)
    return (
        f"median kept-alive request at 0 ms latency: {shipped * 1000:.1f} ms as the sandbox ships, "
        f"{nodelay * 1000:.1f} ms with TCP_NODELAY on its listening socket"
    )


def plain_figure(size: Size, workers: int, elapsed: float, plain_elapsed: float) -> Figure:
    plain_scaled = plain_elapsed / size.plain_jobs * size.jobs
    return Figure(
        NAME,
        f"get_many, max_workers={workers}, against the plain loop ({size.jobs} jobs)",
        elapsed,
        "s",
        target=f"<= 1/{MIN_SPEEDUP:g} of baseline",
        passed=elapsed * MIN_SPEEDUP <= plain_scaled,
        baseline=plain_scaled,
        baseline_name=f"plain loop, {size.plain_jobs} jobs scaled to {size.jobs}",
        note=f"{plain_scaled / elapsed:.0f}x faster; the plain loop took {plain_elapsed:.2f} s for {size.plain_jobs} jobs",
    )


def gap_figure(size: Size, times_by_job: dict[str, list[float]]) -> Figure:
    gap = min_poll_gap(times_by_job)
    tolerance = GAP_TOLERANCE_FRACTION * size.poll_interval
    max_requests_per_job = max((len(times) for times in times_by_job.values()), default=0)
    return Figure(
        NAME,
        "shortest time between two requests for one job",
        gap,
        "s",
        target=f">= poll_interval - {tolerance * 1000:g} ms",
        passed=gap is None or gap >= size.poll_interval - tolerance,
        note=f"over all get_many runs: {len(times_by_job)} jobs, at most {max_requests_per_job} requests for one job",
        profile=lambda: schedule_report(times_by_job),
    )
