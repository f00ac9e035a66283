"""The HTTP layer under `MetricsClient`: session, retry policy and Bearer auth.

Kept apart from `client`, which decides what a response means. Everything
here is about how a request travels: urllib3's retries with a bound on
`Retry-After`, and a token that only the root's own origin ever receives.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

logger = logging.getLogger("ibmetrics_nb.client")

METRICS_PATH = "/api/v2/model/metrics"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def _make_session(max_retries: int, retry_after_max: float) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=_make_retry(max_retries, retry_after_max), pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _make_retry(max_retries: int, retry_after_max: float) -> Any:
    """Build the urllib3 retry policy that the session's adapters use.

    Refused or dropped connections, connect timeouts and the statuses in
    RETRY_STATUSES are retried up to `max_retries` times with exponential
    backoff (0, 1, 2, 4 ... s, at most 10 s) or the server's Retry-After.
    A read timeout is not retried, so that a server that never responds
    fails within one read timeout. TLS errors are not retried either.
    """
    from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
    from urllib3.util.retry import Retry

    class BoundedRetry(Retry):
        """Retry that gives up, instead of sleeping, past `retry_after_max`."""

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if isinstance(error, ReadTimeoutError):
                # requests turns the bare error into ReadTimeout, which the client reports as a timeout.
                raise error
            if response is not None:
                asked = self.get_retry_after(response)
                if asked is not None and asked > retry_after_max:
                    logger.info("not retrying: the server asked to wait %.0f s, over the limit of %g s", asked, retry_after_max)
                    # urllib3 returns the response itself for this error because raise_on_status is False.
                    raise MaxRetryError(_pool, url, ResponseError("Retry-After over the limit"))
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
            reason = f"HTTP {response.status}" if response is not None else type(error).__name__
            logger.info("retrying GET %s after %s (retry %d of %d)", METRICS_PATH, reason, len(retry.history), max_retries)
            return retry

        def get_retry_after(self, response):
            try:
                return super().get_retry_after(response)
            except InvalidHeader:
                # A Retry-After that is neither seconds nor an HTTP date counts as absent.
                return None

    return BoundedRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=0.5,
        backoff_max=10.0,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


class Secret:
    """A token that shows as `<hidden>` in repr, str and `vars()` of its holder.

    Only `reveal()` returns the value. Pickling is refused, so the token
    cannot travel into a saved object by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API token cannot be pickled")


class _BearerAuth:
    """Add the Bearer header only to requests for the root's own origin."""

    def __init__(self, token: Secret, root_url: str) -> None:
        self._token = token
        self._origin = _origin(root_url)

    def __call__(self, request: Any) -> Any:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port
