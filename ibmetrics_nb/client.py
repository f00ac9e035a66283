"""HTTP client for the Model API metrics endpoint.

`MetricsClient.get_metrics` sends `GET {root}/api/v2/model/metrics`, waits
while the job is not finished, and returns a `MetricsResult`. It maps both
error styles of Instabase servers (HTTP 200 with `status: ERROR`, and HTTP
4xx/5xx with `message`) to the package's exceptions.

The token is kept in a private attribute and sent only as the Bearer header
to the configured root's origin. Redirects are not followed, so the header
never reaches another origin, and error messages never include it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import (
    AuthenticationError,
    CancelledError,
    ConfigurationError,
    IbMetricsError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from .transport import METRICS_PATH, RETRY_STATUSES, Secret, _BearerAuth, _make_session
from .parsing import LoadedJSON, load_json

if TYPE_CHECKING:
    import requests

    from .batch import JobSpec, ManyResults
    from .cache import ResultCache
    from .result import MetricsResult

logger = logging.getLogger(__name__)

ROOT_ENV = "IB_ROOT_URL"
TOKEN_ENV = "IB_API_TOKEN"
JOB_TYPES = ("training", "pruning", "evaluation")

FINISHED_STATES = frozenset({"DONE", "COMPLETE", "COMPLETED"})
FAILED_STATES = frozenset({"FAILED", "CANCELLED", "CANCELED", "STOPPED", "ERROR", "KILLED"})
WAITING_STATES = frozenset({"PENDING", "RUNNING", "QUEUED", "STARTED", "IN_PROGRESS", "SCHEDULED"})
BODY_PREVIEW_CHARS = 120
MESSAGE_MAX_CHARS = 300


@dataclass(frozen=True)
class PollStatus:
    """Progress of a wait for a job, passed to the `progress` callback."""

    job_id: str
    state: str
    polls: int
    elapsed: float


class MetricsClient:
    """Fetch job metrics from an Instabase instance.

    `root_url` defaults to the `IB_ROOT_URL` environment variable and
    `token` to `IB_API_TOKEN`. `timeout` is the (connect, read) timeout of
    each request in seconds. `verify` is True, False or a CA bundle path,
    `cert` a client certificate path or (cert, key) pair for mutual TLS.
    Proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`), as in
    requests. Plain `http://` is accepted only for loopback hosts unless
    `allow_http=True`. `cache` keeps finished jobs on disk (see
    `ibmetrics_nb.cache`): True for the default folder, a folder path, or
    False for none. The cache in use is `client.cache`, None when off.
    """

    def __init__(
        self,
        root_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        max_wait: float = 1800.0,
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        max_retries: int = 3,
        retry_after_max: float = 60.0,
        allow_http: bool = False,
        session: requests.Session | None = None,
        cache: bool | str | os.PathLike | ResultCache = True,
    ) -> None:
        self.root_url = normalize_root(root_url if root_url is not None else os.environ.get(ROOT_ENV), allow_http)
        self._token = Secret(_check_token(token if token is not None else _default_token()))
        self.timeout = _check_timeout(timeout)
        self.verify = _check_verify(verify)
        self.cert = _check_cert(cert)
        self.max_wait = _positive("max_wait", max_wait, allow_zero=True)
        self.poll_interval = _positive("poll_interval", poll_interval)
        self.max_poll_interval = max(_positive("max_poll_interval", max_poll_interval), self.poll_interval)
        self.max_retries = int(max_retries)
        self.retry_after_max = _positive("retry_after_max", retry_after_max, allow_zero=True)
        self._session = session
        self._session_lock = threading.Lock()

        from .cache import make_cache

        self.cache = make_cache(cache)

    def __repr__(self) -> str:
        return f"MetricsClient(root_url={self.root_url!r}, token=<hidden>)"

    # --- session -----------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The requests session, created on first use with retries mounted."""
        with self._session_lock:
            if self._session is None:
                self._session = _make_session(self.max_retries, self.retry_after_max)
            return self._session

    def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> MetricsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- requests ----------------------------------------------------------

    def get_metrics(
        self,
        model_project_path: str,
        job_id: str,
        job_type: str = "training",
        *,
        wait: bool = True,
        max_wait: float | None = None,
        poll_interval: float | None = None,
        progress: Callable[[PollStatus], None] | None = None,
        cancel: threading.Event | None = None,
        refresh: bool = False,
    ) -> MetricsResult:
        """Fetch a job's metrics, waiting while the job is not finished.

        Polls every `poll_interval` seconds, growing by half each time up to
        `max_poll_interval`, until the job is finished or `max_wait` seconds
        have passed (then `MetricsTimeoutError` names the last state). With
        `wait=False` one request is sent and an unfinished job comes back as
        a result with that `state`. `progress` is called after each
        poll; setting `cancel` stops the wait with `CancelledError`.

        A finished job in the client's cache is returned without a request,
        unless `refresh=True`, which fetches it again and replaces the entry.
        """
        model_project_path, job_id, job_type = check_job(model_project_path, job_id, job_type)
        if not refresh:
            cached = self._cached_result(model_project_path, job_id, job_type)
            if cached is not None:
                return cached
        max_wait = self.max_wait if max_wait is None else _positive("max_wait", max_wait, allow_zero=True)
        interval = self.poll_interval if poll_interval is None else _positive("poll_interval", poll_interval)

        started = time.monotonic()
        polls = 0
        while True:
            loaded = self._fetch(model_project_path, job_id, job_type)
            data, warnings = loaded.data, loaded.warnings
            polls += 1
            state = job_state(data)
            elapsed = time.monotonic() - started
            if progress is not None:
                progress(PollStatus(job_id, state, polls, elapsed))

            if state in FAILED_STATES:
                raise JobFailedError(_failure_message(data, job_id, state))
            if state in FINISHED_STATES or not wait:
                if state in FINISHED_STATES:
                    self._store_in_cache(data, warnings, model_project_path, job_id, job_type)
                return self._result(loaded, model_project_path, job_id, job_type)
            if state not in WAITING_STATES:
                logger.info("job %s reports the unknown state %r; waiting as if it were running", job_id, state)

            remaining = max_wait - elapsed
            if remaining <= 0:
                raise MetricsTimeoutError(
                    f"job {job_id} is still {state} after {elapsed:.0f} s and {polls} polls "
                    f"(max_wait is {max_wait:g} s); wait longer with a larger max_wait"
                )
            if _sleep(min(interval, remaining), cancel):
                raise CancelledError(f"stopped waiting for job {job_id} ({state} after {polls} polls)")
            interval = min(interval * 1.5, self.max_poll_interval)

    def get_many(
        self,
        jobs: Iterable[JobSpec],
        *,
        project: str | None = None,
        job_type: str = "training",
        max_workers: int = 8,
        wait: bool = True,
        max_wait: float | None = None,
        poll_interval: float | None = None,
        progress: bool | Callable[..., None] = True,
        cancel: threading.Event | None = None,
        refresh: bool = False,
    ) -> ManyResults:
        """Fetch many jobs concurrently and return a `ManyResults`; see `ibmetrics_nb.batch.fetch_many`.

        Each job is a (project, job_id, job_type) or (project, job_id) tuple,
        or a job ID with the `project` keyword. A job that fails is listed in
        `.errors` and the others are still returned.
        """
        from .batch import fetch_many

        return fetch_many(
            self,
            jobs,
            project=project,
            job_type=job_type,
            max_workers=max_workers,
            wait=wait,
            max_wait=max_wait,
            poll_interval=poll_interval,
            progress=progress,
            cancel=cancel,
            refresh=refresh,
        )

    def fetch_once(self, model_project_path: str, job_id: str, job_type: str = "training") -> tuple[dict, list[str]]:
        """Send one request and return the decoded body and parser warnings.

        Raises the package's errors for HTTP errors, `status: ERROR` bodies
        and bodies that are not the expected JSON object.
        """
        loaded = self._fetch(model_project_path, job_id, job_type)
        return loaded.data, loaded.warnings

    def _fetch(self, model_project_path: str, job_id: str, job_type: str) -> LoadedJSON:
        """Send one request, as `fetch_once` does, and return the body with its redacted JSON text."""
        try:
            return self._send(model_project_path, job_id, job_type)
        except IbMetricsError as exc:
            _detach(exc)
            raise

    def _send(self, model_project_path: str, job_id: str, job_type: str) -> LoadedJSON:
        import requests

        params = {"model_project_path": model_project_path, "job_id": job_id, "job_type": job_type}
        url = self.root_url + METRICS_PATH
        try:
            response = self.session.get(
                url,
                params=params,
                auth=_BearerAuth(self._token, self.root_url),
                timeout=self.timeout,
                verify=self.verify,
                cert=self.cert,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout as exc:
            raise self._timeout_error(job_id, exc) from None
        except requests.exceptions.SSLError as exc:
            raise ConfigurationError(f"TLS failed for {self.root_url}: {_tls_reason(exc)}") from None
        except requests.exceptions.ProxyError as exc:
            raise ServerError(
                f"could not reach {self.root_url} for job {job_id} through the proxy {_proxy_for(url)} "
                f"({_connection_reason(exc)}); check HTTPS_PROXY, HTTP_PROXY and NO_PROXY"
            ) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            if _is_read_timeout(exc):
                raise self._timeout_error(job_id, exc) from None
            raise ServerError(
                f"the response from {self.root_url} for job {job_id} was cut off: {_incomplete_reason(exc)}; "
                f"try again, and check any proxy between you and the server if it keeps happening"
            ) from None
        except requests.exceptions.RetryError:
            raise ServerError(
                f"{self.root_url} kept failing for job {job_id} after {self.max_retries} retries; try again later"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _is_read_timeout(exc):
                # A body that stops arriving part way is reported by requests as a ConnectionError.
                raise self._timeout_error(job_id, exc) from None
            reason = _connection_reason(exc)
            if reason in ("remote end closed", "connection aborted", "connection reset"):
                raise ServerError(
                    f"{self.root_url} closed the connection without a response for job {job_id} ({reason}); "
                    f"try again later, and check any proxy or load balancer in between"
                ) from None
            raise ServerError(
                f"could not connect to {self.root_url} for job {job_id} ({reason}); "
                f"check the root URL ({ROOT_ENV}) and that the server is running"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ServerError(f"request to {self.root_url} for job {job_id} failed: {_first_line(exc)}") from None
        except OSError as exc:
            # requests raises a bare OSError when the CA bundle or client certificate file is missing.
            raise ConfigurationError(f"TLS settings for {self.root_url} are invalid: {_first_line(exc)}") from None

        return self._decode(response, job_id, model_project_path, job_type)

    def _timeout_error(self, job_id: str, exc: Exception) -> MetricsTimeoutError:
        import requests

        if isinstance(exc, requests.exceptions.ConnectTimeout):
            what = f"could not connect to {self.root_url} for job {job_id} within {_timeout_part(self.timeout, 0):g} s"
            hint = "check the root URL, the network and any proxy"
        else:
            what = f"no response from {self.root_url} for job {job_id} within the read timeout of {_timeout_part(self.timeout, 1):g} s"
            hint = "the server accepted the connection but did not answer; try again or raise the timeout"
        return MetricsTimeoutError(f"{what}; {hint}")

    def _decode(self, response: requests.Response, job_id: str, project: str, job_type: str = "training") -> LoadedJSON:
        status = response.status_code
        # A server or proxy that echoes the request back must not pass the
        # token on to messages, warnings or the result.
        body = self._redact_bytes(response.content)
        content_type = response.headers.get("Content-Type", "")
        message = _server_message(body) if status >= 300 else ""
        detail = message or _describe_body(response.reason, content_type, body)
        where = f"for job {job_id} in {project!r}"

        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).netloc or "another location"
            raise ResponseFormatError(
                f"HTTP {status}: {self.root_url} redirected to {target} {where}; "
                f"set the root URL to the server's final address (redirects are not followed, to keep the token safe)"
            )
        if status in (401, 403):
            hint = "check IB_API_TOKEN" if status == 401 else "check that your account can read this project"
            raise AuthenticationError(f"HTTP {status} {where}: {detail}; {hint}")
        if status == 404:
            detail = message or f"not found ({_describe_body(response.reason, content_type, body)})"
            where_404 = f"for job {job_id}" if project in detail else where
            raise NotFoundError(
                f"HTTP 404 {where_404}: {detail}; check the project path, the job ID and the job type ({job_type})"
            )
        if status in RETRY_STATUSES:
            raise ServerError(f"HTTP {status} {where}: {detail}{self._retry_note(response)}")
        if status >= 500:
            raise ServerError(f"HTTP {status} {where}: {detail}; try again later, or ask the server's administrator")
        if status >= 400:
            raise InvalidRequestError(f"HTTP {status} {where}: {detail}")

        if not body.strip():
            raise ResponseFormatError(f"HTTP {status} {where}: empty response body ({content_type or 'no content type'})")
        if "json" not in content_type.lower() and body.lstrip()[:1] not in (b"{", b"["):
            raise ResponseFormatError(
                f"HTTP {status} {where}: expected JSON, got {content_type or 'no content type'}: {_preview(body)!r}"
            )
        try:
            loaded = load_json(body)
        except ResponseFormatError as exc:
            raise ResponseFormatError(f"HTTP {status} {where}: {exc}; body starts {_preview(body)!r}") from None

        data = loaded.data
        if not isinstance(data, dict):
            raise ResponseFormatError(f"HTTP {status} {where}: expected a JSON object, got a {type(data).__name__}")
        if str(data.get("status", "OK")).upper() == "ERROR":
            raise JobFailedError(f"server error {where}: {_message_of(data) or 'no message'}")
        return loaded

    def _retry_note(self, response: requests.Response) -> str:
        value = response.headers.get("Retry-After")
        asked = _retry_after_seconds(value)
        if asked is not None and asked > self.retry_after_max:
            return (
                f"; the server asked to retry after {asked:,.0f} s (Retry-After: {value[:40]}), beyond this "
                f"client's limit of {self.retry_after_max:g} s (retry_after_max); try again later"
            )
        retries = _retries_done(response)
        if retries == 0:
            return "; try again later"
        return f"; still failing after {retries} {'retry' if retries == 1 else 'retries'}; try again later"

    def _cached_result(self, project: str, job_id: str, job_type: str) -> MetricsResult | None:
        if self.cache is None:
            return None
        entry = self.cache.load(self.root_url, project, job_id, job_type)
        if entry is None:
            return None
        logger.info("job %s: read from the cache in %s (refresh=True fetches it again)", job_id, self.cache.directory)
        return self._result(LoadedJSON(entry.data, entry.warnings), project, job_id, job_type)

    def _store_in_cache(self, data: dict, warnings: list[str], project: str, job_id: str, job_type: str) -> None:
        if self.cache is not None:
            self.cache.store(self.root_url, project, job_id, job_type, data, warnings, secret=self._token.reveal())

    def _result(self, loaded: LoadedJSON, project: str, job_id: str, job_type: str) -> MetricsResult:
        from .result import MetricsResult

        return MetricsResult._from_loaded(loaded, job_id=job_id, job_type=job_type, model_project_path=project)

    def _redact_bytes(self, body: bytes) -> bytes:
        # NOTE: only the token's literal UTF-8 bytes are replaced, not a JSON- or URL-escaped form of it.
        token = self._token.reveal().encode("utf-8")
        return body.replace(token, b"<token>") if token and token in body else body


# --- helpers ----------------------------------------------------------------


def normalize_root(root_url: str | None, allow_http: bool = False) -> str:
    """Return the instance root without a trailing `/` or `/api/v1`.

    Raises `ConfigurationError` for a missing root, a scheme other than
    http or https, or plain http to a host other than loopback (unless
    `allow_http`).
    """
    if root_url is None or not str(root_url).strip():
        raise ConfigurationError(
            f"no root URL: set {ROOT_ENV} (for example https://www.instabase.com) or pass root_url"
        )

    root = str(root_url).strip().rstrip("/")
    for suffix in ("/api/v1", "/api/v2"):
        if root.lower().endswith(suffix):
            root = root[: -len(suffix)].rstrip("/")

    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"invalid root URL {_safe_url(root)!r}: expected http(s)://host[:port]")
    if parts.username or parts.password:
        raise ConfigurationError("the root URL must not contain a user name or password; use IB_API_TOKEN")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"invalid root URL {_safe_url(root)!r}: remove the query or fragment")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http to {parts.hostname}: the token would travel unencrypted; "
            f"use https, or pass allow_http=True"
        )
    return root


def is_loopback(host: str) -> bool:
    """Return whether `host` is localhost or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_job(model_project_path: Any, job_id: Any, job_type: Any) -> tuple[str, str, str]:
    """Validate a job's identifiers before any request and return them stripped."""
    if not isinstance(model_project_path, str) or not model_project_path.strip():
        raise InvalidRequestError("the model project path is empty; pass the path of the model project's folder")
    if not isinstance(job_id, str) or not job_id.strip():
        raise InvalidRequestError("the job ID is empty; pass the ID of a training, pruning or evaluation job")
    if job_type not in JOB_TYPES:
        raise InvalidRequestError(f"invalid job type {job_type!r}: expected one of {', '.join(JOB_TYPES)}")
    return model_project_path.strip(), job_id.strip(), job_type


def job_state(data: dict) -> str:
    """Return a response's job state in upper case.

    A body with tables and no envelope counts as finished, and a body with
    neither reports its state as UNKNOWN.
    """
    state = data.get("state")
    if isinstance(state, str) and state.strip():
        return state.strip().upper()
    return "DONE" if "metrics" in data else "UNKNOWN"


_token_override: Secret | None = None


def set_token(token: str | None = None) -> None:
    """Set the API token for this Python process, prompting when none is given.

    The prompt hides the input, so the token never lands in a notebook's
    cells or outputs. The token set here takes precedence over `IB_API_TOKEN`.
    """
    global _token_override

    if token is None:
        import getpass

        token = getpass.getpass("Instabase API token: ")
    _token_override = Secret(_check_token(token))


def _default_token() -> str | None:
    return _token_override.reveal() if _token_override is not None else os.environ.get(TOKEN_ENV)


def _check_token(token: str | None) -> str:
    if token is None or not str(token).strip():
        raise ConfigurationError(f"no API token: set {TOKEN_ENV}, or call ibmetrics_nb.set_token() in a notebook")
    token = str(token).strip()
    if any(ch in token for ch in "\r\n"):
        raise ConfigurationError(f"the API token contains a line break; check {TOKEN_ENV}")
    return token


def _check_timeout(timeout: Any) -> float | tuple[float, float]:
    # None would let requests wait forever for a server that never responds.
    if isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        return (_positive("connect timeout", timeout[0]), _positive("read timeout", timeout[1]))
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return _positive("timeout", timeout)
    raise InvalidRequestError(f"invalid timeout {timeout!r}: expected seconds, or a (connect, read) pair of seconds")


def _check_verify(verify: Any) -> bool | str:
    if isinstance(verify, bool):
        return verify
    if isinstance(verify, (str, os.PathLike)) and str(verify).strip():
        path = os.path.expanduser(str(verify).strip())
        if not os.path.exists(path):
            raise ConfigurationError(
                f"the CA bundle {path!r} does not exist; set verify to True, False or the path of a PEM file or directory"
            )
        return path
    raise ConfigurationError(f"invalid verify {verify!r}: expected True, False or the path of a CA bundle")


def _check_cert(cert: Any) -> str | tuple[str, str] | None:
    if cert is None or (isinstance(cert, str) and not cert.strip()):
        return None
    if isinstance(cert, (str, os.PathLike)):
        paths: tuple = (cert,)
    elif isinstance(cert, (tuple, list)):
        paths = tuple(cert)
    else:
        paths = ()
    if len(paths) not in (1, 2) or not all(isinstance(path, (str, os.PathLike)) for path in paths):
        raise ConfigurationError(f"invalid cert {cert!r}: expected a PEM file path or a (certificate, key) pair of paths")
    paths = tuple(os.path.expanduser(str(path)) for path in paths)
    for path in paths:
        if not os.path.isfile(path):
            raise ConfigurationError(f"the client certificate file {path!r} does not exist; check the cert setting")
    return paths[0] if len(paths) == 1 else (paths[0], paths[1])


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"invalid {name} {value!r}: expected a number of seconds") from None
    if number != number or number < 0 or (number == 0 and not allow_zero):
        raise InvalidRequestError(f"invalid {name} {value!r}: expected a positive number of seconds")
    return number


def _sleep(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep, returning True at once when `cancel` is set."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


def _detach(error: BaseException) -> None:
    """Drop what links an error to the request it came from.

    The chained requests exception and the locals of the finished frames
    hold the prepared request, whose headers carry the token. Without this,
    `sys.last_value` in a notebook would keep the token reachable.
    """
    error.__context__ = None
    error.__cause__ = None
    traceback.clear_frames(error.__traceback__)


def _failure_message(data: dict, job_id: str, state: str) -> str:
    detail = _message_of(data)
    return f"job {job_id} ended in state {state}" + (f": {detail}" if detail else "") + "; see the job's logs on Instabase"


def _message_of(data: dict) -> str:
    for key in ("msg", "message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            line = _first_line(value)
            return line if len(line) <= MESSAGE_MAX_CHARS else line[:MESSAGE_MAX_CHARS] + "..."
    return ""


def _server_message(body: bytes) -> str:
    """Return the `message` or `msg` of a JSON error body, else ''."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers invalid JSON and text that is not UTF-8.
        return ""
    return _message_of(data) if isinstance(data, dict) else ""


def _describe_body(reason: str | None, content_type: str, body: bytes) -> str:
    """Describe an error response that has no JSON message: reason, content type, start of body."""
    reason = reason or "no reason given"
    if not body.strip():
        return f"{reason} (empty body)"
    return f"{reason} ({content_type or 'no content type'}: {_preview(body)!r})"


def _preview(body: bytes) -> str:
    text = body[: BODY_PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= BODY_PREVIEW_CHARS else text[:BODY_PREVIEW_CHARS] + "..."


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


def _timeout_part(timeout: Any, index: int) -> float:
    """Return the connect (index 0) or read (index 1) part of a requests timeout."""
    if isinstance(timeout, (tuple, list)):
        return float(timeout[index])
    return float(timeout)


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    reasons = (
        "Connection refused",
        "Name or service not known",
        "Connection reset",
        "Remote end closed",
        "Connection aborted",
        "Tunnel connection failed",
    )
    for reason in reasons:
        if reason.lower() in text.lower():
            return reason.lower()
    return "connection error"


def _is_read_timeout(exc: Exception) -> bool:
    """Return True when a requests error wraps urllib3's ReadTimeoutError, directly or as a retry's reason."""
    from urllib3.exceptions import ReadTimeoutError

    for arg in exc.args:
        if isinstance(arg, ReadTimeoutError) or isinstance(getattr(arg, "reason", None), ReadTimeoutError):
            return True
    return False


def _incomplete_reason(exc: Exception) -> str:
    match = re.search(r"(\d+) bytes read, (\d+) more expected", str(exc))
    if match:
        read, missing = int(match.group(1)), int(match.group(2))
        return f"the connection closed after {read:,} of {read + missing:,} bytes"
    if "ended prematurely" in str(exc) or "InvalidChunkLength" in str(exc):
        return "the connection closed before the last chunk of the body"
    return f"the body could not be read ({type(exc).__name__})"


def _tls_reason(exc: Exception) -> str:
    """Return the OpenSSL reason of a TLS failure and what to change."""
    text = str(exc)
    match = re.search(r"\[SSL(?:: [A-Z0-9_]+)?\]\s*([^'\"()]+)", text)
    reason = match.group(1).strip().rstrip(".") if match else "the TLS handshake failed"
    lower = text.lower()
    # With TLS 1.3 a server that requires a client certificate rejects it after the
    # handshake, so the client sees either the server's alert or only the closed connection.
    eof = "eof occurred in violation of protocol" in lower or "unexpected eof" in lower
    if eof:
        reason = "the server closed the connection during the TLS handshake"
    if "certificate verify failed" in lower:
        hint = "set verify to the CA bundle path that signed the server's certificate (verify=False skips the check)"
    elif "certificate required" in lower or "alert" in lower or eof:
        hint = "the server may require a client certificate: set cert to your certificate and key"
    else:
        hint = "check the verify and cert settings"
    return f"{reason}; {hint}"


def _proxy_for(url: str) -> str:
    """Return host:port of the proxy that requests picks for `url` from the environment."""
    from requests.utils import get_environ_proxies, select_proxy

    proxy = select_proxy(url, get_environ_proxies(url)) or ""
    parts = urlsplit(proxy)
    # The proxy URL may carry a user name and password, so only its host and port are shown.
    return f"{parts.hostname}:{parts.port}" if parts.hostname and parts.port else (parts.hostname or "from the environment")


def _retries_done(response: Any) -> int:
    retries = getattr(response.raw, "retries", None)
    return len(getattr(retries, "history", ()) or ())


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else url[:60]


__all__ = ["MetricsClient", "PollStatus", "normalize_root", "check_job", "job_state", "IbMetricsError"]
