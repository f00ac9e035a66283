"""The job picker in a real browser: JupyterLab 4 and Notebook 7 in Debian's chromium.

Each frontend runs as its own Jupyter server on 127.0.0.1 (a free port, a
generated server token, a temporary root and configuration). Playwright
drives /usr/bin/chromium headless: it opens a notebook whose cell starts the
sandbox in the kernel and shows a picker, runs the cell, types a project
and a job into the picker, presses Fetch and waits for the per-class table.
Screenshots are saved under test-artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "the browser tests need Debian's chromium at /usr/bin/chromium; install it with `bash .ci/install test`",
        allow_module_level=True,
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402 - after the skip, so a missing browser skips cleanly

from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait is bounded. In this test JupyterLab's first page load took
# about 6 s on a 2-core machine, so these limits leave a wide margin.
SERVER_START_SECONDS = 60
PAGE_SECONDS = 60
FETCH_SECONDS = 60

NOTEBOOK_CELL = (
    "from ibmetrics_nb import JobPicker, set_token\n"
    "from ibmetrics_nb.sandbox import start\n"
    "server = start()\n"
    "set_token(server.token)\n"
    "picker = JobPicker(client_settings={'root_url': server.url, 'poll_interval': 0.2})\n"
    "picker"
)
JOB_PLACEHOLDER = "job ID; several separated by commas or spaces"
PROJECT_PLACEHOLDER = "user/repo/fs/Instabase Drive/Model project"


@dataclass
class JupyterServer:
    name: str
    process: subprocess.Popen
    url: str
    token: str
    log: Path

    def notebook_url(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


FRONTENDS = {
    # name: (Python module that starts the server, URL path of the notebook)
    "jupyterlab": ("jupyterlab", "lab/tree/picker.ipynb"),
    "notebook7": ("notebook", "notebooks/picker.ipynb"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_workspace(root: Path) -> dict[str, str]:
    """Write the notebook and a private Jupyter configuration under `root`, and return the server's environment."""
    notebook = new_notebook(cells=[new_code_cell(NOTEBOOK_CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    (root / "notebooks").mkdir(parents=True)
    nbformat.write(notebook, root / "notebooks" / "picker.ipynb")

    # The news prompt would cover part of the page. Disabling it also keeps
    # the browser from requesting a remote feed.
    page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (root / "config" / "labconfig").mkdir(parents=True)
    (root / "config" / "labconfig" / "page_config.json").write_text(json.dumps(page_config))

    env = {name: value for name, value in os.environ.items() if not name.startswith(("IB_", "IBMETRICS_", "JUPYTER_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        IPYTHONDIR=str(root / "ipython"),
        IBMETRICS_CACHE_DIR=str(root / "cache"),
    )
    return env


def start_server(name: str, root: Path) -> JupyterServer:
    module, _path = FRONTENDS[name]
    env = write_workspace(root)
    port = free_port()
    token = secrets.token_hex(16)
    log = root / "server.log"
    command = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root / 'notebooks'}",
        f"--IdentityProvider.token={token}",
    ]
    with log.open("w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=root)
    return JupyterServer(name, process, f"http://127.0.0.1:{port}", token, log)


def wait_until_serving(server: JupyterServer) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.name} server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/status?token={server.token}", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.name} server did not answer in {SERVER_START_SECONDS} s:\n{server.log_tail()}")
        time.sleep(0.2)


def stop_server(server: JupyterServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, JupyterServer]]:
    """Both frontends' servers, started together so that their start-up overlaps."""
    started = {name: start_server(name, tmp_path_factory.mktemp(name)) for name in FRONTENDS}
    try:
        for server in started.values():
            wait_until_serving(server)
        yield started
    finally:
        for server in started.values():
            stop_server(server)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def wait_for_kernel(server: JupyterServer) -> None:
    """Wait until the page's kernel runs, is idle and has a websocket connection."""
    deadline = time.monotonic() + PAGE_SECONDS
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{server.url}/api/kernels?token={server.token}", timeout=5) as response:
            kernels = json.load(response)
        if any(kernel["execution_state"] == "idle" and kernel["connections"] > 0 for kernel in kernels):
            return
        time.sleep(0.2)
    raise AssertionError(f"no connected idle kernel after {PAGE_SECONDS} s:\n{server.log_tail()}")


def run_first_cell(page: Page, server: JupyterServer) -> None:
    """Run the notebook's cell with Shift+Enter, pressing it again if the frontend was not ready."""
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.wait_for(timeout=PAGE_SECONDS * 1000)
    wait_for_kernel(server)
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    for _attempt in range(3):
        editor.click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(mark in prompt.inner_text() for mark in ("*", "1")):
                return
            page.wait_for_timeout(200)
    raise AssertionError(f"the cell did not start in 3 attempts: its prompt reads {prompt.inner_text()!r}")


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_picker_fetch_shows_table_in_browser(servers, page, frontend):
    server = servers[frontend]
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"picker-{frontend}.png"
    try:
        page.goto(server.notebook_url(FRONTENDS[frontend][1]), timeout=PAGE_SECONDS * 1000)
        run_first_cell(page, server)

        picker = page.locator(".ibmetrics-job-picker")
        picker.wait_for(timeout=PAGE_SECONDS * 1000)
        picker.get_by_placeholder(PROJECT_PLACEHOLDER).fill(CLASSIFICATION_PROJECT)
        picker.get_by_placeholder(JOB_PLACEHOLDER).fill("running-job")
        picker.get_by_role("button", name="Fetch").click()

        w2_cell = picker.locator("td.ibm-label", has_text="W2").first
        w2_cell.wait_for(timeout=FETCH_SECONDS * 1000)
        page.wait_for_timeout(300)  # let the last status update paint before the screenshot
        page.screenshot(path=str(screenshot))

        assert picker.get_by_text("Record-wise Classifier Metrics").first.is_visible()
        assert "Fetched job running-job in " in picker.locator(".ibm-picker-status").inner_text()
        # The picker is the cell's only output: status lines and the result stay inside it.
        assert page.locator(".jp-Cell-outputArea > .jp-OutputArea-child").count() == 1
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"picker-{frontend}-failure.png"))
        print(f"--- {frontend} server log ---\n{server.log_tail()}")
        raise

    assert screenshot.stat().st_size > 10_000

