"""Exceptions raised by ibmetrics_nb.

Every error the package raises on purpose derives from `IbMetricsError`, and
its message is one line that states what failed, on which job, and what to do.
The magic shows that line without a traceback. No message may contain the
API token: messages are built from the request's job, the response status,
the Retry-After value, the redirect's host and at most the first bytes of a
response body, never from request headers. The client replaces the token in
a response body with `<token>` before it reads the body.
"""

from __future__ import annotations


class IbMetricsError(Exception):
    """Base class of all errors that ibmetrics_nb raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this list in place of the traceback, so a notebook
        # shows one line, and the cell still counts as failed.
        return [f"{type(self).__name__}: {self}"]


class ConfigurationError(IbMetricsError):
    """A setting is missing or invalid (root URL, token, TLS options)."""


class InvalidRequestError(IbMetricsError, ValueError):
    """An argument was rejected before any request was sent."""


class AuthenticationError(IbMetricsError):
    """The server rejected the token (HTTP 401) or the project (HTTP 403)."""


class NotFoundError(IbMetricsError):
    """The server does not know the job or the project (HTTP 404)."""


class JobFailedError(IbMetricsError):
    """The job ended in a failed state, or the server reported an error."""


class MetricsTimeoutError(IbMetricsError, TimeoutError):
    """A request or the wait for a running job took longer than allowed."""


class ServerError(IbMetricsError):
    """The server failed (HTTP 5xx) or kept asking to retry (HTTP 429)."""


class ResponseFormatError(IbMetricsError, ValueError):
    """A response body is not the JSON document the contract describes."""


class MissingTableError(IbMetricsError, KeyError):
    """A result has no table of the requested kind."""

    def __str__(self) -> str:
        # KeyError would otherwise wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class CancelledError(IbMetricsError):
    """The user cancelled the wait for a job."""


class MetricsWarning(UserWarning):
    """A result is usable but incomplete or partly malformed."""
