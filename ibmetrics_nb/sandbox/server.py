"""A loopback HTTP server that speaks the Model API metrics contract.

The server replies to `GET /api/v2/model/metrics` from a table of `Job`s
and from per-job scripts of `Reply`s that tests use to inject faults (error
statuses, delays, dropped or hung connections, truncated bodies). It uses
only the standard library, and it listens only on loopback addresses.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .jobs import JOB_TYPES, Job, default_jobs

logger = logging.getLogger(__name__)

METRICS_PATH = "/api/v2/model/metrics"

# A public token, printed by `run()`. It protects nothing: it only lets the
# command line's sandbox work when IB_API_TOKEN is not set.
DEFAULT_TOKEN = "sandbox-token"

# The request log keeps only the most recent entries, so that a sandbox left
# running for days does not grow without bound.
REQUEST_LOG_SIZE = 10_000

_REQUIRED_PARAMETERS = ("model_project_path", "job_id", "job_type")


@dataclass
class Reply:
    """A scripted reply to one request for a job.

    Attributes:
        status: the HTTP status code.
        body: bytes are sent as they are, str as UTF-8, dict and list as JSON,
            None as an empty body.
        headers: extra response headers. A header here replaces the default
            header of the same name (Content-Type, Content-Length).
        content_type: the Content-Type header.
        delay: seconds to wait before sending anything.
        drop: close the connection without sending a response.
        hang: read the request, then send nothing until the server stops.
        chunks: send these bytes as the body with chunked transfer encoding,
            one HTTP chunk per item, in place of `body`.
        truncate: close the connection before the body is complete. Without
            `chunks`, the reply declares the full Content-Length and sends the
            first half of the body. With `chunks`, it leaves out the final
            zero-length chunk.
        chunk_delay: seconds to wait between two chunks.
        echo_authorization: replace every `{authorization}` in the body with
            the request's Authorization header (empty when it has none), as a
            misbehaving server or proxy that echoes the request would. Tests
            use it to check that the client redacts the token.
    """

    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False
    hang: bool = False
    chunks: list[bytes] | None = None
    truncate: bool = False
    chunk_delay: float = 0.0
    echo_authorization: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"Invalid HTTP status {self.status!r}: expected an integer from 100 to 599.")
        if self.delay < 0 or self.chunk_delay < 0:
            raise ValueError(f"Invalid delay {self.delay!r} or chunk_delay {self.chunk_delay!r}: expected seconds >= 0.")
        if self.drop and self.hang:
            raise ValueError("Invalid reply: drop and hang cannot both be set.")
        if self.chunks is not None:
            if self.body is not None:
                raise ValueError("Invalid reply: set either body or chunks, not both.")
            if not all(isinstance(chunk, bytes) for chunk in self.chunks):
                raise ValueError("Invalid reply: every item of chunks must be bytes.")

    def body_bytes(self) -> bytes:
        """Encode `body` as the bytes to send."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def _json_reply(status: int, document: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(document).encode("utf-8"), headers=headers or {})


def _message_reply(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Build a v2-style error reply, `{"message": ...}`."""
    return _json_reply(status, {"message": message}, headers)


def _echo_authorization(reply: Reply, authorization: str) -> Reply:
    body = reply.body_bytes().replace(b"{authorization}", authorization.encode("latin-1"))
    return dataclasses.replace(reply, body=body, echo_authorization=False)


@dataclass
class _Script:
    replies: list[Reply]
    used: int = 0

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.used, len(self.replies) - 1)]
        self.used += 1
        return reply


def _check_loopback(host: str) -> str:
    """Return the IP address to bind for a loopback `host`, or raise ValueError."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"Invalid sandbox host {host!r}: the sandbox listens only on loopback "
            "(127.0.0.0/8, ::1 or localhost). Use host='127.0.0.1'."
        )
    return str(address)


def _check_token(token: str) -> None:
    if not isinstance(token, str) or not token or any(character.isspace() for character in token):
        # The message leaves the value out because it is meant to be a secret.
        raise ValueError("Invalid sandbox token: expected a non-empty string without whitespace.")


def _parse_query(query: str) -> dict[str, str]:
    """Decode the query string, keeping the first value of each parameter."""
    values = parse_qs(query, keep_blank_values=True)
    return {name: items[0] for name, items in values.items()}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn, a reverse DNS lookup that
        # can take seconds and is useless on loopback.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        context = self.sandbox.ssl_context
        if context is not None:
            # The handshake runs in the request's own thread with a 10 s timeout
            # (see _Handler.setup), so a stalled client cannot block the accept loop.
            connection = context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)) or self.sandbox.stopping:
            # Clients that give up (read timeouts in tests), failed TLS handshakes
            # and connections that stop() shuts down end here, and none is a
            # server fault.
            logger.debug("Sandbox connection from %s ended: %r", client_address, error)
            return
        logger.exception("Sandbox failed to handle a request from %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ibmetrics-nb-sandbox"
    server: _HTTPServer

    def setup(self) -> None:
        self.server.sandbox._track_connection(self.request)
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs hold the body about 40 ms on a kept-alive connection.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(10.0)
                self.request.do_handshake()
                self.request.settimeout(None)
            except OSError:
                # finish() does not run when setup() raises.
                self.server.sandbox._untrack_connection(self.request)
                raise
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._untrack_connection(self.request)

    def version_string(self) -> str:
        # The default appends the Python version to the Server header.
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("Sandbox %s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        if self.command not in ("GET", "HEAD"):
            # The request body, if any, is never read, so the connection cannot
            # carry another request.
            self.close_connection = True

        url = urlsplit(self.path)
        query = _parse_query(url.query)
        entry = sandbox._record_request(self.command, url.path, query, "Authorization" in self.headers)
        if url.path == METRICS_PATH:
            reply = sandbox._metrics_reply(self.command, query, self.headers.get("Authorization"))
            if reply.echo_authorization:
                reply = _echo_authorization(reply, self.headers.get("Authorization") or "")
            wait = sandbox.latency + reply.delay
        else:
            reply = _message_reply(404, f"Not found: {url.path}. The sandbox serves only GET {METRICS_PATH}.")
            wait = 0.0
        self._send_reply(reply, wait, entry)

    def _send_reply(self, reply: Reply, wait: float, entry: dict[str, Any]) -> None:
        stopping = self.server.sandbox._stopping
        if stopping.wait(wait):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        if reply.hang:
            stopping.wait()
            self.close_connection = True
            return

        headers: dict[str, str] = {"Content-Type": reply.content_type}
        body = reply.body_bytes()
        if reply.chunks is not None:
            headers["Transfer-Encoding"] = "chunked"
        elif reply.truncate:
            headers["Content-Length"] = str(max(len(body), 1))
        else:
            headers["Content-Length"] = str(len(body))
        for name, value in reply.headers.items():
            for default in [key for key in headers if key.lower() == name.lower()]:
                del headers[default]
            headers[name] = value
        if self.close_connection:
            headers["Connection"] = "close"

        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        entry["status"] = reply.status
        if self.command == "HEAD":
            return

        if reply.chunks is not None:
            self._send_chunks(reply, stopping)
        elif reply.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _send_chunks(self, reply: Reply, stopping: threading.Event) -> None:
        for index, chunk in enumerate(reply.chunks or []):
            if index and stopping.wait(reply.chunk_delay):
                self.close_connection = True
                return
            if chunk:  # A zero-length chunk would end the body early.
                self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
        if reply.truncate:
            self.close_connection = True
        else:
            self.wfile.write(b"0\r\n\r\n")


class SandboxServer:
    """A sandbox metrics server on a loopback address.

    The constructor binds the socket, so `url` and `port` are known before
    `start()`. Use `serve()` or `start()` rather than the constructor in most
    code. `token` is the only token accepted. `latency`, in seconds, is read
    on every request, so a test may change it while the server runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        latency: float = 0.0,
        jobs: Iterable[Job] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        bind_address = _check_loopback(host)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"Invalid ssl_context {ssl_context!r}: expected an ssl.SSLContext with a certificate loaded.")
        self.ssl_context = ssl_context
        if token is None:
            token = "sbx-" + secrets.token_urlsafe(16)
        _check_token(token)
        if latency < 0:
            raise ValueError(f"Invalid latency {latency!r}: expected seconds >= 0.")

        self.token = token
        self.latency = float(latency)
        self._initial_jobs = list(default_jobs() if jobs is None else jobs)
        for job in self._initial_jobs:
            if not isinstance(job, Job):
                raise TypeError(f"Invalid job {job!r}: expected an ibmetrics_nb.sandbox.Job.")

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._restore_catalogue()

        family = socket.AF_INET6 if ":" in bind_address else socket.AF_INET
        self._httpd = _HTTPServer((bind_address, port), self, family)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.port: int = bound_port
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://[{bound_host}]:{bound_port}" if ":" in bound_host else f"{scheme}://{bound_host}:{bound_port}"

    def __repr__(self) -> str:
        if self.is_running:
            state = "running"
        elif self._stopped:
            state = "stopped"
        else:
            state = "not started"
        return f"<SandboxServer url={self.url!r} jobs={len(self._jobs)} {state}>"

    def __enter__(self) -> SandboxServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread and return self."""
        if self._stopped:
            raise RuntimeError(f"The sandbox at {self.url} was stopped and cannot start again: create a new one.")
        if self._thread is not None:
            raise RuntimeError(f"The sandbox at {self.url} is already running.")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ibmetrics-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("Sandbox server started at %s with %d jobs", self.url, len(self._jobs))
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Calling it again does nothing.

        Replies that are waiting (delay, latency, hang) end without a response.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        logger.info("Sandbox server at %s stopped", self.url)

    @property
    def is_running(self) -> bool:
        """Whether the server thread is serving requests."""
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has been called."""
        return self._stopping.is_set()

    # -- jobs and scripts ------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        """The jobs served now, in the order they were added."""
        with self._lock:
            return list(self._jobs.values())

    def add_job(self, job: Job) -> None:
        """Serve `job`, replacing any job with the same project, job id and job type.

        The job's running polls start again from zero. The server encodes a
        payload on its first request and keeps the bytes, so call add_job
        again after changing a payload in place.
        """
        if not isinstance(job, Job):
            raise TypeError(f"Invalid job {job!r}: expected an ibmetrics_nb.sandbox.Job.")
        with self._lock:
            self._jobs[job.key] = job
            self._polls.pop(job.key, None)
            self._bodies.pop(job.key, None)

    def script(
        self,
        project: str,
        job_id: str,
        job_type: str = "training",
        replies: Sequence[Reply] | None = None,
    ) -> None:
        """Send `replies` to the next requests for a job, one per request, in order.

        Once the list is used up, the last reply repeats. A scripted job need
        not exist in the catalogue, and the token is not checked for it. The
        job type is matched as sent, so it may also be a value that the real
        server rejects. A new script for the same job replaces the old one.
        """
        replies = list(replies or [])
        if not replies:
            raise ValueError(f"Missing replies for the script of job {job_id!r}: give at least one Reply.")
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"Invalid reply {reply!r} for job {job_id!r}: expected an ibmetrics_nb.sandbox.Reply.")
        with self._lock:
            self._scripts[(project, job_id, job_type)] = _Script(replies)

    def reset(self) -> None:
        """Restore the jobs the server started with and clear scripts, counters and the log.

        Jobs added with add_job are removed, and running jobs start again from
        their first RUNNING reply.
        """
        with self._lock:
            self._restore_catalogue()

    def _restore_catalogue(self) -> None:
        # Callers hold self._lock, except the constructor.
        self._jobs: dict[tuple[str, str, str], Job] = {job.key: job for job in self._initial_jobs}
        self._scripts: dict[tuple[str, str, str], _Script] = {}
        self._polls: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self._bodies: dict[tuple[str, str, str], bytes] = {}
        self._request_count = 0
        self._requests_by_job: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=REQUEST_LOG_SIZE)

    # -- counters ------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """Number of requests to the metrics endpoint since the start or the last reset()."""
        with self._lock:
            return self._request_count

    def requests_for(self, project: str, job_id: str, job_type: str = "training") -> int:
        """Count the requests to the metrics endpoint that named this job.

        Every request counts, whatever its reply, including rejected tokens.
        """
        with self._lock:
            return self._requests_by_job[(project, job_id, job_type)]

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """A copy of the log of the most recent requests, oldest first.

        Each entry contains `time` (seconds since the epoch), `method`, `path`,
        `query` (decoded parameters, first value of each), `authorization`
        (whether the request had an Authorization header) and `status`, the
        HTTP status sent. `status` is None while a reply is pending and when
        none was sent (drop, hang, server stopped). Header values are not
        logged, so the token never appears here.
        """
        with self._lock:
            return [dict(entry) for entry in self._log]

    def _record_request(self, method: str, path: str, query: dict[str, str], authorization: bool) -> dict[str, Any]:
        entry = {
            "time": time.time(),
            "method": method,
            "path": path,
            "query": query,
            "authorization": authorization,
            "status": None,
        }
        with self._lock:
            self._log.append(entry)
            if path == METRICS_PATH:
                self._request_count += 1
                key = tuple(query.get(name) for name in _REQUIRED_PARAMETERS)
                if all(key):
                    self._requests_by_job[key] += 1
        return entry

    def _track_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # -- replies ---------------------------------------------------------------

    def _metrics_reply(self, method: str, query: dict[str, str], authorization: str | None) -> Reply:
        """Decide the reply to one request to the metrics endpoint."""
        if method != "GET":
            return _message_reply(405, f"Method {method} is not allowed: use GET.", {"Allow": "GET"})

        key = tuple(query.get(name, "") for name in _REQUIRED_PARAMETERS)
        with self._lock:
            script = self._scripts.get(key)
            if script is not None:
                return script.next_reply()

        if not self._is_authorized(authorization):
            return _message_reply(401, "Invalid or expired token", {"WWW-Authenticate": "Bearer"})

        missing = [name for name in _REQUIRED_PARAMETERS if not query.get(name)]
        if missing:
            return _message_reply(400, f"Missing required query parameter(s): {', '.join(missing)}")
        project, job_id, job_type = key
        if job_type not in JOB_TYPES:
            return _message_reply(
                400, f"Invalid job_type {job_type!r}: expected one of {', '.join(JOB_TYPES)}"
            )

        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                return _message_reply(404, f"Job {job_id} not found in project {project}")
            polls = self._polls[key]
            self._polls[key] += 1
        if polls < job.running_polls:
            return _json_reply(200, {"status": "OK", "state": "RUNNING"})
        return self._finished_reply(job)

    def _is_authorized(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return secrets.compare_digest(credentials.strip().encode("utf-8"), self.token.encode("utf-8"))

    def _finished_reply(self, job: Job) -> Reply:
        if job.final_state == "ERROR":
            return _json_reply(200, {"status": "ERROR", "msg": job.error or ""})
        if job.final_state != "DONE":
            document: dict[str, Any] = {"status": "OK", "state": job.final_state}
            if job.error is not None:
                document["msg"] = job.error
            return _json_reply(200, document)

        with self._lock:
            body = self._bodies.get(job.key)
        if body is None:
            if job.raw_body is not None:
                body = job.raw_body
            else:
                body = json.dumps({"status": "OK", "state": "DONE", **(job.payload or {})}).encode("utf-8")
            with self._lock:
                self._bodies[job.key] = body
        return Reply(status=200, body=body)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    latency: float = 0.0,
    jobs: Iterable[Job] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SandboxServer:
    """Start a sandbox in a background thread and return it. Call stop() to shut it down.

    `port=0` picks a free port. `token=None` generates a random token,
    available as `.token`. `latency` is added, in seconds, before every reply
    of the metrics endpoint. `jobs=None` serves the default catalogue, and a
    list of jobs replaces it. With `ssl_context` (a server-side context with
    a certificate loaded) the sandbox speaks HTTPS and its `url` starts with
    https://. A host that is not a loopback address raises ValueError.
    """
    return SandboxServer(
        host=host, port=port, token=token, latency=latency, jobs=jobs, ssl_context=ssl_context
    ).start()


@contextlib.contextmanager
def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    latency: float = 0.0,
    jobs: Iterable[Job] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[SandboxServer]:
    """Run a sandbox for the duration of a `with` block. Arguments are those of `start()`."""
    sandbox = start(host=host, port=port, token=token, latency=latency, jobs=jobs, ssl_context=ssl_context)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _connection_instructions(sandbox: SandboxServer, token_source: str) -> str:
    """Build the text that `run()` prints: the URL, the token to use and the example jobs.

    The token itself appears only when it is the public DEFAULT_TOKEN.
    """
    lines = [
        f"ibmetrics_nb sandbox: serving example metrics at {sandbox.url}",
        "Connect a notebook or the command line to it with:",
        f"    export IB_ROOT_URL={sandbox.url}",
    ]
    if sandbox.token == DEFAULT_TOKEN:
        lines.append(f"    export IB_API_TOKEN={DEFAULT_TOKEN}")
    elif token_source == "environment":
        lines.append("The sandbox accepts the token in IB_API_TOKEN, which is already set in this environment.")
    else:
        lines.append("The sandbox accepts the token it was given (not shown): set IB_API_TOKEN to it.")

    lines.append("Example jobs (project, job id, job type):")
    for job in sandbox.jobs:
        lines.append(f"    {job.project!r}  {job.job_id}  {job.job_type}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def run(host: str = "127.0.0.1", port: int = 8765, token: str | None = None, latency: float = 0.0) -> None:
    """Serve the default catalogue until Ctrl-C, for the command line.

    `token=None` accepts IB_API_TOKEN from the environment, or DEFAULT_TOKEN
    when that is not set. The printed instructions show the token only when it
    is DEFAULT_TOKEN.
    """
    if token is not None:
        token_source = "argument"
    elif os.environ.get("IB_API_TOKEN"):
        token, token_source = os.environ["IB_API_TOKEN"], "environment"
    else:
        token, token_source = DEFAULT_TOKEN, "default"

    sandbox = start(host=host, port=port, token=token, latency=latency)
    print(_connection_instructions(sandbox, token_source), flush=True)
    try:
        while sandbox.is_running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("Stopping the sandbox.", flush=True)
    finally:
        sandbox.stop()
