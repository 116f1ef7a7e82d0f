"""The official desktop clients' command-line sync (Debian ``nextcloudcmd`` and
``owncloudcmd``) against davsync over TLS: a full two-way scenario per client.

1. first upload of a tree with a file larger than the chunk size (chunked upload);
2. a settling run, then a no-op run that makes no requests beyond the root listing (checked in
   the server's request log);
3. a change made on the server three folders deep comes down on the next run;
4. a local delete and a local rename reach the server;
5. a rename on the server is applied locally without downloading the file again;
6. a file changed on both sides: the client keeps a conflict copy, nothing is lost.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from interop.nextcloud_desktop import DesktopSync, LoggedRequest, find_client, parse_request_log
from interop.tools import require, wait_until
from tests.conftest import PASSWORDS, _prepare_root
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop]

USERS = {"nextcloud": "alice", "owncloud": "bob"}
CHUNK = 1024 * 1024
CONNECT = {"GET /status.php", "GET /ocs/v1.php/cloud/capabilities", "GET /ocs/v1.php/cloud/user"}


@pytest.fixture(scope="module")
def logged_tls_server(
    tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA
) -> Iterator[DavServer]:
    """An HTTPS server that logs every request (``verbose: 3``)."""
    tmp = tmp_path_factory.mktemp("davserver-desktop")
    root = _prepare_root(tmp)
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    config = tmp / "config.yaml"
    config.write_text("verbose: 3\n", encoding="utf-8")
    args = ["--config", str(config), "--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    srv = DavServer(root, args).start()
    yield srv
    srv.stop()


class RequestLog:
    """The server's request log between two markers (anonymous requests to a unique path)."""

    def __init__(self, server: DavServer, ca: Path) -> None:
        self.server = server
        self.ca = ca

    def mark(self) -> str:
        label = f"/davsync-test-mark/{uuid.uuid4().hex}"
        httpx.get(self.server.url.rstrip("/") + label, verify=str(self.ca), timeout=30)
        assert wait_until(lambda: any(label in line for line in self.server.output), 30)
        return label

    def between(self, start: str, end: str) -> list[LoggedRequest]:
        lines = list(self.server.output)
        # Each marker shows up twice (WsgiDAV's request line and the access log): take the
        # lines strictly between the start marker's last and the end marker's first mention.
        first = max(i for i, line in enumerate(lines) if start in line)
        last = min(i for i, line in enumerate(lines) if end in line)
        return parse_request_log(lines[first + 1 : last])


class Remote:
    """The synced user's files on the server, read and changed with plain HTTP."""

    def __init__(self, server: DavServer, user: str, ca: Path) -> None:
        self.base = server.files_url(user, "")
        self.http = httpx.Client(
            auth=httpx.BasicAuth(user, PASSWORDS[user]), verify=str(ca), timeout=60
        )

    def get(self, path: str) -> bytes | None:
        r = self.http.get(self.base + path)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.content

    def put(self, path: str, data: bytes) -> None:
        assert self.http.put(self.base + path, content=data).status_code in (201, 204)

    def move(self, src: str, dst: str) -> None:
        r = self.http.request("MOVE", self.base + src, headers={"Destination": self.base + dst})
        assert r.status_code in (201, 204), r.text


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("kind", sorted(USERS))
def test_two_way_sync_scenario(
    kind: str, logged_tls_server: DavServer, ca_file: Path, tmp_path: Path
) -> None:
    binary = require(lambda: find_client(kind))
    user = USERS[kind]
    local = tmp_path / "local"
    sync = DesktopSync(
        kind, binary, local, logged_tls_server.url, user, PASSWORDS[user], tmp_path, CHUNK
    )
    remote = Remote(logged_tls_server, user, ca_file)
    log = RequestLog(logged_tls_server, ca_file)

    def run() -> list[LoggedRequest]:
        start = log.mark()
        sync.run()
        return log.between(start, log.mark())

    # 1. first upload, with a file that needs three chunks
    big = os.urandom(3 * CHUNK + 1234)
    write(local / "top.txt", b"top level\n")
    write(local / "a/b/c/deep.txt", b"three folders deep\n")
    write(local / "a/big.bin", big)
    first = run()
    assert remote.get("top.txt") == b"top level\n"
    assert remote.get("a/b/c/deep.txt") == b"three folders deep\n"
    assert sha1(remote.get("a/big.bin") or b"") == sha1(big)
    chunk_puts = [r for r in first if r.method == "PUT" and r.path.startswith(f"/uploads/{user}/")]
    assert len(chunk_puts) >= 3
    assert any(r.method == "MOVE" and r.path.endswith("/.file") for r in first)

    # 2. settle, then a run with nothing to do lists only the root
    run()
    idle = run()
    dav = [r for r in idle if f"{r.method} {r.path}" not in CONNECT]
    assert [(r.method, r.path) for r in dav] == [("PROPFIND", f"/files/{user}/")], idle

    # 3. a change three folders deep on the server comes down
    remote.put("a/b/c/deep.txt", b"changed on the server, three folders deep\n")
    remote.put("a/b/c/new.txt", b"new on the server\n")
    run()
    assert (local / "a/b/c/deep.txt").read_bytes() == b"changed on the server, three folders deep\n"
    assert (local / "a/b/c/new.txt").read_bytes() == b"new on the server\n"

    # 4. local delete and local rename go up
    (local / "top.txt").unlink()
    (local / "a/b/c/new.txt").rename(local / "a/b/c/renamed.txt")
    run()
    assert remote.get("top.txt") is None
    assert remote.get("a/b/c/new.txt") is None
    assert remote.get("a/b/c/renamed.txt") == b"new on the server\n"

    # 5. a rename on the server is applied locally, without downloading the file again
    remote.move("a/b", "a/moved")
    renamed = run()
    assert (local / "a/moved/c/deep.txt").is_file() and not (local / "a/b").exists()
    assert (local / "a/moved/c/renamed.txt").read_bytes() == b"new on the server\n"
    assert not [r for r in renamed if r.method == "GET" and r.path.endswith(".txt")], renamed

    # 6. both sides change the same file: a conflict copy, nothing lost
    remote.put("a/moved/c/deep.txt", b"server edit\n")
    write(local / "a/moved/c/deep.txt", b"local edit, longer than the server's\n")
    run()
    contents = {p.read_bytes() for p in local.rglob("*.txt")}
    assert b"server edit\n" in contents
    assert b"local edit, longer than the server's\n" in contents
    assert sync.conflict_copies(), sorted(p.name for p in local.rglob("*"))
    assert remote.get("a/moved/c/deep.txt") in (
        b"server edit\n",
        b"local edit, longer than the server's\n",
    )
