"""Webhook delivery against a peer that trickles its answer: bounded by the action's timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from davserver.collection.actions import ActionError, post_webhook


class TricklingPeer:
    """A loopback HTTP peer that sends ``head`` at once, then one byte of ``rest`` every
    ``step`` seconds until the client goes away (a slow or hostile webhook endpoint)."""

    def __init__(self, head: bytes, rest: bytes, step: float = 0.1) -> None:
        self.head, self.rest, self.step = head, rest, step
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.head)
                    for i in range(len(self.rest)):
                        if self.stop.wait(self.step):
                            return
                        conn.sendall(self.rest[i : i + 1])
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


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
