"""MetricsClient.get_many against a sandbox over real HTTP: ordering, partial
failures, polling without holding workers, the cache, cancelling and progress."""

from __future__ import annotations

import collections
import io
import threading
import time

import pytest
from conftest import CLASSIFICATION_JOB

from ibmetrics_nb import MetricsClient
from ibmetrics_nb.batch import JobKey, ManyResults
from ibmetrics_nb.errors import (
    CancelledError,
    IbMetricsError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    NotFoundError,
)
from ibmetrics_nb.progress import BatchStatus
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, EXTRACTION_PROJECT, Job, make_classification_payload

PROJECT = CLASSIFICATION_PROJECT
SMALL_PAYLOAD = make_classification_payload(3, seed=5, trials=0)


@pytest.fixture
def client(fresh_sandbox):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.05, max_poll_interval=0.1) as client:
        yield client


def add_running_jobs(sandbox, count: int, running_polls: int, prefix: str = "run") -> list[str]:
    ids = [f"{prefix}-{index:03d}" for index in range(count)]
    for job_id in ids:
        sandbox.add_job(Job(PROJECT, job_id, payload=SMALL_PAYLOAD, running_polls=running_polls))
    return ids


# --- inputs and order -----------------------------------------------------------


def test_three_job_forms_in_order(client):
    many = client.get_many(
        [
            (PROJECT, "evaluation-job", "evaluation"),
            (EXTRACTION_PROJECT, "extraction-example"),
            CLASSIFICATION_JOB,
        ],
        project=PROJECT,
        progress=False,
    )

    assert many.ok
    assert [result.job_id for result in many] == ["evaluation-job", "extraction-example", CLASSIFICATION_JOB]
    assert [result.job_type for result in many.results] == ["evaluation", "training", "training"]
    assert many.jobs[1] == JobKey(EXTRACTION_PROJECT, "extraction-example", "training")
    assert len(many) == 3
    assert many[0].job_id == "evaluation-job"
    assert many[CLASSIFICATION_JOB].headline[2] == pytest.approx(0.899)


def test_job_type_keyword_applies_to_ids(client):
    many = client.get_many(["evaluation-job"], project=PROJECT, job_type="evaluation", progress=False)

    assert many[0].job_type == "evaluation"


def test_duplicates_fetched_once(client, fresh_sandbox):
    many = client.get_many([CLASSIFICATION_JOB, CLASSIFICATION_JOB, (PROJECT, CLASSIFICATION_JOB)], project=PROJECT, progress=False)

    assert len(many.jobs) == 1
    assert fresh_sandbox.requests_for(PROJECT, CLASSIFICATION_JOB) == 1


@pytest.mark.parametrize(
    "jobs, options, words",
    [
        (["job-a"], {}, "no project"),
        ("job-a", {"project": PROJECT}, "list of job IDs"),
        ([(PROJECT,)], {}, "invalid job"),
        ([(PROJECT, "job-a", "inference")], {}, "invalid job type"),
        ([(PROJECT, "")], {}, "job ID is empty"),
        (["job-a"], {"project": PROJECT, "max_workers": 0}, "max_workers"),
        (["job-a"], {"project": PROJECT, "poll_interval": -1}, "poll_interval"),
    ],
)
def test_invalid_input_rejected_before_requests(client, fresh_sandbox, jobs, options, words):
    with pytest.raises(InvalidRequestError, match=words):
        client.get_many(jobs, progress=False, **options)

    assert fresh_sandbox.request_count == 0


def test_empty_list(client):
    many = client.get_many([], progress=False)

    assert many.ok
    assert list(many) == []


# --- partial failures -------------------------------------------------------------


def test_partial_failures_keep_results(client):
    many = client.get_many(
        [CLASSIFICATION_JOB, "missing-1", "failed-job", "evaluation-job", "error-job", "missing-2", "legacy-job"],
        project=PROJECT,
        progress=False,
    )
    # evaluation-job is an evaluation, so as a training job it does not exist either.

    assert [result.job_id for result in many] == [CLASSIFICATION_JOB, "legacy-job"]
    errors = {key.job_id: type(error) for key, error in many.errors.items()}
    assert errors == {
        "missing-1": NotFoundError,
        "failed-job": JobFailedError,
        "evaluation-job": NotFoundError,
        "error-job": JobFailedError,
        "missing-2": NotFoundError,
    }
    assert not many.ok
    assert "CUDA out of memory" in str(many.errors[JobKey(PROJECT, "failed-job", "training")])


def test_failed_job_lookup_raises_its_error(client):
    many = client.get_many([CLASSIFICATION_JOB, "failed-job"], project=PROJECT, progress=False)

    with pytest.raises(JobFailedError):
        many["failed-job"]
    assert isinstance(many.outcome("failed-job"), JobFailedError)
    with pytest.raises(KeyError):
        many["never-asked"]


def test_raise_for_errors(client):
    many = client.get_many([CLASSIFICATION_JOB, "missing-1", "missing-2"], project=PROJECT, progress=False)

    with pytest.raises(IbMetricsError, match="2 of 3 jobs failed, first missing-1"):
        many.raise_for_errors()


def test_ambiguous_job_id_lookup(client):
    many = client.get_many([(PROJECT, "evaluation-job", "evaluation"), (PROJECT, "evaluation-job", "training")], progress=False)

    with pytest.raises(InvalidRequestError, match="names 2 jobs"):
        many["evaluation-job"]
    assert many[JobKey(PROJECT, "evaluation-job", "evaluation")].job_type == "evaluation"


# --- polling --------------------------------------------------------------------


def test_running_jobs_polled_until_done(client, fresh_sandbox):
    ids = add_running_jobs(fresh_sandbox, 12, running_polls=2)

    many = client.get_many(ids, project=PROJECT, max_workers=4, progress=False)

    assert many.ok
    assert all(result.is_finished for result in many)
    assert [fresh_sandbox.requests_for(PROJECT, job_id) for job_id in ids] == [3] * 12
    assert many.requests == 36


def test_at_most_one_request_per_interval(client, fresh_sandbox):
    ids = add_running_jobs(fresh_sandbox, 6, running_polls=3)
    interval = 0.3

    client.get_many(ids, project=PROJECT, poll_interval=interval, max_workers=6, progress=False)

    times = collections.defaultdict(list)
    for entry in fresh_sandbox.request_log:
        times[entry["query"]["job_id"]].append(entry["time"])
    for job_id in ids:
        gaps = [later - earlier for earlier, later in zip(times[job_id], times[job_id][1:])]
        assert len(gaps) == 3
        # The client's max_poll_interval is 0.1 s, below the interval asked for, so every
        # interval is 0.3 s. The client counts it from when it sent the previous request and
        # the sandbox logs when it read it, so a gap may fall short by that delay, a few ms.
        assert min(gaps) >= interval - 0.03, (job_id, gaps)


def test_waiting_jobs_hold_no_worker(client, fresh_sandbox):
    # 40 jobs that each wait 0.3 + 0.45 s between polls. If a waiting job held one
    # of the 4 workers, the batch would take about 40 / 4 x 0.75 = 7.5 s.
    ids = add_running_jobs(fresh_sandbox, 40, running_polls=2)
    client.max_poll_interval = 1.0

    started = time.monotonic()
    many = client.get_many(ids, project=PROJECT, poll_interval=0.3, max_workers=4, progress=False)
    elapsed = time.monotonic() - started

    assert many.ok
    assert many.requests == 120
    assert elapsed < 3.5, elapsed


def test_max_wait_per_job(client, fresh_sandbox):
    fresh_sandbox.add_job(Job(PROJECT, "forever", payload=SMALL_PAYLOAD, running_polls=10_000))

    many = client.get_many([CLASSIFICATION_JOB, "forever"], project=PROJECT, max_wait=0.3, progress=False)

    error = many.errors[JobKey(PROJECT, "forever", "training")]
    assert isinstance(error, MetricsTimeoutError)
    assert "still RUNNING" in str(error)
    assert many[0].job_id == CLASSIFICATION_JOB


def test_no_wait_returns_running_state(client, fresh_sandbox):
    many = client.get_many(["running-job", CLASSIFICATION_JOB], project=PROJECT, wait=False, progress=False)

    assert many["running-job"].state == "RUNNING"
    assert many[CLASSIFICATION_JOB].is_finished
    assert fresh_sandbox.requests_for(PROJECT, "running-job") == 1


def test_cancel_stops_batch(client, fresh_sandbox):
    fresh_sandbox.add_job(Job(PROJECT, "forever", payload=SMALL_PAYLOAD, running_polls=10_000))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()

    started = time.monotonic()
    many = client.get_many([CLASSIFICATION_JOB, "forever"], project=PROJECT, cancel=cancel, progress=False)

    assert time.monotonic() - started < 2.0
    assert isinstance(many.errors[JobKey(PROJECT, "forever", "training")], CancelledError)
    assert many[0].job_id == CLASSIFICATION_JOB


def test_pool_grows_to_workers(client):
    client.get_many([CLASSIFICATION_JOB], project=PROJECT, max_workers=48, progress=False)

    adapter = client.session.get_adapter(client.root_url + "/")
    assert adapter._pool_maxsize >= 48


def test_connections_reused(client, fresh_sandbox):
    ids = add_running_jobs(fresh_sandbox, 30, running_polls=1)

    client.get_many(ids, project=PROJECT, max_workers=8, progress=False)

    pool = client.session.get_adapter(client.root_url + "/").poolmanager.connection_from_url(client.root_url)
    assert pool.num_connections <= 8


# --- cache ----------------------------------------------------------------------


def test_cached_jobs_make_no_request(client, fresh_sandbox):
    jobs = [CLASSIFICATION_JOB, "legacy-job", "running-job"]
    client.get_many(jobs, project=PROJECT, progress=False)
    before = fresh_sandbox.request_count

    again = client.get_many(jobs, project=PROJECT, progress=False)

    assert fresh_sandbox.request_count == before
    assert again.requests == 0
    assert [result.job_id for result in again] == jobs


def test_refresh_fetches_again(client, fresh_sandbox):
    client.get_many([CLASSIFICATION_JOB], project=PROJECT, progress=False)

    client.get_many([CLASSIFICATION_JOB], project=PROJECT, refresh=True, progress=False)

    assert fresh_sandbox.requests_for(PROJECT, CLASSIFICATION_JOB) == 2


def test_running_job_not_cached_by_batch(client, fresh_sandbox):
    client.get_many(["running-job"], project=PROJECT, wait=False, progress=False)
    client.get_many(["running-job"], project=PROJECT, wait=False, progress=False)

    assert fresh_sandbox.requests_for(PROJECT, "running-job") == 2


# --- progress and display ---------------------------------------------------------


def test_progress_callback(client):
    statuses: list[BatchStatus] = []

    client.get_many([CLASSIFICATION_JOB, "missing"], project=PROJECT, progress=statuses.append)

    final = statuses[-1]
    assert (final.total, final.fetched, final.failed, final.waiting) == (2, 1, 1, 0)
    assert "2 of 2 jobs done, 1 failed" in final.describe()


def test_progress_in_terminal_is_one_line(client, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)

    client.get_many([CLASSIFICATION_JOB, "legacy-job"], project=PROJECT)

    text = terminal.getvalue()
    assert text.startswith("\r")
    assert text.count("\n") == 1
    assert text.rstrip("\n").split("\r")[-1].startswith("2 of 2 jobs done")


def test_no_progress_without_terminal(client, capsys):
    client.get_many([CLASSIFICATION_JOB], project=PROJECT)

    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_html_lists_failures_first_escaped(client, fresh_sandbox):
    fresh_sandbox.add_job(Job(PROJECT, "<b>bold</b>", payload=SMALL_PAYLOAD))

    many = client.get_many([CLASSIFICATION_JOB, "<b>bold</b>", "missing"], project=PROJECT, progress=False)
    html = many._repr_html_()
    bundle = many._repr_mimebundle_()

    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.index("missing") < html.index(CLASSIFICATION_JOB)
    assert "<script" not in html
    assert "3 jobs: 2 fetched, 1 failed" in bundle["text/plain"]
    assert "missing: NotFoundError" in bundle["text/plain"]
    assert fresh_sandbox.token not in html + bundle["text/plain"] + repr(many)


def test_repr(client):
    many = client.get_many([CLASSIFICATION_JOB, "missing"], project=PROJECT, progress=False)

    assert repr(many) == "<ManyResults jobs=2 results=1 errors=1>"


def test_to_dataframe_and_compare(client):
    many = client.get_many(
        [(PROJECT, CLASSIFICATION_JOB), (PROJECT, "evaluation-job", "evaluation")], progress=False
    )

    frame = many.to_dataframe(intervals=True)
    comparison = many.compare()

    assert set(frame["job_id"]) == {CLASSIFICATION_JOB, "evaluation-job"}
    assert "f1_low" in frame.columns
    assert comparison.jobs == [CLASSIFICATION_JOB, "evaluation-job"]


def test_many_results_offline():
    many = ManyResults([JobKey("p", "a", "training")], {JobKey("p", "a", "training"): NotFoundError("gone")})

    assert list(many) == []
    assert str(many.jobs[0]) == "a"
    assert str(JobKey("p", "a", "pruning")) == "a (pruning)"
