"""Webhook and mail delivery against a peer that trickles its answer: bounded by the
action's timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from davserver.collection.actions import ActionError, post_webhook, send_mail
from tests.support.trickling_peer import TricklingPeer


@pytest.fixture()
def peer_factory() -> Iterator[list[TricklingPeer]]:
    peers: list[TricklingPeer] = []
    yield peers
    for peer in peers:
        peer.close()


def test_slow_body_after_a_2xx_status_does_not_hold_the_worker(
    peer_factory: list[TricklingPeer],
) -> None:
    """The status decides; the body (trickled, a byte per 0.1 s) is not waited for."""
    peer = TricklingPeer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x" * 100000)
    peer_factory.append(peer)
    started = time.monotonic()
    post_webhook({"url": f"http://127.0.0.1:{peer.port}/hook"}, {"event": "x"}, timeout=2)
    assert time.monotonic() - started < 10


def test_trickled_headers_end_at_the_timeout(peer_factory: list[TricklingPeer]) -> None:
    """Each byte arrives within the read timeout, but the answer as a whole never does: the
    delivery fails once the action's timeout has passed in total."""
    peer = TricklingPeer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"y" * 100000)
    peer_factory.append(peer)
    started = time.monotonic()
    with pytest.raises(ActionError, match="within 2 s"):
        post_webhook({"url": f"http://127.0.0.1:{peer.port}/hook"}, {"event": "x"}, timeout=2)
    assert time.monotonic() - started < 10


def test_mail_relay_that_trickles_its_greeting_ends_at_the_timeout(
    peer_factory: list[TricklingPeer],
) -> None:
    """An alert e-mail through a relay that sends its greeting a byte per 0.1 s (each read
    within the socket timeout) fails once the action's timeout has passed in total."""
    peer = TricklingPeer(b"", b"220-" + b"z" * 100000)
    peer_factory.append(peer)
    spec = {"smtp_host": "127.0.0.1", "smtp_port": peer.port, "sender": "d@x", "to": ["o@x"]}
    started = time.monotonic()
    with pytest.raises(ActionError, match="within 2 s"):
        send_mail(spec, "subject", "text", timeout=2)
    assert time.monotonic() - started < 10
