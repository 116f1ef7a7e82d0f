"""Site expectations against a real server: a quiet site gets exactly one alert (webhook and
e-mail through a real SMTP relay, aiosmtpd) and one recovery notice when files arrive again."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pytest_httpserver import HTTPServer

from tests.integration.collection_support import client, serve, wait_for

pytestmark = pytest.mark.integration


class _Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def relay() -> Iterator[tuple[_Inbox, int]]:
    """A real SMTP relay on a loopback port."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _alerts(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(req.get_data()) for req, _ in httpserver.log if req.path == "/alerts"]


def test_quiet_site_gets_one_alert_and_one_recovery(
    tmp_path: Path, httpserver: HTTPServer, relay: tuple[_Inbox, int]
) -> None:
    inbox, port = relay
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    config = f"""\
sites:
  alice: {{expect_every: 10s}}
alerts:
  webhook: {{url: "{httpserver.url_for("/alerts")}"}}
  email:
    smtp_host: 127.0.0.1
    smtp_port: {port}
    from: davsync@example.org
    to: [ops@example.org]
"""
    srv = serve(tmp_path, config)
    try:
        with client() as c:
            assert c.put(srv.files_url("alice", "first.csv"), content=b"1").is_success
            sent = time.monotonic()
            late = wait_for(lambda: _alerts(httpserver), 25.0, "the late alert", step=0.2)
            assert time.monotonic() - sent >= 9.5  # not before the expectation lapsed
            time.sleep(4.0)  # still quiet: no second alert
            assert [a["event"] for a in _alerts(httpserver)] == ["site_late"]
            assert c.put(srv.files_url("alice", "again.csv"), content=b"2").is_success
            wait_for(lambda: len(_alerts(httpserver)) >= 2, 10.0, "the recovery notice", step=0.2)
            time.sleep(3.0)  # files keep coming in: no more notices
            assert c.put(srv.files_url("alice", "third.csv"), content=b"3").is_success
            time.sleep(1.5)
        mails = wait_for(lambda: len(inbox.messages) >= 2 and inbox.messages, 10.0, "mails")
    finally:
        srv.stop()
    events = [a["event"] for a in _alerts(httpserver)]
    assert events == ["site_late", "site_recovered"]
    assert late[0]["user"] == "alice" and late[0]["expectation"] == "every 10s"
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert len(mails) == 2
    assert subjects[0].startswith("[davsync] site alice is late")
    assert subjects[1] == "[davsync] site alice is sending again"
    assert all(m["To"] == "ops@example.org" for m in mails)
