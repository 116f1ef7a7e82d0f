"""Crashes and changes made while the server is down: after a restart, listings, hashes,
ETags and the inventory describe what is on disk, and nothing partial is ever visible."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.conftest import client, sha256, staging_leftovers, stored_sha256
from tests.support import rawhttp
from tests.support.configured import USERS, prepare_root
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = "reserve_bytes: 0\n"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return prepare_root(tmp_path, CONFIG, {"alice": USERS["alice"]})


def _start(root: Path) -> DavServer:
    return DavServer(root, ["--config", str(root.parent / "config.yaml")]).start()


def _names(c: object, url: str) -> list[str]:
    r = c.request("PROPFIND", url, headers={"Depth": "1"})  # type: ignore[attr-defined]
    assert r.status_code == 207
    hrefs = re.findall(r"<D:href>([^<]+)</D:href>", r.text)
    return sorted(h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs[1:])


def _inventory(c: object, url: str) -> dict[str, dict[str, object]]:
    r = c.get(url + "?inventory")  # type: ignore[attr-defined]
    assert r.status_code == 200
    entries = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    return {str(e.get("path")): e for e in entries}


@pytest.fixture()
def killed_with_changes(root: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A server that stored files, was SIGKILLed, and whose tree was then changed on disk."""
    srv = _start(root)
    home = root / "files" / "alice"
    etags: dict[str, str] = {}
    with client() as c:
        for name, body in (("same.txt", b"same"), ("edited.txt", b"v1 " * 100), ("gone.txt", b"x")):
            assert c.put(srv.files_url("alice", name), content=body).status_code == 201
            etags[name] = c.head(srv.files_url("alice", name)).headers["ETag"]
        assert c.request("MKCOL", srv.files_url("alice", "kind")).status_code == 201
        assert stored_sha256(c, srv.files_url("alice", "edited.txt")) == sha256(b"v1 " * 100)
    srv.kill()
    (home / "gone.txt").unlink()
    (home / "edited.txt").write_bytes(b"edited behind the server's back")
    os.utime(home / "edited.txt", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    os.rmdir(home / "kind")
    (home / "kind").write_bytes(b"now a file")
    (home / "added.txt").write_bytes(b"added")
    yield root, etags


def test_restart_reflects_changes_made_while_down(
    killed_with_changes: tuple[Path, dict[str, str]],
) -> None:
    root, etags = killed_with_changes
    srv = _start(root)
    try:
        base = srv.files_url("alice")
        with client() as c:
            assert _names(c, base) == ["added.txt", "edited.txt", "kind", "same.txt"]
            assert c.get(base + "gone.txt").status_code == 404
            assert c.get(base + "edited.txt").content == b"edited behind the server's back"
            assert stored_sha256(c, base + "edited.txt") == sha256(
                b"edited behind the server's back"
            )
            assert c.head(base + "edited.txt").headers["ETag"] != etags["edited.txt"]
            assert c.head(base + "same.txt").headers["ETag"] == etags["same.txt"]
            assert stored_sha256(c, base + "added.txt") == sha256(b"added")
            assert c.get(base + "kind").content == b"now a file"
            found = c.request("PROPFIND", base + "kind", headers={"Depth": "0"})
            assert "<D:collection" not in found.text
            inventory = _inventory(c, base)
            text = json.dumps(inventory)
            assert "gone.txt" not in text
            assert sha256(b"edited behind the server's back") in text
            assert sha256(b"added") in text
    finally:
        srv.stop()


def test_server_killed_mid_upload_of_a_new_file_leaves_nothing(root: Path) -> None:
    srv = _start(root)
    target = "/remote.php/dav/files/alice/partial.bin"
    u = urlsplit(srv.url)
    auth = rawhttp.digest(srv.url, "alice", USERS["alice"], "PUT", target)
    head = rawhttp.build(
        "PUT", target, host=u.netloc, headers=["Content-Length: 5000000"], auth=auth
    )
    with socket.create_connection((u.hostname or "", u.port or 0), timeout=10) as sock:
        sock.sendall(head + b"p" * 2_000_000)
        time.sleep(0.5)
        srv.kill()
    assert not (root / "files" / "alice" / "partial.bin").exists()
    srv = _start(root)
    try:
        with client() as c:
            assert c.get(srv.files_url("alice", "partial.bin")).status_code == 404
            assert "partial.bin" not in _names(c, srv.files_url("alice"))
    finally:
        srv.stop()
    assert staging_leftovers(root) == []
