"""Parse the `%ibmetrics` line into a `MagicArgs`, apart from running it.

Words are split as a POSIX shell would (`shlex`), so quotes group a path
with spaces and never reach the server. IPython's own `$var` and `{var}`
expansion is switched off for this magic, because it would paste a path
with spaces unquoted into the line. Instead a word that is exactly `$name`
or `{name}` is replaced by that variable's value as one whole argument.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequestError

JOB_TYPES = ("training", "pruning", "evaluation")
VARIABLE_WORD = re.compile(r"^(?:\$([A-Za-z_][A-Za-z0-9_]*)|\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\})$")
JOB_SEPARATOR = re.compile(r"[,\s]+")
USAGE = "%ibmetrics [--type training|pruning|evaluation] [--no-wait] [--max-wait SECONDS] [--refresh] PROJECT_PATH JOB_ID [JOB_ID ...]"


@dataclass
class MagicArgs:
    """The parsed `%ibmetrics` line. No project means: show the job picker."""

    project: str | None = None
    job_ids: list[str] = field(default_factory=list)
    job_type: str = "training"
    wait: bool = True
    max_wait: float | None = None
    refresh: bool = False


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidRequestError(f"{message}; usage: {USAGE}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise InvalidRequestError(message or f"usage: {USAGE}")


def _build_parser() -> _Parser:
    parser = _Parser(prog="%ibmetrics", add_help=False, allow_abbrev=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("-t", "--type", dest="job_type", default="training", choices=JOB_TYPES)
    parser.add_argument("--no-wait", dest="wait", action="store_false")
    parser.add_argument("--max-wait", dest="max_wait", type=_seconds)
    parser.add_argument("--refresh", action="store_true")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}: must be 0 or more")
    return value


def split_words(line: str, namespace: dict[str, Any] | None = None) -> list[str]:
    """Split the line like a shell and replace `$name` and `{name}` words."""
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:
        raise InvalidRequestError(f"cannot read the line ({exc}); close every quote") from None
    return [_expand(word, namespace or {}) for word in words]


def _expand(word: str, namespace: dict[str, Any]) -> str:
    match = VARIABLE_WORD.match(word)
    if match is None:
        if "$" in word or "{" in word or "}" in word:
            # NOTE: quotes are removed before this check, so a literal '$' or brace cannot be passed.
            raise InvalidRequestError(
                f"cannot expand {word!r}: write a variable as a whole word, $name or {{name}} with no spaces; "
                "for a value that contains '$' or braces, use MetricsClient.get_metrics from Python"
            )
        return word

    name = match.group(1) or match.group(2)
    if name not in namespace:
        raise InvalidRequestError(f"variable {name!r} is not defined; define it in a cell before using ${name}")
    value = namespace[name]
    if not isinstance(value, (str, int)):
        raise InvalidRequestError(f"variable {name!r} is a {type(value).__name__}; expected a str")
    return str(value)


def parse_line(line: str, namespace: dict[str, Any] | None = None) -> MagicArgs:
    """Parse a `%ibmetrics` line; raise `InvalidRequestError` for bad input."""
    words = split_words(line, namespace)
    options, unknown = _build_parser().parse_known_args(words)
    if unknown:
        # Name the options only: a value such as `--token=...` must not be echoed.
        names = sorted({word.split("=", 1)[0] for word in unknown if word.startswith("-")}) or ["(unexpected words)"]
        raise InvalidRequestError(f"unrecognized option {', '.join(names)}; usage: {USAGE}")

    if not options.words:
        return MagicArgs(job_type=options.job_type, wait=options.wait, max_wait=options.max_wait, refresh=options.refresh)
    if len(options.words) < 2:
        raise InvalidRequestError(
            f"missing JOB_ID after the project path {options.words[0]!r}; usage: {USAGE} "
            "(quote a path that contains spaces)"
        )

    project = options.words[0]
    job_ids = [job for word in options.words[1:] for job in JOB_SEPARATOR.split(word) if job]
    if not job_ids:
        raise InvalidRequestError(f"missing JOB_ID; usage: {USAGE}")
    if any("/" in job for job in job_ids):
        # Job IDs have no slash, so the path was split at a space.
        whole = " ".join(options.words[:-1]) if len(options.words) > 2 else options.words[0]
        raise InvalidRequestError(
            f"a job ID cannot contain '/': if the project path has spaces, quote it: %ibmetrics '{whole}' JOB_ID"
        )
    return MagicArgs(project, job_ids, options.job_type, options.wait, options.max_wait, options.refresh)
