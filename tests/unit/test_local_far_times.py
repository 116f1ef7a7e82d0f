"""Files and folders whose times lie beyond SQLite's 64-bit range (after 2262 in
nanoseconds; ext4 and XFS keep such times) when they were placed on disk by other means:
listing, stat, reading, hashing, copying and moving them work, and the times are reported as
the file system keeps them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from providers.hashing import hash_chunks
from providers.local.provider import LocalProvider
from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.unit

FAR_FUTURE_NS = (1 << 63) + 123_000_000_000  # 2262-04-11 plus two minutes


def _set_times(path: Path, ns: int) -> int:
    """Set both times of ``path`` to ``ns``; skip when this file system cannot keep them."""
    try:
        os.utime(path, ns=(ns, ns))
    except (OSError, OverflowError) as exc:
        pytest.skip(f"this file system cannot keep the time {ns} ns: {exc}")
    kept = os.stat(path).st_mtime_ns
    if kept != ns:
        pytest.skip(f"this file system keeps {kept} ns for {ns} ns")
    return kept


def test_a_file_with_a_far_time_is_listed_read_and_moved(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "files", tmp_path / "state")
    provider.mkdir("u")
    on_disk = tmp_path / "files" / "u" / "far.txt"
    on_disk.write_bytes(b"far away")
    kept = _set_times(on_disk, FAR_FUTURE_NS)

    (listed,) = provider.listdir_with_digests("u")
    assert listed[0].name == "far.txt" and listed[0].mtime_ns == kept
    assert provider.stat("u/far.txt").mtime_ns == kept
    with provider.open_read("u/far.txt") as f:
        assert f.read() == b"far away"
    assert provider.digests("u/far.txt") == hash_chunks([b"far away"])
    (listed,) = provider.listdir_with_digests("u")  # now with the recorded digests
    assert listed[1] == hash_chunks([b"far away"])
    provider.copy("u/far.txt", "u/copy.txt", overwrite=False)
    provider.move("u/copy.txt", "u/moved.txt", overwrite=False)
    assert provider.stat("u/moved.txt").mtime_ns == kept
    assert sorted(e.name for e, _ in provider.listdir_with_digests("u")) == [
        "far.txt",
        "moved.txt",
    ]


def test_a_folder_with_a_far_time_is_listed(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "files", tmp_path / "state")
    provider.mkdir("u")
    provider.mkdir("u/far")
    _set_times(tmp_path / "files" / "u" / "far", FAR_FUTURE_NS)
    ((entry, _),) = provider.listdir_with_digests("u")
    assert entry.is_dir and entry.name == "far"
    assert provider.listdir_with_digests("u/far") == []
    assert provider.stat("u/far").is_dir


def test_a_far_time_is_answered_over_webdav(tmp_path: Path) -> None:
    with inprocess_app(tmp_path) as app, client_for(app, "alice") as c:
        assert c.put("/remote.php/dav/files/alice/far.txt", content=b"far").status_code == 201
        on_disk = next(tmp_path.rglob("alice/far.txt"))
        _set_times(on_disk, FAR_FUTURE_NS)
        listing = c.request("PROPFIND", "/remote.php/dav/files/alice/", headers={"Depth": "1"})
        assert listing.status_code == 207, listing.text
        assert "2262 " in listing.text and "far.txt" in listing.text
        got = c.get("/remote.php/dav/files/alice/far.txt")
        assert (got.status_code, got.content) == (200, b"far")
