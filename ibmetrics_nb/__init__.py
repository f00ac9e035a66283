"""ibmetrics_nb: Instabase model-training metrics in Jupyter notebooks.

Load the extension with `%load_ext ibmetrics_nb`, then fetch a job with
`%ibmetrics PROJECT_PATH JOB_ID`. Public names are imported on first use so
that loading the extension stays fast: pandas, requests, matplotlib and
ipywidgets are imported only when a feature needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationError,
    CancelledError,
    ConfigurationError,
    IbMetricsError,
    InvalidRequestError,
    JobFailedError,
    MetricsTimeoutError,
    MetricsWarning,
    MissingTableError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)

if TYPE_CHECKING:
    from .client import MetricsClient, set_token
    from .result import MetricsResult

__version__ = "0.1.0"

_LAZY = {
    "MetricsClient": "client",
    "PollStatus": "client",
    "set_token": "client",
    "MetricsResult": "result",
    "JobPicker": "widgets",
    "compare": "comparison",
    "Comparison": "comparison",
    "clear_cache": "cache",
}

__all__ = [
    "AuthenticationError",
    "CancelledError",
    "ConfigurationError",
    "IbMetricsError",
    "InvalidRequestError",
    "JobFailedError",
    "MetricsTimeoutError",
    "MetricsWarning",
    "MissingTableError",
    "NotFoundError",
    "ResponseFormatError",
    "ServerError",
    "load_ipython_extension",
    "unload_ipython_extension",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ibmetrics_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%ibmetrics` magic (called by `%load_ext ibmetrics_nb`)."""
    from .magic import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the `%ibmetrics` magic (called by `%unload_ext ibmetrics_nb`)."""
    from .magic import unregister

    unregister(ipython)
