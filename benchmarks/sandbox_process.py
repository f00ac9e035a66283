"""The sandbox server in a child process, for the benchmarks that send requests.

A sandbox started with `serve()` in the benchmark's own process would run
its request threads under the same interpreter lock as the client being
measured. On two cores a burst of 200 requests then spends much of its time
waiting for that lock, which a remote Instabase server would never cause.
The child process runs the same `serve(latency=...)`, and the parent reads
its request counter and log, or adds a job, through a pipe.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

from ibmetrics_nb.sandbox import Job, SandboxServer, serve

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class SandboxProcess:
    """A sandbox serving `jobs` in a child process; use it as a context manager.

    `url`, `token`, `request_count`, `request_log` and `add_job` behave as
    those of `SandboxServer`. With `nodelay`, the server's connections get
    TCP_NODELAY (see `set_nodelay`).
    """

    def __init__(self, jobs: list[Job], latency: float = 0.0, nodelay: bool = False) -> None:
        self._jobs = list(jobs)
        self._latency = latency
        self._nodelay = nodelay
        self._process: Any = None
        self._pipe: Connection | None = None
        self.url = ""
        self.token = ""

    def __enter__(self) -> SandboxProcess:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve_until_stopped,
            args=(child_end, self._jobs, self._latency, self._nodelay),
            name="ibmetrics-bench-sandbox",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._pipe = parent_end
        deadline = time.monotonic() + START_TIMEOUT
        while not parent_end.poll(0.1):
            if not self._process.is_alive():
                self._stop_process()
                raise RuntimeError(f"the sandbox process exited during start-up with exit code {self._process.exitcode}")
            if time.monotonic() > deadline:
                self._stop_process()
                raise RuntimeError(f"the sandbox process did not start within {START_TIMEOUT:g} s")
        self.url, self.token = parent_end.recv()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pipe is not None:
            try:
                self._pipe.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass
        self._stop_process()

    def _stop_process(self) -> None:
        process = self._process
        if process is None:
            return
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.terminate()
            process.join(STOP_TIMEOUT)
        if self._pipe is not None:
            self._pipe.close()

    def _call(self, command: str, argument: Any = None) -> Any:
        if self._pipe is None:
            raise RuntimeError("the sandbox process is not running: use SandboxProcess as a context manager")
        self._pipe.send((command, argument))
        result = self._pipe.recv()
        if isinstance(result, Exception):
            raise result
        return result

    @property
    def request_count(self) -> int:
        """Number of requests to the metrics endpoint so far."""
        return self._call("request_count")

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """A copy of the server's log of recent requests (see `SandboxServer.request_log`)."""
        return self._call("request_log")

    def add_job(self, job: Job) -> None:
        """Serve `job`, restarting its RUNNING polls (see `SandboxServer.add_job`)."""
        self._call("add_job", job)


def set_nodelay(sandbox: SandboxServer) -> None:
    """Turn off Nagle's algorithm for the sandbox's connections.

    The sandbox writes a reply's headers and body in two sends. On a
    keep-alive connection Nagle's algorithm delays the body until the client
    acknowledges the headers, and Linux delays that acknowledgement by about
    40 ms. Linux copies TCP_NODELAY from the listening socket to each
    accepted connection, so setting it there is enough. The listening
    socket is a private attribute of the sandbox, hence the check.
    """
    httpd = getattr(sandbox, "_httpd", None)
    listening = getattr(httpd, "socket", None)
    if not isinstance(listening, socket.socket):
        raise RuntimeError("cannot set TCP_NODELAY: this version of the sandbox has no _httpd.socket; run without --sandbox-nodelay")
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _serve_until_stopped(pipe: Connection, jobs: list[Job], latency: float, nodelay: bool) -> None:
    """Run in the child: serve, then run the parent's commands until it sends stop or closes the pipe."""
    with serve(latency=latency, jobs=jobs) as sandbox:
        if nodelay:
            set_nodelay(sandbox)
        pipe.send((sandbox.url, sandbox.token))
        while True:
            try:
                command, argument = pipe.recv()
            except EOFError:
                break
            if command == "stop":
                break
            if command == "request_count":
                pipe.send(sandbox.request_count)
            elif command == "request_log":
                pipe.send(sandbox.request_log)
            elif command == "add_job":
                sandbox.add_job(argument)
                pipe.send(None)
            else:
                pipe.send(RuntimeError(f"unknown sandbox command {command!r}"))
    pipe.close()
