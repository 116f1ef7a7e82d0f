"""RequestWatch, the access-log formats and the request metrics, in-process."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from davserver.app import build_context
from davserver.collection.model import SiteState, TriggerFailure
from davserver.settings import load_settings
from davserver.web.access_log import RequestRecord, RequestWatch, format_json, format_text
from davserver.web.metrics import new_registry
from davserver.web.wsgi import StartResponse
from tests.support.collection_fake import FakeCollection

pytestmark = pytest.mark.unit


def echo_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read()
    environ["wsgidav.auth.user_name"] = "alice"
    environ["REMOTE_ADDR"] = "198.51.100.9"  # as RequestGuard sets it behind a proxy
    start_response("201 Created", [("Content-Length", str(len(body) * 2))])
    return [body, body]


def call(app: Any, environ: dict[str, Any]) -> bytes:
    result = app(environ, lambda status, headers, exc_info=None: None)
    try:
        return b"".join(result)
    finally:
        result.close()


def test_watch_reports_bytes_status_user_and_the_target_as_sent() -> None:
    seen: list[RequestRecord] = []
    app = RequestWatch(echo_app, [seen.append])
    environ = {
        "REQUEST_METHOD": "PUT",
        "REQUEST_URI": "/dav/files/alice/a%20b?x=1&y",
        "PATH_INFO": "/dav/files/alice/a b",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b"12345"),
    }
    assert call(app, environ) == b"1234512345"
    (r,) = seen
    assert (r.status, r.bytes_in, r.bytes_out, r.user) == (201, 5, 10, "alice")
    assert r.client == "198.51.100.9" and r.target == "/dav/files/alice/a%20b?x=1&y"
    assert r.duration_s >= 0


def test_a_failing_observer_does_not_break_the_response() -> None:
    def boom(record: RequestRecord) -> None:
        raise RuntimeError("observer bug")

    seen: list[RequestRecord] = []
    app = RequestWatch(echo_app, [boom, seen.append])
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/x", "wsgi.input": io.BytesIO(b"a")}
    assert call(app, environ) == b"aa" and len(seen) == 1


RECORD = RequestRecord(
    time=1_800_000_000.25,
    client="127.0.0.1",
    user='we"ird',
    attempted_user=None,
    auth_failed=False,
    method="GET",
    target='/p?q="x"\nFAKE 200',
    protocol="HTTP/1.1",
    status=200,
    bytes_in=0,
    bytes_out=42,
    duration_s=0.0123,
)


def test_text_line_is_one_line_with_iso_time_and_quoted_request() -> None:
    line = format_text(RECORD)
    assert "\n" not in line
    assert line.startswith("2027-01-15T") and ("+" in line[:30] or "-" in line[19:30])
    assert '"GET /p?q=\\"x\\"\\nFAKE 200 HTTP/1.1" 200 42 0 0.012' in line
    assert '"we\\"ird"' in line


def test_json_line_round_trips() -> None:
    obj = json.loads(format_json(RECORD))
    assert obj["target"] == RECORD.target and obj["user"] == RECORD.user
    assert obj["status"] == 200 and obj["bytes_out"] == 42 and obj["time"].startswith("2027-01-15T")


def test_metrics_parse_and_count(tmp_path: Path) -> None:
    settings = load_settings(None, {"root": tmp_path / "root"}, environ={})
    context = dataclasses.replace(build_context(settings), collection=None)  # journal off
    assert context.uploads is not None
    context.uploads.create_chunked("alice", "s", destination=None, total=None)
    registry, metrics = new_registry(context)
    metrics(RECORD)
    metrics(RequestRecord(**{**RECORD.__dict__, "method": "BREW", "status": 418, "bytes_in": 7}))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    requests = {
        (s.labels["method"], s.labels["status"]): s.value
        for s in families["davsync_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests == {("GET", "200"): 1.0, ("OTHER", "418"): 1.0}
    sent = [
        s.value
        for s in families["davsync_http_response_bytes"].samples
        if s.name.endswith("_total")
    ]
    received = [
        s.value for s in families["davsync_http_request_bytes"].samples if s.name.endswith("_total")
    ]
    assert sent == [84.0] and received == [7.0]
    uploads = {s.labels["user"]: s.value for s in families["davsync_upload_sessions_open"].samples}
    assert uploads == {"alice": 1.0}
    assert families["davsync_collection_available"].samples[0].value == 0.0


def test_metrics_read_the_collection_view(tmp_path: Path) -> None:
    settings = load_settings(None, {"root": tmp_path / "root"}, environ={})
    context = build_context(settings)
    context.ensure_home("alice")
    context.ensure_home("bob")
    fake = FakeCollection(queue_depth=3)
    fake.add_arrival("alice", "a.csv", 1, 1_700_000_000.5)
    fake.states = {"bob": SiteState("bob", "late", 1_700_000_000.0, "10s")}
    fake.failures = [
        TriggerFailure("t", "alice", "a.csv", "x", 1.0, 3, True),
        TriggerFailure("t", "alice", "a.csv", "x", 2.0, 1, False),
        TriggerFailure("t", "bob", "b.csv", "x", 3.0, 1, False),
    ]
    registry, _ = new_registry(dataclasses.replace(context, collection=fake))
    text = generate_latest(registry).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("davsync_trigger_queue_depth", ())] == 3
    assert samples[("davsync_trigger_failures", (("state", "dead"),))] == 1
    assert samples[("davsync_trigger_failures", (("state", "retrying"),))] == 2
    assert samples[("davsync_site_last_arrival_timestamp_seconds", (("user", "alice"),))] == (
        1_700_000_000.5
    )
    assert ("davsync_site_last_arrival_timestamp_seconds", (("user", "bob"),)) not in samples
    assert samples[("davsync_site_late", (("user", "bob"),))] == 1
