"""Cut and killed FTP uploads never replace the stored version nor leave a visible partial."""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import time
from pathlib import Path

import pytest
import trustme

from tests.support.ftp import FtpEndpoint, start_ftp_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

OLD = b"the stored version\n"


def _visible(endpoint: FtpEndpoint) -> dict[str, bytes]:
    home = endpoint.home("alice")
    return {p.name: p.read_bytes() for p in home.iterdir()}


def _restart(endpoint: FtpEndpoint) -> FtpEndpoint:
    server = DavServer(endpoint.server.root, endpoint.server.extra_args).start()
    port = int(server.ftp_url.rstrip("/").rsplit(":", 1)[1])
    return FtpEndpoint(server, endpoint.host, port, endpoint.ca_file, endpoint.root)


def test_killed_server_mid_stor_keeps_the_old_version(tmp_path: Path) -> None:
    endpoint = start_ftp_server(tmp_path, trustme.CA())
    try:
        ftp = endpoint.client()
        ftp.storbinary("STOR data.bin", io.BytesIO(OLD))
        conn = ftp.transfercmd("STOR data.bin")
        sent = 0
        for _ in range(64):
            conn.sendall(b"N" * 65536)
            sent += 65536
        time.sleep(0.5)  # let the gateway stream part of it into staging
        endpoint.server.kill()
        conn.close()
        ftp.close()
        assert _visible(endpoint) == {"data.bin": OLD}
    finally:
        endpoint.server.stop()
    again = _restart(endpoint)
    try:
        ftp = again.client()
        assert ftp.nlst() == ["data.bin"]
        got = io.BytesIO()
        ftp.retrbinary("RETR data.bin", got.write)
        assert got.getvalue() == OLD
        digest = hashlib.sha256(OLD).hexdigest()
        assert ftp.sendcmd("HASH data.bin").split()[3] == digest
        ftp.quit()
    finally:
        again.server.stop()


def test_lost_control_connection_mid_stor_keeps_the_old_version(tmp_path: Path) -> None:
    endpoint = start_ftp_server(tmp_path, trustme.CA())
    try:
        ftp = endpoint.client()
        ftp.storbinary("STOR data.bin", io.BytesIO(OLD))
        conn = ftp.transfercmd("STOR data.bin")
        data = bytes(range(256)) * 1200
        conn.sendall(data)
        time.sleep(1.0)  # let the gateway take in some of it
        ftp.sock.shutdown(socket.SHUT_RDWR)  # the control connection drops first
        ftp.close()
        time.sleep(0.5)
        with contextlib.suppress(OSError):  # the server may have closed it already
            conn.unwrap()
        conn.close()
        deadline = time.monotonic() + 10
        fresh = endpoint.client()
        fresh.voidcmd("TYPE I")
        staged = len(OLD)
        while staged == len(OLD) and time.monotonic() < deadline:
            time.sleep(0.2)
            staged = int(fresh.sendcmd("SIZE data.bin").split()[1])
        assert 0 < staged <= len(data)  # what arrived before the cut is kept
        assert _visible(endpoint) == {"data.bin": OLD}
        fresh.storbinary("STOR data.bin", io.BytesIO(data[staged:]), rest=staged)
        assert _visible(endpoint) == {"data.bin": data}
        fresh.quit()
    finally:
        endpoint.server.stop()


def test_abort_keeps_the_old_version(tmp_path: Path) -> None:
    endpoint = start_ftp_server(tmp_path, trustme.CA())
    try:
        ftp = endpoint.client()
        ftp.storbinary("STOR data.bin", io.BytesIO(OLD))
        conn = ftp.transfercmd("STOR data.bin")
        conn.sendall(b"A" * 100_000)
        assert ftp.abort()[:3] in ("426", "225", "226")
        conn.close()
        assert _visible(endpoint) == {"data.bin": OLD}
        ftp.close()
    finally:
        endpoint.server.stop()
