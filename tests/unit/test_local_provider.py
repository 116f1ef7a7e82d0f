"""Behaviour specific to ``LocalProvider``: the disk, the metadata and other processes."""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import providers.local.provider as provider_module
from providers.errors import (
    ChecksumMismatchError,
    ConflictError,
    InsufficientStorageError,
    InvalidPathError,
    NotFoundError,
    PreconditionFailedError,
    StorageIOError,
)
from providers.local import LocalProvider
from providers.local.fsview import STAGING_FALLBACK_NAME

pytestmark = pytest.mark.unit

MTIME = 1_600_000_000_000_000_000


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def provider(root: Path, state: Path) -> Iterator[LocalProvider]:
    local = LocalProvider(root, state)
    yield local
    local.close()


def put(provider: LocalProvider, path: str, data: bytes, **commit_args: object) -> None:
    handle = provider.begin_write(path)
    handle.write(data)
    handle.commit(**commit_args)  # type: ignore[arg-type]


def read(provider: LocalProvider, path: str) -> bytes:
    with provider.open_read(path) as reader:
        return reader.read()


def staged(provider: LocalProvider) -> list[str]:
    """Names in the staging directory other than owner lock files."""
    return sorted(n for n in os.listdir(provider.staging_dir) if not n.endswith(".owner"))


def forbid_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any re-hash of stored content fail, to prove digests come from the metadata."""

    def refuse(*_: object) -> None:
        raise AssertionError("content was re-hashed")

    monkeypatch.setattr(provider_module, "hash_stream", refuse)


def fail_writes_below(monkeypatch: pytest.MonkeyPatch, directory: Path, code: int) -> None:
    """Make ``os.write`` fail with ``code`` for files below ``directory`` (Linux /proc)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd")
    real_write = os.write
    prefix = str(directory) + os.sep

    def write(fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(prefix):
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


# ------------------------------------------------------- changes behind our back


def test_file_rewritten_behind_our_back_is_rehashed(
    provider: LocalProvider, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(provider, "a.txt", b"original")
    old_etag = provider.stat("a.txt").etag
    (root / "a.txt").write_bytes(b"rewritten by someone else")
    etag = provider.stat("a.txt").etag
    assert etag != old_etag
    digests = provider.digests("a.txt")
    assert digests.sha256 == hashlib.sha256(b"rewritten by someone else").hexdigest()
    assert digests.md5 == hashlib.md5(b"rewritten by someone else").hexdigest()
    assert provider.stat("a.txt").etag == etag  # re-hashing does not change the ETag
    forbid_hashing(monkeypatch)
    assert provider.digests("a.txt") == digests  # the fresh digests were recorded


def test_in_place_rewrite_with_restored_size_and_mtime_is_noticed(
    provider: LocalProvider, root: Path
) -> None:
    put(provider, "a.bin", b"AAAA", mtime_ns=MTIME)
    old_etag = provider.stat("a.bin").etag
    time.sleep(0.05)  # let the ctime clock tick even on coarse-grained filesystems
    with open(root / "a.bin", "r+b") as f:
        f.write(b"BBBB")
    os.utime(root / "a.bin", ns=(MTIME, MTIME))
    assert provider.stat("a.bin").mtime_ns == MTIME
    assert provider.digests("a.bin").sha256 == hashlib.sha256(b"BBBB").hexdigest()
    assert provider.stat("a.bin").etag != old_etag


def test_file_created_behind_our_back(provider: LocalProvider, root: Path) -> None:
    (root / "outside.txt").write_bytes(b"made by hand")
    first = provider.stat("outside.txt")
    assert first.file_id and first.size == 12
    assert provider.listdir("")[0] == first
    assert provider.digests("outside.txt").sha1 == hashlib.sha1(b"made by hand").hexdigest()
    assert provider.stat("outside.txt") == first  # id and ETag stable across the re-hash
    (root / "outside.txt").write_bytes(b"changed again")
    assert provider.stat("outside.txt").file_id == first.file_id


def test_copy_of_changed_file_carries_fresh_digests(provider: LocalProvider, root: Path) -> None:
    put(provider, "a.txt", b"tracked")
    (root / "a.txt").write_bytes(b"untracked change")
    provider.copy("a.txt", "b.txt", overwrite=False)
    expected = hashlib.sha256(b"untracked change").hexdigest()
    assert provider.digests("b.txt").sha256 == expected
    assert read(provider, "b.txt") == b"untracked change"


def test_recorded_digests_are_used_without_rehashing(
    root: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = LocalProvider(root, state)
    first.mkdir("d")
    put(first, "d/a.txt", b"payload", mtime_ns=MTIME)
    first.copy("d", "copy", overwrite=False)
    first.move("d/a.txt", "moved.txt", overwrite=False)
    before = first.stat("moved.txt")
    first.close()
    forbid_hashing(monkeypatch)
    second = LocalProvider(root, state)  # a restart
    assert second.stat("moved.txt") == before
    assert second.digests("moved.txt").sha256 == hashlib.sha256(b"payload").hexdigest()
    assert second.digests("copy/a.txt").sha256 == hashlib.sha256(b"payload").hexdigest()
    second.set_mtime("moved.txt", MTIME + 1)
    assert second.digests("moved.txt").sha256 == hashlib.sha256(b"payload").hexdigest()
    second.close()


def test_names_with_like_wildcards_do_not_leak_into_other_paths(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for directory in ("a_", "ab", "a%", "a%b"):
        provider.mkdir(directory)
        put(provider, f"{directory}/f", directory.encode())
    ids = {d: provider.stat(f"{d}/f").file_id for d in ("ab", "a%b")}
    provider.delete("a_")
    provider.move("a%", "moved", overwrite=False)
    forbid_hashing(monkeypatch)
    for directory, file_id in ids.items():
        assert provider.stat(f"{directory}/f").file_id == file_id
        assert provider.digests(f"{directory}/f").sha256 == (
            hashlib.sha256(directory.encode()).hexdigest()
        )


def test_reconcile_drops_rows_of_vanished_paths(provider: LocalProvider, root: Path) -> None:
    put(provider, "keep", b"k")
    put(provider, "gone", b"g")
    provider.mkdir("dir")
    keep_id = provider.stat("keep").file_id
    (root / "gone").unlink()
    (root / "dir").rmdir()
    assert provider.reconcile() == 2
    assert provider.reconcile() == 0
    assert provider.stat("keep").file_id == keep_id


# ------------------------------------------------------------------- staging


def test_staging_is_on_the_root_filesystem(
    provider: LocalProvider, root: Path, state: Path
) -> None:
    assert provider.staging_dir == (state / "staging").resolve()
    assert os.stat(provider.staging_dir).st_dev == os.stat(root).st_dev
    handle = provider.begin_write("a.txt")
    handle.write(b"partial")
    [name] = staged(provider)
    staging_file = provider.staging_dir / name
    assert staging_file.read_bytes() == b"partial"
    assert staging_file.stat().st_mode & 0o777 == 0o600
    assert os.listdir(root) == []
    handle.commit()
    assert staged(provider) == []
    assert os.listdir(root) == ["a.txt"]


def test_staging_falls_back_below_root_on_another_filesystem(
    root: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_module, "same_filesystem", lambda a, b: False)
    local = LocalProvider(root, state)
    assert local.staging_dir == root.resolve() / STAGING_FALLBACK_NAME
    handle = local.begin_write("a.txt")
    handle.write(b"partial")
    assert len(staged(local)) == 1
    assert local.listdir("") == []
    for call in (
        lambda: local.stat(STAGING_FALLBACK_NAME),
        lambda: local.listdir(STAGING_FALLBACK_NAME),
        lambda: local.begin_write(f"{STAGING_FALLBACK_NAME}/x"),
        lambda: local.delete(STAGING_FALLBACK_NAME),
    ):
        with pytest.raises(InvalidPathError):
            call()
    handle.commit()
    assert [e.name for e in local.listdir("")] == ["a.txt"]
    assert local.usage("").used == 7
    local.close()


def test_state_inside_root_is_hidden(root: Path) -> None:
    local = LocalProvider(root, root / ".state")
    put(local, "a.txt", b"x")
    assert [e.name for e in local.listdir("")] == ["a.txt"]
    with pytest.raises(InvalidPathError):
        local.stat(".state/metadata.sqlite")
    local.close()


def test_interrupted_writes_leave_no_staging_file(provider: LocalProvider) -> None:
    handle = provider.begin_write("a.txt")
    try:
        handle.write(b"some bytes")
        raise RuntimeError("client went away")
    except RuntimeError:
        handle.abort()
    assert staged(provider) == []

    dropped = provider.begin_write("b.txt")
    dropped.write(b"never committed")
    assert len(staged(provider)) == 1
    del dropped
    gc.collect()
    assert staged(provider) == []

    failing = provider.begin_write("c.txt")
    failing.write(b"data")
    with pytest.raises(ChecksumMismatchError):
        failing.commit(expected_digests={"md5": "0" * 32})
    rejected = provider.begin_write("c.txt")
    rejected.write(b"data")
    with pytest.raises(PreconditionFailedError):
        rejected.commit(if_match="no-such-etag")
    assert staged(provider) == []
    assert provider.listdir("") == []


def test_stale_staging_of_a_dead_process_is_removed_at_start(root: Path, state: Path) -> None:
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from providers.local import LocalProvider\n"
        "p = LocalProvider(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "h = p.begin_write('crash.txt')\n"
        "h.write(b'x' * 1000)\n"
        "os._exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(root), str(state)], timeout=60)
    assert done.returncode == 3
    leftovers = [n for n in os.listdir(state / "staging") if n.endswith(".part")]
    assert len(leftovers) == 1

    alive = LocalProvider(root, state)
    handle = alive.begin_write("live.txt")
    handle.write(b"in progress")
    assert os.listdir(state / "staging").count(leftovers[0]) == 0
    other = LocalProvider(root, state)  # must not take the live writer for dead
    assert len(staged(other)) == 1
    handle.commit()
    assert read(other, "live.txt") == b"in progress"
    with pytest.raises(NotFoundError):
        other.stat("crash.txt")
    other.close()
    alive.close()


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_while_writing(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    put(provider, "a.txt", b"old version")
    fail_writes_below(monkeypatch, provider.staging_dir, code)
    handle = provider.begin_write("a.txt")
    with pytest.raises(InsufficientStorageError):
        handle.write(b"new version")
    assert read(provider, "a.txt") == b"old version"
    assert staged(provider) == []


def test_disk_full_while_flushing_at_commit(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(provider, "a.txt", b"old version")
    handle = provider.begin_write("a.txt")
    handle.write(b"new version")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InsufficientStorageError):
        handle.commit()
    monkeypatch.undo()
    assert read(provider, "a.txt") == b"old version"
    assert staged(provider) == []


def test_other_io_errors_are_storage_io_errors(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writes_below(monkeypatch, provider.staging_dir, errno.EIO)
    handle = provider.begin_write("a.txt")
    with pytest.raises(StorageIOError):
        handle.write(b"data")
    assert staged(provider) == []


def test_reserve_is_kept_free(root: Path, state: Path) -> None:
    local = LocalProvider(root, state, reserve_bytes=1 << 62)
    assert local.usage("").available == 0
    handle = local.begin_write("a.txt")
    with pytest.raises(InsufficientStorageError):
        handle.write(b"x")
    assert local.listdir("") == []
    local.close()


def test_commit_makes_file_and_directory_durable(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd")
    provider.mkdir("d")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    handle = provider.begin_write("d/a.txt")
    handle.write(b"durable")
    handle.commit(mtime_ns=MTIME)
    assert os.stat(root / "d" / "a.txt").st_mtime_ns == MTIME
    assert any(s.startswith(str(provider.staging_dir)) for s in synced)
    assert str((root / "d").resolve()) in synced


# --------------------------------------------------------------- concurrency


def test_concurrent_commits_each_land_complete(provider: LocalProvider) -> None:
    bodies = [bytes([65 + i]) * (256 * 1024) for i in range(2)]
    for _ in range(5):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def upload(
            body: bytes,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                handle = provider.begin_write("shared.bin")
                for start in range(0, len(body), 16 * 1024):
                    handle.write(body[start : start + 16 * 1024])
                    time.sleep(0)
                barrier.wait()
                handle.commit()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=upload, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        content = read(provider, "shared.bin")
        assert content in bodies
        assert provider.digests("shared.bin").sha256 == hashlib.sha256(content).hexdigest()
    assert staged(provider) == []


def test_commit_preconditions_are_serialised(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def slow_replace(src: str, dst: str) -> None:
        time.sleep(0.05)  # widen the window between precondition check and rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", slow_replace)
    results: list[str] = []
    handles = []
    for i in range(4):
        handle = provider.begin_write("once.txt")
        handle.write(f"writer {i}".encode())
        handles.append(handle)

    def commit(handle: object) -> None:
        try:
            handle.commit(if_none_match_any=True)  # type: ignore[attr-defined]
            results.append("ok")
        except PreconditionFailedError:
            results.append("refused")

    threads = [threading.Thread(target=commit, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused", "refused", "refused"]


# -------------------------------------------------------------------- safety


def test_symlinks_out_of_root_are_not_followed(
    provider: LocalProvider, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "filelink").symlink_to(outside / "secret")
    assert provider.listdir("") == []
    for path in ("dirlink", "dirlink/secret", "filelink"):
        with pytest.raises(NotFoundError):
            provider.stat(path)
        with pytest.raises(NotFoundError):
            provider.open_read(path)
        with pytest.raises(NotFoundError):
            provider.delete(path)
    with pytest.raises(NotFoundError):
        provider.digests("filelink")
    with pytest.raises(NotFoundError):
        provider.listdir("dirlink")
    with pytest.raises(ConflictError):
        provider.begin_write("dirlink/new")
    with pytest.raises(ConflictError):
        provider.mkdir("dirlink/new")
    put(provider, "filelink", b"replaces the link itself")
    assert (outside / "secret").read_bytes() == b"secret"
    assert not (root / "filelink").is_symlink()
    assert sorted(os.listdir(outside)) == ["secret"]


def test_unaddressable_names_are_hidden(provider: LocalProvider, root: Path) -> None:
    (root / "back\\slash").write_bytes(b"x")
    (root / "e\u0301").write_bytes(b"x")  # not NFC: no storage path can name it
    os.mkfifo(root / "fifo")
    (root / "ok").write_bytes(b"x")
    assert [e.name for e in provider.listdir("")] == ["ok"]
    assert provider.usage("").used == 1


def test_digests_many_rehashes_a_file_changed_after_the_listing(
    provider: LocalProvider, root: Path
) -> None:
    put(provider, "a.txt", b"original")
    put(provider, "b.txt", b"kept")
    provider.listdir("")  # its rows are kept for the digests that follow
    (root / "a.txt").write_bytes(b"rewritten by someone else")
    got = provider.digests_many(["a.txt", "b.txt"])
    assert got["a.txt"].sha256 == hashlib.sha256(b"rewritten by someone else").hexdigest()
    assert got["b.txt"].sha256 == hashlib.sha256(b"kept").hexdigest()


def test_digests_many_after_a_listing_reads_no_content(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        put(provider, f"f{i}", b"x" * i)
    provider.listdir("")
    forbid_hashing(monkeypatch)
    got = provider.digests_many([f"f{i}" for i in range(5)])
    assert [got[f"f{i}"].sha256 for i in range(5)] == [
        hashlib.sha256(b"x" * i).hexdigest() for i in range(5)
    ]


def test_listing_with_digests_reads_them_from_the_metadata(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        put(provider, f"f{i}", b"x" * i)
    provider.mkdir("sub")
    forbid_hashing(monkeypatch)
    listed = provider.listdir_with_digests("")
    assert [entry for entry, _ in listed] == provider.listdir("")
    assert [(e.name, d.sha256 if d else None) for e, d in listed] == [
        *((f"f{i}", hashlib.sha256(b"x" * i).hexdigest()) for i in range(5)),
        ("sub", None),
    ]


@pytest.mark.parametrize("same_size", [True, False])
def test_listing_with_digests_leaves_out_a_file_rewritten_behind_our_back(
    provider: LocalProvider, root: Path, same_size: bool
) -> None:
    put(provider, "a.txt", b"original")
    put(provider, "b.txt", b"kept")
    provider.listdir_with_digests("")
    before = os.stat(root / "a.txt")
    (root / "a.txt").write_bytes(b"Original" if same_size else b"rewritten by someone else")
    os.utime(root / "a.txt", ns=(before.st_atime_ns, before.st_mtime_ns))  # only ctime moves
    listed = dict((e.name, (e, d)) for e, d in provider.listdir_with_digests(""))
    entry, digests = listed["a.txt"]
    assert digests is None  # not known for this version: ``digests`` re-hashes it
    assert entry.etag != provider.stat("b.txt").etag and entry.etag.startswith("s-")
    now = hashlib.sha256((root / "a.txt").read_bytes()).hexdigest()
    assert provider.digests("a.txt").sha256 == now
    assert listed["b.txt"][1] == provider.digests("b.txt")
    again = {e.name: d for e, d in provider.listdir_with_digests("")}  # re-hashed: known now
    assert again["a.txt"] == provider.digests("a.txt")
