"""MetricsClient against the sandbox over real HTTP on loopback."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import CLASSIFICATION_JOB

from ibmetrics_nb import MetricsClient
from ibmetrics_nb.client import normalize_root
from ibmetrics_nb.errors import (
    AuthenticationError,
    CancelledError,
    ConfigurationError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    NotFoundError,
    ResponseFormatError,
)
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, EXTRACTION_PROJECT, Job, Reply


@pytest.fixture
def client(fresh_sandbox):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.05, max_poll_interval=0.1) as client:
        yield client


def test_classification_example_fetched(client):
    result = client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    assert result.job_id == CLASSIFICATION_JOB
    assert result.job_type == "training"
    assert result.model_project_path == CLASSIFICATION_PROJECT
    assert result.confusion_df.to_numpy().tolist() == [[5, 1], [0, 4]]
    assert result.tables["Record-wise Classifier Metrics"].loc["ADP", "Recall"] == 1.0
    assert result.loss_df.loc["Eval", 3] == 0.29
    assert result.test_total == 7
    assert any("class_weights_ins_power" in w for w in result.warnings)


def test_extraction_example_fetched(client):
    result = client.get_metrics(EXTRACTION_PROJECT, "extraction-example")

    frame = result.tables["Individual token level metrics"]
    assert frame.loc["Pay Date", "Recall"] == pytest.approx(0.8571)
    assert result.hyperparams["model_name"] == "instalm-base-draft"
    assert not result.has_table("confusion")


def test_query_values_are_encoded_not_formatted(client, fresh_sandbox):
    client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    query = fresh_sandbox.request_log[-1]["query"]
    assert query == {"model_project_path": CLASSIFICATION_PROJECT, "job_id": CLASSIFICATION_JOB, "job_type": "training"}


def test_awkward_characters_in_path_arrive_intact(client, fresh_sandbox):
    project = "u/r/fs/Instabase Drive/A&B=C?#%20 +é"
    fresh_sandbox.add_job(Job(project, "j1", payload={"metrics": []}))

    result = client.get_metrics(project, "j1")

    assert result.model_project_path == project
    assert fresh_sandbox.request_log[-1]["query"]["model_project_path"] == project


def test_running_job_is_polled_until_done(client, fresh_sandbox):
    polls = []

    result = client.get_metrics(CLASSIFICATION_PROJECT, "running-job", progress=polls.append)

    assert [p.state for p in polls] == ["RUNNING", "RUNNING", "RUNNING", "DONE"]
    assert fresh_sandbox.requests_for(CLASSIFICATION_PROJECT, "running-job") == 4
    assert result.is_finished


def test_polling_backs_off(fresh_sandbox):
    fresh_sandbox.add_job(Job(CLASSIFICATION_PROJECT, "slow", running_polls=4, payload={"metrics": []}))
    client = MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.1, max_poll_interval=10)

    client.get_metrics(CLASSIFICATION_PROJECT, "slow")

    times = [e["time"] for e in fresh_sandbox.request_log]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 4
    assert gaps[0] >= 0.09
    assert gaps[-1] > gaps[0] * 2


def test_no_wait_returns_unfinished_result(client):
    result = client.get_metrics(CLASSIFICATION_PROJECT, "running-job", wait=False)

    assert result.state == "RUNNING"
    assert not result.is_finished
    assert "not finished" in result._repr_html_()


def test_job_that_never_finishes_times_out_with_state(fresh_sandbox):
    fresh_sandbox.add_job(Job(CLASSIFICATION_PROJECT, "forever", running_polls=10_000, payload={"metrics": []}))
    client = MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.05)

    started = time.monotonic()
    with pytest.raises(MetricsTimeoutError, match=r"job forever is still RUNNING after") as raised:
        client.get_metrics(CLASSIFICATION_PROJECT, "forever", max_wait=0.5)

    assert time.monotonic() - started < 2
    assert "max_wait" in str(raised.value)


def test_cancel_stops_the_wait(fresh_sandbox):
    fresh_sandbox.add_job(Job(CLASSIFICATION_PROJECT, "forever", running_polls=10_000, payload={"metrics": []}))
    client = MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=5)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()

    started = time.monotonic()
    with pytest.raises(CancelledError, match="stopped waiting for job forever"):
        client.get_metrics(CLASSIFICATION_PROJECT, "forever", cancel=cancel)

    assert time.monotonic() - started < 2


def test_failed_state_raises_with_server_message(client):
    with pytest.raises(JobFailedError, match="ended in state FAILED: Training failed: CUDA out of memory"):
        client.get_metrics(CLASSIFICATION_PROJECT, "failed-job")


def test_v1_error_style_stops_at_once(client, fresh_sandbox):
    with pytest.raises(JobFailedError, match="Model project is locked by another job"):
        client.get_metrics(CLASSIFICATION_PROJECT, "error-job")

    assert fresh_sandbox.requests_for(CLASSIFICATION_PROJECT, "error-job") == 1


def test_v2_error_style_unknown_job(client):
    with pytest.raises(NotFoundError, match="HTTP 404 for job no-such-job"):
        client.get_metrics(CLASSIFICATION_PROJECT, "no-such-job")


def test_wrong_token_is_authentication_error(fresh_sandbox):
    client = MetricsClient(fresh_sandbox.url, "wrong-token")

    with pytest.raises(AuthenticationError, match="HTTP 401.*check IB_API_TOKEN") as raised:
        client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    assert "wrong-token" not in str(raised.value)


def test_forbidden_project(client, fresh_sandbox):
    fresh_sandbox.script(CLASSIFICATION_PROJECT, "j", replies=[Reply(status=403, body={"message": "Forbidden project"})])

    with pytest.raises(AuthenticationError, match="HTTP 403.*Forbidden project"):
        client.get_metrics(CLASSIFICATION_PROJECT, "j")


def test_invalid_json_response_has_line_and_column(client):
    with pytest.raises(ResponseFormatError, match=r"invalid JSON at line \d+, column \d+"):
        client.get_metrics(EXTRACTION_PROJECT, "extraction-as-documented")


@pytest.mark.parametrize("job_type", ["train", "TRAINING", "", None])
def test_invalid_job_type_rejected_before_any_request(client, fresh_sandbox, job_type):
    with pytest.raises(InvalidRequestError, match="invalid job type"):
        client.get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB, job_type)

    assert fresh_sandbox.request_count == 0


@pytest.mark.parametrize(("project", "job_id"), [("", "j"), ("  ", "j"), ("p", ""), (None, "j")])
def test_empty_identifiers_rejected(client, project, job_id):
    with pytest.raises(InvalidRequestError):
        client.get_metrics(project, job_id)


def test_missing_root_names_the_variable():
    with pytest.raises(ConfigurationError, match="IB_ROOT_URL"):
        MetricsClient(token="t")


def test_missing_token_names_the_variable():
    with pytest.raises(ConfigurationError, match="IB_API_TOKEN"):
        MetricsClient("http://127.0.0.1:1")


def test_settings_from_environment(fresh_sandbox, monkeypatch):
    monkeypatch.setenv("IB_ROOT_URL", fresh_sandbox.url + "/api/v1/")
    monkeypatch.setenv("IB_API_TOKEN", fresh_sandbox.token)

    result = MetricsClient().get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_JOB)

    assert result.test_total == 7


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://www.instabase.com", "https://www.instabase.com"),
        ("https://www.instabase.com/", "https://www.instabase.com"),
        ("https://www.instabase.com/api/v1", "https://www.instabase.com"),
        ("https://www.instabase.com/api/v1/", "https://www.instabase.com"),
        ("https://ib.example.com/prefix/", "https://ib.example.com/prefix"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://127.0.0.1:1/", "http://127.0.0.1:1"),
    ],
)
def test_root_url_forms(given, expected):
    assert normalize_root(given) == expected


@pytest.mark.parametrize("bad", ["www.instabase.com", "ftp://host", "http://ib.example.com", "https://user:pw@host"])
def test_bad_root_urls_rejected(bad):
    with pytest.raises(ConfigurationError):
        normalize_root(bad)


def test_plain_http_allowed_when_asked():
    assert normalize_root("http://ib.example.com", allow_http=True) == "http://ib.example.com"


def test_repr_hides_token(fresh_sandbox):
    client = MetricsClient(fresh_sandbox.url, "tok_SECRET123")

    assert "SECRET123" not in repr(client)
    assert "SECRET123" not in repr(vars(client))


def _reachable_reprs(error: BaseException) -> str:
    """Return the reprs of everything an error keeps alive: its chain and its frames' locals."""
    seen = []
    current = error
    while current is not None:
        seen.append(repr(current))
        traceback = current.__traceback__
        while traceback is not None:
            # Only the package's frames, because the test's own frame contains the assertion's literals.
            in_package = traceback.tb_frame.f_globals.get("__name__", "").startswith("ibmetrics_nb.")
            for value in list(traceback.tb_frame.f_locals.values()) if in_package else []:
                seen.append(repr(value))
                request = getattr(value, "request", None)
                seen.append(repr(getattr(request, "headers", "")))
            traceback = traceback.tb_next
        current = current.__context__ or current.__cause__
    return "\n".join(seen)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=401, body={"message": "expired"}),
        Reply(status=500, body={"message": "boom"}),
        Reply(status=502, body="<html>bad gateway</html>", content_type="text/html"),
        Reply(hang=True),
    ],
)
def test_raised_error_keeps_no_request(fresh_sandbox, reply):
    fresh_sandbox.script(CLASSIFICATION_PROJECT, "j", replies=[reply])
    client = MetricsClient(fresh_sandbox.url, "tok_SECRET123", timeout=(1, 0.5), max_retries=0, cache=False)

    with pytest.raises(Exception) as raised:
        client.get_metrics(CLASSIFICATION_PROJECT, "j")

    assert raised.value.__context__ is None
    assert "SECRET123" not in _reachable_reprs(raised.value)
