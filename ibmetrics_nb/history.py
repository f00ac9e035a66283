"""Recent model projects and job IDs, kept across kernels for the job picker.

The history is a small JSON file, `history.json`, in the folder of the
result cache (`ibmetrics_nb.cache.default_cache_dir()`: `$IBMETRICS_CACHE_DIR`
when set, else `$XDG_CACHE_HOME/ibmetrics_nb`, else `~/.cache/ibmetrics_nb`).
It contains project paths and job IDs only, never the token or any result. A file that cannot be read or parsed counts as
empty (with a logged warning), and the next save replaces it.

The file looks like this, newest entries first::

    {"version": 1, "projects": [{"path": "user/repo/fs/Drive/Model",
                                 "jobs": ["job-2", "job-1"]}]}
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cache import default_cache_dir

logger = logging.getLogger(__name__)

FILE_NAME = "history.json"
FORMAT_VERSION = 1

MAX_PROJECTS = 20
MAX_JOBS_PER_PROJECT = 50
# Longer entries are dropped: a project path or job ID this long is a paste error.
MAX_ENTRY_CHARS = 500
# A larger file was not written by this module and is treated as corrupt. The
# largest file it writes is about 2 MB: 1,000 entries of 500 four-byte characters.
MAX_FILE_BYTES = 4_000_000


def history_path() -> Path:
    """Return the path of the history file (its folder may not exist yet)."""
    return default_cache_dir() / FILE_NAME


class History:
    """Recently used projects and, per project, recently fetched job IDs.

    Lists are newest first and bounded by MAX_PROJECTS and
    MAX_JOBS_PER_PROJECT. `record` reads the file again before it writes,
    so two kernels that record jobs at different times both keep theirs.
    Two writes at the same moment can still lose one of the two updates.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else history_path()
        self._projects = _read(self.path) or {}

    def __repr__(self) -> str:
        return f"History(path={str(self.path)!r}, projects={len(self._projects)})"

    def projects(self) -> list[str]:
        """Return the project paths, most recently used first."""
        return list(self._projects)

    def jobs(self, project: str) -> list[str]:
        """Return the job IDs fetched in `project`, newest first."""
        return list(self._projects.get(project.strip(), []))

    def record(self, project: str, job_ids: Iterable[str]) -> None:
        """Move `project` and `job_ids` to the front of the history and save it.

        The first of `job_ids` ends up first. A failed save is logged and
        the history stays updated in memory.
        """
        project = project.strip()
        new_jobs = _unique(job.strip() for job in job_ids)
        if not _valid_entry(project):
            return

        on_disk = _read(self.path)
        if on_disk is not None:
            self._projects = on_disk
        jobs = new_jobs + [job for job in self._projects.get(project, []) if job not in new_jobs]
        others = [(name, ids) for name, ids in self._projects.items() if name != project]
        self._projects = _bounded([(project, jobs), *others])
        self._save()

    def _save(self) -> None:
        document = {
            "version": FORMAT_VERSION,
            "projects": [{"path": name, "jobs": jobs} for name, jobs in self._projects.items()],
        }
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Write a temporary file and rename it, so that a kernel reading
            # the history never reads a half-written file.
            descriptor, temporary = tempfile.mkstemp(prefix=".history-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump(document, handle, indent=1, ensure_ascii=False)
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as exc:
            logger.warning("could not save the job picker history to %s: %s", self.path, exc)


def _read(path: Path) -> dict[str, list[str]] | None:
    """Read the history file into {project: [job IDs]}, or None if it is missing or invalid."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            logger.warning("ignoring the job picker history %s: larger than %d bytes", path, MAX_FILE_BYTES)
            return None
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning("ignoring the job picker history %s: could not read it (%s)", path, exc)
        return None

    try:
        document = json.loads(text)
    except ValueError as exc:
        logger.warning("ignoring the job picker history %s: invalid JSON (%s); it will be replaced", path, exc)
        return None
    if not isinstance(document, dict) or not isinstance(document.get("projects"), list):
        logger.warning("ignoring the job picker history %s: expected an object with a 'projects' list", path)
        return None

    entries = []
    for item in document["projects"]:
        if isinstance(item, dict) and _valid_entry(item.get("path")) and isinstance(item.get("jobs"), list):
            entries.append((item["path"], _unique(job for job in item["jobs"] if _valid_entry(job))))
    return _bounded(entries)


def _bounded(entries: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    projects: dict[str, list[str]] = {}
    for name, jobs in entries:
        if name not in projects and len(projects) < MAX_PROJECTS:
            projects[name] = [job for job in jobs if _valid_entry(job)][:MAX_JOBS_PER_PROJECT]
    return projects


def _unique(values: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if _valid_entry(value):
            seen.setdefault(value, None)
    return list(seen)


def _valid_entry(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ENTRY_CHARS and value.strip() == value
