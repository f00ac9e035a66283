"""Property-based tests: payloads generated from the response schema, with hostile strings and random types.

Whatever the server sends, only the package's own errors may escape, and no
tag from the data may survive into the HTML. The four properties run 2,100
examples in total. CI also runs this file under pandas 2.2 (see .ci/test).
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from faults import SECRET_MARK, TOKEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safety import HOSTILE_STRINGS, unexpected_markup

from ibmetrics_nb import MetricsClient, MetricsResult, display, parsing
from ibmetrics_nb.errors import IbMetricsError
from ibmetrics_nb.sandbox import Reply, serve

# The autouse fixture in conftest.py only clears environment variables, so
# sharing it between the examples of one test is safe.
COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}

# Fragments that must never appear unescaped in the HTML.
FORBIDDEN_IN_HTML = ("<script", "<img", "<b>", "<svg onload", "<!--", "<![cdata", "<style>body", "<unk>", "</td></tr></table>")

KNOWN_TITLES = (
    "Record-wise Classifier Metrics",
    "Chunk-wise Classifier Metrics",
    "Individual fields level metrics",
    "Train-Validation Curve",
    "Confusion Matrix",
    "Hyperparameter search results",
    "Classifier Metrics",
)
KNOWN_HEADERS = ("Class Type", "Field Name", "class name", "Dataset Split", "Trial number", "F1 Score", "Precision", "Recall", "Support", "ECE", "Epoch 1", "2")
MARKERS = ("N/A", "NAN", "Unknown", "", "90.91%", "87.50", "0.051", "<=50%", "macro avg", "Micro Average", "1e400", "-0", "%", "1,234.5%")

hostile = st.sampled_from(HOSTILE_STRINGS + MARKERS)
text = st.one_of(hostile, st.text(max_size=12))
scalar = st.one_of(
    text,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=5)
cell = st.one_of(scalar, scalar, scalar, json_value)
header = st.one_of(st.sampled_from(KNOWN_HEADERS), text, scalar)


@st.composite
def table(draw: st.DrawFn) -> object:
    """Draw one `metrics` entry: mostly table-shaped, with random types in any field."""
    width = draw(st.integers(min_value=0, max_value=6))
    headers = draw(st.one_of(st.lists(header, min_size=width, max_size=width), json_value))
    rows = draw(
        st.one_of(
            st.lists(st.one_of(st.lists(cell, min_size=max(width - 1, 0), max_size=width + 1), cell), max_size=6),
            st.none(),
            json_value,
        )
    )
    entry = {
        "title": draw(st.one_of(st.sampled_from(KNOWN_TITLES), text, json_value)),
        "subtitle": draw(st.one_of(text, json_value)),
        "headers": headers,
        "rows": rows,
        "show": draw(st.one_of(st.booleans(), json_value)),
    }
    dropped = draw(st.sets(st.sampled_from(sorted(entry))))
    return {key: value for key, value in entry.items() if key not in dropped}


@st.composite
def confusion_table(draw: st.DrawFn) -> dict:
    """Draw a square confusion matrix whose class names and counts may be hostile."""
    names = draw(st.lists(text, min_size=1, max_size=5, unique=True))
    counts = st.one_of(st.integers(min_value=0, max_value=10**6), cell)
    rows = [[name, *draw(st.lists(counts, min_size=len(names), max_size=len(names)))] for name in names]
    return {"title": draw(st.sampled_from(["Confusion Matrix", "Matrix"])), "headers": ["class name", *names], "rows": rows}


payload = st.fixed_dictionaries(
    {},
    optional={
        "status": st.one_of(st.sampled_from(["OK", "ok", "ERROR"]), json_value),
        "state": st.one_of(st.sampled_from(["DONE", "COMPLETE", "RUNNING", "FAILED"]), json_value),
        "metrics": st.one_of(st.lists(st.one_of(table(), table(), confusion_table(), json_value), max_size=5), json_value),
        "platform_version": st.one_of(st.sampled_from(["23.05.0", ""]), json_value),
        "ibformers_version": json_value,
        "train_count": st.one_of(st.dictionaries(text, scalar, max_size=4), json_value),
        "test_count": st.one_of(st.dictionaries(text, scalar, max_size=4), json_value),
        "train_total": scalar,
        "test_total": scalar,
        "train_datasets": st.one_of(st.lists(text, max_size=4), json_value),
        "test_datasets": st.one_of(st.lists(text, max_size=4), json_value),
        "hyperparams": st.one_of(st.dictionaries(text, json_value, max_size=5), json_value),
    },
)


def exercise(result: MetricsResult) -> str:
    """Use every public accessor and display form of a result; return its HTML."""
    repr(result)
    bundle = result._repr_mimebundle_()
    page = result._repr_html_()
    assert bundle["text/html"] == page
    for accessor in (
        lambda: result.tables,
        lambda: result.score_tables,
        result.to_dataframe,
        lambda: result.confusion_df,
        lambda: result.loss_df,
        lambda: result.trials_df,
        lambda: result.headline,
        lambda: result.incomplete_message,
    ):
        try:
            accessor()
        except IbMetricsError:
            pass
    return page


def assert_safe_html(page: str) -> None:
    assert unexpected_markup(page) == []
    lowered = page.lower()
    for fragment in FORBIDDEN_IN_HTML:
        assert fragment not in lowered


@settings(max_examples=1000, **COMMON)
@given(payload)
def test_any_payload_is_safe(document):
    try:
        result = MetricsResult(document, job_id="job-1", job_type="training", model_project_path="p/fs/X")
    except IbMetricsError:
        return

    assert_safe_html(exercise(result))


def _mutate(data: bytes, how: str, position: int, extra: bytes) -> bytes:
    position = min(position, len(data))
    if how == "truncate":
        return data[:position]
    if how == "insert":
        return data[:position] + extra + data[position:]
    if how == "replace":
        return data[:position] + extra + data[position + len(extra) :]
    return data


@settings(max_examples=600, **COMMON)
@given(
    payload,
    st.sampled_from(["none", "truncate", "insert", "replace"]),
    st.integers(min_value=0, max_value=2000),
    st.binary(min_size=1, max_size=4) | st.sampled_from([b",", b"]", b"}", b'"', b"NaN", b"\xff", b"\x00", b"{" * 50]),
)
def test_any_body_bytes_are_safe(document, how, position, extra):
    data = _mutate(json.dumps(document).encode("utf-8"), how, position, extra)

    try:
        result = MetricsResult.from_json(data)
    except IbMetricsError as error:
        assert "\n" not in str(error)
        return

    assert_safe_html(exercise(result))


@settings(max_examples=300, **COMMON)
@given(st.lists(json_value, max_size=8))
def test_any_cells_convert(cells):
    values, numbers = parsing.convert_column(cells)

    for value in cells:
        number = parsing.to_number(value)
        assert number is None or isinstance(number, float)
        assert isinstance(display.format_cell(value), str)
        assert len(display.format_cell(value)) <= display.MAX_CELL_CHARS
    if values is not None:
        assert len(values) == len(cells)
        assert numbers == sum(1 for value in values if not math.isnan(value))


# --- the client, over a real loopback server ---------------------------------------------


@pytest.fixture(scope="module")
def property_sandbox():
    with serve(token=TOKEN) as server:
        yield server


STATUSES = (200, 200, 200, 201, 204, 301, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 599)
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "text/html", "text/plain", "")
RETRY_AFTER = (None, "0", "1e9", "-5", "soon", "", "Wed, 21 Oct 2099 07:28:00 GMT")
job_ids = itertools.count()


@st.composite
def reply(draw: st.DrawFn) -> Reply:
    """Draw one reply of any status, content type and body, possibly echoing the token."""
    body = draw(
        st.one_of(
            payload.map(lambda document: json.dumps(document).encode("utf-8")),
            st.sampled_from(HOSTILE_STRINGS).map(str.encode),
            st.binary(max_size=40),
            st.just(b'{"message": "token {authorization} rejected"}'),
            st.just(b'{"status": "OK", "state": "DONE", "metrics": [], "hyperparams": {"auth": "{authorization}"}}'),
        )
    )
    headers = {}
    retry_after = draw(st.sampled_from(RETRY_AFTER))
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if draw(st.booleans()):
        headers["Location"] = "http://127.0.0.2:9/elsewhere"
    return Reply(
        status=draw(st.sampled_from(STATUSES)),
        body=body,
        headers=headers,
        content_type=draw(st.sampled_from(CONTENT_TYPES)),
        echo_authorization=b"{authorization}" in body,
    )


@settings(max_examples=200, **COMMON)
@given(reply())
def test_client_handles_any_reply(property_sandbox, scripted):
    job_id = f"property-{next(job_ids)}"
    property_sandbox.script("p/fs/X", job_id, replies=[scripted])
    client = MetricsClient(property_sandbox.url, TOKEN, timeout=(1.0, 1.0), max_retries=0, max_wait=0)

    try:
        result = client.get_metrics("p/fs/X", job_id)
    except IbMetricsError as error:
        assert "\n" not in str(error)
        assert SECRET_MARK not in str(error)
        return

    page = exercise(result)
    assert_safe_html(page)
    assert SECRET_MARK not in page
    assert SECRET_MARK not in repr(result.raw)
