"""A full disk (a size-limited tmpfs as the server's root, so ENOSPC is real): uploads that do
not fit get 507, the previous version stays intact, staging files are removed, nothing else
breaks, and the server keeps serving."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.conftest import client, sha256, staging_leftovers, stored_sha256
from tests.support import rawhttp
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

TMPFS_BYTES = 8 * 1024 * 1024
CONFIG = "reserve_bytes: 0\n"


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs (needs root; skipped with the reason otherwise), unmounted afterwards."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


@pytest.fixture()
def full_disk_server(tmp_path: Path, tmpfs: Path) -> Iterator[DavServer]:
    srv = start_server(tmp_path, CONFIG, {"alice": USERS["alice"]}, root=tmpfs / "root")
    yield srv
    srv.stop()


def _chunks(total: int, block: int = 256 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(block, total - sent)
        yield b"N" * n
        sent += n


def test_enospc_mid_write_is_507_and_keeps_the_old_version(full_disk_server: DavServer) -> None:
    srv = full_disk_server
    url = srv.files_url("alice", "precious.bin")
    original = os.urandom(1024 * 1024)
    with client() as c:
        assert c.put(url, content=original).status_code == 201
        free_before = shutil.disk_usage(srv.root).free
        c.request("PROPFIND", url, headers={"Depth": "0"})  # Digest challenge: then preemptive
        r = c.put(url, content=_chunks(2 * TMPFS_BYTES))  # chunked: no size announced
        assert r.status_code == 507, r.text
        assert c.get(url).content == original
        assert stored_sha256(c, url) == sha256(original)
        assert staging_leftovers(srv.root) == []
        assert shutil.disk_usage(srv.root).free >= free_before - 64 * 1024
        # still serving: reads, listings and writes that fit
        assert (
            c.request("PROPFIND", srv.files_url("alice"), headers={"Depth": "1"}).status_code == 207
        )
        assert c.put(srv.files_url("alice", "small.txt"), content=b"fits").status_code == 201
        assert c.get(srv.files_url("alice", "small.txt")).content == b"fits"
    assert (srv.root / "files" / "alice" / "precious.bin").read_bytes() == original


def test_announced_size_over_free_space_is_refused_up_front(full_disk_server: DavServer) -> None:
    srv = full_disk_server
    target = "/remote.php/dav/files/alice/huge.bin"
    auth = rawhttp.digest(srv.url, "alice", USERS["alice"], "PUT", target)
    head = rawhttp.build(
        "PUT",
        target,
        host=urlsplit(srv.url).netloc,
        headers=[f"Content-Length: {4 * TMPFS_BYTES}"],
        auth=auth,
    )
    response = rawhttp.exchange(srv.url, head + b"x" * 1000, half_close=False, timeout=10)
    assert response.status == 507
    assert not (srv.root / "files" / "alice" / "huge.bin").exists()
    assert staging_leftovers(srv.root) == []


PROPPATCH_FULL = (  # well under the 64 KiB value bound, so only the full disk can refuse it
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>'
    + b"<Z:p>"
    + b"v" * 30_000
    + b"</Z:p></D:prop></D:set></D:propertyupdate>"
)
PROPFIND_Z = b'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:p/></D:prop></D:propfind>'


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full (ENOSPC). Unbuffered: a block
    cut short by the full disk must not stay in a buffer that ``close`` would try again."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


def _propstat_statuses(multistatus: str) -> list[int]:
    """The status codes of every propstat of a 207 body."""
    return [int(code) for code in re.findall(r"<D:status>HTTP/1\.1 (\d{3})", multistatus)]


def test_completely_full_disk_never_gives_500(full_disk_server: DavServer) -> None:
    """With the disk filled behind the server's back, every write method answers exactly 507
    (PROPPATCH: 507 for the property, in its 207 multistatus), and afterwards nothing it
    refused is there: no file, no partial file, no collection, no copy, no property, no
    metadata row (HEAD/PROPFIND 404); the old version is intact, reads keep working, and
    everything works again once space is freed."""
    srv = full_disk_server
    home = srv.root / "files" / "alice"
    keep = srv.files_url("alice", "keep.txt")
    with client() as c:
        assert c.put(keep, content=b"keep").status_code == 201
        keep_sha = stored_sha256(c, keep)
        assert keep_sha == sha256(b"keep")
        filler = srv.root / "filler"
        _fill(filler)
        try:
            results = {
                "PUT": c.put(srv.files_url("alice", "new.bin"), content=b"x" * 200_000),
                "MKCOL": c.request("MKCOL", srv.files_url("alice", "dir")),
                "COPY": c.request(
                    "COPY", keep, headers={"Destination": srv.files_url("alice", "copy.txt")}
                ),
                "PROPPATCH": c.request("PROPPATCH", keep, content=PROPPATCH_FULL),
            }
            statuses = {name: r.status_code for name, r in results.items()}
            assert statuses == {"PUT": 507, "MKCOL": 507, "COPY": 507, "PROPPATCH": 207}, {
                name: (r.status_code, r.text[:300]) for name, r in results.items()
            }
            proppatch = results["PROPPATCH"].text
            assert _propstat_statuses(proppatch) == [507], proppatch
            assert "Traceback" not in proppatch and "Source exception" not in proppatch, proppatch
            # nothing refused was stored, on disk or in the metadata the server answers from
            assert sorted(p.name for p in home.iterdir()) == ["keep.txt"]
            for name in ("new.bin", "dir/", "copy.txt"):
                r = c.request("PROPFIND", srv.files_url("alice", name), headers={"Depth": "0"})
                assert r.status_code == 404, (name, r.status_code, r.text[:300])
            r = c.request("PROPFIND", keep, headers={"Depth": "0"}, content=PROPFIND_Z)
            assert r.status_code == 207 and _propstat_statuses(r.text) == [404], r.text
            # the old version is intact and still served
            assert c.get(keep).content == b"keep"
            assert stored_sha256(c, keep) == keep_sha
            listing = c.request("PROPFIND", srv.files_url("alice"), headers={"Depth": "1"})
            assert listing.status_code == 207
            assert "keep.txt" in listing.text and "new.bin" not in listing.text
        finally:
            filler.unlink()
        assert staging_leftovers(srv.root) == []
        # once space is free again, the same writes succeed
        assert c.put(srv.files_url("alice", "after.bin"), content=b"y" * 200_000).status_code == 201
        assert c.request("MKCOL", srv.files_url("alice", "dir")).status_code == 201
        r = c.request("PROPPATCH", keep, content=PROPPATCH_FULL)
        assert r.status_code == 207 and _propstat_statuses(r.text) == [200], r.text
    assert (home / "after.bin").read_bytes() == b"y" * 200_000
    assert (home / "keep.txt").read_bytes() == b"keep"
    assert staging_leftovers(srv.root) == []
