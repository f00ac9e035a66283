"""Benchmarks of ibmetrics_nb against the plain requests + json + pandas loop.

Run them from the repository root with `python -m benchmarks` (full size,
the one the targets are stated for) or `python -m benchmarks --size tiny`
(a quick check that every benchmark still runs). BENCHMARKS.md describes
each figure and records the latest results.
"""
