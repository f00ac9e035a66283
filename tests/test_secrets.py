"""The API token never leaves the Authorization header to the root's own origin.

It must not appear in messages, reprs, log records, HTML or a saved
notebook, even when a server echoes the request back, and it must not reach
another origin through a redirect or be replaced by a .netrc entry.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
import requests
from faults import HTML_502, SECRET_MARK, TOKEN
from safety import run_notebook

from ibmetrics_nb import MetricsClient
from ibmetrics_nb.client import _BearerAuth
from ibmetrics_nb.errors import AuthenticationError, IbMetricsError, InvalidRequestError, ResponseFormatError
from ibmetrics_nb.sandbox import CLASSIFICATION_EXAMPLE_JOB_ID, CLASSIFICATION_PROJECT, METRICS_PATH, Reply, serve

PROJECT = "p/fs/Secret Project"
ECHO_DONE = {"status": "OK", "state": "DONE", "metrics": [], "hyperparams": {"seen_authorization": "{authorization}"}}


def echo_replies() -> dict[str, list[Reply]]:
    """Replies that echo the Authorization header back, by job id."""
    return {
        "ok-job": [Reply(200, ECHO_DONE, echo_authorization=True)],
        "unauthorized-job": [Reply(401, {"message": "token {authorization} is invalid"}, echo_authorization=True)],
        "broken-job": [Reply(500, {"message": "crashed while handling {authorization}"}, echo_authorization=True)],
        "gateway-job": [
            Reply(502, HTML_502.replace("<title>", "<title>{authorization} "), content_type="text/html", echo_authorization=True)
        ],
        "silent-job": [Reply(hang=True)],
        "duplicate-job": [
            Reply(200, b'{"metrics": [], "hyperparams": {"k": "{authorization}", "k": "x"}}', echo_authorization=True)
        ],
    }


@pytest.fixture
def echo_sandbox():
    with serve(token=TOKEN) as server:
        for job_id, replies in echo_replies().items():
            server.script(PROJECT, job_id, replies=replies)
        yield server


# --- a real kernel and a saved notebook ------------------------------------------------


@pytest.mark.kernel
def test_saved_notebook_never_contains_token(echo_sandbox, monkeypatch, tmp_path: Path):
    # The kernel inherits these; no cell contains the token.
    monkeypatch.setenv("IB_API_TOKEN", TOKEN)
    monkeypatch.setenv("IB_ROOT_URL", echo_sandbox.url)
    cells = [
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, force=True)\n"
        "%load_ext ibmetrics_nb\n"
        "%config IbMetrics.timeout = 1.0\n"
        "%config IbMetrics.connect_timeout = 1.0\n"
        f"project = {PROJECT!r}",
        "%ibmetrics $project ok-job",
        "r = %ibmetrics $project ok-job\nprint(repr(r), r.hyperparams, r.warnings, r.raw)\nr",
        "%ibmetrics $project unauthorized-job",
        "%ibmetrics $project broken-job",
        "%ibmetrics $project gateway-job",
        "%ibmetrics $project silent-job",
        "%ibmetrics $project duplicate-job",
        "import traceback\n"
        "try:\n"
        "    %ibmetrics $project unauthorized-job\n"
        "except Exception:\n"
        "    traceback.print_exc()",
        "import ibmetrics_nb\nclient = ibmetrics_nb.MetricsClient()\nprint(repr(client), vars(client))\nclient",
        "%config IbMetrics",
    ]

    saved = run_notebook(cells, tmp_path / "secrets.ipynb", timeout=60)

    assert SECRET_MARK not in saved
    # The cells ran: each fault produced its error, and the echoed headers were redacted.
    assert "AuthenticationError: HTTP 401" in saved
    assert "ServerError: HTTP 500" in saved
    assert "ServerError: HTTP 502" in saved
    assert "MetricsTimeoutError: no response" in saved
    assert "Bearer <token>" in saved
    assert "Starting new HTTP connection" in saved


# --- logs, reprs, messages ----------------------------------------------------------


def test_debug_logs_never_contain_token(echo_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    echo_sandbox.script(PROJECT, "retried-job", replies=[Reply(503, None), Reply(drop=True), Reply(200, ECHO_DONE, echo_authorization=True)])
    client = MetricsClient(echo_sandbox.url, TOKEN, timeout=(1.0, 0.5))

    for job_id in [*echo_replies(), "retried-job"]:
        try:
            client.get_metrics(PROJECT, job_id)
        except IbMetricsError:
            pass

    assert "urllib3.connectionpool" in {record.name for record in caplog.records}
    assert "retrying GET" in caplog.text
    assert SECRET_MARK not in caplog.text
    for record in caplog.records:
        assert SECRET_MARK not in repr(record.args)


@pytest.mark.parametrize("job_id", ["unauthorized-job", "broken-job", "gateway-job"])
def test_echoed_token_redacted_in_error_message(echo_sandbox, job_id):
    with pytest.raises(IbMetricsError) as raised:
        MetricsClient(echo_sandbox.url, TOKEN, max_retries=0).get_metrics(PROJECT, job_id)

    assert "Bearer <token>" in str(raised.value)
    assert SECRET_MARK not in str(raised.value)
    assert SECRET_MARK not in repr(raised.value)


def test_echoed_token_redacted_in_result_and_warnings(echo_sandbox):
    client = MetricsClient(echo_sandbox.url, TOKEN)

    result = client.get_metrics(PROJECT, "ok-job")
    duplicate = client.get_metrics(PROJECT, "duplicate-job")

    assert result.hyperparams == {"seen_authorization": "Bearer <token>"}
    assert SECRET_MARK not in result._repr_html_()
    assert SECRET_MARK not in repr(result.raw)
    assert any("'Bearer <token>'" in warning for warning in duplicate.warnings)
    assert SECRET_MARK not in repr(duplicate.warnings)


def test_token_absent_from_client_objects(echo_sandbox):
    client = MetricsClient(echo_sandbox.url, TOKEN)
    client.get_metrics(PROJECT, "ok-job")
    auth = _BearerAuth(client._token, client.root_url)

    for thing in (client, vars(client), client._token, auth, vars(auth), client.session, client.session.adapters):
        assert SECRET_MARK not in repr(thing)
        assert SECRET_MARK not in str(thing)


def test_client_cannot_be_pickled_with_token(echo_sandbox):
    client = MetricsClient(echo_sandbox.url, TOKEN)

    with pytest.raises(TypeError) as raised:
        pickle.dumps(client)

    assert SECRET_MARK not in str(raised.value)


# --- where the header goes ----------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_other_origin_never_receives_token(status):
    with serve(token=TOKEN) as origin, serve() as elsewhere:
        target = f"{elsewhere.url}{METRICS_PATH}?job_id=stolen"
        origin.script(PROJECT, "moved-job", replies=[Reply(status, None, headers={"Location": target})])

        with pytest.raises(ResponseFormatError) as raised:
            MetricsClient(origin.url, TOKEN).get_metrics(PROJECT, "moved-job")

        assert f"redirected to 127.0.0.1:{elsewhere.port}" in str(raised.value)
        assert elsewhere.request_count == 0
        assert elsewhere.request_log == []
        assert origin.requests_for(PROJECT, "moved-job") == 1


def test_redirect_within_origin_not_followed():
    with serve(token=TOKEN) as origin:
        origin.script(PROJECT, "moved-job", replies=[Reply(302, None, headers={"Location": f"{origin.url}/api/v2/model/metrics?x=1"})])

        with pytest.raises(ResponseFormatError, match="redirects are not followed"):
            MetricsClient(origin.url, TOKEN).get_metrics(PROJECT, "moved-job")

        assert origin.request_count == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/api/v2/model/metrics",
        "https://127.0.0.1:8080/api/v2/model/metrics",
        "http://localhost:8080/api/v2/model/metrics",
        "http://127.0.0.2:8080/api/v2/model/metrics",
    ],
)
def test_bearer_header_only_for_root_origin(url):
    auth = _BearerAuth(MetricsClient("http://127.0.0.1:8080", TOKEN)._token, "http://127.0.0.1:8080")

    other = auth(requests.Request("GET", url).prepare())
    same = auth(requests.Request("GET", "http://127.0.0.1:8080/api/v2/model/metrics").prepare())

    assert "Authorization" not in other.headers
    assert same.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.fixture
def netrc_home(tmp_path, monkeypatch):
    """A home folder whose .netrc contains other credentials for 127.0.0.1."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\ndefault login any password any\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_netrc_entry_does_not_replace_bearer(netrc_home, echo_sandbox):
    plain = requests.get(
        echo_sandbox.url + METRICS_PATH,
        params={"model_project_path": PROJECT, "job_id": "ok-job", "job_type": "training"},
        timeout=5,
    )
    result = MetricsClient(echo_sandbox.url, TOKEN).get_metrics(PROJECT, "ok-job")

    # Plain requests picks up the .netrc entry, which shows the entry is in effect.
    assert plain.json()["hyperparams"]["seen_authorization"].startswith("Basic ")
    assert result.hyperparams["seen_authorization"] == "Bearer <token>"


def test_netrc_entry_does_not_break_real_authorization(netrc_home):
    with serve(token=TOKEN) as server:
        # Without the cache, the second client must ask the server, which checks its token.
        result = MetricsClient(server.url, TOKEN, cache=False).get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_EXAMPLE_JOB_ID)
        with pytest.raises(AuthenticationError):
            MetricsClient(server.url, "tok_other", cache=False).get_metrics(CLASSIFICATION_PROJECT, CLASSIFICATION_EXAMPLE_JOB_ID)

    assert result.is_finished


# --- the magic ---------------------------------------------------------------------


def test_token_is_not_a_magic_option():
    from ibmetrics_nb.arguments import parse_line
    from ibmetrics_nb.magic import IbMetrics

    with pytest.raises(InvalidRequestError, match="unrecognized option --token"):
        parse_line("--token abc p/fs/X job")
    assert not [name for name in IbMetrics.class_trait_names() if "token" in name.lower()]
