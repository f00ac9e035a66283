"""The job picker: fetch jobs' metrics by clicking instead of typing.

`JobPicker()` (or `%ibmetrics` with no arguments) shows inputs for the model
project path, the job IDs and the job type, a Fetch and a Cancel button, a
status line, a progress bar and an output area for the result.

In a kernel the picker does not block: every widget update runs on the
kernel's asyncio event loop, the loop that also runs cells and widget
callbacks, and only the blocking HTTP calls run in a worker thread
(`loop.run_in_executor`). The client's progress callback, which runs in that
thread, hands each poll back to the loop with `call_soon_threadsafe`. Under
ipykernel 7, output sent to an Output widget from another thread can be lost
(https://github.com/jupyter-widgets/ipywidgets/issues/4020), and
`with output:` captures whatever cell runs at that moment, so this module
only sets widget traits, and only from the loop.

Errors never escape a callback: a package error shows as one line in the
picker's output area, and an unexpected exception shows as one line there
too while its traceback goes to this module's logger. The module never
prints, because JupyterLab sends printed output from callbacks to its log
console. (When logging is not configured, Python's last-resort handler
writes logged tracebacks to stderr.)

This module imports ipywidgets, so the package imports it only on first
use of `JobPicker`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from . import frontend
from .client import JOB_TYPES, MetricsClient, PollStatus, check_job
from .display import STYLE, esc, format_fraction, render_html
from .errors import CancelledError, IbMetricsError, InvalidRequestError, JobFailedError, NotFoundError
from .history import History

if TYPE_CHECKING:
    from .result import MetricsResult

logger = logging.getLogger(__name__)

FALLBACK_TEXT = "JobPicker: needs a Jupyter frontend with widgets; use %ibmetrics PROJECT_PATH JOB_ID instead"
# The status line is redrawn this often while a job runs, so that its
# elapsed time keeps counting between polls, which can be 30 s apart.
STATUS_REFRESH_SECONDS = 1.0
# Worker threads per picker. A cancelled request keeps its thread until the
# client's read timeout ends it, so a few spare threads let a new fetch start.
# NOTE: Python joins these threads at exit, so a hung request can delay a
# kernel's shutdown until the client's read timeout.
MAX_WORKERS = 4
MAX_LINE_CHARS = 500
# Errors that concern one job, after which the picker goes on with the next.
# Any other error (token, server, network) would fail every job the same way.
PER_JOB_ERRORS = (NotFoundError, JobFailedError)

_JOB_ID_SEPARATORS = re.compile(r"[\s,]+")


def parse_job_ids(text: str) -> list[str]:
    """Split job IDs separated by commas or whitespace, dropping repeats."""
    return list(dict.fromkeys(part for part in _JOB_ID_SEPARATORS.split(text or "") if part))


@dataclass
class _Fetch:
    """The state of one press of Fetch, shared by the loop and the worker thread.

    The worker thread uses only `client` and `cancel_event`. Everything else
    is read and written on the event loop.
    """

    project: str
    job_ids: list[str]
    job_type: str
    client: Any
    owns_client: bool
    started: float = field(default_factory=time.monotonic)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    index: int = 0
    job_started: float = field(default_factory=time.monotonic)
    last_poll: PollStatus | None = None
    finished_jobs: int = 0
    cancelled: bool = False
    pending: asyncio.Future | None = None


class JobPicker(widgets.VBox):
    """A widget that fetches jobs' metrics without blocking the kernel.

    `client` is a `MetricsClient` to use. Without one, each Fetch builds a
    client from `client_settings` (the keyword arguments of
    `MetricsClient`) or from the environment, so a missing token shows as a
    line in the picker, not as an exception here. `job_type` and `project`
    preset the inputs.

    The job ID input accepts several IDs separated by commas or spaces.
    Fetching one job shows its result as `%ibmetrics` does, and fetching
    several shows a table of their F1 scores. `result` is the last result,
    or a list of results after several jobs, and can be observed with
    `picker.observe(callback, names="result")`.

    Recent projects and job IDs are offered in the inputs. They are saved in
    a JSON file in the cache directory (see `ibmetrics_nb.history`).
    """

    result = traitlets.Any(None, allow_none=True, help="The last MetricsResult, or a list of them for several jobs.")

    def __init__(
        self,
        client: MetricsClient | None = None,
        *,
        client_settings: dict[str, Any] | None = None,
        job_type: str = "training",
        project: str | None = None,
    ) -> None:
        # Set before anything can raise: ipywidgets calls close() from __del__.
        self._fetch: _Fetch | None = None
        self._task: asyncio.Future | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        if job_type not in JOB_TYPES:
            raise InvalidRequestError(f"invalid job type {job_type!r}: expected one of {', '.join(JOB_TYPES)}")

        self._client = client
        self._client_settings = dict(client_settings or {})
        self._history = History()

        label_style = {"description_width": "6em"}
        self.project_input = widgets.Combobox(
            value=project or "",
            options=self._history.projects(),
            ensure_option=False,
            description="Project",
            placeholder="user/repo/fs/Instabase Drive/Model project",
            style=label_style,
            layout=widgets.Layout(width="100%", max_width="60em"),
        )
        self.job_input = widgets.Combobox(
            value="",
            options=self._history.jobs(project or ""),
            ensure_option=False,
            description="Job ID",
            placeholder="job ID; several separated by commas or spaces",
            style=label_style,
            layout=widgets.Layout(width="100%", max_width="60em"),
        )
        self.job_type_input = widgets.Dropdown(
            options=list(JOB_TYPES), value=job_type, description="Job type", style=label_style
        )
        self.fetch_button = widgets.Button(
            description="Fetch", button_style="primary", icon="download", tooltip="Fetch the metrics of the jobs above"
        )
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", disabled=True, tooltip="Stop waiting for the jobs"
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="", layout=widgets.Layout(width="14em", visibility="hidden")
        )
        self.status = widgets.HTML(value="")
        self.output = widgets.Output()

        super().__init__(
            children=[
                self.project_input,
                self.job_input,
                self.job_type_input,
                widgets.HBox([self.fetch_button, self.cancel_button, self.progress]),
                self.status,
                self.output,
            ]
        )
        self.add_class("ibmetrics-job-picker")

        self.fetch_button.on_click(self._on_fetch_click)
        self.cancel_button.on_click(self._on_cancel_click)
        self.project_input.observe(self._on_project_change, names="value")

    # --- public API ----------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a fetch is running."""
        return self._task is not None and not self._task.done()

    def fetch(self) -> None:
        """Fetch the jobs in the inputs, as pressing Fetch does.

        In a kernel this returns at once and the fetch goes on in the
        background: the status line, the output area and `result` show how
        it ends. Outside an event loop (a plain Python process or a terminal
        IPython shell) it returns when the fetch has ended. Errors show in
        the picker and are not raised.
        """
        loop = _running_loop()
        if loop is not None:
            self._guard(self._start_fetch, loop)
            return

        kernel_loop = frontend.kernel_event_loop()
        if kernel_loop is not None and kernel_loop.is_running():
            # Called from a thread of the user's: widget updates belong to the loop.
            kernel_loop.call_soon_threadsafe(self._guard, self._start_fetch, kernel_loop)
            return

        asyncio.run(self._fetch_and_wait())

    def cancel(self) -> None:
        """Stop waiting for the jobs at once, as pressing Cancel does.

        The request in flight, if any, ends in its worker thread at the
        client's read timeout, and its reply is ignored.
        """
        if _running_loop() is None and self._task is not None:
            loop = self._task.get_loop()
            if loop.is_running():
                loop.call_soon_threadsafe(self._guard, self._cancel_now)
                return
        self._guard(self._cancel_now)

    def close(self) -> None:
        """Cancel any fetch and close the picker and all its widgets."""
        self.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        for child in self._descendants():
            child.close()
        super().close()

    def __repr__(self) -> str:
        state = "fetching" if self.busy else "idle"
        return (
            f"<JobPicker project={self.project_input.value!r} job_ids={self.job_input.value!r} "
            f"job_type={self.job_type_input.value!r} {state}>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # Frontends without widget support (terminal IPython, nbconvert
        # without saved widget state) show the text or HTML instead.
        bundle = super()._repr_mimebundle_(**kwargs) if frontend.in_kernel() else {}
        bundle["text/plain"] = FALLBACK_TEXT
        bundle["text/html"] = f"<p>{esc(FALLBACK_TEXT)}</p>"
        return bundle

    # --- callbacks -------------------------------------------------------------

    def _on_fetch_click(self, _button: widgets.Button) -> None:
        self._guard(self.fetch)

    def _on_cancel_click(self, _button: widgets.Button) -> None:
        self._guard(self.cancel)

    def _on_project_change(self, change: dict) -> None:
        self._guard(self._offer_jobs, change["new"])

    def _offer_jobs(self, project: str) -> None:
        self.job_input.options = self._history.jobs(project or "")

    def _guard(self, function: Callable[..., Any], *args: Any) -> None:
        """Run a callback, turning any exception into a line in the picker."""
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - a callback must never raise into ipywidgets
            self._show_unexpected(exc)

    # --- fetching ----------------------------------------------------------------

    async def _fetch_and_wait(self) -> None:
        self._guard(self._start_fetch, asyncio.get_running_loop())
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def _start_fetch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the inputs, build the client and start the fetch task on `loop`."""
        if self.busy:
            self._set_status("A fetch is running: press Cancel to stop it first.")
            return

        project = self.project_input.value.strip()
        job_ids = parse_job_ids(self.job_input.value)
        job_type = self.job_type_input.value
        self._show_outputs()
        try:
            check_job(project, job_ids[0] if job_ids else "", job_type)
            client, owns_client = self._make_client()
        except IbMetricsError as exc:
            self._show_outputs(_error_output(exc))
            self._set_status("Not started: see the error below.")
            self.progress.layout.visibility = "hidden"
            return

        fetch = _Fetch(project, job_ids, job_type, client, owns_client)
        self._fetch = fetch
        self._set_busy(True)
        self.progress.max = len(job_ids)
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress.layout.visibility = "visible"
        self._show_progress(fetch)
        self._task = loop.create_task(self._run(fetch))

    def _make_client(self) -> tuple[Any, bool]:
        if self._client is not None:
            return self._client, False
        return MetricsClient(**self._client_settings), True

    async def _run(self, fetch: _Fetch) -> None:
        results: list[MetricsResult] = []
        errors: list[IbMetricsError] = []
        try:
            for index, job_id in enumerate(fetch.job_ids):
                fetch.index = index
                fetch.job_started = time.monotonic()
                fetch.last_poll = None
                self._show_progress(fetch)
                try:
                    results.append(await self._fetch_job(fetch, job_id))
                except CancelledError:
                    # The client noticed the cancel before the task was cancelled.
                    return
                except IbMetricsError as exc:
                    errors.append(exc)
                    if not isinstance(exc, PER_JOB_ERRORS):
                        break
                fetch.finished_jobs += 1
                self.progress.value = fetch.finished_jobs
            self._show_results(fetch, results, errors)
        except asyncio.CancelledError:
            if not fetch.cancelled:
                self._show_cancelled(fetch)
            raise
        except Exception as exc:  # noqa: BLE001 - nothing may escape into the event loop
            self._show_unexpected(exc)
        finally:
            self._release(fetch)

    async def _fetch_job(self, fetch: _Fetch, job_id: str) -> MetricsResult:
        """Run one blocking `get_metrics` in a worker thread, redrawing the status meanwhile."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()

        def report(poll: PollStatus) -> None:
            # Runs in the worker thread. The context keeps the kernel's parent
            # message of this fetch, so widget updates are tied to it.
            try:
                loop.call_soon_threadsafe(self._on_poll, fetch, poll, context=context)
            except RuntimeError:
                logger.debug("event loop closed; dropped the poll of job %s", poll.job_id)

        call = functools.partial(
            fetch.client.get_metrics,
            fetch.project,
            job_id,
            fetch.job_type,
            progress=report,
            cancel=fetch.cancel_event,
        )
        future = loop.run_in_executor(self._worker_pool(), call)
        future.add_done_callback(_retrieve_exception)
        fetch.pending = future
        while True:
            done, _ = await asyncio.wait({future}, timeout=STATUS_REFRESH_SECONDS)
            if done:
                # A kept future would keep its exception alive, and with it
                # the traceback's frames, the request and its Authorization header.
                fetch.pending = None
                return future.result()
            self._show_progress(fetch)

    def _worker_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=MAX_WORKERS, thread_name_prefix="ibmetrics-picker"
            )
        return self._executor

    def _on_poll(self, fetch: _Fetch, poll: PollStatus) -> None:
        if fetch is not self._fetch or fetch.cancelled:
            return
        fetch.last_poll = poll
        self._guard(self._show_progress, fetch)

    def _cancel_now(self) -> None:
        fetch = self._fetch
        if fetch is None or not self.busy or fetch.cancelled:
            return
        fetch.cancelled = True
        fetch.cancel_event.set()
        self._show_cancelled(fetch)
        if self._task is not None:
            self._task.cancel()

    def _release(self, fetch: _Fetch) -> None:
        """Re-enable the buttons and close a client built for this fetch."""
        if fetch is self._fetch:
            self._set_busy(False)
        pending, fetch.pending = fetch.pending, None
        if not fetch.owns_client:
            return
        if pending is not None and not pending.done():
            # The worker thread still uses the client: close it when it ends.
            pending.add_done_callback(lambda _future: fetch.client.close())
        else:
            fetch.client.close()

    # --- showing ---------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self.fetch_button.disabled = busy
        self.cancel_button.disabled = not busy

    def _set_status(self, text: str, css_class: str = "ibm-picker-status") -> None:
        self.status.value = f'<span class="{css_class}">{esc(_one_line(text))}</span>'

    def _show_outputs(self, *outputs: dict) -> None:
        # Setting the trait replaces the whole area in one message. Unlike
        # `with self.output:` it does not capture other cells' output.
        self.output.outputs = tuple(outputs)

    def _show_progress(self, fetch: _Fetch) -> None:
        if fetch is not self._fetch or fetch.cancelled:
            return
        count = len(fetch.job_ids)
        self.progress.description = f"{fetch.finished_jobs}/{count} jobs" if count > 1 else ""
        self._set_status(progress_text(fetch, time.monotonic()))

    def _show_results(self, fetch: _Fetch, results: list[MetricsResult], errors: list[IbMetricsError]) -> None:
        elapsed = time.monotonic() - fetch.started
        outputs = [_error_output(exc) for exc in errors]
        if len(fetch.job_ids) == 1 and results:
            outputs.insert(0, _result_output(results[0]))
        elif results:
            outputs.insert(0, _comparison_output(results))
        self._show_outputs(*outputs)

        if results:
            self._history.record(fetch.project, [result.job_id for result in results if result.job_id])
            self._refresh_options(fetch.project)
            self.result = results[0] if len(fetch.job_ids) == 1 else results

        count = len(fetch.job_ids)
        if not errors:
            self.progress.bar_style = "success"
            what = f"job {fetch.job_ids[0]}" if count == 1 else f"{count} jobs"
            self._set_status(f"Fetched {what} in {elapsed:.1f} s.")
        else:
            self.progress.bar_style = "danger"
            if results:
                self._set_status(f"Fetched {len(results)} of {count} jobs in {elapsed:.1f} s: see the errors below.")
            else:
                self._set_status(f"Failed after {elapsed:.1f} s: see the error below.", "ibm-picker-status ibm-picker-failed")

    def _show_cancelled(self, fetch: _Fetch) -> None:
        elapsed = time.monotonic() - fetch.started
        job_id = fetch.job_ids[fetch.index]
        poll = fetch.last_poll
        where = f"{poll.state}, polled {_times(poll.polls)}" if poll is not None else "no reply yet"
        self.progress.bar_style = "warning"
        self._set_status(f"Cancelled after {elapsed:.0f} s: stopped waiting for job {job_id} ({where}).")

    def _show_unexpected(self, exc: BaseException) -> None:
        logger.error("job picker callback failed", exc_info=exc)
        text = f"Unexpected error in the job picker: {type(exc).__name__}: {exc} (the traceback is in the log of {logger.name})"
        try:
            self._show_outputs(_line_output(text, "ibm-picker-error"))
            self._set_status("Failed: see the error below.", "ibm-picker-status ibm-picker-failed")
            self.progress.bar_style = "danger"
        except Exception:  # noqa: BLE001 - the widgets themselves are broken; the log has the error
            logger.exception("could not show an error in the job picker")

    def _refresh_options(self, project: str) -> None:
        self.project_input.options = self._history.projects()
        self.job_input.options = self._history.jobs(project)

    def _descendants(self) -> list[widgets.Widget]:
        found = []
        pending = list(self.children)
        while pending:
            child = pending.pop()
            found.append(child)
            pending.extend(getattr(child, "children", ()))
        return found


# --- text and HTML ---------------------------------------------------------------


def progress_text(fetch: _Fetch, now: float) -> str:
    """Return the status line of a running fetch, such as "job X: RUNNING, polled 3 times, 12 s"."""
    job_id = fetch.job_ids[fetch.index]
    count = len(fetch.job_ids)
    name = f"job {job_id}" if count == 1 else f"job {job_id} ({fetch.index + 1} of {count})"
    elapsed = now - fetch.job_started
    poll = fetch.last_poll
    if poll is None:
        return f"{name}: waiting for the server, {elapsed:.0f} s"
    return f"{name}: {poll.state}, polled {_times(poll.polls)}, {elapsed:.0f} s"


def comparison_html(results: list[MetricsResult]) -> str:
    """Return a table of several jobs' F1 scores: the headline and each table's macro and micro F1.

    Each job's full result follows in a collapsed section.
    """
    rows = [(result, _average_f1(result)) for result in results]
    titles = list(dict.fromkeys(title for result in results for title in result.score_tables))

    head_top = '<th class="ibm-label" rowspan="2">Job</th><th class="ibm-label" rowspan="2">Job type</th><th rowspan="2">F1</th>'
    head_top += "".join(f'<th colspan="2">{esc(title)}</th>' for title in titles)
    head_bottom = "<th>macro F1</th><th>micro F1</th>" * len(titles)

    body = []
    for result, scores in rows:
        headline = result.headline
        f1 = f"{format_fraction(headline[2])} ({headline[1]})" if headline else "n/a"
        cells = "".join(
            f"<td>{esc(_format_score(scores.get((title, kind))))}</td>" for title in titles for kind in ("macro", "micro")
        )
        body.append(
            f'<tr><td class="ibm-label">{esc(result.job_id or "")}</td>'
            f'<td class="ibm-label">{esc(result.job_type or "")}</td><td>{esc(f1)}</td>{cells}</tr>'
        )
    table = (
        f'<table class="ibm-table ibm-comparison"><thead><tr>{head_top}</tr><tr>{head_bottom}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    details = "".join(
        f"<details><summary>Job {esc(result.job_id or '')}</summary>{render_html(result)}</details>" for result in results
    )
    return f'{STYLE}<div class="ibm-result">{table}{details}</div>'


def comparison_text(results: list[MetricsResult]) -> str:
    """Return one line per job with its headline F1."""
    lines = []
    for result in results:
        headline = result.headline
        f1 = f"F1 {format_fraction(headline[2])} ({headline[1]}, {headline[0]})" if headline else "no F1"
        lines.append(f"job {result.job_id} ({result.job_type}): {f1}")
    return "\n".join(lines)


def _average_f1(result: MetricsResult) -> dict[tuple[str, str], float]:
    """Return {(table title, "macro" or "micro"): F1} from the result's average rows."""
    frame = result.to_dataframe()
    scores: dict[tuple[str, str], float] = {}
    if frame.empty or "f1" not in frame.columns:
        return scores
    for row in frame[frame["is_average"]].itertuples():
        label = str(row.label).lower()
        for kind in ("macro", "micro"):
            if kind in label:
                scores.setdefault((row.table, kind), row.f1)
    return scores


def _format_score(value: float | None) -> str:
    return "n/a" if value is None else format_fraction(value)


def _result_output(result: MetricsResult) -> dict:
    # The bundle that display(result) would show, built without IPython's
    # formatter, which would create an InteractiveShell outside IPython.
    return {"output_type": "display_data", "data": result._repr_mimebundle_(), "metadata": {}}


def _comparison_output(results: list[MetricsResult]) -> dict:
    return {
        "output_type": "display_data",
        "data": {"text/plain": comparison_text(results), "text/html": comparison_html(results)},
        "metadata": {},
    }


def _error_output(exc: IbMetricsError) -> dict:
    return _line_output(f"{type(exc).__name__}: {exc}", "ibm-picker-error")


def _line_output(text: str, css_class: str) -> dict:
    line = _one_line(text)
    html_line = f'<div class="{css_class}" style="color:var(--jp-error-color1,#b00020)">{esc(line)}</div>'
    return {"output_type": "display_data", "data": {"text/plain": line, "text/html": html_line}, "metadata": {}}


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _retrieve_exception(future: asyncio.Future) -> None:
    # A cancelled fetch never reads its worker's result. Reading the
    # exception here keeps asyncio from logging "exception was never retrieved".
    if not future.cancelled():
        future.exception()


__all__ = ["JobPicker", "parse_job_ids", "progress_text", "comparison_html", "FALLBACK_TEXT"]
