"""A cache of finished jobs' responses on disk.

A finished job's metrics never change, so `MetricsClient` keeps each
finished response and returns it for later requests of the same job,
without sending a request. Entries are keyed by the instance root, the project,
the job ID and the job type. Each is one strict-JSON file (the format of
`MetricsResult.save`, plus the root URL) that contains the response and the
parser's warnings, never the token.

Unfinished jobs, failed jobs and error responses are never stored. An
entry that cannot be read is ignored with a logged warning and replaced
on the next fetch. Writes go through a temporary file and `os.replace`,
so a reader never sees half an entry.

The folder is `IBMETRICS_CACHE_DIR` if set, else
`$XDG_CACHE_HOME/ibmetrics_nb`, else `~/.cache/ibmetrics_nb`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHE_ENV = "IBMETRICS_CACHE_DIR"
ENTRY_NAME = re.compile(r"^[0-9a-f]{64}\.json$")
TEMPORARY_PREFIX = ".tmp-"


def default_cache_dir() -> Path:
    """Return the cache folder from IBMETRICS_CACHE_DIR, XDG_CACHE_HOME or ~/.cache."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG Base Directory Specification requires ignoring a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "ibmetrics_nb"


@dataclass(frozen=True)
class CachedResponse:
    """A finished response read from the cache, with the warnings of its first parse."""

    data: dict
    warnings: list[str]
    fetched_at: float


class ResultCache:
    """Finished responses on disk, one file per (root URL, project, job ID, job type).

    `directory=None` resolves the default folder on every use, so that a
    change of IBMETRICS_CACHE_DIR applies to existing clients.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self._directory = None if directory is None else Path(directory).expanduser()

    def __repr__(self) -> str:
        return f"ResultCache({str(self.directory)!r})"

    @property
    def directory(self) -> Path:
        """The folder that contains the entries."""
        return self._directory if self._directory is not None else default_cache_dir()

    def path_for(self, root_url: str, project: str, job_id: str, job_type: str) -> Path:
        """Return the file of a job's entry: the SHA-256 of its key, so any project path is a safe name."""
        key = json.dumps([root_url, project, job_id, job_type], ensure_ascii=False)
        return self.directory / (hashlib.sha256(key.encode("utf-8")).hexdigest() + ".json")

    def load(self, root_url: str, project: str, job_id: str, job_type: str) -> CachedResponse | None:
        """Return the job's cached response, or None when there is none or it cannot be used."""
        from .export import read_result_document

        path = self.path_for(root_url, project, job_id, job_type)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("ignoring the cache entry %s of job %s: cannot read it (%s)", path, job_id, exc)
            return None

        try:
            document = json.loads(text)
            response, options = read_result_document(document, str(path))
        except ValueError as exc:
            # ResponseFormatError and JSONDecodeError are both ValueErrors.
            logger.warning("ignoring the corrupt cache entry %s of job %s: %s", path, job_id, exc)
            return None

        stored_key = (document.get("root_url"), options["model_project_path"], options["job_id"], options["job_type"])
        if stored_key != (root_url, project, job_id, job_type):
            logger.warning("ignoring the cache entry %s: it belongs to another job", path)
            return None
        if not _is_finished(response):
            logger.warning("ignoring the cache entry %s of job %s: the job in it is not finished", path, job_id)
            return None
        fetched_at = document.get("fetched_at")
        return CachedResponse(response, options["warnings"], fetched_at if isinstance(fetched_at, (int, float)) else 0.0)

    def store(
        self,
        root_url: str,
        project: str,
        job_id: str,
        job_type: str,
        data: dict,
        warnings: list[str],
        *,
        secret: str | None = None,
    ) -> bool:
        """Store a finished response and return whether it was stored.

        Responses of unfinished or failed jobs are not stored. Neither is a
        response that contains `secret` (the client passes its token, so
        that a server echoing the token never puts it on disk). A failed
        write (OSError) is logged and returns False, so that the cache does
        not fail a fetch.
        """
        from .export import result_document, write_text_atomic

        if not _is_finished(data):
            return False
        document = result_document(data, job_id=job_id, job_type=job_type, model_project_path=project, warnings=warnings)
        document["root_url"] = root_url
        document["fetched_at"] = time.time()
        try:
            text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            logger.warning("not caching job %s: its response cannot be written as JSON (%s)", job_id, exc)
            return False
        if secret and secret in text:
            logger.warning("not caching job %s: the response contains the API token", job_id)
            return False

        path = self.path_for(root_url, project, job_id, job_type)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # A cache entry lost in a crash only costs a fetch, so it skips the fsync.
            write_text_atomic(path, text, mode=0o600, durable=False)
        except OSError as exc:
            logger.warning("could not cache job %s in %s: %s", job_id, path.parent, exc)
            return False
        logger.debug("cached job %s in %s", job_id, path)
        return True

    def remove(self, root_url: str, project: str, job_id: str, job_type: str) -> bool:
        """Delete a job's entry and return whether there was one."""
        try:
            self.path_for(root_url, project, job_id, job_type).unlink()
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> int:
        """Delete every entry (and leftover temporary file) and return how many entries were deleted.

        Other files in the folder are left alone, so pointing
        IBMETRICS_CACHE_DIR at a shared folder is safe.
        """
        directory = self.directory
        if not directory.is_dir():
            return 0
        removed = 0
        for path in directory.iterdir():
            is_entry = ENTRY_NAME.match(path.name) is not None
            if not is_entry and not path.name.startswith(TEMPORARY_PREFIX):
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("could not delete the cache file %s: %s", path, exc)
                continue
            removed += is_entry
        logger.info("cleared %d cached jobs from %s", removed, directory)
        return removed


def make_cache(option: bool | str | os.PathLike | ResultCache | None) -> ResultCache | None:
    """Return the cache for a client's `cache` argument: True for the default folder, False or None for none."""
    if option is True:
        return ResultCache()
    if option is False or option is None:
        return None
    if isinstance(option, ResultCache):
        return option
    if isinstance(option, (str, os.PathLike)):
        return ResultCache(option)
    from .errors import InvalidRequestError

    raise InvalidRequestError(f"invalid cache {option!r}: expected True, False, a folder path or a ResultCache")


def clear_cache(directory: str | os.PathLike | None = None) -> int:
    """Delete every cached job from `directory` (default: the cache folder) and return the count."""
    return ResultCache(directory).clear()


def _is_finished(data: Any) -> bool:
    from .client import FINISHED_STATES, job_state

    if not isinstance(data, dict):
        return False
    if str(data.get("status", "OK")).upper() == "ERROR":
        return False
    return job_state(data) in FINISHED_STATES
