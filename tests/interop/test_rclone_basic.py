"""rclone's webdav backend (vendors owncloud, nextcloud, other) against davserver over TLS."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS
from tests.interop.rclone_support import Rclone
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop]


def make_tree(base: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n" * 100,
        "sub/b.bin": os.urandom(200_000),
        "sub/deeper/c.csv": b"x,y\n1,2\n" * 5000,
        "empty.dat": b"",
        "space name ü.txt": b"unicode name",
    }
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


@pytest.fixture()
def remote(
    request: pytest.FixtureRequest, tls_server: DavServer, ca_file: Path, tmp_path: Path
) -> Rclone:
    vendor = request.param
    url = tls_server.files_url("alice").rstrip("/")
    return Rclone(tmp_path, url, vendor, "alice", PASSWORDS["alice"], ca_file)


@pytest.mark.parametrize("remote", ["owncloud"], indirect=True)
def test_owncloud_sync_check_and_noop(remote: Rclone, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    remote.run("sync", str(src), "dav:oc-tree")
    check = remote.run("check", str(src), "dav:oc-tree")  # compares MD5 (owncloud vendor)
    assert "0 differences found" in check.stderr
    assert "hash" not in check.stderr.lower() or "0 hashes could not be checked" in check.stderr
    again = remote.run("sync", "--checksum", "-v", str(src), "dav:oc-tree")
    assert "Transferred:" in again.stderr
    assert "Copied" not in again.stderr, again.stderr
    listing = {e["Path"]: e for e in remote.lsjson("oc-tree", "-R", "--hash", "--files-only")}
    for rel, data in files.items():
        assert listing[rel]["Hashes"]["md5"] == hashlib.md5(data).hexdigest()
        assert listing[rel]["Hashes"]["sha1"] == hashlib.sha1(data).hexdigest()


@pytest.mark.parametrize("remote", ["owncloud"], indirect=True)
def test_owncloud_detects_same_size_edit(remote: Rclone, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_bytes(b"AAAA")
    remote.run("sync", str(src), "dav:edit")
    (src / "f.txt").write_bytes(b"BBBB")
    os.utime(src / "f.txt", (1_600_000_000, 1_600_000_000))
    remote.run("sync", "--checksum", str(src), "dav:edit")
    assert remote.run("cat", "dav:edit/f.txt").stdout == "BBBB"


@pytest.mark.parametrize("remote", ["nextcloud"], indirect=True)
def test_nextcloud_touch_and_modtime(remote: Rclone, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.txt").write_bytes(b"touch me")
    remote.run("copy", str(src), "dav:nc-touch")
    remote.run("touch", "-t", "2021-01-02T03:04:05", "dav:nc-touch/t.txt")
    [entry] = remote.lsjson("nc-touch/t.txt")
    assert entry["ModTime"].startswith("2021-01-02T03:04:05")
    os.utime(src / "t.txt", (1_500_000_000, 1_500_000_000))
    out = remote.run("sync", "-v", str(src), "dav:nc-touch")
    assert "Copied" not in out.stderr, out.stderr  # mod-time only: set, not re-uploaded
    [entry] = remote.lsjson("nc-touch/t.txt")
    assert entry["ModTime"].startswith("2017-07-14T02:40:00")
    check = remote.run("check", str(src), "dav:nc-touch")
    assert "0 differences found" in check.stderr


@pytest.mark.parametrize("remote", ["other"], indirect=True)
def test_other_vendor_copy_and_size_check(remote: Rclone, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    remote.run("copy", str(src), "dav:other-tree")
    check = remote.run("check", "--size-only", str(src), "dav:other-tree")
    assert "0 differences found" in check.stderr
