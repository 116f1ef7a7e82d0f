"""SIGKILL while concurrent writes are being landed in batches (group commit): every file is
afterwards exactly one complete version that was sent for it, never older than the last
version the server confirmed, and after a restart the server reports the hash of what is on
disk and has cleaned its staging area."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import PROPFIND_HASHES, client, sha256, staging_leftovers
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = "reserve_bytes: 0\nserver: {threads: 16}\nlimits: {max_requests_per_user: 32}\n"
WRITERS = 8
SIZE = 16 * 1024
RUN_BEFORE_KILL_S = 1.5
MAX_VERSIONS = 10_000


def version(writer: int, number: int) -> bytes:
    """Version ``number`` of writer ``writer``'s file: a header naming it, padded to SIZE."""
    head = f"writer {writer} version {number:06d}\n".encode()
    return (head * (SIZE // len(head) + 1))[:SIZE]


def parse(data: bytes) -> tuple[int, int] | None:
    """(writer, version) if ``data`` is exactly one complete version, else None."""
    match = re.match(rb"writer (\d+) version (\d+)\n", data)
    if match is None:
        return None
    writer, number = int(match.group(1)), int(match.group(2))
    return (writer, number) if data == version(writer, number) else None


def test_sigkill_during_batched_commits_leaves_whole_versions(tmp_path: Path) -> None:
    srv: DavServer = start_server(tmp_path, CONFIG, {"alice": USERS["alice"]})
    confirmed = [-1] * WRITERS
    stop = threading.Event()

    def writer(i: int) -> None:
        with client() as c:
            for number in range(MAX_VERSIONS):
                if stop.is_set():
                    return
                try:
                    r = c.put(srv.files_url("alice", f"w{i}.bin"), content=version(i, number))
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code in (201, 204):
                    confirmed[i] = number

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while min(confirmed) < 3 and time.monotonic() < deadline:  # every writer is going
        time.sleep(0.05)
    time.sleep(RUN_BEFORE_KILL_S)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(60)
    assert min(confirmed) >= 3, "the writers never got going"

    home = tmp_path / "root" / "files" / "alice"
    on_disk: dict[int, bytes] = {}
    for i in range(WRITERS):
        data = (home / f"w{i}.bin").read_bytes()
        parsed = parse(data)
        assert parsed is not None, f"w{i}.bin is not one complete version"
        assert parsed[0] == i
        assert parsed[1] >= confirmed[i], f"w{i}.bin lost a confirmed version"
        on_disk[i] = data
    assert sorted(p.name for p in home.iterdir()) == sorted(f"w{i}.bin" for i in range(WRITERS))

    srv = DavServer(srv.root, srv.extra_args).start()
    try:
        with client() as c:
            for i, data in on_disk.items():
                r = c.request(
                    "PROPFIND",
                    srv.files_url("alice", f"w{i}.bin"),
                    headers={"Depth": "0"},
                    content=PROPFIND_HASHES,
                )
                assert r.status_code == 207
                assert f"SHA256:{sha256(data)}" in r.text
                assert c.get(srv.files_url("alice", f"w{i}.bin")).content == data
    finally:
        srv.stop()
    assert staging_leftovers(tmp_path / "root") == []
