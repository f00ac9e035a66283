"""The plain alternative that the parsing and many-jobs benchmarks compare against.

This is the loop a notebook user writes without this package. It polls with
`requests.get` and a fixed sleep (one second in the full run), decodes the
body with `json.loads`, and builds `pd.DataFrame(rows, columns=headers)` for
each table, one job after another.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd
import requests

METRICS_PATH = "/api/v2/model/metrics"


def plain_parse(body: bytes) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """Parse a finished response the plain way and return the document and one DataFrame per table."""
    data = json.loads(body)
    return data, [pd.DataFrame(table["rows"], columns=table["headers"]) for table in data["metrics"]]


def plain_tables(body: bytes) -> list[pd.DataFrame]:
    """Parse a finished response the plain way and return one DataFrame per table."""
    return plain_parse(body)[1]


def plain_fetch(
    root_url: str,
    token: str,
    project: str,
    job_id: str,
    job_type: str = "training",
    sleep: float = 1.0,
) -> list[pd.DataFrame]:
    """Poll one job until it is no longer RUNNING, then parse its tables.

    Each poll opens a new connection, as a bare `requests.get` does.
    """
    url = root_url + METRICS_PATH
    headers = {"Authorization": f"Bearer {token}"}
    params = {"model_project_path": project, "job_id": job_id, "job_type": job_type}
    while True:
        response = requests.get(url, headers=headers, params=params, timeout=60)
        content: dict[str, Any] = json.loads(response.content)
        if content.get("state") != "RUNNING":
            break
        time.sleep(sleep)
    return [pd.DataFrame(table["rows"], columns=table["headers"]) for table in content["metrics"]]
