"""The job picker and its history, in-process against the sandbox.

These tests drive the picker without a kernel: `fetch()` outside an event
loop runs to completion, and inside `asyncio.run` it behaves as in a kernel,
returning at once while the loop keeps running. tests/test_picker_kernel.py
repeats the important cases in a real kernel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import CLASSIFICATION_JOB

from ibmetrics_nb import JobPicker, MetricsClient, MetricsResult, frontend, history
from ibmetrics_nb.display import render_html
from ibmetrics_nb.errors import InvalidRequestError
from ibmetrics_nb.history import History
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, Job, Reply, read_data_file
from ibmetrics_nb.widgets import FALLBACK_TEXT, comparison_html, parse_job_ids

PROJECT = CLASSIFICATION_PROJECT
CLASSIFICATION_PAYLOAD = json.loads(read_data_file("classification-training.json"))


@pytest.fixture
def token(sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IB_API_TOKEN", sandbox.token)
    return sandbox.token


@pytest.fixture
def make_picker(sandbox) -> Iterator[Callable[..., JobPicker]]:
    """Build pickers aimed at the sandbox, and close them after the test."""
    created: list[JobPicker] = []

    def make(job_ids: str = "", project: str = PROJECT, client=None, **settings) -> JobPicker:
        settings = {"root_url": sandbox.url, "poll_interval": 0.05, "max_retries": 0, **settings}
        picker = JobPicker(client, client_settings=settings, project=project)
        picker.job_input.value = job_ids
        created.append(picker)
        return picker

    yield make
    for picker in created:
        picker.close()


def add_running_job(sandbox, running_polls: int) -> str:
    """Serve a new job that is RUNNING for `running_polls` requests, and return its ID."""
    job_id = f"slow-{uuid.uuid4().hex[:8]}"
    sandbox.add_job(Job(PROJECT, job_id, running_polls=running_polls, payload=CLASSIFICATION_PAYLOAD))
    return job_id


def texts(picker: JobPicker) -> list[str]:
    return [output["data"]["text/plain"] for output in picker.output.outputs]


def html_of(picker: JobPicker) -> str:
    return "".join(output["data"].get("text/html", "") for output in picker.output.outputs)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- job IDs and inputs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", ["a"]),
        ("a,b", ["a", "b"]),
        ("a, b  c\n d", ["a", "b", "c", "d"]),
        (" ,a,,a, ", ["a"]),
        ("", []),
    ],
)
def test_parse_job_ids_splits_on_commas_and_spaces(text, expected):
    assert parse_job_ids(text) == expected


def test_invalid_job_type_raises():
    with pytest.raises(InvalidRequestError, match="invalid job type 'bogus'"):
        JobPicker(job_type="bogus")


def test_picker_presets_project_and_job_type(make_picker):
    picker = JobPicker(project=PROJECT, job_type="evaluation")

    assert picker.project_input.value == PROJECT
    assert picker.job_type_input.value == "evaluation"
    assert picker.job_type_input.options == ("training", "pruning", "evaluation")
    picker.close()


# --- fetching one job ------------------------------------------------------------


def test_fetch_shows_result_html_in_output(make_picker, token):
    picker = make_picker(CLASSIFICATION_JOB)

    picker.fetch()

    assert isinstance(picker.result, MetricsResult)
    assert picker.result.job_id == CLASSIFICATION_JOB
    assert len(picker.output.outputs) == 1
    assert picker.output.outputs[0]["data"]["text/html"] == render_html(picker.result)
    assert "Record-wise Classifier Metrics" in html_of(picker)
    assert '<td class="ibm-label">W2</td>' in html_of(picker)
    assert f"Fetched job {CLASSIFICATION_JOB}" in picker.status.value
    assert picker.progress.bar_style == "success"
    assert not picker.busy


def test_fetch_without_token_shows_configuration_line(make_picker):
    picker = make_picker(CLASSIFICATION_JOB)

    picker.fetch()

    assert texts(picker) == ["ConfigurationError: no API token: set IB_API_TOKEN, or call ibmetrics_nb.set_token() in a notebook"]
    assert "Not started" in picker.status.value
    assert picker.result is None


def test_fetch_without_root_url_shows_configuration_line(token):
    picker = JobPicker(project=PROJECT)
    picker.job_input.value = CLASSIFICATION_JOB

    picker.fetch()

    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("ConfigurationError: ")
    assert "IB_ROOT_URL" in texts(picker)[0]
    picker.close()


@pytest.mark.parametrize(
    ("project", "job_ids", "message"),
    [
        ("", CLASSIFICATION_JOB, "the model project path is empty"),
        ("   ", CLASSIFICATION_JOB, "the model project path is empty"),
        (PROJECT, "", "the job ID is empty"),
        (PROJECT, " , ", "the job ID is empty"),
    ],
)
def test_empty_input_shows_line_without_request(make_picker, sandbox, token, project, job_ids, message):
    picker = make_picker(job_ids, project=project)
    before = sandbox.request_count

    picker.fetch()

    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith(f"InvalidRequestError: {message}")
    assert sandbox.request_count == before


def test_result_trait_notifies_observers(make_picker, token):
    picker = make_picker(CLASSIFICATION_JOB)
    seen = []
    picker.observe(lambda change: seen.append(change["new"]), names="result")

    picker.fetch()

    assert len(seen) == 1
    assert seen[0] is picker.result


def test_evaluation_job_type_is_sent(make_picker, sandbox, token):
    picker = make_picker("evaluation-job")
    picker.job_type_input.value = "evaluation"

    picker.fetch()

    assert picker.result.job_type == "evaluation"
    assert sandbox.request_log[-1]["query"]["job_type"] == "evaluation"


# --- several jobs ------------------------------------------------------------------


def test_several_jobs_show_comparison_table(make_picker, token):
    picker = make_picker(f"{CLASSIFICATION_JOB}, legacy-job")

    picker.fetch()

    assert [result.job_id for result in picker.result] == [CLASSIFICATION_JOB, "legacy-job"]
    html = html_of(picker)
    assert 'class="ibm-table ibm-comparison"' in html
    assert html.index(CLASSIFICATION_JOB) < html.index("legacy-job")
    assert "89.90% (macro avg)" in html
    assert "<th>macro F1</th><th>micro F1</th>" in html
    assert '<th colspan="2">Record-wise Classifier Metrics</th>' in html
    assert texts(picker)[0].splitlines() == [
        f"job {CLASSIFICATION_JOB} (training): F1 89.90% (macro avg, Record-wise Classifier Metrics)",
        "job legacy-job (training): F1 86.67% (macro avg, Classifier Metrics)",
    ]
    assert "Fetched 2 jobs" in picker.status.value


def test_comparison_shows_macro_and_micro_per_table(sandbox):
    extraction = MetricsResult.from_json(read_data_file("extraction-training.json"), job_id="ext", job_type="training")
    classification = MetricsResult(CLASSIFICATION_PAYLOAD, job_id="cls", job_type="training")

    html = comparison_html([classification, extraction])

    assert '<th colspan="2">Individual fields level metrics</th>' in html
    assert '<th colspan="2">Individual token level metrics</th>' in html
    # The token-level table: macro F1 94.87%, micro F1 96.15%.
    assert "<td>94.87%</td><td>96.15%</td>" in html
    assert "<td>n/a</td><td>n/a</td>" in html


def test_comparison_escapes_job_ids():
    hostile = MetricsResult(CLASSIFICATION_PAYLOAD, job_id="<script>alert(1)</script>", job_type="<b>training</b>")

    html = comparison_html([hostile, hostile])

    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_several_jobs_go_on_after_not_found(make_picker, token):
    picker = make_picker(f"{CLASSIFICATION_JOB} no-such-job legacy-job")

    picker.fetch()

    assert [result.job_id for result in picker.result] == [CLASSIFICATION_JOB, "legacy-job"]
    lines = texts(picker)
    assert len(lines) == 2
    assert lines[1].startswith("NotFoundError: HTTP 404 for job no-such-job")
    assert "Fetched 2 of 3 jobs" in picker.status.value
    assert picker.progress.bar_style == "danger"


def test_several_jobs_stop_after_authentication_error(make_picker, sandbox):
    client = MetricsClient(sandbox.url, token="wrong-token", max_retries=0)
    picker = make_picker(f"{CLASSIFICATION_JOB} legacy-job running-job", client=client)
    before = sandbox.request_count

    picker.fetch()

    assert sandbox.request_count == before + 1
    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("AuthenticationError: HTTP 401")
    assert "Failed after" in picker.status.value
    assert picker.result is None
    client.close()


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "starts"),
    [
        (Reply(status=401, body={"message": "Invalid or expired token"}), "AuthenticationError: HTTP 401"),
        (Reply(status=404, body={"message": "Job not found"}), "NotFoundError: HTTP 404"),
        (Reply(status=500, body={"message": "internal\nerror"}), "ServerError: HTTP 500"),
        (
            Reply(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"),
            "ServerError: HTTP 502",
        ),
        (Reply(status=200, body="<html>login</html>", content_type="text/html"), "ResponseFormatError: HTTP 200"),
    ],
)
def test_http_errors_show_one_line(make_picker, sandbox, token, reply, starts):
    job_id = f"scripted-{uuid.uuid4().hex[:8]}"
    sandbox.script(PROJECT, job_id, replies=[reply])
    picker = make_picker(job_id)

    picker.fetch()

    lines = texts(picker)
    assert len(lines) == 1
    assert lines[0].startswith(starts)
    assert "\n" not in lines[0]
    assert "ibm-picker-error" in html_of(picker)
    assert "<h1>" not in html_of(picker)
    assert picker.result is None


def test_read_timeout_shows_one_line(make_picker, sandbox, token):
    sandbox.script(PROJECT, "hanging-job", replies=[Reply(hang=True)])
    picker = make_picker("hanging-job", timeout=(2.0, 0.3))
    started = time.monotonic()

    picker.fetch()

    assert time.monotonic() - started < 5
    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("MetricsTimeoutError: no response from")


def test_server_down_shows_one_line(make_picker, token):
    picker = make_picker(CLASSIFICATION_JOB, root_url=f"http://127.0.0.1:{closed_port()}")

    picker.fetch()

    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("ServerError: could not connect to http://127.0.0.1:")
    assert "connection refused" in texts(picker)[0]


def test_error_line_escapes_html(make_picker, token):
    picker = make_picker("<script>alert(1)</script>")

    picker.fetch()

    assert texts(picker)[0].startswith("NotFoundError: HTTP 404 for job <script>alert(1)</script>")
    assert "<script>" not in html_of(picker)
    assert "&lt;script&gt;" in html_of(picker)


class BrokenClient:
    """A client whose fetch fails with an exception that is not the package's."""

    def get_metrics(self, *args, **kwargs):
        raise RuntimeError("boom")


def test_unexpected_error_shown_and_logged(make_picker, caplog):
    picker = make_picker(CLASSIFICATION_JOB, client=BrokenClient())

    with caplog.at_level(logging.ERROR, logger="ibmetrics_nb.widgets"):
        picker.fetch()

    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("Unexpected error in the job picker: RuntimeError: boom")
    records = [record for record in caplog.records if record.name == "ibmetrics_nb.widgets"]
    assert len(records) == 1
    assert records[0].exc_info[0] is RuntimeError
    assert not picker.busy
    assert not picker.fetch_button.disabled


def test_unexpected_observer_error_shows_line(make_picker, caplog):
    picker = make_picker()

    def broken_jobs(project):
        raise KeyError("history broken")

    picker._history.jobs = broken_jobs
    with caplog.at_level(logging.ERROR, logger="ibmetrics_nb.widgets"):
        picker.project_input.value = "another/project"

    assert len(texts(picker)) == 1
    assert texts(picker)[0].startswith("Unexpected error in the job picker: KeyError: 'history broken'")
    assert any(record.exc_info for record in caplog.records)


def test_button_click_errors_stay_in_picker(make_picker, capsys):
    picker = make_picker(CLASSIFICATION_JOB, client=BrokenClient())

    picker.fetch_button.click()

    assert texts(picker)[0].startswith("Unexpected error in the job picker: RuntimeError: boom")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "boom" not in captured.err


# --- non-blocking fetches on an event loop -----------------------------------------------


def test_fetch_in_event_loop_returns_at_once(make_picker, sandbox, token):
    job_id = add_running_job(sandbox, running_polls=2)
    picker = make_picker(job_id, poll_interval=0.2)
    threads: set[str] = set()
    statuses: list[str] = []
    for widget, name in [(picker.status, "value"), (picker.output, "outputs"), (picker.progress, "value"), (picker, "result")]:
        widget.observe(lambda change: threads.add(threading.current_thread().name), names=name)
    picker.status.observe(lambda change: statuses.append(change["new"]), names="value")
    gaps: list[float] = []

    async def scenario() -> float:
        started = time.monotonic()
        picker.fetch()
        returned = time.monotonic() - started
        assert picker.busy
        last = time.monotonic()
        while picker.busy:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            assert now - started < 10, "fetch did not end"
        return returned

    returned = asyncio.run(scenario())

    assert returned < 0.1
    assert max(gaps) < 0.3, "the event loop was blocked while the job was polled"
    assert len(gaps) > 20
    assert threads == {threading.main_thread().name}
    assert any(f"job {job_id}: RUNNING, polled 1 time, " in status for status in statuses)
    assert any(f"job {job_id}: RUNNING, polled 2 times, " in status for status in statuses)
    assert picker.result.job_id == job_id


def test_cancel_stops_wait_at_once(make_picker, sandbox, token):
    job_id = add_running_job(sandbox, running_polls=1000)
    picker = make_picker(job_id, poll_interval=0.5)

    async def scenario() -> tuple[float, int]:
        picker.fetch()
        await wait_until(lambda: "polled 1 time" in picker.status.value)
        started = time.monotonic()
        picker.cancel_button.click()
        assert "Cancelled after" in picker.status.value
        await wait_until(lambda: not picker.busy, timeout=1.0)
        stopped = time.monotonic() - started
        requests = sandbox.requests_for(PROJECT, job_id)
        await asyncio.sleep(1.0)
        assert sandbox.requests_for(PROJECT, job_id) == requests, "the worker kept polling after Cancel"
        return stopped, requests

    stopped, requests = asyncio.run(scenario())

    assert stopped < 0.25
    assert requests == 1
    assert f"stopped waiting for job {job_id} (RUNNING, polled 1 time)" in picker.status.value
    assert picker.progress.bar_style == "warning"
    assert not picker.fetch_button.disabled
    assert picker.cancel_button.disabled
    assert picker.result is None


def test_cancel_during_hung_request_returns_at_once(make_picker, sandbox, token):
    sandbox.script(PROJECT, "hung-job", replies=[Reply(hang=True)])
    picker = make_picker("hung-job", timeout=(2.0, 1.0))

    async def scenario() -> float:
        picker.fetch()
        await asyncio.sleep(0.2)
        started = time.monotonic()
        picker.cancel()
        await wait_until(lambda: not picker.busy, timeout=1.0)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.3
    assert "Cancelled after" in picker.status.value
    assert "no reply yet" in picker.status.value
    assert picker.output.outputs == ()


def test_fetch_while_busy_is_refused_in_status(make_picker, sandbox, token):
    job_id = add_running_job(sandbox, running_polls=3)
    picker = make_picker(job_id, poll_interval=0.2)

    async def scenario() -> None:
        picker.fetch()
        first = picker._task
        picker.fetch()
        assert picker._task is first
        assert "A fetch is running" in picker.status.value
        await wait_until(lambda: not picker.busy)

    asyncio.run(scenario())

    assert picker.result.job_id == job_id


def test_fetch_from_thread_uses_kernel_loop(make_picker, sandbox, token, monkeypatch):
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, name="kernel-loop", daemon=True)
    loop_thread.start()
    monkeypatch.setattr(frontend, "kernel_event_loop", lambda: loop)
    picker = make_picker(CLASSIFICATION_JOB)
    threads: set[str] = set()
    picker.status.observe(lambda change: threads.add(threading.current_thread().name), names="value")
    finished = threading.Event()
    picker.observe(lambda change: finished.set(), names="result")

    try:
        picker.fetch()
        assert finished.wait(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(5)
        loop.close()

    assert threads == {"kernel-loop"}
    assert picker.result.job_id == CLASSIFICATION_JOB


def test_close_cancels_fetch_and_closes_widgets(make_picker, sandbox, token):
    job_id = add_running_job(sandbox, running_polls=1000)
    picker = make_picker(job_id, poll_interval=0.5)

    async def scenario() -> None:
        picker.fetch()
        await asyncio.sleep(0.1)
        fetch = picker._fetch
        children = picker._descendants()
        picker.close()
        assert fetch.cancel_event.is_set()
        await wait_until(lambda: not picker.busy, timeout=1.0)
        assert all(child.comm is None for child in children)

    asyncio.run(scenario())

    assert picker.comm is None


# --- display without a widget frontend -------------------------------------------------------


def test_repr_mimebundle_outside_kernel_is_usage_text(make_picker):
    picker = make_picker()

    bundle = picker._repr_mimebundle_()

    assert bundle == {"text/plain": FALLBACK_TEXT, "text/html": f"<p>{FALLBACK_TEXT}</p>"}
    assert "%ibmetrics PROJECT_PATH JOB_ID" in FALLBACK_TEXT


def test_repr_mimebundle_in_kernel_adds_widget_view(make_picker, monkeypatch):
    monkeypatch.setattr(frontend, "in_kernel", lambda: True)
    picker = make_picker()

    bundle = picker._repr_mimebundle_()

    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == picker.model_id
    assert bundle["text/plain"] == FALLBACK_TEXT
    assert FALLBACK_TEXT in bundle["text/html"]


def test_terminal_ipython_shows_usage_text(shell, capsys):
    outcome = shell.run_cell("%ibmetrics")

    assert isinstance(outcome.result, JobPicker)
    assert FALLBACK_TEXT in capsys.readouterr().out
    outcome.result.close()


def test_magic_without_arguments_builds_working_picker(shell, sandbox):
    picker = shell.run_line_magic("ibmetrics", "--type training")
    picker.project_input.value = PROJECT
    picker.job_input.value = CLASSIFICATION_JOB

    picker.fetch()

    assert picker.result.job_id == CLASSIFICATION_JOB
    picker.close()


# --- secrets ------------------------------------------------------------------------------------


def test_token_never_in_repr_state_or_history(make_picker, sandbox):
    client = MetricsClient(sandbox.url, token=sandbox.token, poll_interval=0.05)
    picker = make_picker(f"{CLASSIFICATION_JOB} no-such-job", client=client)

    picker.fetch()
    picker.job_input.value = "running-job"
    picker.fetch()

    widgets_and_picker = [picker, *picker._descendants()]
    reprs = [repr(item) for item in [*widgets_and_picker, picker.result, picker._fetch, picker._history]]
    states = [json.dumps(widget.get_state(), default=str) for widget in widgets_and_picker]
    saved = Path(history.history_path()).read_text(encoding="utf-8")
    for text in [*reprs, *states, saved, str(picker._repr_mimebundle_())]:
        assert sandbox.token not in text
    client.close()


# --- history ----------------------------------------------------------------------------------------


def test_history_offers_newest_jobs_first(make_picker, token):
    first = make_picker(CLASSIFICATION_JOB)
    first.fetch()
    first.job_input.value = "legacy-job"
    first.fetch()

    second = make_picker(project="")

    assert second.project_input.options == (PROJECT,)
    second.project_input.value = PROJECT
    assert second.job_input.options == ("legacy-job", CLASSIFICATION_JOB)
    assert first.job_input.options == ("legacy-job", CLASSIFICATION_JOB)


def test_failed_jobs_are_not_remembered(make_picker, token):
    picker = make_picker("no-such-job")

    picker.fetch()

    assert History().projects() == []


def test_cache_dir_prefers_override_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("IBMETRICS_CACHE_DIR", str(tmp_path / "override"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert history.history_path() == tmp_path / "override" / "history.json"

    monkeypatch.delenv("IBMETRICS_CACHE_DIR")
    assert history.history_path() == tmp_path / "xdg" / "ibmetrics_nb" / "history.json"

    monkeypatch.delenv("XDG_CACHE_HOME")
    assert history.history_path() == tmp_path / "home" / ".cache" / "ibmetrics_nb" / "history.json"


def test_history_survives_new_instances(tmp_path):
    path = tmp_path / "history.json"

    History(path).record("p1", ["a", "b"])
    History(path).record("p2", ["c"])
    History(path).record("p1", ["d", "a"])

    restored = History(path)
    assert restored.projects() == ["p1", "p2"]
    assert restored.jobs("p1") == ["d", "a", "b"]
    assert restored.jobs("p2") == ["c"]
    assert restored.jobs("unknown") == []


def test_history_keeps_other_kernels_entries(tmp_path):
    path = tmp_path / "history.json"
    one, two = History(path), History(path)

    one.record("p1", ["a"])
    two.record("p2", ["b"])

    assert History(path).projects() == ["p2", "p1"]


def test_history_is_bounded(tmp_path):
    path = tmp_path / "history.json"
    store = History(path)

    for index in range(history.MAX_PROJECTS + 5):
        store.record(f"project-{index}", [f"job-{index}"])
    store.record("big", [f"job-{index}" for index in range(history.MAX_JOBS_PER_PROJECT + 10)])
    store.record("big", ["x" * (history.MAX_ENTRY_CHARS + 1)])

    restored = History(path)
    assert len(restored.projects()) == history.MAX_PROJECTS
    assert restored.projects()[0] == "big"
    assert len(restored.jobs("big")) == history.MAX_JOBS_PER_PROJECT
    assert restored.jobs("big")[0] == "job-0"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected an object with a 'projects' list"),
        ('{"projects": "p1"}', "expected an object with a 'projects' list"),
        (b"\xff\xfe\x00garbage", "could not read it"),
    ],
)
def test_corrupt_history_starts_empty_with_warning(tmp_path, caplog, content, reason):
    path = tmp_path / "history.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.history"):
        store = History(path)

    assert store.projects() == []
    assert any(reason in record.getMessage() for record in caplog.records)
    store.record("p1", ["a"])
    assert History(path).jobs("p1") == ["a"]


def test_history_skips_malformed_entries(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "projects": [
                    {"path": "good", "jobs": ["a", 7, None, "", " padded ", "a", "b"]},
                    {"path": 5, "jobs": ["x"]},
                    {"path": "no-jobs"},
                    "not an object",
                ],
            }
        )
    )

    store = History(path)

    assert store.projects() == ["good"]
    assert store.jobs("good") == ["a", "b"]


def test_oversized_history_is_ignored(tmp_path, caplog):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"projects": [{"path": "p", "jobs": ["x" * 100] * 50_000}]}))

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.history"):
        store = History(path)

    assert store.projects() == []
    assert any("larger than" in record.getMessage() for record in caplog.records)


def test_unwritable_history_logs_warning(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = History(blocker / "history.json")

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.history"):
        store.record("p1", ["a"])

    assert store.jobs("p1") == ["a"]
    assert any("could not save the job picker history" in record.getMessage() for record in caplog.records)


def test_history_file_has_only_ids(make_picker, token):
    picker = make_picker(CLASSIFICATION_JOB)

    picker.fetch()

    document = json.loads(history.history_path().read_text(encoding="utf-8"))
    assert document == {"version": 1, "projects": [{"path": PROJECT, "jobs": [CLASSIFICATION_JOB]}]}


def test_largest_history_is_read_back(tmp_path):
    path = tmp_path / "history.json"
    store = History(path)
    long_entry = "\N{GRINNING FACE}" * (history.MAX_ENTRY_CHARS - 3)

    for project in range(history.MAX_PROJECTS):
        jobs = [f"{job:03d}{long_entry}" for job in range(history.MAX_JOBS_PER_PROJECT)]
        store.record(f"{project:03d}{long_entry}", jobs)

    assert path.stat().st_size < history.MAX_FILE_BYTES
    restored = History(path)
    assert len(restored.projects()) == history.MAX_PROJECTS
    assert all(len(restored.jobs(project)) == history.MAX_JOBS_PER_PROJECT for project in restored.projects())
