"""The `ibmetrics` command line: sandbox, demo and fetch.

    ibmetrics sandbox [--port 8765]        serve the example jobs on loopback
    ibmetrics demo [--output PATH]         run the quickstart notebook as HTML
    ibmetrics fetch PROJECT JOB [--type T] print a job's scores

Errors print one line to stderr and exit with status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .errors import IbMetricsError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ibmetrics", description="Instabase model-training metrics.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="serve the built-in example jobs on loopback")
    sandbox.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765; 0 picks a free one)")
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to every response (default: 0)")

    demo = commands.add_parser("demo", help="run the quickstart notebook against the sandbox and write it as HTML")
    demo.add_argument("--output", default="build/quickstart.html", help="HTML file to write (default: %(default)s)")
    demo.add_argument("--notebook", default=None, help="notebook to run (default: notebooks/quickstart.ipynb)")
    demo.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default: %(default)s)")

    fetch = commands.add_parser("fetch", help="fetch a job's metrics and print its scores")
    fetch.add_argument("project", help="model project path; quote it if it contains spaces")
    fetch.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="one or more job IDs")
    fetch.add_argument("-t", "--type", dest="job_type", default="training", choices=("training", "pruning", "evaluation"))
    fetch.add_argument("--format", default="table", choices=("table", "json", "csv", "markdown"), help="output format")
    fetch.add_argument("--max-wait", type=float, default=None, help="seconds to wait for a running job")
    fetch.add_argument("--refresh", action="store_true", help="ignore the local cache of finished jobs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        if args.command == "sandbox":
            return run_sandbox(args)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(output=args.output, notebook=args.notebook, timeout=args.timeout)
        return run_fetch(args)
    except IbMetricsError as exc:
        print(f"ibmetrics: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import run

    try:
        run(host=args.host, port=args.port, latency=args.latency)
    except ValueError as exc:
        print(f"ibmetrics: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ibmetrics: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; pick another --port", file=sys.stderr)
        return 1
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from .client import MetricsClient
    from .export import format_results

    with MetricsClient() as client:
        many = client.get_many(
            args.job_ids, project=args.project, job_type=args.job_type, max_wait=args.max_wait, refresh=args.refresh
        )
    for error in many.errors.values():
        print(f"ibmetrics: {type(error).__name__}: {error}", file=sys.stderr)
    if many.results:
        sys.stdout.write(format_results(many.results, args.format))
    return 1 if many.errors else 0


if __name__ == "__main__":
    sys.exit(main())
