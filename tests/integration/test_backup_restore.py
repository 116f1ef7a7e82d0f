"""The backup recipe of docs/OPERATIONS.md, run against a live server: the SQLite databases
copied with SQLite's online backup while serving, the files copied, and a server started on
the restored copy serves the same users, files and hashes."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest

from tests.support.server import DavServer

pytestmark = pytest.mark.integration

DATABASES = ("state.sqlite", "metadata.sqlite")


def backup_database(source: Path, target: Path) -> None:
    """What OPERATIONS.md shows: ``sqlite3.Connection.backup`` of a database in use."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def test_online_backup_restores(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = {f"f{i}.bin": hashlib.sha256(str(i).encode()).digest() * (i + 1) for i in range(5)}
    srv = DavServer(root).start()
    backup = tmp_path / "backup"
    (backup / "state").mkdir(parents=True)
    try:
        with httpx.Client(auth=httpx.DigestAuth("admin", "admin-secret"), timeout=30) as http:
            for name, data in files.items():
                assert http.put(srv.files_url("admin", name), content=data).status_code == 201
            for name in DATABASES:  # while the server runs, WAL files present
                assert (root / ".davsync" / f"{name}-wal").exists()
                backup_database(root / ".davsync" / name, backup / "state" / name)
            shutil.copytree(root / "files", backup / "files")
            # a write after the backup is not in it
            assert http.put(srv.files_url("admin", "later.txt"), content=b"x").status_code == 201
    finally:
        srv.stop()

    restored = tmp_path / "restored"
    shutil.copytree(backup / "files", restored / "files")
    (restored / ".davsync").mkdir(mode=0o700)
    for name in DATABASES:
        shutil.copy2(backup / "state" / name, restored / ".davsync" / name)
    again = DavServer(restored, env={"DAVSYNC_ADMIN_PASSWORD": ""}).start()
    try:
        assert "Created user" not in "".join(again.output)  # the user came back with the backup
        with httpx.Client(auth=httpx.DigestAuth("admin", "admin-secret"), timeout=30) as http:
            for name, data in files.items():
                got = http.get(srv.files_url("admin", name).replace(srv.url, again.url))
                assert got.status_code == 200 and got.content == data
                declared = got.headers["OC-Checksum"]
                assert hashlib.sha1(data).hexdigest() in declared.lower()
            gone = http.get(again.files_url("admin", "later.txt"))
            assert gone.status_code == 404
        state = restored / ".davsync"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "state.sqlite").stat().st_mode) == 0o600
    finally:
        again.stop()
