"""Command line of the benchmarks: `python -m benchmarks [--size tiny|full] [--check]`.

Runs every benchmark against the sandbox on loopback, then prints the
machine, the settings and one table of figures with their baselines from the
same run, the ratios, the targets and PASS or FAIL.

The exit status is 0 when every benchmark ran, whatever the targets. It is
1 with `--check` when a target is not met or a benchmark could not run, and
2 when a benchmark raised an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata

from .common import BenchmarkUnavailable, Figure, Size, format_ratio, format_value


SIZES = {
    # The full size is the one the targets are stated for.
    "full": Size(
        name="full",
        startup_repeats=11,
        n_classes=1000,
        parse_repeats=9,
        typical_repeats=101,
        display_classes=(100, 1000, 3000),
        display_repeats=9,
        jobs=200,
        plain_jobs=10,
        running_polls=2,
        job_classes=10,
        latency=0.05,
        poll_interval=0.5,
        plain_sleep=1.0,
        max_workers=(8, 32),
        cache_jobs=50,
    ),
    # The tiny size only checks that every benchmark still runs. Its figures are not comparable with the targets.
    "tiny": Size(
        name="tiny",
        startup_repeats=2,
        n_classes=20,
        parse_repeats=2,
        typical_repeats=3,
        display_classes=(20,),
        display_repeats=2,
        jobs=5,
        plain_jobs=2,
        running_polls=2,
        job_classes=5,
        latency=0.0,
        poll_interval=0.05,
        plain_sleep=0.05,
        max_workers=(4,),
        cache_jobs=5,
    ),
}


def _benchmarks() -> dict[str, Callable[[Size], list[Figure]]]:
    from . import cache, display, many_jobs, parsing, startup

    return {
        startup.NAME: startup.run,
        parsing.NAME: parsing.run,
        display.NAME: display.run,
        many_jobs.NAME: many_jobs.run,
        cache.NAME: cache.run,
    }


BENCHMARK_NAMES = ("startup", "parsing", "display", "many_jobs", "cache")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure ibmetrics_nb against the plain requests + json + pandas loop, on a loopback sandbox.",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="problem size (default: full, the size the targets are for)")
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARK_NAMES, metavar="NAME", help=f"run only these benchmarks: {', '.join(BENCHMARK_NAMES)}"
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is not met or a benchmark could not run")
    parser.add_argument("--profile", action="store_true", help="print a profile of the operation behind each failed target")
    parser.add_argument("--json", metavar="PATH", help="also write the figures and the machine description to this JSON file")
    parser.add_argument(
        "--sandbox-nodelay",
        action="store_true",
        help="set TCP_NODELAY on the sandbox's connections, so that its replies do not stall for about 40 ms on kept-alive connections",
    )
    return parser.parse_args(argv)


def machine_description() -> dict[str, str]:
    """Return the facts about this machine and its software that the figures depend on."""
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable (nproc)",
        "cpu model": _cpu_model(),
        "memory": _memory_total(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for package in ("pandas", "numpy", "requests", "ipython"):
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = "not installed"
    facts["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "not set")
    return facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return "unknown"
    return f"{pages / 2**30:.1f} GiB"


def run_benchmarks(size: Size, names: list[str]) -> tuple[list[Figure], bool]:
    """Run the named benchmarks and return their figures and whether any raised an error.

    A benchmark that raises gets one ERROR row and the others still run.
    """
    benchmarks = _benchmarks()
    figures: list[Figure] = []
    errored = False
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures.extend(benchmarks[name](size))
        except BenchmarkUnavailable as exc:
            figures.append(Figure(name, "not run", None, "", target="runs", passed=False, note=str(exc)))
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            errored = True
            figures.append(Figure(name, "error", None, "", target="runs", passed=False, note=f"{type(exc).__name__}: {exc}"))
    return figures, errored


def result_label(figure: Figure) -> str:
    if figure.name in ("error", "not run"):
        return figure.name.upper()
    if figure.passed is None:
        return "-"
    return "PASS" if figure.passed else "FAIL"


def format_table(figures: list[Figure]) -> str:
    """Format the figures as a Markdown table, which also reads well in a terminal."""
    header = ["Benchmark", "Figure", "Measured", "Baseline", "Ratio", "Target", "Result", "Note"]
    rows = [header]
    for figure in figures:
        baseline = ""
        if figure.baseline is not None:
            baseline = f"{format_value(figure.baseline, figure.unit)} ({figure.baseline_name})"
        rows.append(
            [
                figure.benchmark,
                figure.name,
                format_value(figure.value, figure.unit),
                baseline,
                format_ratio(figure.ratio),
                figure.target,
                result_label(figure),
                figure.note,
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def format_settings(size: Size) -> str:
    return (
        f"size {size.name}: {size.n_classes:,} classes for parsing and memory, HTML at {', '.join(f'{n:,}' for n in size.display_classes)} classes; "
        f"{size.jobs} jobs RUNNING for {size.running_polls} polls with {size.latency * 1000:g} ms sandbox latency, "
        f"client poll_interval {size.poll_interval:g} s, get_many max_workers {' and '.join(map(str, size.max_workers))}; "
        f"plain loop on {size.plain_jobs} jobs with a {size.plain_sleep:g} s sleep; {size.cache_jobs} jobs for the cache; "
        f"sandbox TCP_NODELAY {'on (--sandbox-nodelay)' if size.sandbox_nodelay else 'off, as the sandbox ships'}"
    )


def exit_status(figures: list[Figure], errored: bool, check: bool) -> int:
    """Return 2 if a benchmark raised, else 1 if `check` and a target is not met (or not run), else 0."""
    if errored:
        return 2
    if check and any(figure.passed is False for figure in figures):
        return 1
    return 0


def report(figures: list[Figure], size: Size, args: argparse.Namespace, argv: list[str] | None) -> dict[str, str]:
    """Print the machine, the settings, the table and, with `--profile`, the failed targets' profiles.

    Returns the machine description.
    """
    machine = machine_description()
    print("command: python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv))
    print("machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()))
    print(format_settings(size))
    print()
    print(format_table(figures))

    checked = [figure for figure in figures if figure.passed is not None]
    failed = [figure for figure in checked if not figure.passed]
    print()
    print(f"{len(checked) - len(failed)} of {len(checked)} targets met")

    if args.profile:
        for figure in failed:
            if figure.profile is None:
                continue
            print()
            print(f"profile for {figure.benchmark}: {figure.name}")
            print(figure.profile())
    return machine


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = dataclasses.replace(SIZES[args.size], sandbox_nodelay=args.sandbox_nodelay)
    names = list(args.only or BENCHMARK_NAMES)

    with tempfile.TemporaryDirectory(prefix="ibmetrics-bench-cache-") as cache_dir:
        # Clients that cache by default must not read or fill the user's cache.
        previous = os.environ.get("IBMETRICS_CACHE_DIR")
        os.environ["IBMETRICS_CACHE_DIR"] = cache_dir
        try:
            figures, errored = run_benchmarks(size, names)
            machine = report(figures, size, args, argv)
        finally:
            if previous is None:
                os.environ.pop("IBMETRICS_CACHE_DIR", None)
            else:
                os.environ["IBMETRICS_CACHE_DIR"] = previous

    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {"machine": machine, "size": asdict(size), "figures": [figure.to_json() for figure in figures]},
                out,
                indent=2,
            )
    return exit_status(figures, errored, args.check)
