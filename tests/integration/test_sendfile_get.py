"""Whole-file GETs over plain HTTP go through ``sendfile``; ranges, HEAD, 304, gzip and TLS
keep the streamed path. A real cheroot server runs in this process, so the gateway's counter
shows which path a response took."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families

from davserver.app import build_app
from davserver.sendfile_gateway import STATS
from davserver.server import make_server
from davserver.settings import load_settings
from davserver.web.access_log import ACCESS_LOGGER
from tests.support.configured import USERS, prepare_root

pytestmark = pytest.mark.integration

SIZE = 5 * 1024 * 1024 + 123  # several MB, not a multiple of any block size
DATA = os.urandom(SIZE)
AUTH = ("alice", USERS["alice"])


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Running:
    """A server in this process: its base URL and what it logged."""

    base: str
    client: httpx.Client
    access: _Records = field(default_factory=_Records)
    errors: _Records = field(default_factory=_Records)

    def url(self, name: str) -> str:
        return f"{self.base}/remote.php/dav/files/alice/{name}"


@contextmanager
def _serving(tmp: Path, config: str, verify: ssl.SSLContext | bool = True) -> Iterator[Running]:
    root = prepare_root(tmp, "auth:\n  basic_over_http: true\n" + config)
    settings = load_settings(tmp / "config.yaml", {"root": root, "host": "127.0.0.1", "port": 0})
    app = build_app(settings)
    server = make_server(settings, app.wsgi)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr[:2]
    scheme = "https" if settings.tls.enabled else "http"
    access, errors = _Records(), _Records()
    errors.setLevel(logging.WARNING)
    access_logger, root_logger = logging.getLogger(ACCESS_LOGGER), logging.getLogger()
    access_logger.addHandler(access)
    root_logger.addHandler(errors)
    old_level = access_logger.level
    access_logger.setLevel(logging.INFO)
    try:
        with httpx.Client(auth=AUTH, verify=verify, timeout=60) as client:
            yield Running(f"{scheme}://{host}:{port}", client, access, errors)
    finally:
        access_logger.removeHandler(access)
        access_logger.setLevel(old_level)
        root_logger.removeHandler(errors)
        server.stop()
        thread.join(timeout=30)
        if app.context.uploads is not None:
            app.context.uploads.stop_maintenance()


@pytest.fixture()
def plain(tmp_path: Path) -> Iterator[Running]:
    with _serving(tmp_path, "metrics:\n  anonymous_networks: [127.0.0.0/8]\n") as running:
        assert running.client.put(running.url("big.bin"), content=DATA).status_code == 201
        yield running


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_whole_file_get_is_sent_with_sendfile(plain: Running) -> None:
    before = STATS.files
    r = plain.client.get(plain.url("big.bin"))
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == SIZE
    assert _sha(r.content) == _sha(DATA)
    assert STATS.files == before + 1
    again = plain.client.get(plain.url("big.bin"))  # the kept-alive connection still frames
    assert _sha(again.content) == _sha(DATA) and STATS.files == before + 2


def test_access_log_counts_sendfile_bytes(plain: Running) -> None:
    plain.access.records.clear()
    assert plain.client.get(plain.url("big.bin")).status_code == 200
    lines = [r.getMessage() for r in plain.access.records if '"GET ' in r.getMessage()]
    assert lines, "no access line for the GET"
    assert f" 200 {SIZE} " in lines[-1]


def _bytes_sent_metric(running: Running) -> float:
    text = httpx.get(running.base + "/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "davsync_http_response_bytes":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("no davsync_http_response_bytes in /metrics")


def test_metrics_count_sendfile_bytes(plain: Running) -> None:
    before = _bytes_sent_metric(plain)
    assert plain.client.get(plain.url("big.bin")).status_code == 200
    grown = _bytes_sent_metric(plain) - before
    assert SIZE <= grown < SIZE + 1_000_000  # the GET, plus the first scrape's own body


def test_range_head_304_and_gzip_keep_the_streamed_path(plain: Running) -> None:
    url, before = plain.url("big.bin"), STATS.files
    r = plain.client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == DATA[100:200]
    head = plain.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(SIZE)
    r = plain.client.get(url, headers={"If-None-Match": head.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    text = b"line of text\n" * 50_000
    assert plain.client.put(plain.url("a.txt"), content=text).status_code == 201
    r = plain.client.get(plain.url("a.txt"), headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("Content-Encoding") == "gzip" and r.content == text
    assert STATS.files == before


def _get_then_hang_up(base: str, path: str, read_bytes: int) -> None:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        token = "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n\r\n".encode()
        )
        got = 0
        while got < read_bytes:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def test_client_hanging_up_mid_file_frees_the_worker_quietly(
    plain: Running, capfd: pytest.CaptureFixture[str]
) -> None:
    path = "/remote.php/dav/files/alice/big.bin"
    for _ in range(6):  # more than a few workers' worth: none may stay stuck
        _get_then_hang_up(plain.base, path, 256 * 1024)
    r = plain.client.get(plain.url("big.bin"))
    assert r.status_code == 200 and _sha(r.content) == _sha(DATA)
    problems = [r for r in plain.errors.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not problems, [r.getMessage() for r in problems]
    assert "Traceback" not in capfd.readouterr().err  # cheroot reports to stderr


def test_tls_never_uses_sendfile(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    config = f"tls: {{cert: {tmp_path / 'cert.pem'}, key: {tmp_path / 'key.pem'}}}\n"
    with _serving(
        tmp_path, config, verify=ssl.create_default_context(cafile=tmp_path / "ca.pem")
    ) as tls:
        assert tls.client.put(tls.url("big.bin"), content=DATA).status_code == 201
        before = STATS.files
        r = tls.client.get(tls.url("big.bin"))
        assert r.status_code == 200 and _sha(r.content) == _sha(DATA)
        assert STATS.files == before
