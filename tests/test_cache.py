"""The on-disk cache of finished jobs, against a sandbox over real HTTP.

conftest.py points IBMETRICS_CACHE_DIR at a temporary folder for every test,
so no test reads or writes the user's own cache.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from pathlib import Path

import pytest
from conftest import CLASSIFICATION_JOB

import ibmetrics_nb
from ibmetrics_nb import MetricsClient
from ibmetrics_nb.cache import CACHE_ENV, ResultCache, clear_cache, default_cache_dir
from ibmetrics_nb.errors import InvalidRequestError, JobFailedError, NotFoundError, ServerError
from ibmetrics_nb.sandbox import CLASSIFICATION_PROJECT, Job, Reply

PROJECT = CLASSIFICATION_PROJECT


@pytest.fixture
def cache_dir() -> Path:
    return Path(os.environ[CACHE_ENV])


@pytest.fixture
def client(fresh_sandbox):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, poll_interval=0.05, max_poll_interval=0.1) as client:
        yield client


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


# --- hits and misses ------------------------------------------------------------


def test_client_caches_by_default(client, cache_dir):
    assert isinstance(client.cache, ResultCache)
    assert client.cache.directory == cache_dir


def test_cache_hit_makes_no_request(client, fresh_sandbox):
    first = client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    requests_after_first = fresh_sandbox.request_count

    second = client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert requests_after_first == 1
    assert fresh_sandbox.request_count == 1
    assert second.raw == first.raw
    assert second.warnings == first.warnings
    assert any("class_weights_ins_power" in warning for warning in second.warnings)


def test_cache_shared_by_new_client(client, fresh_sandbox):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token) as other:
        result = other.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert fresh_sandbox.request_count == 1
    assert result.headline[2] == pytest.approx(0.899)


def test_refresh_bypasses_and_rewrites(client, fresh_sandbox, cache_dir):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    path = client.cache.path_for(client.root_url, PROJECT, CLASSIFICATION_JOB, "training")
    first_fetch = json.loads(path.read_text())["fetched_at"]

    client.get_metrics(PROJECT, CLASSIFICATION_JOB, refresh=True)

    assert fresh_sandbox.request_count == 2
    assert json.loads(path.read_text())["fetched_at"] > first_fetch
    assert entries(cache_dir) == [path]


def test_cache_off(fresh_sandbox, cache_dir):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, cache=False) as client:
        client.get_metrics(PROJECT, CLASSIFICATION_JOB)
        client.get_metrics(PROJECT, CLASSIFICATION_JOB)

        assert client.cache is None
    assert fresh_sandbox.request_count == 2
    assert entries(cache_dir) == []


def test_cache_folder_argument(fresh_sandbox, tmp_path, cache_dir):
    with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, cache=tmp_path / "mine") as client:
        client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert len(entries(tmp_path / "mine")) == 1
    assert entries(cache_dir) == []


def test_invalid_cache_argument(fresh_sandbox):
    with pytest.raises(InvalidRequestError, match="cache"):
        MetricsClient(fresh_sandbox.url, fresh_sandbox.token, cache=3)


def test_key_includes_root_type_and_job(client):
    cache = client.cache
    base = cache.path_for("https://a.example", PROJECT, "job", "training")

    assert cache.path_for("https://b.example", PROJECT, "job", "training") != base
    assert cache.path_for("https://a.example", PROJECT + "2", "job", "training") != base
    assert cache.path_for("https://a.example", PROJECT, "job2", "training") != base
    assert cache.path_for("https://a.example", PROJECT, "job", "evaluation") != base


# --- what is never cached ---------------------------------------------------------


def test_running_job_never_cached(client, fresh_sandbox, cache_dir):
    running = client.get_metrics(PROJECT, "running-job", wait=False)

    assert running.state == "RUNNING"
    assert entries(cache_dir) == []

    finished = client.get_metrics(PROJECT, "running-job")
    assert finished.is_finished
    assert len(entries(cache_dir)) == 1
    requests = fresh_sandbox.requests_for(PROJECT, "running-job")

    client.get_metrics(PROJECT, "running-job")
    assert fresh_sandbox.requests_for(PROJECT, "running-job") == requests


def test_failed_and_error_jobs_never_cached(client, cache_dir):
    with pytest.raises(JobFailedError):
        client.get_metrics(PROJECT, "failed-job")
    with pytest.raises(JobFailedError):
        client.get_metrics(PROJECT, "error-job")
    with pytest.raises(NotFoundError):
        client.get_metrics(PROJECT, "no-such-job")

    assert entries(cache_dir) == []


def test_error_response_never_cached(client, fresh_sandbox, cache_dir):
    fresh_sandbox.script(PROJECT, CLASSIFICATION_JOB, replies=[Reply(status=500, body={"message": "boom"})])
    client.max_retries = 0

    with pytest.raises(ServerError):
        client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert entries(cache_dir) == []


def test_store_refuses_unfinished_data(cache_dir):
    cache = ResultCache()

    assert not cache.store("https://a.example", PROJECT, "j", "training", {"status": "OK", "state": "RUNNING"}, [])
    assert not cache.store("https://a.example", PROJECT, "j", "training", {"status": "ERROR", "msg": "x"}, [])
    assert not cache.store("https://a.example", PROJECT, "j", "training", {"status": "OK", "state": "FAILED"}, [])
    assert entries(cache_dir) == []


# --- contents and files ---------------------------------------------------------


def test_entry_never_holds_the_token(client, fresh_sandbox, cache_dir):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    client.get_metrics(PROJECT, "evaluation-job", "evaluation")

    for path in entries(cache_dir):
        assert fresh_sandbox.token not in path.read_text()


def test_response_echoing_token_not_cached(cache_dir):
    secret = "tok_SECRET123"
    data = {"status": "OK", "state": "DONE", "metrics": [], "note": f"token {secret}"}

    stored = ResultCache().store("https://a.example", PROJECT, "j", "training", data, [], secret=secret)

    assert not stored
    assert entries(cache_dir) == []


def test_entry_is_strict_json(client, fresh_sandbox, cache_dir):
    payload = {"metrics": [{"title": "Classifier Metrics", "headers": ["class", "f1"], "rows": [["A", math.nan]]}]}
    fresh_sandbox.add_job(Job(PROJECT, "nan-job", payload=payload))

    first = client.get_metrics(PROJECT, "nan-job")
    (path,) = entries(cache_dir)
    document = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    second = client.get_metrics(PROJECT, "nan-job")

    assert document["response"]["metrics"][0]["rows"][0][1] is None
    assert math.isnan(second.tables["Classifier Metrics"].loc["A", "f1"])
    assert second.warnings == first.warnings
    assert fresh_sandbox.requests_for(PROJECT, "nan-job") == 1


def test_entry_file_permissions_and_no_temporary_files(client, cache_dir):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    (path,) = entries(cache_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in cache_dir.iterdir()] == [path.name]


def test_corrupt_entry_ignored_with_warning(client, fresh_sandbox, cache_dir, caplog):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    (path,) = entries(cache_dir)
    path.write_text('{"format": "ibmetrics_nb.result", "response": {"metri')

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.cache"):
        result = client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert result.is_finished
    assert fresh_sandbox.request_count == 2
    assert "corrupt cache entry" in caplog.text
    assert json.loads(path.read_text())["job_id"] == CLASSIFICATION_JOB


def test_entry_of_other_job_ignored(client, fresh_sandbox, cache_dir, caplog):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    (path,) = entries(cache_dir)
    document = json.loads(path.read_text())
    document["job_id"] = "another-job"
    path.write_text(json.dumps(document))

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.cache"):
        client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert fresh_sandbox.request_count == 2
    assert "another job" in caplog.text


def test_unwritable_cache_does_not_fail_fetch(fresh_sandbox, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with caplog.at_level(logging.WARNING, logger="ibmetrics_nb.cache"):
        with MetricsClient(fresh_sandbox.url, fresh_sandbox.token, cache=blocker / "cache") as client:
            result = client.get_metrics(PROJECT, CLASSIFICATION_JOB)

    assert result.is_finished
    assert "could not cache" in caplog.text


# --- folders and clearing ---------------------------------------------------------


def test_default_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"

    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ibmetrics_nb"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ibmetrics_nb"


def test_clear_cache_removes_only_entries(client, cache_dir):
    client.get_metrics(PROJECT, CLASSIFICATION_JOB)
    client.get_metrics(PROJECT, "evaluation-job", "evaluation")
    (cache_dir / "notes.txt").write_text("keep me")

    removed = ibmetrics_nb.clear_cache()

    assert removed == 2
    assert entries(cache_dir) == []
    assert (cache_dir / "notes.txt").read_text() == "keep me"


def test_clear_cache_of_missing_folder(tmp_path):
    assert clear_cache(tmp_path / "never-created") == 0


# --- the magic ------------------------------------------------------------------


def test_magic_refresh_fetches_again(shell, sandbox):
    before = sandbox.requests_for(PROJECT, "evaluation-job", "evaluation")

    shell.run_line_magic("ibmetrics", "--type evaluation $project evaluation-job")
    shell.run_line_magic("ibmetrics", "--type evaluation $project evaluation-job")
    cached = sandbox.requests_for(PROJECT, "evaluation-job", "evaluation")
    shell.run_line_magic("ibmetrics", "--refresh --type evaluation $project evaluation-job")

    assert cached == before + 1
    assert sandbox.requests_for(PROJECT, "evaluation-job", "evaluation") == before + 2
