"""Shared fixtures: a sandbox server on loopback, a real IPython shell, and
isolation from the user's own settings (environment, token, cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ibmetrics_nb import sandbox as sandbox_module

EXAMPLES = Path(__file__).resolve().parents[1] / "ibmetrics_nb" / "sandbox" / "data"
CLASSIFICATION_JOB = "dc991a28-bd92-47bb-ajj8-e0f2ca930e51"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every test away from the user's root URL, token and cache."""
    import ibmetrics_nb.client as client_module

    for name in ("IB_ROOT_URL", "IB_API_TOKEN", "IBMETRICS_SANDBOX_URL", "IBMETRICS_SANDBOX_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IBMETRICS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setattr(client_module, "_token_override", None)
    yield


@pytest.fixture(scope="module")
def sandbox() -> Iterator[sandbox_module.SandboxServer]:
    """A sandbox with the built-in jobs, shared by one test module."""
    with sandbox_module.serve() as server:
        yield server


@pytest.fixture
def fresh_sandbox() -> Iterator[sandbox_module.SandboxServer]:
    """A sandbox of the test's own, for tests that script replies or count requests."""
    with sandbox_module.serve() as server:
        yield server


@pytest.fixture
def shell(sandbox: sandbox_module.SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """A real IPython shell with the extension loaded and pointed at the sandbox."""
    from IPython.testing.globalipapp import get_ipython

    monkeypatch.setenv("IB_API_TOKEN", sandbox.token)
    ip = get_ipython()
    ip.run_line_magic("load_ext", "ibmetrics_nb")
    magics = next(c for c in ip.configurables if type(c).__name__ == "IbMetrics")
    saved = {name: getattr(magics, name) for name in ("root_url", "poll_interval", "max_wait")}
    magics.root_url = sandbox.url
    magics.poll_interval = 0.05
    ip.user_ns["project"] = sandbox_module.CLASSIFICATION_PROJECT
    yield ip
    for name, value in saved.items():
        setattr(magics, name, value)
    ip.run_line_magic("unload_ext", "ibmetrics_nb")


def example_path(name: str) -> Path:
    """Return the path of a shipped example response."""
    return EXAMPLES / name


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault matrix measured by test_faults.py, when that module ran."""
    import sys

    faults = sys.modules.get("faults")
    if faults is None or not faults.MEASURED:
        return
    terminalreporter.write_sep("-", "fault matrix: measured seconds per front end")
    for line in faults.format_matrix(faults.MEASURED):
        terminalreporter.write_line(line)
