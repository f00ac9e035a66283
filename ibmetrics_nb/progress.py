"""Progress of a batch of fetches: a bar in notebooks, one stderr line in terminals.

In a Jupyter kernel the bar is an ipywidgets IntProgress with an HTML label,
updated in place and replaced by an empty output when the batch ends, so a
saved notebook keeps no widget that could fail to render later. In a
terminal it is one stderr line rewritten with a carriage return. Elsewhere
(a script whose stderr is a file, a test) nothing is shown. A callable
given as `progress` receives every `BatchStatus` instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from .frontend import in_kernel

logger = logging.getLogger(__name__)

# Minimum seconds between two updates of the bar or line.
UPDATE_INTERVAL = 0.1


@dataclass(frozen=True)
class BatchStatus:
    """Counts of a batch of jobs at one moment."""

    total: int
    fetched: int
    failed: int
    requests: int
    elapsed: float

    @property
    def done(self) -> int:
        """Jobs with a result or an error."""
        return self.fetched + self.failed

    @property
    def waiting(self) -> int:
        """Jobs still being fetched or polled."""
        return self.total - self.done

    def describe(self) -> str:
        """Return the status as one line of text."""
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"{self.done} of {self.total} jobs done{failed}, {self.waiting} waiting; "
            f"{self.requests} requests in {self.elapsed:.1f} s"
        )


class ProgressReporter:
    """Shows `BatchStatus` updates, at most every UPDATE_INTERVAL seconds until `close`."""

    def __init__(self) -> None:
        self._last = 0.0

    def update(self, status: BatchStatus) -> None:
        now = time.monotonic()
        if now - self._last < UPDATE_INTERVAL:
            return
        self._last = now
        self._show(status)

    def close(self, status: BatchStatus) -> None:
        self._show(status, final=True)

    def _show(self, status: BatchStatus, final: bool = False) -> None:
        """Draw one status; subclasses override it."""


class _CallbackReporter(ProgressReporter):
    def __init__(self, callback: Callable[[BatchStatus], None]) -> None:
        super().__init__()
        self._callback = callback

    def _show(self, status: BatchStatus, final: bool = False) -> None:
        self._callback(status)


class _TerminalReporter(ProgressReporter):
    def __init__(self) -> None:
        super().__init__()
        self._width = 0

    def _show(self, status: BatchStatus, final: bool = False) -> None:
        text = status.describe()
        padding = " " * max(self._width - len(text), 0)
        sys.stderr.write(f"\r{text}{padding}" + ("\n" if final else ""))
        sys.stderr.flush()
        self._width = len(text)


class _WidgetReporter(ProgressReporter):
    def __init__(self, total: int) -> None:
        super().__init__()
        import ipywidgets
        from IPython.display import display

        self._bar = ipywidgets.IntProgress(value=0, min=0, max=max(total, 1), description="Fetching", bar_style="info")
        self._label = ipywidgets.HTML(value="")
        self._box = ipywidgets.HBox([self._bar, self._label])
        self._handle = display(self._box, display_id=True)

    def _show(self, status: BatchStatus, final: bool = False) -> None:
        from .display import esc

        self._bar.value = status.done
        self._label.value = esc(status.describe())
        if final:
            self._box.close()
            if self._handle is not None:
                self._handle.update({"text/plain": ""}, raw=True)


def make_reporter(progress: bool | Callable[[BatchStatus], None] | None, total: int) -> ProgressReporter:
    """Return the reporter for a `progress` argument: True for the frontend's own, a callable, or off."""
    if callable(progress):
        return _CallbackReporter(progress)
    if not progress or total == 0:
        return ProgressReporter()
    if in_kernel():
        try:
            return _WidgetReporter(total)
        except ImportError:
            logger.info("ipywidgets is not installed; the progress bar is not shown")
            return ProgressReporter()
    if sys.stderr is not None and sys.stderr.isatty():
        return _TerminalReporter()
    return ProgressReporter()


__all__ = ["BatchStatus", "ProgressReporter", "make_reporter"]
