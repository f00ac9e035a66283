"""The `%ibmetrics` line magic and its settings.

The magic method only documents and delegates: `arguments` parses the line,
`run` fetches, and errors reach the user as one line because every package
error renders its own short traceback (`IbMetricsError._render_traceback_`).
This module imports neither requests nor pandas, so `%load_ext` stays fast.
"""

from __future__ import annotations

import logging
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from traitlets import Bool, Float, Unicode, Union

from .arguments import MagicArgs, parse_line

logger = logging.getLogger(__name__)


@magics_class
class IbMetrics(Magics):
    """Settings of the `%ibmetrics` magic, changed with `%config IbMetrics.NAME = VALUE`.

    The API token is not a setting, because cell text is saved with the
    notebook: set `IB_API_TOKEN` before starting Jupyter, or call
    `ibmetrics_nb.set_token()`, which prompts for it.
    """

    root_url = Unicode(
        None, allow_none=True, help="Instance root, such as https://www.instabase.com. Default: IB_ROOT_URL."
    ).tag(config=True)
    timeout = Float(60.0, help="Seconds to wait for each response before a timeout error.").tag(config=True)
    connect_timeout = Float(5.0, help="Seconds to wait for each connection before a timeout error.").tag(config=True)
    max_wait = Float(1800.0, help="Seconds to wait for a running job to finish.").tag(config=True)
    poll_interval = Float(2.0, help="Seconds between the first polls of a running job; later polls back off.").tag(
        config=True
    )
    verify = Union(
        [Bool(), Unicode()], default_value=True, help="Verify TLS certificates: True, False, or a CA bundle path."
    ).tag(config=True)
    cert = Unicode(None, allow_none=True, help="Client certificate file for mutual TLS (PEM with the key).").tag(
        config=True
    )
    allow_http = Bool(False, help="Allow plain http:// to hosts other than loopback.").tag(config=True)

    @no_var_expand
    @line_magic
    def ibmetrics(self, line: str) -> Any:
        """Fetch a job's metrics and return them as a MetricsResult.

        Usage:
          %ibmetrics [--type training|pruning|evaluation] [--no-wait]
                     [--max-wait SECONDS] [--refresh] PROJECT_PATH JOB_ID [JOB_ID ...]
          %ibmetrics                 (no arguments: show the job picker)

        Waits while the job is RUNNING, showing its state in place, then
        returns the result, which a notebook shows as tables and plots.
        Several job IDs are fetched concurrently and return a comparison of
        the jobs. When some fail, the line returns the ManyResults instead,
        which names each failure and keeps the jobs that were fetched.

        Options:
          -t, --type     job type (default: training)
          --no-wait      send one request; an unfinished job is returned as is
          --max-wait     seconds to wait for a running job (default: 1800)
          --refresh      fetch again even if the job is in the local cache

        Quote a project path that contains spaces. A word that is exactly
        $name or {name} is replaced by that variable's value, spaces and all.

        Examples:
          %load_ext ibmetrics_nb
          %ibmetrics 'user1/my-repo/fs/Instabase Drive/PaystubClassifier' dc991a28-bd92-47bb-ajj8-e0f2ca930e51
          result = %ibmetrics --type evaluation $project $job_id
          %config IbMetrics.root_url = "https://instabase.example.com"

        The token comes from IB_API_TOKEN or ibmetrics_nb.set_token(), never
        from the line. Settings: %config IbMetrics.
        """
        args = parse_line(line, self.shell.user_ns if self.shell is not None else {})
        return run(self, args)

    def client_settings(self) -> dict[str, Any]:
        """Return the keyword arguments for `MetricsClient` from the settings."""
        return {
            "root_url": self.root_url,
            "timeout": (self.connect_timeout, self.timeout),
            "verify": self.verify,
            "cert": self.cert,
            "max_wait": self.max_wait,
            "poll_interval": self.poll_interval,
            "allow_http": self.allow_http,
        }


def run(magics: IbMetrics, args: MagicArgs) -> Any:
    """Run a parsed `%ibmetrics` line: the picker, one job or a comparison.

    Several jobs are fetched concurrently. When all succeed, the line returns
    their `Comparison`. When some fail, it returns the `ManyResults`, which
    lists each failure and keeps the results that were fetched.
    """
    if args.project is None:
        from .widgets import JobPicker

        return JobPicker(client_settings=magics.client_settings(), job_type=args.job_type)

    from .client import MetricsClient

    with MetricsClient(**magics.client_settings()) as client:
        if len(args.job_ids) == 1:
            return _fetch_one(client, args)
        many = client.get_many(
            args.job_ids,
            project=args.project,
            job_type=args.job_type,
            wait=args.wait,
            max_wait=args.max_wait,
            refresh=args.refresh,
        )

    if many.errors:
        if not many.results:
            many.raise_for_errors()
        logger.warning("%s", many.summary())
        return many
    return many.compare()


def _fetch_one(client: Any, args: MagicArgs) -> Any:
    from .frontend import StatusLine

    status = StatusLine()
    result = client.get_metrics(
        args.project,
        args.job_ids[0],
        args.job_type,
        wait=args.wait,
        max_wait=args.max_wait,
        progress=_progress_reporter(status),
        refresh=args.refresh,
    )
    status.clear()
    return result


def _progress_reporter(status: Any) -> Any:
    def report(poll: Any) -> None:
        if poll.state in ("DONE", "COMPLETE", "COMPLETED") and poll.polls == 1:
            return
        times = "once" if poll.polls == 1 else f"{poll.polls} times"
        status.update(f"job {poll.job_id}: {poll.state}, polled {times}, {poll.elapsed:.0f} s")

    return report


def register(ipython: Any) -> None:
    """Register the magic and its settings with an IPython shell."""
    magics = IbMetrics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)


def unregister(ipython: Any) -> None:
    """Remove the magic registered by `register`."""
    ipython.magics_manager.magics["line"].pop("ibmetrics", None)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, IbMetrics)]
