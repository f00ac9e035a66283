"""Tests of the sandbox metrics server over real HTTP on loopback."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from ibmetrics_nb.sandbox import (
    CLASSIFICATION_PROJECT,
    DEFAULT_TOKEN,
    EXTRACTION_PROJECT,
    METRICS_PATH,
    Job,
    Reply,
    SandboxServer,
    make_classification_payload,
    make_extraction_payload,
    read_data_file,
    serve,
    start,
)
from ibmetrics_nb.sandbox.server import _connection_instructions

CLASSIFICATION_JOB_ID = "dc991a28-bd92-47bb-ajj8-e0f2ca930e51"


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    with serve() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: SandboxServer) -> SandboxServer:
    module_sandbox.reset()
    module_sandbox.latency = 0.0
    return module_sandbox


def fetch(
    sandbox: SandboxServer,
    job_id: str,
    project: str = CLASSIFICATION_PROJECT,
    job_type: str | None = "training",
    token: str | None = "",
    **kwargs,
) -> requests.Response:
    """Send a metrics request. `token=""` means the sandbox's own token, None no header."""
    params = {"model_project_path": project, "job_id": job_id}
    if job_type is not None:
        params["job_type"] = job_type
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or sandbox.token}"
    kwargs.setdefault("timeout", 5)
    return requests.get(sandbox.url + METRICS_PATH, params=params, headers=headers, **kwargs)


def percent(text: str) -> float:
    assert text.endswith("%"), text
    return float(text[:-1]) / 100


# -- catalogue -------------------------------------------------------------------


def test_classification_example_served_byte_for_byte(sandbox):
    response = fetch(sandbox, CLASSIFICATION_JOB_ID)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = read_data_file("classification-training.json")
    expected = b'{"status": "OK", "state": "DONE", ' + document[document.index(b"{") + 1 :]
    assert response.content == expected


def test_classification_example_keeps_duplicate_key(sandbox):
    response = fetch(sandbox, CLASSIFICATION_JOB_ID)

    assert response.content.count(b'"class_weights_ins_power": ') == 2
    assert b'"class_weights_ins_power": 0.2,' in response.content
    assert b'"class_weights_ins_power": 0.3,' in response.content
    assert response.json()["hyperparams"]["class_weights_ins_power"] == 0.3


def test_classification_example_envelope_first(sandbox):
    document = fetch(sandbox, CLASSIFICATION_JOB_ID).json()

    assert list(document)[:3] == ["status", "state", "metrics"]
    assert document["status"] == "OK"
    assert document["state"] == "DONE"
    assert document["platform_version"] == "23.05.0"


def test_extraction_example_is_repaired_file(sandbox):
    response = fetch(sandbox, "extraction-example", project=EXTRACTION_PROJECT)

    assert response.status_code == 200
    expected = {"status": "OK", "state": "DONE", **json.loads(read_data_file("extraction-training.json"))}
    assert response.json() == expected


def test_extraction_as_documented_is_invalid_json(sandbox):
    response = fetch(sandbox, "extraction-as-documented", project=EXTRACTION_PROJECT)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content.startswith(b'{"status": "OK", "state": "DONE", ')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    # The missing comma between two tables of the published example remains.
    assert b'"show": false\n}\n{' in response.content


def test_failed_job_sends_state_and_message(sandbox):
    response = fetch(sandbox, "failed-job")

    assert response.status_code == 200
    assert response.json() == {
        "status": "OK",
        "state": "FAILED",
        "msg": "Training failed: CUDA out of memory on worker 2",
    }


def test_error_job_uses_v1_error_style(sandbox):
    response = fetch(sandbox, "error-job")

    assert response.status_code == 200
    assert response.json() == {"status": "ERROR", "msg": "Model project is locked by another job"}


def test_legacy_job_is_incomplete(sandbox):
    document = fetch(sandbox, "legacy-job").json()

    assert document["state"] == "DONE"
    assert document["platform_version"] == ""
    assert "hyperparams" not in document
    assert "ibformers_version" not in document
    titles = [table["title"] for table in document["metrics"]]
    assert titles == ["Classifier Metrics"]
    table = document["metrics"][0]
    assert table["headers"] == ["class", "f1", "precision", "recall", "support"]
    assert table["rows"][0][1] == 0.9
    assert ["accuracy", "87.50", "", "", 16] in table["rows"]


def test_large_job_has_500_classes(sandbox):
    document = fetch(sandbox, "large-job").json()

    matrix = next(table for table in document["metrics"] if table["title"] == "Confusion Matrix")
    assert len(matrix["rows"]) == 500
    assert len(matrix["headers"]) == 501
    assert document["test_total"] == sum(document["test_count"].values())


def test_evaluation_job_consistent_with_matrix(sandbox):
    document = fetch(sandbox, "evaluation-job", job_type="evaluation").json()

    titles = [table["title"] for table in document["metrics"]]
    assert "Train-Validation Curve" not in titles
    assert "Hyperparameter search results" not in titles
    matrix = next(table for table in document["metrics"] if table["title"] == "Confusion Matrix")
    scores = document["metrics"][0]
    assert scores["title"] == "Record-wise Classifier Metrics"
    assert matrix["rows"] == [["W2", 11, 1], ["ADP", 1, 7]]
    assert scores["rows"][0] == ["W2", "91.67%", "91.67%", "91.67%", 12.0, "0.048"]
    assert scores["rows"][1] == ["ADP", "87.50%", "87.50%", "87.50%", 8.0, "0.131"]
    assert scores["rows"][3][0] == "weighted avg"
    assert scores["rows"][3][2] == "90.00%"


def test_evaluation_job_not_found_as_training(sandbox):
    response = fetch(sandbox, "evaluation-job", job_type="training")

    assert response.status_code == 404


def test_running_job_three_polls_then_done(sandbox):
    states = [fetch(sandbox, "running-job").json()["state"] for _ in range(5)]

    assert states == ["RUNNING", "RUNNING", "RUNNING", "DONE", "DONE"]
    assert fetch(sandbox, "running-job").json()["metrics"]


def test_reset_restarts_running_job(sandbox):
    for _ in range(4):
        fetch(sandbox, "running-job")
    sandbox.reset()

    assert fetch(sandbox, "running-job").json() == {"status": "OK", "state": "RUNNING"}
    assert sandbox.request_count == 1


def test_query_values_percent_encoded(sandbox):
    # requests encodes spaces as "+"; other clients send "%20" and "%2F".
    query = "model_project_path=user1%2Fmy-repo%2Ffs%2FInstabase%20Drive%2FPaystubClassifier&job_id=failed-job&job_type=training"
    response = requests.get(
        f"{sandbox.url}{METRICS_PATH}?{query}",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json()["state"] == "FAILED"
    assert sandbox.request_log[-1]["query"]["model_project_path"] == CLASSIFICATION_PROJECT


# -- request errors -------------------------------------------------------------


def test_missing_token_is_401(sandbox):
    response = fetch(sandbox, CLASSIFICATION_JOB_ID, token=None)

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_token_is_401(sandbox):
    response = fetch(sandbox, CLASSIFICATION_JOB_ID, token="sbx-wrong")

    assert response.status_code == 401
    assert "message" in response.json()


def test_wrong_auth_scheme_is_401(sandbox):
    response = requests.get(
        sandbox.url + METRICS_PATH,
        params={"model_project_path": CLASSIFICATION_PROJECT, "job_id": "failed-job", "job_type": "training"},
        headers={"Authorization": f"Token {sandbox.token}"},
        timeout=5,
    )

    assert response.status_code == 401


@pytest.mark.parametrize("missing", ["model_project_path", "job_id", "job_type"])
def test_missing_parameter_is_400(sandbox, missing):
    params = {"model_project_path": CLASSIFICATION_PROJECT, "job_id": "failed-job", "job_type": "training"}
    del params[missing]
    response = requests.get(
        sandbox.url + METRICS_PATH,
        params=params,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=5,
    )

    assert response.status_code == 400
    assert missing in response.json()["message"]


def test_invalid_job_type_is_400(sandbox):
    response = fetch(sandbox, "failed-job", job_type="inference")

    assert response.status_code == 400
    assert "inference" in response.json()["message"]


def test_unknown_job_is_404(sandbox):
    response = fetch(sandbox, "no-such-job")

    assert response.status_code == 404
    assert response.json() == {"message": f"Job no-such-job not found in project {CLASSIFICATION_PROJECT}"}


def test_unknown_project_is_404(sandbox):
    response = fetch(sandbox, "failed-job", project="user1/other/fs/Instabase Drive/X")

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/api/v2/model/metrics/", "/api//v2/model/metrics", "/api/v1/model/metrics", "/"])
def test_other_path_is_404_json(sandbox, path):
    response = requests.get(sandbox.url + path, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=5)

    assert response.status_code == 404
    assert "message" in response.json()


def test_post_is_405(sandbox):
    response = requests.post(
        sandbox.url + METRICS_PATH,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        data=b"{}",
        timeout=5,
    )

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


# -- added jobs ------------------------------------------------------------------


def test_add_job_serves_payload_after_polls(sandbox):
    sandbox.add_job(Job("u/r/fs/X", "added", payload={"metrics": [], "platform_version": "24.0"}, running_polls=1))

    first = fetch(sandbox, "added", project="u/r/fs/X").json()
    second = fetch(sandbox, "added", project="u/r/fs/X").json()

    assert first == {"status": "OK", "state": "RUNNING"}
    assert second == {"status": "OK", "state": "DONE", "metrics": [], "platform_version": "24.0"}


def test_add_job_cancelled_state(sandbox):
    sandbox.add_job(Job("u/r/fs/X", "cancelled", final_state="CANCELLED", error="Cancelled by user1"))

    response = fetch(sandbox, "cancelled", project="u/r/fs/X")

    assert response.json() == {"status": "OK", "state": "CANCELLED", "msg": "Cancelled by user1"}


def test_add_job_raw_body(sandbox):
    sandbox.add_job(Job("u/r/fs/X", "raw", raw_body=b"<html>login</html>"))

    response = fetch(sandbox, "raw", project="u/r/fs/X")

    assert response.content == b"<html>login</html>"
    assert response.headers["Content-Type"] == "application/json"


def test_reset_removes_added_jobs(sandbox):
    sandbox.add_job(Job("u/r/fs/X", "added"))
    sandbox.reset()

    assert fetch(sandbox, "added", project="u/r/fs/X").status_code == 404
    assert len(sandbox.jobs) == 12


def test_job_rejects_invalid_fields():
    with pytest.raises(ValueError):
        Job("p", "j", job_type="inference")
    with pytest.raises(ValueError):
        Job("p", "j", running_polls=-1)
    with pytest.raises(ValueError):
        Job("p", "j", error="message without a failed state")


# -- scripts ---------------------------------------------------------------------


def test_script_status_and_headers(sandbox):
    sandbox.script(
        CLASSIFICATION_PROJECT,
        "scripted",
        replies=[Reply(status=429, body={"message": "Too many requests"}, headers={"Retry-After": "1"})],
    )

    response = fetch(sandbox, "scripted")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"message": "Too many requests"}


def test_script_replies_in_order_last_repeats(sandbox):
    sandbox.script(
        CLASSIFICATION_PROJECT,
        CLASSIFICATION_JOB_ID,
        replies=[
            Reply(status=503, body="busy", content_type="text/plain"),
            Reply(status=502, body="<html>Bad gateway</html>", content_type="text/html"),
            Reply(body={"status": "OK", "state": "PENDING"}),
        ],
    )

    responses = [fetch(sandbox, CLASSIFICATION_JOB_ID) for _ in range(4)]

    assert [response.status_code for response in responses] == [503, 502, 200, 200]
    assert responses[0].text == "busy"
    assert responses[1].headers["Content-Type"] == "text/html"
    assert responses[3].json() == {"status": "OK", "state": "PENDING"}


def test_script_bypasses_token_check(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(body={"status": "OK", "state": "DONE"})])

    response = fetch(sandbox, "scripted", token=None)

    assert response.status_code == 200


def test_script_401_with_any_body(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(status=401, body=b"denied", content_type="text/plain")])

    response = fetch(sandbox, "scripted")

    assert response.status_code == 401
    assert response.content == b"denied"


def test_script_empty_body(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(status=204)])

    response = fetch(sandbox, "scripted")

    assert response.status_code == 204
    assert response.content == b""


def test_script_delay(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(body={}, delay=0.3)])

    started = time.perf_counter()
    response = fetch(sandbox, "scripted")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.3


def test_script_drop_closes_connection(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(drop=True)])

    with pytest.raises(requests.ConnectionError):
        fetch(sandbox, "scripted")
    assert sandbox.request_log[-1]["status"] is None


def test_script_truncated_body(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(body={"status": "OK", "state": "DONE"}, truncate=True)])

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        fetch(sandbox, "scripted")


def test_script_chunks(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(chunks=[b'{"status": ', b'"OK"}'])])

    response = fetch(sandbox, "scripted")

    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.json() == {"status": "OK"}


def test_script_truncated_chunks(sandbox):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(chunks=[b'{"status": '], truncate=True)])

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        fetch(sandbox, "scripted")


def test_script_rejects_empty_replies(sandbox):
    with pytest.raises(ValueError):
        sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[])


def test_hang_times_out_and_stop_is_prompt():
    sandbox = start()
    try:
        sandbox.script(CLASSIFICATION_PROJECT, "hung", replies=[Reply(hang=True)])
        started = time.perf_counter()
        with pytest.raises(requests.exceptions.ReadTimeout):
            fetch(sandbox, "hung", timeout=(2, 0.5))
        assert time.perf_counter() - started < 2

        # A second hung request is still waiting while the server stops.
        query = urlencode({"model_project_path": CLASSIFICATION_PROJECT, "job_id": "hung", "job_type": "training"})
        with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
            connection.sendall(f"GET {METRICS_PATH}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii"))
            time.sleep(0.1)
            started = time.perf_counter()
            sandbox.stop()
            assert time.perf_counter() - started < 1
            assert connection.recv(1024) == b""
    finally:
        sandbox.stop()


# -- latency, concurrency, counters ------------------------------------------------------


def test_latency_delays_replies(sandbox):
    sandbox.latency = 0.2

    started = time.perf_counter()
    response = fetch(sandbox, "failed-job")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.2


def test_concurrent_requests_all_served(sandbox):
    sandbox.latency = 0.2

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: fetch(sandbox, CLASSIFICATION_JOB_ID), range(50)))
    elapsed = time.perf_counter() - started

    assert [response.status_code for response in responses] == [200] * 50
    # Served one after another, 50 replies would take 10 s.
    assert elapsed < 3
    assert sandbox.request_count == 50


def test_request_counting(sandbox):
    fetch(sandbox, "failed-job")
    fetch(sandbox, "failed-job", token="wrong")
    fetch(sandbox, "no-such-job")
    requests.get(sandbox.url + "/other", timeout=5)

    assert sandbox.request_count == 3
    assert sandbox.requests_for(CLASSIFICATION_PROJECT, "failed-job") == 2
    assert sandbox.requests_for(CLASSIFICATION_PROJECT, "no-such-job") == 1
    assert sandbox.requests_for(CLASSIFICATION_PROJECT, "failed-job", "evaluation") == 0


def test_request_log_entries(sandbox):
    fetch(sandbox, "failed-job")
    fetch(sandbox, "failed-job", token="wrong")

    log = sandbox.request_log

    assert [entry["status"] for entry in log] == [200, 401]
    assert log[0]["method"] == "GET"
    assert log[0]["path"] == METRICS_PATH
    assert log[0]["query"] == {
        "model_project_path": CLASSIFICATION_PROJECT,
        "job_id": "failed-job",
        "job_type": "training",
    }
    assert isinstance(log[0]["time"], float)
    assert sandbox.token not in repr(log)


# -- construction ----------------------------------------------------------------


def test_repr_hides_token(sandbox):
    text = repr(sandbox)

    assert sandbox.token not in text
    assert sandbox.url in text
    assert "jobs=12" in text


def test_default_token_random_per_server():
    with serve() as first, serve() as second:
        assert first.token.startswith("sbx-")
        assert first.token != second.token
        assert first.token != DEFAULT_TOKEN


def test_given_token_accepted():
    with serve(token=DEFAULT_TOKEN) as sandbox:
        assert DEFAULT_TOKEN == "sandbox-token"
        assert fetch(sandbox, "failed-job", token=DEFAULT_TOKEN).status_code == 200


def test_url_has_no_trailing_slash(sandbox):
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "", "::"])
def test_non_loopback_host_rejected(host):
    with pytest.raises(ValueError):
        start(host=host)


def test_localhost_accepted():
    with serve(host="localhost") as sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert fetch(sandbox, "failed-job").status_code == 200


def test_stop_is_idempotent():
    sandbox = start()
    sandbox.stop()
    sandbox.stop()

    assert not sandbox.is_running
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + METRICS_PATH, timeout=2)


def test_jobs_argument_replaces_catalogue():
    with serve(jobs=[Job("p/fs/X", "only")]) as sandbox:
        assert len(sandbox.jobs) == 1
        assert fetch(sandbox, CLASSIFICATION_JOB_ID).status_code == 404
        assert fetch(sandbox, "only", project="p/fs/X").json() == {"status": "OK", "state": "DONE"}


def test_instructions_hide_given_token():
    with serve(token="tok_SECRET123") as sandbox:
        from_environment = _connection_instructions(sandbox, "environment")
        from_argument = _connection_instructions(sandbox, "argument")

    assert "SECRET123" not in from_environment
    assert "SECRET123" not in from_argument
    assert f"IB_ROOT_URL={sandbox.url}" in from_environment


def test_instructions_show_default_token():
    with serve(token=DEFAULT_TOKEN) as sandbox:
        text = _connection_instructions(sandbox, "default")

    assert f"IB_API_TOKEN={DEFAULT_TOKEN}" in text


# -- payload generators -------------------------------------------------------------


def table(payload: dict, title: str) -> dict:
    return next(item for item in payload["metrics"] if item["title"] == title)


@pytest.mark.parametrize("n_classes, seed", [(1, 0), (2, 1), (7, 2), (60, 3)])
def test_classification_scores_match_matrix(n_classes, seed):
    payload = make_classification_payload(n_classes, seed=seed)
    matrix = [row[1:] for row in table(payload, "Confusion Matrix")["rows"]]
    rows = table(payload, "Record-wise Classifier Metrics")["rows"]

    precisions, recalls, f1_scores, supports = [], [], [], []
    for index, row in enumerate(rows[:n_classes]):
        support = sum(matrix[index])
        predicted = sum(matrix_row[index] for matrix_row in matrix)
        precision = matrix[index][index] / predicted if predicted else 0.0
        recall = matrix[index][index] / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row[0] == f"class_{index + 1:04d}"
        assert percent(row[1]) == pytest.approx(f1, abs=5e-5)
        assert percent(row[2]) == pytest.approx(precision, abs=5e-5)
        assert percent(row[3]) == pytest.approx(recall, abs=5e-5)
        assert row[4] == float(support)
        assert len(row[5].split(".")[1]) == 3
        precisions.append(precision)
        recalls.append(recall)
        f1_scores.append(f1)
        supports.append(support)

    macro, weighted = rows[n_classes], rows[n_classes + 1]
    assert macro[0] == "macro avg"
    assert percent(macro[2]) == pytest.approx(sum(precisions) / n_classes, abs=5e-5)
    assert weighted[0] == "weighted avg"
    total = sum(supports)
    assert percent(weighted[3]) == pytest.approx(sum(r * s for r, s in zip(recalls, supports)) / total, abs=5e-5)
    assert weighted[4] == float(total)
    assert payload["test_count"] == {row[0]: int(row[4]) for row in rows[:n_classes]}


def test_classification_matrix_mostly_diagonal():
    payload = make_classification_payload(50, seed=4)
    matrix = [row[1:] for row in table(payload, "Confusion Matrix")["rows"]]

    diagonal = sum(matrix[index][index] for index in range(50))
    total = sum(sum(row) for row in matrix)

    assert diagonal / total > 0.7
    assert all(isinstance(cell, int) for row in matrix for cell in row)


def test_classification_payload_shape():
    payload = make_classification_payload(3, seed=0, epochs=4, trials=2)

    curve = table(payload, "Train-Validation Curve")
    assert curve["headers"] == ["Dataset Split", "Epoch 1", "2", "3", "4"]
    assert [row[0] for row in curve["rows"]] == ["Train", "Eval"]
    assert curve["show"] is False
    assert table(payload, "Confusion Matrix")["headers"] == ["class name", "class_0001", "class_0002", "class_0003"]
    trials = table(payload, "Hyperparameter search results")["rows"]
    assert len(trials) == 2
    assert all(isinstance(cell, str) for row in trials for cell in row)
    assert payload["platform_version"] == "23.05.0"
    assert payload["ibformers_version"] == "2.1.0"
    assert payload["train_total"] == sum(payload["train_count"].values())


def test_classification_payload_deterministic():
    assert make_classification_payload(20, seed=5) == make_classification_payload(20, seed=5)
    assert make_classification_payload(20, seed=5) != make_classification_payload(20, seed=6)


def test_classification_without_trials():
    payload = make_classification_payload(2, trials=0)

    titles = [item["title"] for item in payload["metrics"]]
    assert "Hyperparameter search results" not in titles
    assert payload["hyperparams"]["do_hyperparam_optimization"] is False


def test_classification_1000_classes_fast():
    started = time.perf_counter()
    payload = make_classification_payload(1000, seed=0)
    elapsed = time.perf_counter() - started

    assert len(table(payload, "Confusion Matrix")["rows"]) == 1000
    assert elapsed < 1.0


def test_extraction_payload_averages_first():
    payload = make_extraction_payload(4, seed=1)

    fields = table(payload, "Individual fields level metrics")
    tokens = table(payload, "Individual token level metrics")
    assert [row[0] for row in fields["rows"][:2]] == ["Micro Average", "Macro Average"]
    assert [row[0] for row in tokens["rows"][:2]] == ["Micro Average", "Macro Average"]
    assert len(fields["rows"]) == 6
    assert fields["headers"][-1] == "ECE"
    assert "ECE" not in tokens["headers"]
    supports = [row[4] for row in fields["rows"][2:]]
    assert fields["rows"][0][4] == sum(supports)
    assert fields["rows"][1][4] == "N/A"
    macro_precision = sum(percent(row[1]) for row in fields["rows"][2:]) / 4
    assert percent(fields["rows"][1][1]) == pytest.approx(macro_precision, abs=1e-4)
    assert payload["test_total"] >= max(supports)


def test_generators_reject_invalid_sizes():
    with pytest.raises(ValueError):
        make_classification_payload(0)
    with pytest.raises(ValueError):
        make_extraction_payload(3, epochs=0)


# -- IPv6, logging, command line ---------------------------------------------------


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_url_in_brackets():
    with serve(host="::1") as sandbox:
        assert sandbox.url == f"http://[::1]:{sandbox.port}"
        assert fetch(sandbox, "failed-job").status_code == 200


def test_debug_log_never_contains_token(sandbox, caplog):
    sandbox.script(CLASSIFICATION_PROJECT, "scripted", replies=[Reply(drop=True)])
    with caplog.at_level(logging.DEBUG, logger="ibmetrics_nb.sandbox"):
        fetch(sandbox, "failed-job")
        fetch(sandbox, "no-such-job")
        with pytest.raises(requests.ConnectionError):
            fetch(sandbox, "scripted")

    assert "failed-job" in caplog.text
    assert sandbox.token not in caplog.text


def test_run_hides_token_stops_on_sigint():
    environment = dict(os.environ)
    environment["IB_API_TOKEN"] = "tok_SECRET123"
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[1]), environment.get("PYTHONPATH")])
    )
    process = subprocess.Popen(
        [sys.executable, "-c", "from ibmetrics_nb.sandbox import run; run(port=0)"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = first_line.rsplit(" ", 1)[-1].strip()
        response = requests.get(
            url + METRICS_PATH,
            params={"model_project_path": CLASSIFICATION_PROJECT, "job_id": "failed-job", "job_type": "training"},
            headers={"Authorization": "Bearer tok_SECRET123"},
            timeout=5,
        )
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        # communicate() would skip the text that readline() already buffered.
        rest_of_stdout = process.stdout.read()
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()

    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 200
    assert process.returncode == 0, stderr
    stdout = first_line + rest_of_stdout
    assert f"IB_ROOT_URL={url}" in stdout
    assert "Stopping the sandbox." in stdout
    assert "SECRET123" not in stdout
    assert "SECRET123" not in stderr
