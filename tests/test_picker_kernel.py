"""The job picker in a real Jupyter kernel (ipykernel, kernel `python3`).

Most tests share one kernel driven through jupyter_client, so that they can
run a cell while a fetch started by an earlier cell is still polling, and
see which cell every IOPub message belongs to. The secret-scan tests run a
whole notebook through nbclient and save it with its widget state.

The sandbox runs in the test process with the token `tok_SECRET123`, which
reaches the kernels only through their environment, never through cell text.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import CLASSIFICATION_JOB
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook

from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, Job, Reply, read_data_file, serve
from ibmetrics_nb.widgets import FALLBACK_TEXT

pytestmark = pytest.mark.kernel

TOKEN = "tok_SECRET123"
SECRET = "SECRET123"
PROJECT = CLASSIFICATION_PROJECT
CLASSIFICATION_BODY = read_data_file("classification-training.json")
OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error", "update_display_data")
CELL_TIMEOUT = 60.0

# Helpers defined in the kernel. `wait_idle` awaits on the kernel's own event
# loop, so the picker's task keeps running while the cell waits.
KERNEL_SETUP = """
import asyncio, json, logging, os, time
from ibmetrics_nb import JobPicker, MetricsClient
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT as PROJECT

SETTINGS = {"root_url": os.environ["PICKER_TEST_ROOT"], "max_retries": 0, "poll_interval": 0.05}


async def wait_idle(picker, timeout=20.0):
    deadline = time.monotonic() + timeout
    while picker.busy:
        if time.monotonic() > deadline:
            raise TimeoutError("the picker is still fetching")
        await asyncio.sleep(0.02)


async def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def lines_of(picker):
    return [output["data"]["text/plain"] for output in picker.output.outputs]


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.texts = []

    def emit(self, record):
        self.texts.append(logging.Formatter().format(record))


log_records = Records()
logging.getLogger("ibmetrics_nb").addHandler(log_records)
"""


@dataclass
class Cell:
    """The IOPub messages of one executed cell."""

    msg_id: str
    seconds: float
    messages: list[dict] = field(default_factory=list)

    @property
    def outputs(self) -> list[dict]:
        return [message for message in self.messages if message["msg_type"] in OUTPUT_TYPES]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.outputs if m["msg_type"] == "stream")

    def json(self) -> object:
        """Parse the last line of stdout, which the cell printed with json.dumps."""
        return json.loads(self.stdout.strip().splitlines()[-1])


class KernelSession:
    """A python3 kernel with a client that sorts IOPub messages by the cell that caused them."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=CELL_TIMEOUT)
        self.messages: list[dict] = []

    def run(self, code: str, allow_errors: bool = False) -> Cell:
        started = time.monotonic()
        msg_id = self.client.execute(code)
        cell = Cell(msg_id, 0.0)
        while True:
            message = self.client.get_iopub_msg(timeout=CELL_TIMEOUT)
            self.messages.append(message)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
            if message["msg_type"] not in ("status", "execute_input"):
                cell.messages.append(message)
        self.client.get_shell_msg(timeout=CELL_TIMEOUT)
        cell.seconds = time.monotonic() - started
        errors = [m["content"] for m in cell.outputs if m["msg_type"] == "error"]
        if errors and not allow_errors:
            raise AssertionError(f"cell failed: {errors[0]['ename']}: {errors[0]['evalue']}\n{code}")
        return cell

    def drain(self, seconds: float = 0.3) -> None:
        """Collect IOPub messages that arrive while no cell runs."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=0.05))
            except Exception:  # noqa: BLE001 - queue.Empty; the client does not export it
                continue

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def kernel_env(server_url: str, cache_dir: Path) -> dict[str, str]:
    """Return the environment of a test kernel: the sandbox's token and URL, a private cache."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("IB_", "IBMETRICS_"))}
    env.update(IB_API_TOKEN=TOKEN, IBMETRICS_CACHE_DIR=str(cache_dir), PICKER_TEST_ROOT=server_url)
    return env


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator:
    with serve(token=TOKEN) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    root = tmp_path_factory.mktemp("picker-kernel")
    session = KernelSession(kernel_env(server.url, root / "cache"), root)
    try:
        session.run(KERNEL_SETUP)
        yield session
    finally:
        session.shutdown()


# --- a fetch that polls while another cell runs ---------------------------------------


@dataclass
class SlowFetch:
    start: Cell
    other: Cell
    finish: Cell
    job_id: str


@pytest.fixture(scope="module")
def slow_fetch(kernel: KernelSession, server) -> SlowFetch:
    """Start a fetch of a job that is RUNNING for 2 polls 1 s apart, then run another cell."""
    job_id = "kernel-slow-job"
    server.add_job(Job(PROJECT, job_id, running_polls=2, payload=json.loads(CLASSIFICATION_BODY)))
    start = kernel.run(
        "statuses = []\n"
        "picker = JobPicker(client_settings={**SETTINGS, 'poll_interval': 1.0}, project=PROJECT)\n"
        "picker.status.observe(lambda change: statuses.append(change['new']), names='value')\n"
        f"picker.job_input.value = {job_id!r}\n"
        "picker.fetch_button.click()\n"
        "picker"
    )
    other = kernel.run("total = sum(range(10**6))\nprint('other cell', total, picker.busy, statuses[-1])")
    finish = kernel.run(
        "await wait_idle(picker)\n"
        "print(json.dumps({'job_id': picker.result.job_id, 'statuses': statuses, 'lines': lines_of(picker),"
        " 'html': picker.output.outputs[0]['data']['text/html']}))"
    )
    return SlowFetch(start, other, finish, job_id)


def test_picker_returns_at_once_while_job_polls(slow_fetch):
    assert slow_fetch.start.seconds < 1.0
    widget_views = [m for m in slow_fetch.start.outputs if "application/vnd.jupyter.widget-view+json" in m["content"].get("data", {})]
    assert len(widget_views) == 1
    assert widget_views[0]["content"]["data"]["text/plain"] == FALLBACK_TEXT


def test_picker_fetch_does_not_block_other_cells(slow_fetch):
    # The job needs 2.5 s of polling; the other cell must not wait for it.
    assert slow_fetch.other.seconds < 1.0
    assert slow_fetch.other.stdout.startswith("other cell 499999500000 True ")
    assert "waiting for the server" in slow_fetch.other.stdout or "RUNNING" in slow_fetch.other.stdout


def test_picker_result_arrives_after_polling(slow_fetch):
    finished = slow_fetch.finish.json()

    assert finished["job_id"] == slow_fetch.job_id
    assert slow_fetch.finish.seconds > 1.0
    assert "Record-wise Classifier Metrics" in finished["html"]


def test_status_line_updates_in_place(slow_fetch):
    statuses = slow_fetch.finish.json()["statuses"]

    assert any(f"job {slow_fetch.job_id}: RUNNING, polled 1 time, " in status for status in statuses)
    assert any(f"job {slow_fetch.job_id}: RUNNING, polled 2 times, " in status for status in statuses)
    assert f"Fetched job {slow_fetch.job_id} in " in statuses[-1]


def test_status_lines_stay_out_of_other_cells(slow_fetch, kernel):
    other = slow_fetch.other

    assert [m["msg_type"] for m in other.outputs] == ["stream"]
    assert other.stdout.count("\n") == 1
    assert not [m for m in other.messages if m["msg_type"].startswith("comm")]
    # Every widget update of the fetch belongs to the cell that started it.
    updates = [m for m in kernel.messages if m["msg_type"] == "comm_msg" and "polled" in json.dumps(m["content"])]
    assert updates
    assert {m["parent_header"]["msg_id"] for m in updates} == {slow_fetch.start.msg_id}
    assert [m["msg_type"] for m in slow_fetch.finish.outputs] == ["stream"]


# --- cancel -------------------------------------------------------------------------------


def test_picker_cancel_stops_wait_at_once(kernel, server):
    job_id = "kernel-endless-job"
    server.add_job(Job(PROJECT, job_id, running_polls=10_000, payload=json.loads(CLASSIFICATION_BODY)))
    kernel.run(
        "picker = JobPicker(client_settings={**SETTINGS, 'poll_interval': 0.5}, project=PROJECT)\n"
        f"picker.job_input.value = {job_id!r}\n"
        "picker.fetch_button.click()"
    )
    kernel.run("await wait_for(lambda: 'polled 1 time' in picker.status.value)")

    cancelled = kernel.run(
        "started = time.monotonic()\n"
        "picker.cancel_button.click()\n"
        "await wait_idle(picker, timeout=5)\n"
        "print(json.dumps({'seconds': time.monotonic() - started, 'status': picker.status.value,"
        " 'result': picker.result is None, 'fetch_enabled': not picker.fetch_button.disabled}))"
    ).json()
    polls = server.requests_for(PROJECT, job_id)
    time.sleep(1.2)

    assert cancelled["seconds"] < 0.3
    assert "Cancelled after" in cancelled["status"]
    assert cancelled["result"] is True
    assert cancelled["fetch_enabled"] is True
    assert server.requests_for(PROJECT, job_id) == polls


# --- errors ------------------------------------------------------------------------------------


ERROR_CASES = {
    "unauthorized": (
        # A job never fetched before, so that no cached result is returned in place of a request.
        "picker = JobPicker(MetricsClient(SETTINGS['root_url'], token='wrong-token', max_retries=0), project=PROJECT)\n"
        "picker.job_input.value = 'kernel-unauthorized-job'\n",
        "AuthenticationError: HTTP 401 for job kernel-unauthorized-job",
    ),
    "unknown job": (
        "picker = JobPicker(client_settings=SETTINGS, project=PROJECT)\npicker.job_input.value = 'no-such-job'\n",
        "NotFoundError: HTTP 404 for job no-such-job",
    ),
    "read timeout": (
        "picker = JobPicker(client_settings={**SETTINGS, 'timeout': (2.0, 0.5)}, project=PROJECT)\n"
        "picker.job_input.value = 'kernel-hanging-job'\n",
        "MetricsTimeoutError: no response from ",
    ),
    "server down": (
        "picker = JobPicker(client_settings={**SETTINGS, 'root_url': 'http://127.0.0.1:PORT'}, project=PROJECT)\n"
        f"picker.job_input.value = {CLASSIFICATION_JOB!r}\n",
        "ServerError: could not connect to http://127.0.0.1:",
    ),
    "missing root URL": (
        "picker = JobPicker(project=PROJECT)\n" f"picker.job_input.value = {CLASSIFICATION_JOB!r}\n",
        "ConfigurationError: ",
    ),
    "missing token": (
        "saved_token = os.environ.pop('IB_API_TOKEN')\n"
        "picker = JobPicker(client_settings=SETTINGS, project=PROJECT)\n"
        f"picker.job_input.value = {CLASSIFICATION_JOB!r}\n",
        "ConfigurationError: no API token",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_picker_error_is_one_line_in_picker(kernel, server, case):
    setup, expected = ERROR_CASES[case]
    server.script(PROJECT, "kernel-hanging-job", replies=[Reply(hang=True)])
    clicked = kernel.run(setup.replace("PORT", str(closed_port())) + "picker.fetch_button.click()")
    shown = kernel.run(
        "await wait_idle(picker)\n"
        "if 'saved_token' in globals():\n"
        "    os.environ['IB_API_TOKEN'] = saved_token\n"
        "    del saved_token\n"
        "print(json.dumps({'lines': lines_of(picker), 'status': picker.status.value,"
        " 'html': [o['data']['text/html'] for o in picker.output.outputs]}))"
    ).json()

    assert clicked.outputs == []
    assert len(shown["lines"]) == 1
    assert shown["lines"][0].startswith(expected)
    assert "\n" not in shown["lines"][0]
    assert "Traceback" not in shown["lines"][0]
    assert 'class="ibm-picker-error"' in shown["html"][0]
    assert "see the error below" in shown["status"]


def test_callback_exception_shown_and_logged(kernel):
    clicked = kernel.run(
        "class BrokenClient:\n"
        "    def get_metrics(self, *args, **kwargs):\n"
        "        raise RuntimeError('boom')\n"
        "log_records.texts.clear()\n"
        "picker = JobPicker(BrokenClient(), project=PROJECT)\n"
        "picker.job_input.value = 'any-job'\n"
        "picker.fetch_button.click()"
    )
    shown = kernel.run(
        "await wait_idle(picker)\nprint(json.dumps({'lines': lines_of(picker), 'log': log_records.texts}))"
    ).json()

    assert clicked.outputs == []
    assert len(shown["lines"]) == 1
    assert shown["lines"][0].startswith("Unexpected error in the job picker: RuntimeError: boom")
    assert len(shown["log"]) == 1
    assert "Traceback (most recent call last)" in shown["log"][0]
    assert "RuntimeError: boom" in shown["log"][0]


def test_observer_exception_shows_in_picker(kernel):
    changed = kernel.run(
        "picker = JobPicker(project=PROJECT)\n"
        "def broken_jobs(project):\n"
        "    raise KeyError('history broken')\n"
        "picker._history.jobs = broken_jobs\n"
        "picker.project_input.value = 'another/project'\n"
        "print(json.dumps(lines_of(picker)))"
    )

    lines = changed.json()
    assert len(lines) == 1
    assert lines[0].startswith("Unexpected error in the job picker: KeyError: 'history broken'")
    assert [m["msg_type"] for m in changed.outputs] == ["stream"]


def test_no_kernel_message_contains_the_token(kernel):
    kernel.drain()

    assert kernel.messages
    assert SECRET not in json.dumps([m["content"] for m in kernel.messages], default=str)


# --- a saved notebook: the token appears nowhere --------------------------------------------


SECRET_SCAN_REPLIES = {
    "c15-ok": [Reply(status=200, body=CLASSIFICATION_BODY)],
    "c15-unauthorized": [Reply(status=401, body={"message": "Invalid or expired token"})],
    "c15-server-error": [Reply(status=500, body={"message": "internal error"})],
    "c15-bad-gateway": [
        Reply(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
    ],
    "c15-timeout": [Reply(hang=True)],
}

SECRET_SCAN_CELLS = [
    "%load_ext ibmetrics_nb\nimport sys\nprint('ipywidgets imported:', 'ipywidgets' in sys.modules)",
    KERNEL_SETUP,
    "%config IbMetrics.root_url = os.environ['PICKER_TEST_ROOT']\nmagic_picker = %ibmetrics\nmagic_picker",
    *[
        "picker = JobPicker(client_settings={**SETTINGS, 'timeout': (2.0, 0.5)}, project=PROJECT)\n"
        f"picker.job_input.value = {job_id!r}\n"
        "picker.fetch()\n"
        "await wait_idle(picker)\n"
        "print(lines_of(picker)[0].splitlines()[0])\n"
        "picker"
        for job_id in SECRET_SCAN_REPLIES
    ],
    # The needle comes from the environment, so this cell's text does not contain it.
    "import gc\n"
    "def objects_showing_token():\n"
    "    needle = os.environ['IB_API_TOKEN'][4:]\n"
    "    packages = ('ibmetrics_nb', 'ipywidgets', 'requests', 'urllib3', 'traitlets')\n"
    "    def package_of(item):\n"
    "        module = getattr(type(item), '__module__', None)\n"
    "        return module.split('.')[0] if isinstance(module, str) else None\n"
    "    gc.collect()\n"
    "    suspects = [o for o in gc.get_objects() if package_of(o) in packages]\n"
    "    suspects += list(globals().values())\n"
    "    hits = []\n"
    "    for item in suspects:\n"
    "        try:\n"
    "            text = repr(item)\n"
    "        except Exception:\n"
    "            continue\n"
    "        if needle in text:\n"
    "            hits.append(type(item).__name__)\n"
    "    return len(suspects), hits\n"
    "print(json.dumps(objects_showing_token()))",
]


@pytest.fixture(scope="module")
def saved_notebook(server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for job_id, replies in SECRET_SCAN_REPLIES.items():
        server.script(PROJECT, job_id, replies=replies)
    root = tmp_path_factory.mktemp("secret-scan")
    notebook = new_notebook(cells=[new_code_cell(source) for source in SECRET_SCAN_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    runner = NotebookClient(
        notebook, timeout=int(CELL_TIMEOUT), kernel_name="python3", resources={"metadata": {"path": str(root)}}
    )
    runner.execute(env=kernel_env(server.url, root / "cache"))
    path = root / "secret-scan.ipynb"
    nbformat.write(notebook, path)
    return path


def test_saved_notebook_never_contains_token(saved_notebook):
    text = saved_notebook.read_text(encoding="utf-8")

    assert SECRET not in text
    assert TOKEN not in text


def test_saved_notebook_has_errors_and_widget_state(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)
    printed = [
        "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
        for cell in notebook.cells[3:8]
    ]
    state = json.dumps(notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"])

    assert printed[0].startswith("Job: c15-ok")
    assert printed[1].startswith("AuthenticationError: HTTP 401 for job c15-unauthorized")
    assert printed[2].startswith("ServerError: HTTP 500 for job c15-server-error")
    assert printed[3].startswith("ServerError: HTTP 502 for job c15-bad-gateway")
    assert printed[4].startswith("MetricsTimeoutError: no response from")
    # The output areas' contents are saved as widget state, and were searched too.
    for fragment in ("Record-wise Classifier Metrics", "AuthenticationError", "MetricsTimeoutError"):
        assert fragment in state


def test_no_object_repr_contains_token(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)
    scanned, hits = json.loads(notebook.cells[-1].outputs[0]["text"])

    assert scanned > 100
    assert hits == []


def test_load_ext_does_not_import_ipywidgets(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)

    assert notebook.cells[0].outputs[0]["text"] == "ipywidgets imported: False\n"


def test_magic_without_arguments_shows_picker(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)
    (result,) = notebook.cells[2].outputs

    assert "application/vnd.jupyter.widget-view+json" in result.data
    assert result.data["text/plain"] == FALLBACK_TEXT


def test_html_export_falls_back_to_usage_text(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)
    del notebook.metadata["widgets"]

    body, _resources = HTMLExporter().from_notebook_node(notebook)

    assert FALLBACK_TEXT in body
    assert SECRET not in body


def test_html_export_embeds_widget_view(saved_notebook):
    notebook = nbformat.read(saved_notebook, as_version=4)

    body, _resources = HTMLExporter().from_notebook_node(notebook)

    assert 'type="application/vnd.jupyter.widget-view+json"' in body
    assert FALLBACK_TEXT not in body
    assert SECRET not in body


def test_later_cell_gets_no_picker_output(kernel):
    # A fetch that ends while a later cell prints must not add to that cell.
    kernel.run(
        "picker = JobPicker(client_settings=SETTINGS, project=PROJECT)\n"
        f"picker.job_input.value = {CLASSIFICATION_JOB!r}\n"
        "picker.fetch_button.click()"
    )
    later = kernel.run("await asyncio.sleep(0.5)\nprint('later', picker.busy)")

    assert later.stdout == "later False\n"
    assert len(later.outputs) == 1
