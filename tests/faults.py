"""The fault matrix: server faults and bad payloads, as data that any front end can replay.

Each `Fault` names the replies a scripted sandbox sends for one job and the
outcome a user must see: a package error of a given class whose one-line
message matches `match`, or a result whose warnings match `warning`. The
client test and the magic test in test_faults.py replay every entry, and
other front ends (such as the job picker) can replay the same list with
`fault_target` and the settings in `CLIENT_SETTINGS`.

Measured outcomes go to `MEASURED`, which conftest.py prints as a table at
the end of the test run.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from ibmetrics_nb.errors import (
    AuthenticationError,
    IbMetricsError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from ibmetrics_nb.sandbox import (
    CLASSIFICATION_PROJECT,
    Reply,
    SandboxServer,
    make_classification_payload,
    read_data_file,
    splice_envelope,
)

TOKEN = "tok_SECRET123"
SECRET_MARK = "SECRET123"
PROJECT = CLASSIFICATION_PROJECT

# Settings shared by every front end that replays the matrix: a 1 s connect
# and read timeout and a 1.5 s wait for running jobs keep each fault short.
# Retries keep the client's defaults (3 retries, backoff 0, 1, 2 s).
CLIENT_SETTINGS = {"timeout": (1.0, 1.0), "max_wait": 1.5, "poll_interval": 0.1}
MAGIC_SETTINGS = {"connect_timeout": 1.0, "timeout": 1.0, "max_wait": 1.5, "poll_interval": 0.1}

OK = {"status": "OK", "state": "DONE"}
HTML_502 = (
    "<html>\n<head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>\n</html>\n"
)
HTML_LOGIN = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    '<body><form action="/login"><input name="user"></form></body></html>'
)


@dataclass(frozen=True)
class Fault:
    """One entry of the fault matrix.

    `error` is the expected package error class, and `match` must occur in
    its message. With `error=None` the fetch must return a result, and
    `warning`, when set, must occur in one of the result's warnings.
    `target` is "sandbox" for scripted replies, or "closed-port" for a root
    URL where nothing listens. One fetch with CLIENT_SETTINGS must take
    between `min_seconds` and `max_seconds` of wall time.
    """

    name: str
    replies: tuple[Reply, ...] = ()
    error: type[IbMetricsError] | None = None
    match: str = ""
    warning: str | None = None
    max_seconds: float = 1.0
    target: str = "sandbox"
    min_seconds: float = 0.0

    @property
    def expected(self) -> str:
        """The expected outcome in a few words, for the printed matrix."""
        if self.error is not None:
            return self.error.__name__
        return f"result + warning: {self.warning}" if self.warning else "result"


def _finished(**payload: object) -> dict:
    return {**OK, **payload}


def _table(title: str, headers: object, rows: object) -> dict:
    return {"title": title, "subtitle": "", "headers": headers, "rows": rows}


_SCORES_HEADERS = ["Class Type", "F1 Score", "Precision", "Recall", "Support", "ECE"]
_SCORE_ROW = ["W2", "90.91%", "83.33%", "100.00%", 5.0, "0.051"]


def _huge_payload() -> dict:
    payload = make_classification_payload(500, seed=1, epochs=3, trials=2)
    rows = [[f"field_{index}", f"{index % 100}.00%", "50.00%", "N/A", index] for index in range(20_000)]
    payload["metrics"].append(_table("Individual fields level metrics", ["Field Name", "Precision", "Recall", "F1 Score", "Support"], rows))
    return payload


FAULTS: list[Fault] = [
    # --- HTTP status faults ---------------------------------------------------
    Fault("http-500-json", (Reply(500, {"message": "Internal error in model service"}),), ServerError, "HTTP 500"),
    Fault(
        "http-502-html-retried",
        (Reply(502, HTML_502, content_type="text/html"),),
        ServerError,
        "HTTP 502",
        max_seconds=5.0,
    ),
    Fault(
        "http-503-retry-after-3600",
        (Reply(503, {"message": "Down for maintenance"}, headers={"Retry-After": "3600"}),),
        ServerError,
        "retry after 3,600 s",
    ),
    Fault("http-504-empty-retried", (Reply(504, None),), ServerError, "HTTP 504", max_seconds=5.0),
    Fault(
        "http-429-retry-after-1-then-ok",
        (Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "1"}), Reply(200, _finished(metrics=[]))),
        None,
        max_seconds=3.0,
        min_seconds=1.0,
    ),
    Fault(
        "http-429-always",
        (Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "1"}),),
        ServerError,
        "still failing after 3 retries",
        max_seconds=5.0,
        min_seconds=3.0,
    ),
    Fault(
        "http-429-invalid-retry-after",
        (Reply(429, None, headers={"Retry-After": "soon"}),),
        ServerError,
        "HTTP 429",
        max_seconds=5.0,
    ),
    Fault("http-401-token", (Reply(401, {"message": "Invalid or expired token"}),), AuthenticationError, "check IB_API_TOKEN"),
    Fault("http-403-project", (Reply(403, {"message": "Forbidden"}),), AuthenticationError, "HTTP 403"),
    Fault("http-404-job", (Reply(404, {"message": "Job not found"}),), NotFoundError, "HTTP 404"),
    Fault("http-400-plain-text", (Reply(400, "bad request", content_type="text/plain"),), InvalidRequestError, "text/plain"),
    Fault(
        "http-302-other-origin",
        (Reply(302, None, headers={"Location": "http://127.0.0.2:9/login"}),),
        ResponseFormatError,
        "redirected to 127.0.0.2:9",
    ),
    Fault(
        "error-message-echoes-token",
        (Reply(500, {"message": "token {authorization} is not valid here"}, echo_authorization=True),),
        ServerError,
        "Bearer <token>",
    ),
    # --- connection faults -----------------------------------------------------
    Fault("connection-dropped", (Reply(drop=True),), ServerError, "closed the connection", max_seconds=5.0),
    Fault("connection-refused", (), ServerError, "connection refused", max_seconds=5.0, target="closed-port"),
    Fault("server-never-answers", (Reply(hang=True),), MetricsTimeoutError, "read timeout of 1 s", max_seconds=2.5),
    Fault(
        "body-stalls-midway",
        (Reply(200, chunks=[b'{"status": "OK", ', b'"state": "DONE"}'], chunk_delay=30),),
        MetricsTimeoutError,
        "read timeout",
        max_seconds=2.5,
    ),
    Fault(
        "body-shorter-than-content-length",
        (Reply(200, json.dumps(_finished(metrics=[])), truncate=True),),
        ServerError,
        "was cut off",
    ),
    Fault(
        "chunked-body-without-last-chunk",
        (Reply(200, chunks=[b'{"status": "OK", ', b'"state": "DONE"'], truncate=True),),
        ServerError,
        "was cut off",
    ),
    # --- job states ---------------------------------------------------------------
    Fault(
        "job-stays-running",
        (Reply(200, {"status": "OK", "state": "RUNNING"}),),
        MetricsTimeoutError,
        "job fault-job is still RUNNING",
        max_seconds=3.5,
        min_seconds=1.5,
    ),
    Fault(
        "job-in-unknown-state",
        (Reply(200, {"status": "OK", "state": "WAITING_FOR_GPU"}),),
        MetricsTimeoutError,
        "still WAITING_FOR_GPU",
        max_seconds=3.5,
    ),
    Fault("status-error-v1", (Reply(200, {"status": "ERROR", "msg": "Model project is locked"}),), JobFailedError, "Model project is locked"),
    Fault("state-failed", (Reply(200, {"status": "OK", "state": "FAILED", "msg": "CUDA out of memory"}),), JobFailedError, "ended in state FAILED"),
    Fault("state-cancelled", (Reply(200, {"status": "OK", "state": "CANCELLED"}),), JobFailedError, "ended in state CANCELLED"),
    # --- bodies that are not the expected JSON ---------------------------------------
    Fault("html-login-page-200", (Reply(200, HTML_LOGIN, content_type="text/html"),), ResponseFormatError, "expected JSON, got text/html"),
    Fault("empty-body-200", (Reply(200, None),), ResponseFormatError, "empty response body"),
    Fault(
        "invalid-json-as-documented",
        (Reply(200, splice_envelope(read_data_file("extraction-training.as-documented.json"))),),
        ResponseFormatError,
        "invalid JSON at line 100, column 1",
    ),
    Fault("json-list-body", (Reply(200, [1, 2, 3]),), ResponseFormatError, "got a list"),
    Fault("json-string-body", (Reply(200, '"OK"'),), ResponseFormatError, "got a str"),
    Fault("body-not-utf8", (Reply(200, b'{"status": "OK", "state": "DONE", "x": "\xff\xfe"}'),), ResponseFormatError, "not UTF-8"),
    Fault("json-nested-too-deeply", (Reply(200, b"[" * 100_000),), ResponseFormatError, "nested too deeply"),
    Fault("json-integer-too-long", (Reply(200, b'{"status": "OK", "train_total": ' + b"9" * 5000 + b"}"),), ResponseFormatError, "invalid JSON"),
    # --- payloads that parse but break the contract -----------------------------------
    Fault(
        "nan-and-infinity-tokens",
        (Reply(200, b'{"status": "OK", "state": "DONE", "metrics": [], "train_total": NaN, "test_total": Infinity}'),),
        None,
        warning="non-standard JSON value NaN",
    ),
    Fault(
        "duplicate-keys",
        (Reply(200, b'{"status": "OK", "state": "DONE", "metrics": [], "hyperparams": {"lr": 1, "lr": 2}}'),),
        None,
        warning="duplicate key 'lr'",
    ),
    Fault("metrics-not-a-list", (Reply(200, _finished(metrics={"title": "x"})),), None, warning="'metrics' is a dict, not a list"),
    Fault("rows-null", (Reply(200, _finished(metrics=[_table("Record-wise Classifier Metrics", _SCORES_HEADERS, None)])),), None, warning="rows is null"),
    Fault(
        "rows-shorter-and-longer",
        (Reply(200, _finished(metrics=[_table("Record-wise Classifier Metrics", _SCORES_HEADERS, [["W2", "1%"], _SCORE_ROW + ["x", "y"]])])),),
        None,
        warning="fewer cells than headers",
    ),
    Fault("no-headers", (Reply(200, _finished(metrics=[{"title": "Mystery", "rows": [[1, 2]]}])),), None, warning="no headers"),
    Fault(
        "unknown-table-shape",
        (Reply(200, _finished(metrics=[{"title": {"nested": True}, "headers": "Class", "rows": "none", "show": "maybe"}, 5])),),
        None,
        warning="not a table",
    ),
    Fault(
        "legacy-job-incomplete",
        (Reply(200, _finished(platform_version="", metrics=[_table("Classifier Metrics", ["class", "precision", "recall", "f1"], [["W2", 0.5, 0.5, 0.5]])])),),
        None,
        warning="re-run the job",
    ),
    Fault("huge-tables", (Reply(200, _huge_payload()),), None, max_seconds=5.0),
]


@contextlib.contextmanager
def fault_target(fault: Fault, sandbox: SandboxServer, job_id: str = "fault-job") -> Iterator[str]:
    """Script `sandbox` for `fault` and yield the root URL to fetch `job_id` from."""
    if fault.target == "closed-port":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # Nothing listens on the port once the probe socket is closed.
        yield f"http://127.0.0.1:{port}"
        return
    sandbox.script(PROJECT, job_id, replies=list(fault.replies))
    yield sandbox.url


@dataclass
class Measurement:
    """What one replay of a fault produced."""

    fault: str
    front_end: str
    outcome: str
    seconds: float
    bound: float


MEASURED: list[Measurement] = []


def format_matrix(measured: list[Measurement]) -> list[str]:
    """Lay out the measurements as a text table, one row per fault and one column per front end."""
    front_ends = list(dict.fromkeys(m.front_end for m in measured))
    by_key = {(m.fault, m.front_end): m for m in measured}
    faults = list(dict.fromkeys(m.fault for m in measured))
    expected = {fault.name: fault.expected for fault in FAULTS}

    header = ["fault", "expected", *(f"{name} (s)" for name in front_ends), "bound (s)"]
    rows = []
    for name in faults:
        cells = [name, expected.get(name, "?")]
        bound = 0.0
        for front_end in front_ends:
            measurement = by_key.get((name, front_end))
            if measurement is None:
                cells.append("-")
                continue
            mark = "" if measurement.outcome == "ok" else f" {measurement.outcome}"
            cells.append(f"{measurement.seconds:.2f}{mark}")
            bound = measurement.bound
        cells.append(f"{bound:g}")
        rows.append(cells)

    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines
