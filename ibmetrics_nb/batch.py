"""Fetch many jobs at once: `MetricsClient.get_many` and its `ManyResults`.

A scheduler in the caller's thread keeps a heap of jobs ordered by the
time of their next poll and hands each due poll, one request as
`fetch_once` sends it, to a thread pool. A job that waits between polls
occupies no worker, so the pool stays busy with the jobs that are due. A
batch of running jobs then takes about as long as the slowest job's own
polling, or as the pool needs for all requests, whichever is longer.

Each job is polled as `get_metrics` polls it: every `poll_interval`
seconds at first, growing by half each time up to the client's
`max_poll_interval` (or `poll_interval`, if that is longer). The wait is
counted from the previous reply, so no job gets more than one request per
`poll_interval`, however long a request waited for a connection.

All workers share the client's session, whose connection pool is enlarged
to `max_workers` connections when it is smaller.
NOTE: requests does not document Session as thread-safe. The workers share
it because urllib3's connection pool is thread-safe and http.cookiejar
locks its cookie jar. A custom session given to the client must allow this too.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Union, overload

from .client import (
    FAILED_STATES,
    FINISHED_STATES,
    WAITING_STATES,
    _failure_message,
    _positive,
    check_job,
    job_state,
)
from .errors import CancelledError, IbMetricsError, InvalidRequestError, JobFailedError, MetricsTimeoutError
from .progress import BatchStatus, ProgressReporter, make_reporter

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from .client import MetricsClient
    from .comparison import Comparison
    from .result import MetricsResult

logger = logging.getLogger(__name__)

JobSpec = Union[str, tuple[str, str], tuple[str, str, str]]
# Maximum wait for a reply, in seconds, before the scheduler checks `cancel` and redraws the progress.
SCHEDULER_TICK = 0.1


class JobKey(NamedTuple):
    """A job as the metrics endpoint names it."""

    project: str
    job_id: str
    job_type: str

    def __str__(self) -> str:
        return self.job_id if self.job_type == "training" else f"{self.job_id} ({self.job_type})"


def normalize_jobs(jobs: Iterable[JobSpec], project: str | None = None, job_type: str = "training") -> list[JobKey]:
    """Check every job before any request and return their keys, duplicates removed, in order."""
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
        raise InvalidRequestError(
            f"invalid jobs {jobs!r}: expected a list of job IDs (with project=...) or of (project, job_id[, job_type]) tuples"
        )
    keys: list[JobKey] = []
    for position, spec in enumerate(jobs, start=1):
        if isinstance(spec, str):
            if project is None:
                raise InvalidRequestError(
                    f"job {spec!r} (item {position}) has no project: pass project=... or give (project, job_id) tuples"
                )
            parts = (project, spec, job_type)
        elif isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
            parts = (spec[0], spec[1], spec[2] if len(spec) == 3 else job_type)
        else:
            raise InvalidRequestError(
                f"invalid job {spec!r} (item {position}): expected a job ID or a (project, job_id[, job_type]) tuple"
            )
        keys.append(JobKey(*check_job(*parts)))

    unique = list(dict.fromkeys(keys))
    if len(unique) < len(keys):
        logger.info("%d duplicate job(s) in the list are fetched once", len(keys) - len(unique))
    return unique


# --- results --------------------------------------------------------------


class ManyResults(Sequence):
    """The outcome of `get_many`: a sequence of the successful results, in the order asked.

    `jobs` lists every job asked for, `results` the results of those that
    succeeded, and `errors` maps each failed job to its exception. Index by
    position to get a result, or by job ID or `JobKey` to get that job's
    result (raising its error if it failed).
    """

    def __init__(
        self,
        jobs: Sequence[JobKey],
        outcomes: dict[JobKey, Any],
        *,
        elapsed: float = 0.0,
        requests: int = 0,
    ) -> None:
        self._jobs = list(jobs)
        self._outcomes = dict(outcomes)
        self.elapsed = elapsed
        self.requests = requests

    @property
    def jobs(self) -> list[JobKey]:
        """Every job asked for, in order, duplicates removed."""
        return list(self._jobs)

    @property
    def results(self) -> list[MetricsResult]:
        """The results of the jobs that succeeded, in the order asked."""
        return [self._outcomes[job] for job in self._jobs if not isinstance(self._outcomes.get(job), BaseException)]

    @property
    def errors(self) -> dict[JobKey, BaseException]:
        """Each failed job and its exception, in the order asked."""
        return {job: self._outcomes[job] for job in self._jobs if isinstance(self._outcomes.get(job), BaseException)}

    @property
    def ok(self) -> bool:
        """Whether every job succeeded."""
        return not self.errors

    def outcome(self, job: str | JobKey) -> Any:
        """Return a job's result or its exception, without raising it."""
        return self._outcomes[self._key(job)]

    def get(self, job: str | JobKey) -> MetricsResult:
        """Return a job's result, or raise the exception that it failed with."""
        outcome = self.outcome(job)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _key(self, job: str | JobKey) -> JobKey:
        if isinstance(job, tuple):
            key = JobKey(*job) if len(job) == 3 else None
            if key in self._outcomes:
                return key
            raise KeyError(f"job {job!r} was not in the batch")
        matches = [key for key in self._jobs if key.job_id == job]
        if not matches:
            raise KeyError(f"job {job!r} was not in the batch")
        if len(matches) > 1:
            raise InvalidRequestError(
                f"job ID {job!r} names {len(matches)} jobs of the batch; pass a (project, job_id, job_type) key"
            )
        return matches[0]

    @overload
    def __getitem__(self, index: int) -> MetricsResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[MetricsResult]: ...

    @overload
    def __getitem__(self, index: str | JobKey) -> MetricsResult: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, slice)):
            return self.results[index]
        return self.get(index)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[MetricsResult]:
        return iter(self.results)

    def raise_for_errors(self) -> None:
        """Raise an `IbMetricsError` that counts the failed jobs and names the first, if any failed."""
        errors = self.errors
        if not errors:
            return
        job, error = next(iter(errors.items()))
        raise IbMetricsError(
            f"{len(errors)} of {len(self._jobs)} jobs failed, first {job}: {type(error).__name__}: {error}; "
            f"see .errors for all of them"
        ) from error

    def to_dataframe(self, intervals: bool = False) -> pd.DataFrame:
        """Return the scores of every successful job as one long frame (see `MetricsResult.to_dataframe`)."""
        import pandas as pd

        from .frames import empty_score_rows

        frames = [result.to_dataframe(intervals=intervals) for result in self.results]
        return pd.concat(frames, ignore_index=True) if frames else empty_score_rows()

    def compare(self, **options: Any) -> Comparison:
        """Compare the successful results; the options are those of `ibmetrics_nb.compare`."""
        from .comparison import compare

        return compare(self.results, **options)

    def summary(self) -> str:
        """Return one line: how many jobs succeeded and failed, requests and time."""
        failed = len(self.errors)
        return (
            f"{len(self._jobs)} jobs: {len(self._jobs) - failed} fetched, {failed} failed; "
            f"{self.requests} request{'' if self.requests == 1 else 's'} in {self.elapsed:.1f} s"
        )

    def __repr__(self) -> str:
        return f"<ManyResults jobs={len(self._jobs)} results={len(self.results)} errors={len(self.errors)}>"

    def _repr_html_(self) -> str:
        return _many_results_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        lines = [self.summary()]
        lines.extend(f"{job}: {type(error).__name__}: {error}" for job, error in list(self.errors.items())[:20])
        return {"text/plain": "\n".join(lines), "text/html": self._repr_html_()}


def _many_results_html(many: ManyResults) -> str:
    """Return the batch as static HTML: the summary line, then failed jobs first, one row each."""
    from .display import MAX_ROWS, STYLE, esc, format_fraction, note_html

    projects = {job.project for job in many.jobs}
    rows = []
    ordered = sorted(many.jobs, key=lambda job: not isinstance(many.outcome(job), BaseException))
    for job in ordered[:MAX_ROWS]:
        outcome = many.outcome(job)
        if isinstance(outcome, BaseException):
            text = f"{type(outcome).__name__}: {outcome}"
            cell = f'<td class="ibm-label ibm-warn">{esc(text)}</td>'
        elif not outcome.is_finished:
            cell = f'<td class="ibm-label">{esc(f"state {outcome.state}: not finished")}</td>'
        elif outcome.headline is not None:
            title, label, value = outcome.headline
            cell = f'<td class="ibm-label">{esc(f"F1 {format_fraction(value)} ({label}, {title})")}</td>'
        else:
            cell = f'<td class="ibm-label">{esc(f"{len(outcome.table_titles)} tables")}</td>'
        project = f'<td class="ibm-label">{esc(job.project)}</td>' if len(projects) > 1 else ""
        rows.append(f'<tr><td class="ibm-label">{esc(job.job_id)}</td><td class="ibm-label">{esc(job.job_type)}</td>{project}{cell}</tr>')

    project_head = '<th class="ibm-label">project</th>' if len(projects) > 1 else ""
    head = f'<tr><th class="ibm-label">job</th><th class="ibm-label">type</th>{project_head}<th class="ibm-label">outcome</th></tr>'
    table = f'<table class="ibm-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    note = ""
    if len(ordered) > MAX_ROWS:
        note = note_html(f"{len(ordered) - MAX_ROWS:,} of {len(ordered):,} jobs not shown; all are in .jobs, .results and .errors")
    where = f"<p>{esc('Project: ' + next(iter(projects)))}</p>" if len(projects) == 1 else ""
    return f'{STYLE}<div class="ibm-result"><p><b>{esc(many.summary())}</b></p>{where}{table}{note}</div>'


# --- scheduling -----------------------------------------------------------


@dataclass
class _Job:
    key: JobKey
    interval: float
    polls: int = 0
    first_sent: float | None = None
    state: str = "not polled"
    unknown_state_logged: bool = False


@dataclass
class _Reply:
    key: JobKey
    sent: float
    received: float = 0.0
    state: str = ""
    data: dict | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Scheduler:
    client: MetricsClient
    keys: list[JobKey]
    outcomes: dict[JobKey, Any]
    workers: int
    wait: bool
    max_wait: float
    interval: float
    cancel: threading.Event | None
    reporter: ProgressReporter
    total: int
    started: float
    requests: int = 0
    _heap: list[tuple[float, int, JobKey]] = field(default_factory=list)
    _replies: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    _in_flight: int = 0
    _sequence: int = 0

    def run(self) -> None:
        jobs = {key: _Job(key, self.interval) for key in self.keys}
        now = time.monotonic()
        for key in self.keys:
            self._push(now, key)

        executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ibmetrics-fetch")
        try:
            while self._heap or self._in_flight:
                if self.cancel is not None and self.cancel.is_set():
                    self._cancel_unfinished(jobs)
                    break
                self._dispatch_due(executor, jobs)
                self._collect_replies(jobs)
                self.reporter.update(self.status())
        finally:
            # Requests still in flight after a cancel or an interrupt end on their own; their replies are dropped.
            executor.shutdown(wait=not self._in_flight, cancel_futures=True)

    def status(self) -> BatchStatus:
        failed = sum(1 for outcome in self.outcomes.values() if isinstance(outcome, BaseException))
        return BatchStatus(
            total=self.total,
            fetched=len(self.outcomes) - failed,
            failed=failed,
            requests=self.requests,
            elapsed=time.monotonic() - self.started,
        )

    def _push(self, due: float, key: JobKey) -> None:
        heapq.heappush(self._heap, (due, self._sequence, key))
        self._sequence += 1

    def _dispatch_due(self, executor: ThreadPoolExecutor, jobs: dict[JobKey, _Job]) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            _, _, key = heapq.heappop(self._heap)
            executor.submit(self._poll, key)
            self._in_flight += 1

    def _collect_replies(self, jobs: dict[JobKey, _Job]) -> None:
        timeout = SCHEDULER_TICK
        if self._heap:
            timeout = min(timeout, max(self._heap[0][0] - time.monotonic(), 0.0))
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._in_flight -= 1
            self.requests += 1
            self._handle(reply, jobs[reply.key])
            try:
                reply = self._replies.get_nowait()
            except queue.Empty:
                return

    def _poll(self, key: JobKey) -> None:
        """Send one request for `key` in a worker thread and queue the reply.

        Every Exception is caught and queued as the job's error, so one job's
        failure never ends the batch.
        """
        sent = time.monotonic()
        reply = _Reply(key, sent)
        try:
            loaded = self.client._fetch(*key)
            reply.data = loaded.data
            reply.state = job_state(loaded.data)
            finished = reply.state in FINISHED_STATES
            if finished or (not self.wait and reply.state not in FAILED_STATES):
                if finished:
                    self.client._store_in_cache(loaded.data, loaded.warnings, *key)
                reply.result = self.client._result(loaded, *key)
        except Exception as exc:  # noqa: BLE001 - every failure belongs to its job
            if not isinstance(exc, IbMetricsError):
                logger.warning("unexpected error while fetching job %s", key, exc_info=True)
            reply.error = exc
        reply.received = time.monotonic()
        self._replies.put(reply)

    def _handle(self, reply: _Reply, job: _Job) -> None:
        key = job.key
        job.polls += 1
        if job.first_sent is None:
            job.first_sent = reply.sent
        if reply.error is not None:
            self.outcomes[key] = reply.error
            return
        job.state = reply.state
        if reply.result is not None:
            self.outcomes[key] = reply.result
            return
        if reply.state in FAILED_STATES:
            self.outcomes[key] = JobFailedError(_failure_message(reply.data or {}, key.job_id, reply.state))
            return

        if reply.state not in WAITING_STATES and not job.unknown_state_logged:
            logger.info("job %s reports the unknown state %r; waiting as if it were running", key.job_id, reply.state)
            job.unknown_state_logged = True
        elapsed = time.monotonic() - job.first_sent
        if elapsed >= self.max_wait:
            self.outcomes[key] = MetricsTimeoutError(
                f"job {key.job_id} is still {reply.state} after {elapsed:.0f} s and {job.polls} polls "
                f"(max_wait is {self.max_wait:g} s); wait longer with a larger max_wait"
            )
            return
        # Counting from the reply keeps requests one interval apart at the server too, because
        # a request that waited for a connection or the GIL left later than `sent` records.
        due = min(reply.received + job.interval, job.first_sent + self.max_wait)
        # max_poll_interval caps the growth; it never shortens the interval asked for.
        job.interval = min(job.interval * 1.5, max(self.client.max_poll_interval, self.interval))
        self._push(due, key)

    def _cancel_unfinished(self, jobs: dict[JobKey, _Job]) -> None:
        for key, job in jobs.items():
            if key in self.outcomes:
                continue
            state = f"{job.state} after {job.polls} polls" if job.polls else "before its first reply"
            self.outcomes[key] = CancelledError(f"stopped waiting for job {key.job_id} ({state})")
        self._heap.clear()


def fetch_many(
    client: MetricsClient,
    jobs: Iterable[JobSpec],
    *,
    project: str | None = None,
    job_type: str = "training",
    max_workers: int = 8,
    wait: bool = True,
    max_wait: float | None = None,
    poll_interval: float | None = None,
    progress: bool | Callable[[BatchStatus], None] | None = True,
    cancel: threading.Event | None = None,
    refresh: bool = False,
) -> ManyResults:
    """Fetch many jobs concurrently with `client` and return a `ManyResults`.

    Every job is checked before the first request. Jobs in the client's
    cache are read from it without a request, unless `refresh=True`. The
    others are polled as `get_metrics` polls one job, with at most
    `max_workers` requests at a time. `max_wait` applies to each job from
    its first request. A job that fails (HTTP error, failed job, timeout)
    is put in `.errors` and the batch goes on. Setting `cancel` ends the
    batch at once: unfinished jobs get a `CancelledError`. `progress` is
    True for a progress bar (a notebook widget or one stderr line), False
    for none, or a callable that receives each `BatchStatus`.
    """
    keys = normalize_jobs(jobs, project, job_type)
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidRequestError(f"invalid max_workers {max_workers!r}: expected an integer of 1 or more")
    max_wait = client.max_wait if max_wait is None else _positive("max_wait", max_wait, allow_zero=True)
    interval = client.poll_interval if poll_interval is None else _positive("poll_interval", poll_interval)

    started = time.monotonic()
    outcomes: dict[JobKey, Any] = {}
    if not refresh:
        for key in keys:
            cached = client._cached_result(*key)
            if cached is not None:
                outcomes[key] = cached

    reporter = make_reporter(progress, len(keys))
    to_fetch = [key for key in keys if key not in outcomes]
    scheduler = _Scheduler(
        client=client,
        keys=to_fetch,
        outcomes=outcomes,
        workers=min(max_workers, max(len(to_fetch), 1)),
        wait=wait,
        max_wait=max_wait,
        interval=interval,
        cancel=cancel,
        reporter=reporter,
        total=len(keys),
        started=started,
    )
    try:
        if to_fetch:
            ensure_pool_size(client, max_workers)
            scheduler.run()
    finally:
        reporter.close(scheduler.status())

    many = ManyResults(keys, outcomes, elapsed=time.monotonic() - started, requests=scheduler.requests)
    logger.info("get_many: %s", many.summary())
    return many


def ensure_pool_size(client: MetricsClient, size: int) -> None:
    """Let the client's session keep `size` connections to the root open, one per worker.

    requests' HTTPAdapter keeps at most `pool_maxsize` connections per host
    and discards the others after use, so more workers than that would
    open a new connection for most requests. A larger adapter with the
    same retry policy is mounted for the root URL when needed.
    """
    from requests.adapters import HTTPAdapter

    session = client.session
    prefix = client.root_url + "/"
    adapter = session.get_adapter(prefix)
    if not isinstance(adapter, HTTPAdapter) or getattr(adapter, "_pool_maxsize", size) >= size:
        return
    session.mount(prefix, HTTPAdapter(max_retries=adapter.max_retries, pool_maxsize=size))
    logger.debug("connection pool for %s enlarged to %d connections", client.root_url, size)
