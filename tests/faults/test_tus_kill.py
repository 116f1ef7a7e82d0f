"""A server killed (SIGKILL) in the middle of a tus PATCH keeps what reached disk: every whole
checkpoint piece of the body that arrived, and the offset reported after the restart says exactly
what was kept; the client resumes there and the file is complete and correct."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from davserver.uploads.service import TUS_CHECKPOINT_BYTES
from tests.support.uploads import basic, client, restart, start_server

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}
PIECES_SENT = 3  # whole pieces sent before the kill, plus half of the next


def _offset(c: object, url: str) -> int:
    r = c.head(url, headers=TUS)  # type: ignore[attr-defined]
    assert r.status_code == 200
    return int(r.headers["upload-offset"])


def test_kill_mid_patch_keeps_the_durable_pieces(tmp_path: Path) -> None:
    data = os.urandom(TUS_CHECKPOINT_BYTES * (PIECES_SENT + 2))
    sent = TUS_CHECKPOINT_BYTES * PIECES_SENT + TUS_CHECKPOINT_BYTES // 2
    srv = start_server(tmp_path)
    try:
        with client("alice") as c:
            folder = srv.files_url("alice", "tus-kill/")
            assert c.request("MKCOL", folder).status_code == 201
            name = base64.b64encode(b"big.bin").decode()
            r = c.post(
                folder,
                headers={
                    **TUS,
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": f"filename {name}",
                },
            )
            assert r.status_code == 201, r.text
            url = r.headers["location"]
            if url.startswith("/"):
                url = srv.url.rstrip("/") + url
            u = urlsplit(url)
            with socket.create_connection((u.hostname or "", u.port or 0), timeout=30) as sock:
                sock.sendall(
                    (
                        f"PATCH {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                        f"Authorization: {basic('alice')}\r\nTus-Resumable: 1.0.0\r\n"
                        "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n"
                    ).encode()
                    + data[:sent]
                )
                # the server reports the pieces it made durable while the PATCH goes on
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if _offset(c, url) == TUS_CHECKPOINT_BYTES * PIECES_SENT:
                        break
                    time.sleep(0.1)
                srv.kill()
        srv = restart(srv)  # on another port
        url = srv.url.rstrip("/") + u.path
        with client("alice") as c:
            kept = _offset(c, url)
            assert kept == TUS_CHECKPOINT_BYTES * PIECES_SENT  # exactly the whole pieces
            r = c.patch(
                url, content=data[kept:], headers={**TUS, **OCTETS, "Upload-Offset": str(kept)}
            )
            assert r.status_code == 204, r.text
            got = c.get(srv.files_url("alice", "tus-kill/big.bin"))
            assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        srv.stop()
