"""Server faults and bad payloads end in one clear line, through the client and the magic.

The matrix in faults.py is replayed against a real sandbox on loopback,
once through `MetricsClient` and once through `%ibmetrics` in a real
IPython shell. Every replay checks the error class or warning, the time
bound, that the message is one line, and that the token appears in no
output or log record. The measured times are printed as a table at the end
of the run (see conftest.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import (
    CLIENT_SETTINGS,
    FAULTS,
    MAGIC_SETTINGS,
    MEASURED,
    PROJECT,
    SECRET_MARK,
    TOKEN,
    Fault,
    Measurement,
    fault_target,
)

from ibmetrics_nb import MetricsClient, MetricsResult
from ibmetrics_nb.client import normalize_root
from ibmetrics_nb.errors import (
    ConfigurationError,
    IbMetricsError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    ResponseFormatError,
    ServerError,
)
from ibmetrics_nb.sandbox import Reply, SandboxServer, serve

JOB = "fault-job"
OK_BODY = {"status": "OK", "state": "DONE", "metrics": []}


@pytest.fixture(scope="module")
def fault_sandbox() -> Iterator[SandboxServer]:
    with serve(token=TOKEN) as server:
        yield server


@pytest.fixture
def sandbox_for_test(fault_sandbox: SandboxServer) -> SandboxServer:
    fault_sandbox.reset()
    return fault_sandbox


@pytest.fixture(scope="module")
def fault_shell() -> Iterator[object]:
    """A real IPython shell with the extension loaded and the matrix's short timeouts."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "ibmetrics_nb")
    magics = next(c for c in shell.configurables if type(c).__name__ == "IbMetrics")
    saved = {name: getattr(magics, name) for name in [*MAGIC_SETTINGS, "root_url"]}
    for name, value in MAGIC_SETTINGS.items():
        setattr(magics, name, value)
    shell.user_ns["fault_project"] = PROJECT
    yield shell, magics
    for name, value in saved.items():
        setattr(magics, name, value)
    shell.run_line_magic("unload_ext", "ibmetrics_nb")


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert SECRET_MARK not in str(text)


def outcome_of(fault: Fault, error: BaseException | None, result: object, seconds: float) -> str:
    """Summarise one replay for the printed matrix: "ok" or the first thing that is wrong."""
    if fault.error is not None and not isinstance(error, fault.error):
        return f"got {type(error).__name__ if error else 'a result'}"
    if fault.error is None and error is not None:
        return f"got {type(error).__name__}"
    if error is not None and fault.match not in str(error):
        return "message differs"
    if fault.warning and not any(fault.warning in w for w in getattr(result, "warnings", [])):
        return "warning missing"
    if not fault.min_seconds <= seconds <= fault.max_seconds:
        return "out of time bound"
    return "ok"


# --- the matrix ---------------------------------------------------------------


def test_matrix_has_at_least_25_distinct_faults():
    names = [fault.name for fault in FAULTS]

    assert len(names) >= 25
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault_through_client(fault: Fault, sandbox_for_test: SandboxServer, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    error: BaseException | None = None
    result = None

    with fault_target(fault, sandbox_for_test, JOB) as root:
        client = MetricsClient(root, TOKEN, **CLIENT_SETTINGS)
        started = time.monotonic()
        try:
            result = client.get_metrics(PROJECT, JOB)
        except Exception as exc:  # noqa: BLE001 - the class is checked below
            error = exc
        seconds = time.monotonic() - started
    MEASURED.append(Measurement(fault.name, "client", outcome_of(fault, error, result, seconds), seconds, fault.max_seconds))

    if fault.error is None:
        assert error is None, f"{type(error).__name__}: {error}"
        assert isinstance(result, MetricsResult)
        if fault.warning:
            assert any(fault.warning in warning for warning in result.warnings), result.warnings
        assert_no_secret(repr(result), result._repr_html_(), result.warnings)
    else:
        assert isinstance(error, fault.error), repr(error)
        assert isinstance(error, IbMetricsError)
        assert fault.match in str(error)
        assert "\n" not in str(error)
        assert_no_secret(str(error), repr(error), error.args)
    assert seconds <= fault.max_seconds
    assert seconds >= fault.min_seconds
    assert_no_secret(caplog.text, repr(client), vars(client))


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault_through_magic(fault: Fault, fault_shell, sandbox_for_test, monkeypatch, caplog):
    from IPython.utils.capture import capture_output

    shell, magics = fault_shell
    monkeypatch.setenv("IB_API_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)

    with fault_target(fault, sandbox_for_test, JOB) as root:
        magics.root_url = root
        started = time.monotonic()
        with capture_output() as captured:
            outcome = shell.run_cell(f"%ibmetrics $fault_project {JOB}", store_history=False)
        seconds = time.monotonic() - started
    MEASURED.append(
        Measurement(fault.name, "magic", outcome_of(fault, outcome.error_in_exec, outcome.result, seconds), seconds, fault.max_seconds)
    )

    printed = captured.stdout + captured.stderr
    if fault.error is None:
        assert outcome.success, printed
        assert isinstance(outcome.result, MetricsResult)
        if fault.warning:
            assert any(fault.warning in warning for warning in outcome.result.warnings)
        assert_no_secret(outcome.result._repr_html_())
    else:
        lines = [line for line in printed.splitlines() if line.strip()]
        assert not outcome.success
        assert isinstance(outcome.error_in_exec, fault.error)
        assert len(lines) == 1, printed
        assert lines[0].startswith(f"{fault.error.__name__}: ")
        assert fault.match in lines[0]
        assert "Traceback" not in printed
    assert seconds <= fault.max_seconds
    assert_no_secret(printed, captured.outputs, caplog.text, repr(outcome.error_in_exec), repr(outcome.result))


# --- timeouts and polling ----------------------------------------------------------


def test_silent_server_times_out_within_read_timeout(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(hang=True)])
    client = MetricsClient(sandbox_for_test.url, TOKEN, timeout=(2.0, 0.5))

    started = time.monotonic()
    with pytest.raises(MetricsTimeoutError, match="read timeout of 0.5 s"):
        client.get_metrics(PROJECT, JOB)

    assert time.monotonic() - started < 1.5
    # A read timeout is not retried: retrying would multiply the wait.
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 1


def test_full_listen_queue_is_a_connect_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            # Linux drops new connection attempts while the accept queue is full.
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
                pytest.skip("this system accepts connections beyond a full listen queue")
            except OSError:
                pass
            client = MetricsClient(f"http://127.0.0.1:{port}", TOKEN, timeout=(0.3, 5.0), max_retries=1)
            started = time.monotonic()
            with pytest.raises(MetricsTimeoutError, match=r"could not connect .* within 0.3 s"):
                client.get_metrics(PROJECT, JOB)

    assert time.monotonic() - started < 2.5


def test_running_job_times_out_naming_job_and_state(sandbox_for_test):
    sandbox_for_test.script(PROJECT, "long-job", replies=[Reply(200, {"status": "OK", "state": "RUNNING"})])
    client = MetricsClient(sandbox_for_test.url, TOKEN, poll_interval=0.1)

    started = time.monotonic()
    with pytest.raises(MetricsTimeoutError) as raised:
        client.get_metrics(PROJECT, "long-job", max_wait=0.5)

    assert time.monotonic() - started < 1.5
    assert "job long-job is still RUNNING" in str(raised.value)
    assert "max_wait" in str(raised.value)


def test_status_error_stops_polling_at_once(sandbox_for_test):
    sandbox_for_test.script(
        PROJECT,
        JOB,
        replies=[Reply(200, {"status": "OK", "state": "RUNNING"}), Reply(200, {"status": "ERROR", "msg": "Disk quota exceeded"})],
    )
    client = MetricsClient(sandbox_for_test.url, TOKEN, poll_interval=0.05)

    with pytest.raises(JobFailedError, match="Disk quota exceeded"):
        client.get_metrics(PROJECT, JOB, max_wait=30)

    assert sandbox_for_test.requests_for(PROJECT, JOB) == 2


@pytest.mark.parametrize("state", ["DONE", "COMPLETE", "COMPLETED", "done"])
def test_finished_states_return_result(sandbox_for_test, state):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(200, {"status": "OK", "state": state, "metrics": []})])

    result = MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert result.is_finished


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "CANCELED", "STOPPED", "ERROR", "KILLED"])
@pytest.mark.parametrize("wait", [True, False])
def test_failed_states_raise_even_without_wait(sandbox_for_test, state, wait):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(200, {"status": "OK", "state": state, "msg": "stopped by admin"})])

    with pytest.raises(JobFailedError, match=f"ended in state {state}: stopped by admin"):
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB, wait=wait)

    assert sandbox_for_test.requests_for(PROJECT, JOB) == 1


# --- retries and Retry-After ----------------------------------------------------------


def test_retry_after_one_second_honoured(sandbox_for_test):
    sandbox_for_test.script(
        PROJECT, JOB, replies=[Reply(429, {"message": "slow down"}, headers={"Retry-After": "1"}), Reply(200, OK_BODY)]
    )

    started = time.monotonic()
    result = MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)
    elapsed = time.monotonic() - started

    assert result.is_finished
    assert elapsed >= 1.0
    assert elapsed < 3.0
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 2


def test_retry_after_over_limit_stops(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(503, {"message": "maintenance"}, headers={"Retry-After": "3600"})])

    started = time.monotonic()
    with pytest.raises(ServerError) as raised:
        MetricsClient(sandbox_for_test.url, TOKEN, retry_after_max=30).get_metrics(PROJECT, JOB)

    assert time.monotonic() - started < 1.0
    assert "HTTP 503" in str(raised.value)
    assert "maintenance" in str(raised.value)
    assert "retry after 3,600 s" in str(raised.value)
    assert "limit of 30 s" in str(raised.value)
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 1


def test_retry_after_date_over_limit(sandbox_for_test):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(503, None, headers={"Retry-After": header})])

    with pytest.raises(ServerError, match=rf"retry after 7,[12]\d\d s \(Retry-After: {header}\)"):
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)


def test_invalid_retry_after_falls_back_to_backoff(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(503, None, headers={"Retry-After": "soon"}), Reply(200, OK_BODY)])

    result = MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert result.is_finished
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_retried_until_success(sandbox_for_test, status):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(status, None), Reply(status, None), Reply(200, OK_BODY)])

    started = time.monotonic()
    result = MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert result.is_finished
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 3
    # urllib3's backoff: no wait before the first retry, 0.5 * 2 = 1 s before the second.
    assert time.monotonic() - started >= 1.0


def test_retries_counted_in_message(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(503, {"message": "busy"})])

    with pytest.raises(ServerError, match="busy; still failing after 1 retry;"):
        MetricsClient(sandbox_for_test.url, TOKEN, max_retries=1).get_metrics(PROJECT, JOB)

    assert sandbox_for_test.requests_for(PROJECT, JOB) == 2


def test_internal_server_error_not_retried(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(500, {"message": "boom"})])

    with pytest.raises(ServerError) as raised:
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert "retries" not in str(raised.value)
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 1


def test_dropped_connection_retried_until_success(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(drop=True), Reply(200, OK_BODY)])

    result = MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert result.is_finished
    assert sandbox_for_test.requests_for(PROJECT, JOB) == 2


def test_retries_are_logged(sandbox_for_test, caplog):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(503, None), Reply(200, OK_BODY)])

    with caplog.at_level(logging.INFO, logger="ibmetrics_nb.client"):
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert "retrying GET /api/v2/model/metrics after HTTP 503 (retry 1 of 3)" in caplog.text


# --- bodies that are not JSON ---------------------------------------------------------------


def test_html_502_names_status_type_and_body_start(sandbox_for_test):
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(502, page, content_type="text/html")])

    with pytest.raises(ServerError) as raised:
        MetricsClient(sandbox_for_test.url, TOKEN, max_retries=0).get_metrics(PROJECT, JOB)

    message = str(raised.value)
    assert "HTTP 502" in message
    assert "text/html" in message
    assert "<title>502 Bad Gateway</title>" in message


def test_html_login_page_is_format_error(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(200, "<html><body>Please sign in</body></html>", content_type="text/html")])

    with pytest.raises(ResponseFormatError) as raised:
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    message = str(raised.value)
    assert "HTTP 200" in message
    assert "text/html" in message
    assert "Please sign in" in message
    assert raised.value.__cause__ is None


def test_long_server_message_is_shortened(sandbox_for_test):
    sandbox_for_test.script(PROJECT, JOB, replies=[Reply(500, {"message": "x" * 5000 + "\nsecond line"})])

    with pytest.raises(ServerError) as raised:
        MetricsClient(sandbox_for_test.url, TOKEN).get_metrics(PROJECT, JOB)

    assert len(str(raised.value)) < 500
    assert "second line" not in str(raised.value)


# --- proxies -----------------------------------------------------------------------


@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_proxy_from_environment_is_used(no_proxy_environment):
    with serve(token=TOKEN) as origin, serve() as proxy:
        # The sandbox serves absolute-form request targets, so it works as a plain HTTP proxy.
        proxy.script(PROJECT, JOB, replies=[Reply(200, OK_BODY)])
        no_proxy_environment.setenv("HTTP_PROXY", proxy.url)

        result = MetricsClient(origin.url, TOKEN).get_metrics(PROJECT, JOB)

        assert result.is_finished
        assert proxy.requests_for(PROJECT, JOB) == 1
        assert origin.request_count == 0


def test_no_proxy_bypasses_proxy(no_proxy_environment):
    with serve(token=TOKEN) as origin, serve() as proxy:
        origin.script(PROJECT, JOB, replies=[Reply(200, OK_BODY)])
        no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")

        MetricsClient(origin.url, TOKEN).get_metrics(PROJECT, JOB)

        assert origin.requests_for(PROJECT, JOB) == 1
        assert proxy.request_count == 0


def test_unreachable_proxy_hides_password(no_proxy_environment):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    no_proxy_environment.setenv("HTTP_PROXY", f"http://proxyuser:proxypass@127.0.0.1:{port}")

    with pytest.raises(ServerError) as raised:
        MetricsClient("http://127.0.0.1:9", TOKEN, max_retries=0).get_metrics(PROJECT, JOB)

    message = str(raised.value)
    assert f"through the proxy 127.0.0.1:{port}" in message
    assert "HTTPS_PROXY" in message
    assert "proxypass" not in message
    assert "\n" not in message


# --- TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(common_name, issuer=None, is_ca=False, ip=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        issuer_name, issuer_key = (issuer[1].subject, issuer[0]) if issuer else (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if ip:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        return key, builder.sign(issuer_key, hashes.SHA256())

    def write(name, key, certificate):
        (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    authority = issue("ibmetrics test CA", is_ca=True)
    write("ca", *authority)
    write("server", *issue("127.0.0.1", authority, ip="127.0.0.1"))
    write("client", *issue("ibmetrics test client", authority))
    return {name: folder / name for name in ("ca", "server", "client")}


def server_context(certificates, require_client_certificate=False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{certificates['server']}.pem", f"{certificates['server']}.key")
    if require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(f"{certificates['ca']}.pem")
    return context


@pytest.fixture
def tls_sandbox(certificates) -> Iterator[SandboxServer]:
    with serve(token=TOKEN, ssl_context=server_context(certificates)) as server:
        server.script(PROJECT, JOB, replies=[Reply(200, OK_BODY)])
        yield server


def test_private_ca_rejected_by_default(tls_sandbox):
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as raised:
        MetricsClient(tls_sandbox.url, TOKEN).get_metrics(PROJECT, JOB)

    message = str(raised.value)
    assert message.startswith(f"TLS failed for {tls_sandbox.url}: certificate verify failed")
    assert "set verify to the CA bundle path" in message
    assert "\n" not in message
    # A certificate error is not retried.
    assert time.monotonic() - started < 1.0


def test_verify_false_accepts_private_ca(tls_sandbox):
    with pytest.warns(Warning, match="Unverified HTTPS request"):
        result = MetricsClient(tls_sandbox.url, TOKEN, verify=False).get_metrics(PROJECT, JOB)

    assert result.is_finished


def test_verify_with_ca_bundle_path(tls_sandbox, certificates):
    result = MetricsClient(tls_sandbox.url, TOKEN, verify=f"{certificates['ca']}.pem").get_metrics(PROJECT, JOB)

    assert result.is_finished
    assert tls_sandbox.url.startswith("https://127.0.0.1:")


def test_client_certificate_required_and_accepted(certificates):
    context = server_context(certificates, require_client_certificate=True)
    ca_bundle = f"{certificates['ca']}.pem"
    client_pair = (f"{certificates['client']}.pem", f"{certificates['client']}.key")
    with serve(token=TOKEN, ssl_context=context) as server:
        server.script(PROJECT, JOB, replies=[Reply(200, OK_BODY)])

        with pytest.raises(ConfigurationError, match="client certificate"):
            MetricsClient(server.url, TOKEN, verify=ca_bundle).get_metrics(PROJECT, JOB)
        result = MetricsClient(server.url, TOKEN, verify=ca_bundle, cert=client_pair).get_metrics(PROJECT, JOB)

    assert result.is_finished


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"verify": "/no/such/ca-bundle.pem"}, "the CA bundle '/no/such/ca-bundle.pem' does not exist"),
        ({"verify": 3}, "invalid verify 3"),
        ({"cert": "/no/such/client.pem"}, "the client certificate file '/no/such/client.pem' does not exist"),
        ({"cert": ("a", "b", "c")}, "invalid cert"),
    ],
)
def test_invalid_tls_settings_rejected(settings, match):
    with pytest.raises(ConfigurationError, match=match):
        MetricsClient("https://127.0.0.1:9", TOKEN, **settings)


@pytest.mark.parametrize("timeout", [None, (1.0,), (0, 5), "60", (1.0, None)])
def test_unbounded_or_invalid_timeout_rejected(timeout):
    with pytest.raises(InvalidRequestError, match="timeout"):
        MetricsClient("http://127.0.0.1:9", TOKEN, timeout=timeout)


@pytest.mark.parametrize("root", ["http://metrics.example.com", "http://10.0.0.8:8080"])
def test_plain_http_rejected_for_remote_hosts(root):
    with pytest.raises(ConfigurationError, match="use https, or pass allow_http=True"):
        normalize_root(root)


@pytest.mark.parametrize("root", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9"])
def test_plain_http_accepted_for_loopback(root):
    assert normalize_root(root) == root
