"""Start-up cost of `%load_ext ibmetrics_nb` over a bare IPython start.

Each repetition starts two fresh Python processes that each create an IPython
`InteractiveShell`: one stops there and one also runs `%load_ext
ibmetrics_nb`. The parent times both processes from spawn to exit, in turn,
and compares the medians. Each process also reports which heavy modules it
imported, because loading the extension must not import matplotlib or
ipywidgets, and should not import pandas or requests either.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ibmetrics_nb

from .common import Figure, Size

NAME = "startup"
MAX_ADDED_SECONDS = 0.150
FORBIDDEN_MODULES = ("matplotlib", "ipywidgets")
UNWANTED_MODULES = ("pandas", "requests")
WATCHED_MODULES = (*FORBIDDEN_MODULES, *UNWANTED_MODULES, "numpy")

# The child prints one JSON line: the in-process time of the load and the watched modules it imported.
CHILD_SCRIPT = f"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
started = time.perf_counter()
if sys.argv[1] == "load":
    print("LOAD_EXT_STARTS", file=sys.stderr, flush=True)
    shell.run_line_magic("load_ext", "ibmetrics_nb")
elapsed = time.perf_counter() - started
watched = {WATCHED_MODULES!r}
print(json.dumps({{"load_seconds": elapsed, "modules": [name for name in watched if name in sys.modules]}}))
"""


def _run_child(mode: str, env: dict[str, str], cwd: str) -> tuple[float, dict]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, mode],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"the {mode} IPython process failed with exit code {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return wall, json.loads(completed.stdout.strip().splitlines()[-1])


def _child_env(ipython_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    # A private IPYTHONDIR keeps the user's profile and history out of the measurement.
    env["IPYTHONDIR"] = ipython_dir
    package_parent = str(Path(ibmetrics_nb.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def importtime_report(entries: int = 15) -> str:
    """Return the slowest imports of `%load_ext`, from `python -X importtime`.

    Only imports after the shell exists are listed. Times are cumulative,
    so a module's line includes the modules it imported.
    """
    with tempfile.TemporaryDirectory(prefix="ibmetrics-bench-ipython-") as ipython_dir:
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", CHILD_SCRIPT, "load"],
            env=_child_env(ipython_dir),
            cwd=ipython_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    rows = []
    _, _, after_shell = completed.stderr.partition("LOAD_EXT_STARTS")
    for line in after_shell.splitlines():
        # Lines read "import time: SELF_US | CUMULATIVE_US | MODULE", indented by nesting depth.
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return "\n".join(f"{cumulative / 1000:8.1f} ms  {module}" for cumulative, module in rows[:entries])


def run(size: Size) -> list[Figure]:
    """Time bare and loading IPython processes `size.startup_repeats` times each."""
    with tempfile.TemporaryDirectory(prefix="ibmetrics-bench-ipython-") as ipython_dir:
        env = _child_env(ipython_dir)

        # The first start creates the profile folder and warms the file cache, so it is not timed.
        _run_child("bare", env, ipython_dir)
        _run_child("load", env, ipython_dir)

        bare_walls, load_walls, load_seconds = [], [], []
        bare_modules: set[str] = set()
        load_modules: set[str] = set()
        for _ in range(size.startup_repeats):
            wall, report = _run_child("bare", env, ipython_dir)
            bare_walls.append(wall)
            bare_modules.update(report["modules"])
            wall, report = _run_child("load", env, ipython_dir)
            load_walls.append(wall)
            load_seconds.append(report["load_seconds"])
            load_modules.update(report["modules"])

    bare = statistics.median(bare_walls)
    loaded = statistics.median(load_walls)
    added = loaded - bare
    new_modules = load_modules - bare_modules
    forbidden = sorted(new_modules & set(FORBIDDEN_MODULES))
    unwanted = sorted(new_modules & set(UNWANTED_MODULES))
    others = sorted(new_modules - set(FORBIDDEN_MODULES) - set(UNWANTED_MODULES))

    repeats = f"median of {size.startup_repeats} fresh processes each"
    return [
        Figure(
            NAME,
            "IPython start + %load_ext ibmetrics_nb (process wall time)",
            loaded,
            "s",
            target=f"adds <= {MAX_ADDED_SECONDS * 1000:.0f} ms",
            passed=added <= MAX_ADDED_SECONDS,
            baseline=bare,
            baseline_name="bare IPython start",
            note=f"adds {added * 1000:.0f} ms; {repeats}",
            profile=importtime_report,
        ),
        Figure(
            NAME,
            "%load_ext ibmetrics_nb alone (timed inside the process)",
            statistics.median(load_seconds),
            "s",
            note="context for the row above, which includes process noise",
        ),
        Figure(
            NAME,
            "matplotlib or ipywidgets imported by %load_ext",
            len(forbidden),
            "count",
            target="none",
            passed=not forbidden,
            note=", ".join(forbidden) or "neither",
            profile=importtime_report,
        ),
        Figure(
            NAME,
            "pandas or requests imported by %load_ext",
            len(unwanted),
            "count",
            target="none",
            passed=not unwanted,
            note=(", ".join(unwanted) or "neither") + (f"; also imported: {', '.join(others)}" if others else ""),
            profile=importtime_report,
        ),
    ]
