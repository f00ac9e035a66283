"""Frontend detection: what the current frontend can show, in one place.

A Jupyter kernel can show rich output and update it in place, a terminal
IPython shell only text, and a plain Python process neither. Other
modules call these functions instead of probing IPython themselves.
"""

from __future__ import annotations

import sys
from typing import Any


def ipython_shell() -> Any | None:
    """Return the running IPython shell, or None outside IPython."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def in_kernel() -> bool:
    """Return whether code runs in a Jupyter kernel, which can show rich output."""
    shell = ipython_shell()
    return shell is not None and getattr(shell, "kernel", None) is not None


def kernel_event_loop() -> Any | None:
    """Return the asyncio loop that runs the kernel's message handlers, or None outside a kernel.

    ipykernel 6 and 7 run cells and widget callbacks on this loop, in the
    main thread. Code in another thread hands work to it with
    `call_soon_threadsafe`.
    """
    shell = ipython_shell()
    io_loop = getattr(getattr(shell, "kernel", None), "io_loop", None)
    return getattr(io_loop, "asyncio_loop", None)


class StatusLine:
    """One line of progress that is replaced in place while a job runs.

    In a kernel it is a display updated through its display id; in a
    terminal it rewrites one line of stderr; elsewhere it shows nothing.
    `clear()` blanks it so that only the result stays in the cell.
    """

    def __init__(self) -> None:
        self._handle: Any = None
        self._terminal = False
        self._width = 0

    def update(self, text: str) -> None:
        if self._handle is None and not self._terminal:
            self._start(text)
            return
        if self._handle is not None:
            self._handle.update({"text/plain": text}, raw=True)
        else:
            self._write_terminal(text)

    def _start(self, text: str) -> None:
        if in_kernel():
            from IPython.display import display

            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        elif ipython_shell() is not None and sys.stderr.isatty():
            self._terminal = True
            self._write_terminal(text)

    def _write_terminal(self, text: str) -> None:
        padding = " " * max(self._width - len(text), 0)
        sys.stderr.write(f"\r{text}{padding}")
        sys.stderr.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        elif self._terminal:
            self._write_terminal("")
            sys.stderr.write("\r")
