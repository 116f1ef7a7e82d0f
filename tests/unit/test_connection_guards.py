"""The pieces behind the connection-level defences: head detection, the prefetching reader,
the per-address counter, the lingering closer and reason phrases (real sockets)."""

from __future__ import annotations

import socket
import time

from davserver.dav.reasons import ExpectedOutcomeFilter, install_reason_phrases, is_expected
from davserver.head_reader import AddressCounter, PrefetchReader, head_complete
from davserver.http.reasons import phrase, status_line
from davserver.linger import Lingerer


def test_head_complete_needs_the_empty_line() -> None:
    assert not head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not head_complete(b"\r\n\r\nGET / HTTP/1.1\r\n")  # leading empty lines skipped
    assert head_complete(b"GET / HTTP/1.1\nHost: x\n\n")  # refused later by the parser


def test_prefetch_reader_serves_fed_bytes_before_the_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        reader = PrefetchReader(a)
        assert not reader.has_data()
        reader.feed(b"GET / HTTP/1.1\r\n")
        assert reader.has_data()
        b.sendall(b"Host: x\r\n\r\nbody")
        assert reader.readline() == b"GET / HTTP/1.1\r\n"
        assert reader.readline() == b"Host: x\r\n"
        assert reader.buffered().startswith(b"\r\nbody")
        assert reader.read(6) == b"\r\nbody"


def test_address_counter_caps_and_releases() -> None:
    counter = AddressCounter(2)
    assert counter.admit("a") and counter.admit("a")
    assert not counter.admit("a")
    assert counter.admit("b")
    counter.release("a")
    assert counter.admit("a")
    assert AddressCounter(0).admit("x")  # 0: no cap
    proxied = AddressCounter(1, exempt=["127.0.0.0/8"])
    assert all(proxied.admit("127.0.0.1") for _ in range(5))  # a trusted proxy: never capped
    assert proxied.admit("10.0.0.1") and not proxied.admit("10.0.0.1")


def test_lingerer_half_closes_discards_then_closes() -> None:
    lingerer = Lingerer(linger_s=0.5)
    lingerer.start()
    server, client = socket.socketpair()
    try:
        server.sendall(b"HTTP/1.1 401 Unauthorized\r\n\r\n")
        lingerer.hand_over(server)
        client.sendall(b"x" * 10000)  # the client is still sending its body: no reset
        client.settimeout(5)
        assert client.recv(100).startswith(b"HTTP/1.1 401")
        assert client.recv(100) == b""  # half-closed: the response is complete
        deadline = time.monotonic() + 5
        while len(lingerer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lingerer) == 0
    finally:
        lingerer.stop()
        client.close()


def test_reason_phrases() -> None:
    assert phrase(507) == "Insufficient Storage"
    assert phrase(413) == "Content Too Large"
    assert status_line(b"507 Status") == b"507 Insufficient Storage"
    assert status_line(b"200 OK") == b"200 OK"
    install_reason_phrases()
    from wsgidav.dav_error import get_http_status_string

    assert get_http_status_string(507) == "507 Insufficient Storage"


def test_expected_outcomes_lose_their_traceback() -> None:
    import logging

    from wsgidav.dav_error import DAVError

    assert is_expected(DAVError(507)) and is_expected(DAVError(413))
    assert is_expected(ConnectionResetError()) and not is_expected(DAVError(500))
    assert not is_expected(ValueError())
    try:
        raise DAVError(507)
    except DAVError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, "f", 1, "copy failed", None, (DAVError, exc, None)
        )
    assert ExpectedOutcomeFilter().filter(record)
    assert record.exc_info is None and record.levelno == logging.INFO
    assert "copy failed" in record.getMessage()


def test_open_files_limit_is_raised_never_lowered() -> None:
    import resource

    from davserver.server import MAX_OPEN_FILES, raise_open_files_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, expected), hard))
    try:
        assert raise_open_files_limit() == expected
        assert raise_open_files_limit(most=64) == expected  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_new_server_settings_are_validated() -> None:
    import pytest

    from davserver.settings import SettingsError, load_settings

    settings = load_settings(None, {"server": {"max_connections_per_address": 0, "linger_s": 0}})
    assert settings.server.max_connections_per_address == 0 and settings.server.linger_s == 0
    for bad in ({"linger_s": -1}, {"linger_s": 61}, {"max_connections_per_address": -1}):
        with pytest.raises(SettingsError):
            load_settings(None, {"server": bad})
