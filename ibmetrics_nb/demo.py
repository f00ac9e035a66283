"""`ibmetrics demo`: run the quickstart notebook against the sandbox.

Starts a sandbox on loopback, executes the notebook in a real Jupyter
kernel with nbclient, writes it as HTML, and prints the path and one
summary line per sandbox job. The kernel gets the sandbox's address and
token through environment variables, so neither is written into the cells.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import ConfigurationError, IbMetricsError

SUMMARY_JOBS = (
    ("CLASSIFICATION_PROJECT", "dc991a28-bd92-47bb-ajj8-e0f2ca930e51", "training"),
    ("CLASSIFICATION_PROJECT", "running-job", "training"),
    ("EXTRACTION_PROJECT", "extraction-example", "training"),
    ("CLASSIFICATION_PROJECT", "legacy-job", "training"),
    ("CLASSIFICATION_PROJECT", "evaluation-job", "evaluation"),
    ("CLASSIFICATION_PROJECT", "failed-job", "training"),
)


def default_notebook() -> Path:
    """Return the repository's quickstart notebook."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def run_demo(output: str | os.PathLike = "build/quickstart.html", notebook: str | None = None, timeout: int = 300) -> int:
    """Execute the notebook, write its HTML to `output`, print a summary; return 0."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    from . import sandbox

    source = Path(notebook) if notebook else default_notebook()
    if not source.is_file():
        raise ConfigurationError(f"notebook not found: {source}; pass --notebook PATH")
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)

    with sandbox.serve() as server:
        book = nbformat.read(source, as_version=4)
        env = dict(os.environ, IBMETRICS_SANDBOX_URL=server.url, IBMETRICS_SANDBOX_TOKEN=server.token)
        client = NotebookClient(
            book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}}
        )
        try:
            client.execute(env=env)
        except CellExecutionError as exc:
            raise IbMetricsError(f"the notebook {source.name} failed: {str(exc).strip().splitlines()[-1]}") from None

        html, _ = HTMLExporter().from_notebook_node(book)
        target.write_text(html, encoding="utf-8")
        print(f"wrote {target.resolve()}")
        for line in summary_lines(server):
            print(line)
    sys.stdout.flush()
    return 0


def summary_lines(server: object) -> list[str]:
    """Fetch each demo job from the sandbox and describe it in one line."""
    from . import sandbox
    from .client import MetricsClient

    lines = []
    with MetricsClient(server.url, server.token, poll_interval=0.2, cache=False) as client:
        for project_name, job_id, job_type in SUMMARY_JOBS:
            project = getattr(sandbox, project_name)
            try:
                result = client.get_metrics(project, job_id, job_type, max_wait=30)
            except IbMetricsError as exc:
                lines.append(f"{job_id}: {type(exc).__name__}: {exc}")
                continue
            lines.append(f"{job_id}: {describe(result)}")
    return lines


def describe(result: object) -> str:
    """Return a one-line summary of a result: type, headline F1, tables, warnings."""
    from .display import format_fraction

    parts = [result.job_type or "job"]
    if result.headline:
        title, label, value = result.headline
        parts.append(f"F1 {format_fraction(value)} ({label}, {title})")
    count = len(result.table_titles)
    parts.append(f"{count} table" if count == 1 else f"{count} tables")
    if result.is_incomplete:
        parts.append("incomplete: " + ", ".join(result.missing))
    return ", ".join(parts)
