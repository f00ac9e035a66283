"""The %ibmetrics magic in a real IPython shell against the sandbox."""

from __future__ import annotations

import pytest
from conftest import CLASSIFICATION_JOB

from ibmetrics_nb import MetricsResult
from ibmetrics_nb.arguments import parse_line
from ibmetrics_nb.errors import IbMetricsError, InvalidRequestError

PATH = "user1/my-repo/fs/Instabase Drive/PaystubClassifier"


def last_query(sandbox):
    return sandbox.request_log[-1]["query"]


@pytest.mark.parametrize("quoted", [f"'{PATH}'", f'"{PATH}"'])
def test_quoted_path_with_spaces_reaches_server_whole(shell, sandbox, quoted):
    outcome = shell.run_cell(f"r = %ibmetrics {quoted} {CLASSIFICATION_JOB}")

    assert outcome.success
    assert last_query(sandbox)["model_project_path"] == PATH
    assert isinstance(shell.user_ns["r"], MetricsResult)


@pytest.mark.parametrize("reference", ["$p", "{p}"])
def test_path_in_variable_reaches_server_whole(shell, sandbox, reference):
    shell.user_ns["p"] = PATH

    outcome = shell.run_cell(f"r = %ibmetrics {reference} {CLASSIFICATION_JOB}")

    assert outcome.success
    assert last_query(sandbox)["model_project_path"] == PATH


def test_job_id_in_variable(shell, sandbox):
    shell.user_ns["job"] = "running-job"

    outcome = shell.run_cell("r = %ibmetrics $project $job")

    assert outcome.success
    assert last_query(sandbox)["job_id"] == "running-job"
    assert shell.user_ns["r"].is_finished


def test_unquoted_path_with_spaces_fails_with_hint(shell, sandbox, capsys):
    before = sandbox.request_count

    outcome = shell.run_cell(f"%ibmetrics {PATH} {CLASSIFICATION_JOB}")

    assert not outcome.success
    assert isinstance(outcome.error_in_exec, InvalidRequestError)
    assert f"quote it: %ibmetrics '{PATH}' JOB_ID" in str(outcome.error_in_exec)
    assert sandbox.request_count == before


def test_undefined_variable_is_one_line(shell):
    outcome = shell.run_cell(f"%ibmetrics $nowhere {CLASSIFICATION_JOB}")

    assert isinstance(outcome.error_in_exec, InvalidRequestError)
    assert "variable 'nowhere' is not defined" in str(outcome.error_in_exec)


def test_magic_returns_result_without_displaying(shell, capsys):
    outcome = shell.run_cell(f"r = %ibmetrics $project {CLASSIFICATION_JOB}")

    assert outcome.success
    assert outcome.result is None
    assert capsys.readouterr().out == ""


def test_magic_as_last_line_is_the_cell_result(shell):
    outcome = shell.run_cell(f"%ibmetrics $project {CLASSIFICATION_JOB}")

    assert isinstance(outcome.result, MetricsResult)


def test_type_option_is_sent(shell, sandbox):
    outcome = shell.run_cell("r = %ibmetrics --type evaluation $project evaluation-job")

    assert outcome.success
    assert last_query(sandbox)["job_type"] == "evaluation"


def test_no_wait_returns_running_state(shell, sandbox):
    sandbox.reset()

    shell.run_cell("r = %ibmetrics --no-wait $project running-job")

    assert shell.user_ns["r"].state == "RUNNING"
    sandbox.reset()


def test_errors_print_one_line_without_traceback(shell, capsys):
    outcome = shell.run_cell("%ibmetrics $project no-such-job")

    captured = capsys.readouterr()
    assert not outcome.success
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("NotFoundError: HTTP 404 for job no-such-job")
    assert "Traceback" not in captured.out + captured.err


def test_bad_option_is_one_line(shell, capsys):
    outcome = shell.run_cell("%ibmetrics --max-wait soon $project j")

    captured = capsys.readouterr()
    assert isinstance(outcome.error_in_exec, InvalidRequestError)
    assert "invalid number of seconds 'soon'" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_config_changes_root_url(shell, capsys):
    shell.run_cell('%config IbMetrics.root_url = "http://127.0.0.1:9"')

    outcome = shell.run_cell(f"%ibmetrics $project {CLASSIFICATION_JOB}")

    assert isinstance(outcome.error_in_exec, IbMetricsError)
    assert "could not connect to http://127.0.0.1:9" in str(outcome.error_in_exec)


def test_config_lists_settings(shell, capsys):
    shell.run_cell("%config IbMetrics")

    out = capsys.readouterr().out
    for name in ("root_url", "timeout", "max_wait", "poll_interval", "verify", "cert", "allow_http"):
        assert f"IbMetrics.{name}" in out


def test_help_shows_usage_and_examples(shell):
    doc = shell.find_line_magic("ibmetrics").__doc__

    assert "Usage:" in doc
    assert "Examples:" in doc
    assert "--type" in doc
    assert "IB_API_TOKEN" in doc


def test_parse_line_options():
    args = parse_line(f"--type pruning --no-wait --max-wait=30 '{PATH}' a,b c")

    assert args.project == PATH
    assert args.job_ids == ["a", "b", "c"]
    assert args.job_type == "pruning"
    assert args.wait is False
    assert args.max_wait == 30.0


def test_parse_line_quoted_option_value():
    args = parse_line('--max-wait="30" p j')

    assert args.max_wait == 30.0


def test_parse_line_empty_means_picker():
    assert parse_line("").project is None


@pytest.mark.parametrize("line", ["'unclosed j", "p", "--type nope p j", "--bogus p j", "p $a.b", "p j$x", "{ p } j", "p {j"])
def test_parse_line_rejects_bad_input(line):
    with pytest.raises(InvalidRequestError):
        parse_line(line, {"a": 1})


def test_unknown_option_value_not_echoed():
    with pytest.raises(InvalidRequestError) as raised:
        parse_line("--token=tok_SECRET123 p j")

    assert "--token" in str(raised.value)
    assert "SECRET123" not in str(raised.value)


def test_several_jobs_return_comparison(shell, sandbox):
    from ibmetrics_nb.comparison import Comparison

    outcome = shell.run_cell(f"c = %ibmetrics $project {CLASSIFICATION_JOB} retrain-job")

    assert outcome.success
    assert isinstance(shell.user_ns["c"], Comparison)
    assert shell.user_ns["c"].jobs == [CLASSIFICATION_JOB, "retrain-job"]


def test_several_jobs_keep_successes_when_one_fails(shell):
    from ibmetrics_nb.batch import ManyResults

    outcome = shell.run_cell(f"m = %ibmetrics $project {CLASSIFICATION_JOB} no-such-job")

    many = shell.user_ns["m"]
    assert outcome.success
    assert isinstance(many, ManyResults)
    assert [r.job_id for r in many.results] == [CLASSIFICATION_JOB]
    assert [key.job_id for key in many.errors] == ["no-such-job"]


def test_several_jobs_all_failing_is_one_line(shell):
    outcome = shell.run_cell("%ibmetrics $project no-such-job other-missing-job")

    assert isinstance(outcome.error_in_exec, IbMetricsError)
    assert "2 of 2 jobs failed" in str(outcome.error_in_exec)


def test_settings_from_ipython_config(shell):
    shell.run_line_magic("unload_ext", "ibmetrics_nb")
    shell.config.IbMetrics.max_wait = 42.0
    try:
        shell.run_line_magic("load_ext", "ibmetrics_nb")
        magics = next(c for c in shell.configurables if type(c).__name__ == "IbMetrics")

        assert magics.max_wait == 42.0
    finally:
        del shell.config.IbMetrics["max_wait"]
