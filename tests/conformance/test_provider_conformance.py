"""The provider contracts of ``providers.base``, checked against every provider."""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers.base import BatchDigests, CommitResult, ListingDigests, Provider, digests_many
from providers.errors import (
    AlreadyExistsError,
    ChecksumMismatchError,
    ConflictError,
    InsufficientStorageError,
    InvalidPathError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
    SizeMismatchError,
)
from providers.local import LocalProvider
from providers.memory import MemoryProvider

pytestmark = pytest.mark.conformance

MTIME = 1_600_000_000_123_456_789


@dataclass
class Case:
    """A provider plus a way to make its disk look full."""

    provider: Provider
    fill_disk: Callable[[], None]


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


def s3_case(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Case:
    """An S3Provider on the session's real Ceph radosgw (a fresh prefix per test), its
    namespace in SQLite (``s3``) or in a fresh PostgreSQL database (``s3-postgresql``)."""
    from providers.s3 import S3Access, S3Provider
    from tests.support.ceph import S3Target

    target: S3Target = request.getfixturevalue("s3_target")
    cluster = target.cluster
    access = S3Access(cluster.endpoint, cluster.region, cluster.access_key, cluster.secret_key)
    state: Path | str = tmp_path / "state"
    if request.param == "s3-postgresql":  # the namespace in a fresh PostgreSQL database
        state = request.getfixturevalue("postgres_url")
    s3 = S3Provider(target.url, access, state, staging_dir=tmp_path / "staging")
    request.addfinalizer(s3.close)

    def fill_staging() -> None:
        fail_writes_below(monkeypatch, s3.staging_dir, errno.ENOSPC)

    return Case(s3, fill_staging)


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("s3", marks=pytest.mark.s3),
        pytest.param("s3-postgresql", marks=pytest.mark.s3),
    ]
)
def case(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Case]:
    if request.param.startswith("s3"):
        yield s3_case(request, tmp_path, monkeypatch)
    elif request.param == "memory":
        memory = MemoryProvider()

        def fill_memory() -> None:
            memory.capacity = memory.usage("").used

        yield Case(memory, fill_memory)
    else:
        local = LocalProvider(tmp_path / "root", tmp_path / "state")

        def fill_local() -> None:
            fail_writes_below(monkeypatch, local.staging_dir, errno.ENOSPC)

        yield Case(local, fill_local)
        local.close()


@pytest.fixture
def provider(case: Case) -> Provider:
    return case.provider


def put(provider: Provider, path: str, data: bytes, **commit_args: object) -> CommitResult:
    handle = provider.begin_write(path)
    handle.write(data)
    return handle.commit(**commit_args)  # type: ignore[arg-type]


def read(provider: Provider, path: str) -> bytes:
    with provider.open_read(path) as reader:
        return reader.read()


def names(provider: Provider, path: str) -> list[str]:
    return [e.name for e in provider.listdir(path)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tree(provider: Provider, base: str) -> dict[str, bytes]:
    """A small tree below ``base``; returns relative file path -> content."""
    files = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)) * 3, "sub/deep/c": b""}
    provider.mkdir(base)
    provider.mkdir(f"{base}/sub")
    provider.mkdir(f"{base}/sub/deep")
    for i, (rel, data) in enumerate(files.items()):
        put(provider, f"{base}/{rel}", data, mtime_ns=MTIME + i)
    return files


# --------------------------------------------------------------------- basics


def test_is_a_provider(provider: Provider) -> None:
    assert isinstance(provider, Provider)


def test_root_is_an_empty_collection(provider: Provider) -> None:
    root = provider.stat("")
    assert root.is_dir and root.path == "" and root.name == ""
    assert root.etag and root.file_id
    assert provider.listdir("") == []


# --------------------------------------------------------------------- writes


def test_nothing_is_visible_before_commit(provider: Provider) -> None:
    handle = provider.begin_write("a.txt")
    handle.write(b"hello")
    assert handle.bytes_written == 5
    with pytest.raises(NotFoundError):
        provider.stat("a.txt")
    assert provider.listdir("") == []
    result = handle.commit()
    assert result.created
    assert result.entry.path == "a.txt" and result.entry.size == 5 and not result.entry.is_dir
    assert read(provider, "a.txt") == b"hello"
    assert names(provider, "") == ["a.txt"]


def test_commit_result_matches_stat(provider: Provider) -> None:
    result = put(provider, "a.txt", b"data", mtime_ns=MTIME)
    assert result.entry == provider.stat("a.txt")


def test_second_commit_replaces_and_is_not_created(provider: Provider) -> None:
    put(provider, "a.txt", b"one")
    result = put(provider, "a.txt", b"second version")
    assert not result.created
    assert read(provider, "a.txt") == b"second version"
    assert provider.stat("a.txt").size == len(b"second version")


def test_write_accepts_bytes_like_objects(provider: Provider) -> None:
    handle = provider.begin_write("a.bin")
    handle.write(b"ab")
    handle.write(bytearray(b"cd"))
    handle.write(memoryview(b"xefx")[1:3])
    handle.commit(expected_size=6)
    assert read(provider, "a.bin") == b"abcdef"


def test_abort_keeps_previous_version(provider: Provider) -> None:
    put(provider, "a.txt", b"v1")
    before = provider.stat("a.txt")
    handle = provider.begin_write("a.txt")
    handle.write(b"v2 that is longer")
    handle.abort()
    handle.abort()  # idempotent
    assert read(provider, "a.txt") == b"v1"
    assert provider.stat("a.txt") == before
    with pytest.raises(ProviderError):
        handle.write(b"more")
    with pytest.raises(ProviderError):
        handle.commit()


def test_abort_of_new_file_leaves_nothing(provider: Provider) -> None:
    handle = provider.begin_write("new.txt")
    handle.write(b"data")
    handle.abort()
    with pytest.raises(NotFoundError):
        provider.stat("new.txt")
    assert provider.listdir("") == []


def test_abort_after_commit_is_a_no_op(provider: Provider) -> None:
    handle = provider.begin_write("a.txt")
    handle.write(b"kept")
    handle.commit()
    handle.abort()
    assert read(provider, "a.txt") == b"kept"


def test_dropped_handle_keeps_previous_version(provider: Provider) -> None:
    put(provider, "a.txt", b"v1")
    handle = provider.begin_write("a.txt")
    handle.write(b"v2")
    del handle
    gc.collect()
    assert read(provider, "a.txt") == b"v1"
    assert names(provider, "") == ["a.txt"]


def test_size_mismatch_keeps_previous_version(provider: Provider) -> None:
    put(provider, "a.txt", b"v1")
    handle = provider.begin_write("a.txt")
    handle.write(b"12345")
    with pytest.raises(SizeMismatchError) as caught:
        handle.commit(expected_size=6)
    assert (caught.value.expected, caught.value.actual) == (6, 5)
    assert read(provider, "a.txt") == b"v1"
    with pytest.raises(ProviderError):
        handle.commit()  # the failed commit aborted the handle


def test_checksum_mismatch_keeps_previous_version(provider: Provider) -> None:
    put(provider, "a.txt", b"v1")
    handle = provider.begin_write("a.txt")
    handle.write(b"v2")
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as caught:
        handle.commit(expected_digests={"SHA-256": wrong})
    assert caught.value.algorithm == "SHA-256"
    assert caught.value.expected == wrong
    assert caught.value.actual == sha256(b"v2")
    assert read(provider, "a.txt") == b"v1"
    with pytest.raises(ProviderError):
        handle.commit()


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_each_declared_digest_is_checked(provider: Provider, algorithm: str) -> None:
    handle = provider.begin_write("a.txt")
    handle.write(b"payload")
    with pytest.raises(ChecksumMismatchError) as caught:
        handle.commit(expected_digests={algorithm: "ab" * 10})
    assert caught.value.actual == hashlib.new(algorithm, b"payload").hexdigest()
    with pytest.raises(NotFoundError):
        provider.stat("a.txt")


def test_declared_digests_in_any_spelling_are_accepted(provider: Provider) -> None:
    data = b"checked payload"
    declared = {
        "MD5": hashlib.md5(data).hexdigest().upper(),
        "SHA-1": hashlib.sha1(data).hexdigest(),
        "sha256": sha256(data),
        "SHA": hashlib.sha1(data).hexdigest(),
        "adler32": "not kept, so not checked",
    }
    result = put(provider, "a.txt", data, expected_size=len(data), expected_digests=declared)
    assert result.digests.sha256 == sha256(data)


def test_write_error_keeps_previous_version(case: Case) -> None:
    provider = case.provider
    put(provider, "a.txt", b"v1")
    case.fill_disk()
    handle = provider.begin_write("a.txt")
    with pytest.raises(InsufficientStorageError):
        handle.write(b"x" * 4096)
    with pytest.raises(ProviderError):
        handle.commit()  # the handle was aborted
    fresh = provider.begin_write("b.txt")
    with pytest.raises(InsufficientStorageError):
        fresh.write(b"y" * 4096)
    assert read(provider, "a.txt") == b"v1"
    assert names(provider, "") == ["a.txt"]


def test_commit_stores_the_given_mtime(provider: Provider) -> None:
    result = put(provider, "a.txt", b"x", mtime_ns=MTIME)
    assert result.entry.mtime_ns == MTIME
    assert provider.stat("a.txt").mtime_ns == MTIME


def test_default_mtime_is_now(provider: Provider) -> None:
    before = time.time_ns()
    put(provider, "a.txt", b"x")
    after = time.time_ns()
    assert before - 10**9 <= provider.stat("a.txt").mtime_ns <= after + 10**9


def test_begin_write_conflicts(provider: Provider) -> None:
    put(provider, "file", b"x")
    provider.mkdir("dir")
    for path in ["", "missing/child", "file/child", "dir"]:
        with pytest.raises(ConflictError):
            provider.begin_write(path)


def test_commit_conflicts_when_parent_vanished(provider: Provider) -> None:
    provider.mkdir("d")
    handle = provider.begin_write("d/f")
    handle.write(b"x")
    provider.delete("d")
    with pytest.raises(ConflictError):
        handle.commit()
    with pytest.raises(NotFoundError):
        provider.stat("d")


def test_commit_conflicts_when_path_became_a_collection(provider: Provider) -> None:
    handle = provider.begin_write("x")
    handle.write(b"data")
    provider.mkdir("x")
    with pytest.raises(ConflictError):
        handle.commit()
    assert provider.stat("x").is_dir


# -------------------------------------------------------------------- digests


def test_digests_equal_hashlib(provider: Provider) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    handle = provider.begin_write("big.bin")
    view = memoryview(data)
    for start in range(0, len(data), 64 * 1024):
        handle.write(view[start : start + 64 * 1024])
    result = handle.commit(expected_size=len(data))
    expected = (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    for digests in (result.digests, provider.digests("big.bin")):
        assert (digests.md5, digests.sha1, digests.sha256) == expected
    assert read(provider, "big.bin") == data


def test_digests_of_empty_file(provider: Provider) -> None:
    put(provider, "empty", b"")
    assert provider.digests("empty").md5 == hashlib.md5(b"").hexdigest()
    assert provider.stat("empty").size == 0


def test_digests_errors(provider: Provider) -> None:
    provider.mkdir("d")
    with pytest.raises(NotFoundError):
        provider.digests("missing")
    with pytest.raises(ConflictError):
        provider.digests("d")


# ---------------------------------------------------------------------- etags


def test_etag_is_strong_and_unquoted(provider: Provider) -> None:
    put(provider, "a.txt", b"x")
    provider.mkdir("d")
    for path in ("a.txt", "d", ""):
        etag = provider.stat(path).etag
        assert etag and '"' not in etag and not etag.startswith("W/")


def test_etag_is_stable_when_nothing_changes(provider: Provider) -> None:
    provider.mkdir("d")
    put(provider, "d/a.txt", b"content")
    first = provider.stat("d/a.txt")
    dir_first = provider.stat("d").etag
    assert provider.stat("d/a.txt") == first
    assert provider.listdir("d")[0] == first
    provider.digests("d/a.txt")
    read(provider, "d/a.txt")
    provider.stat("")
    assert provider.stat("d/a.txt") == first
    assert provider.stat("d").etag == dir_first


def test_etag_changes_on_same_size_rewrite_with_same_mtime(provider: Provider) -> None:
    first = put(provider, "a.txt", b"aaaa", mtime_ns=MTIME).entry.etag
    second = put(provider, "a.txt", b"bbbb", mtime_ns=MTIME).entry.etag
    assert first != second
    assert provider.stat("a.txt").etag == second


def test_etag_changes_when_only_mtime_changes(provider: Provider) -> None:
    first = put(provider, "a.txt", b"same", mtime_ns=MTIME).entry.etag
    second = put(provider, "a.txt", b"same", mtime_ns=MTIME + 1000).entry.etag
    assert first != second
    third = provider.set_mtime("a.txt", MTIME + 2000).etag
    assert third not in (first, second)
    assert provider.stat("a.txt").etag == third


def test_etag_changes_when_a_collection_changes(provider: Provider) -> None:
    provider.mkdir("d")
    before = provider.stat("d").etag
    provider.set_mtime("d", MTIME)
    assert provider.stat("d").etag != before


# -------------------------------------------------------------- preconditions


def test_if_match_with_current_etag_succeeds(provider: Provider) -> None:
    etag = put(provider, "a.txt", b"v1").entry.etag
    put(provider, "a.txt", b"v2", if_match=etag)
    assert read(provider, "a.txt") == b"v2"


def test_if_match_with_stale_etag_fails(provider: Provider) -> None:
    stale = put(provider, "a.txt", b"v1").entry.etag
    put(provider, "a.txt", b"v2")
    with pytest.raises(PreconditionFailedError):
        put(provider, "a.txt", b"v3", if_match=stale)
    assert read(provider, "a.txt") == b"v2"


def test_if_match_on_missing_path_fails(provider: Provider) -> None:
    with pytest.raises(PreconditionFailedError):
        put(provider, "a.txt", b"v1", if_match="anything")
    with pytest.raises(NotFoundError):
        provider.stat("a.txt")


def test_if_none_match_any(provider: Provider) -> None:
    assert put(provider, "a.txt", b"v1", if_none_match_any=True).created
    with pytest.raises(PreconditionFailedError):
        put(provider, "a.txt", b"v2", if_none_match_any=True)
    assert read(provider, "a.txt") == b"v1"


def test_preconditions_are_evaluated_at_commit(provider: Provider) -> None:
    etag = put(provider, "a.txt", b"v1").entry.etag
    first = provider.begin_write("a.txt")
    second = provider.begin_write("a.txt")
    first.write(b"first")
    second.write(b"second")
    first.commit(if_match=etag)
    with pytest.raises(PreconditionFailedError):
        second.commit(if_match=etag)
    assert read(provider, "a.txt") == b"first"

    one, two = provider.begin_write("new"), provider.begin_write("new")
    one.write(b"1")
    two.write(b"2")
    one.commit(if_none_match_any=True)
    with pytest.raises(PreconditionFailedError):
        two.commit(if_none_match_any=True)
    assert read(provider, "new") == b"1"


# ---------------------------------------------------------------------- reads


def test_open_read_is_seekable(provider: Provider) -> None:
    put(provider, "a.txt", b"0123456789")
    with provider.open_read("a.txt") as reader:
        assert reader.seekable()
        reader.seek(4)
        assert reader.read(3) == b"456"
        reader.seek(0)
        assert reader.read() == b"0123456789"


def test_reader_keeps_the_version_it_opened(provider: Provider) -> None:
    put(provider, "a.txt", b"old version")
    with provider.open_read("a.txt") as reader:
        put(provider, "a.txt", b"new")
        assert reader.read() == b"old version"
    assert read(provider, "a.txt") == b"new"


def test_open_read_errors(provider: Provider) -> None:
    provider.mkdir("d")
    with pytest.raises(NotFoundError):
        provider.open_read("missing")
    with pytest.raises(ConflictError):
        provider.open_read("d")


# ---------------------------------------------------------------- collections


def test_mkdir(provider: Provider) -> None:
    entry = provider.mkdir("d")
    assert entry.is_dir and entry.path == "d" and entry.size == 0 and entry.file_id
    assert provider.stat("d") == entry
    provider.mkdir("d/e")
    assert names(provider, "d") == ["e"]


def test_mkdir_errors(provider: Provider) -> None:
    provider.mkdir("d")
    put(provider, "f", b"x")
    with pytest.raises(AlreadyExistsError):
        provider.mkdir("d")
    with pytest.raises(AlreadyExistsError):
        provider.mkdir("f")
    with pytest.raises(AlreadyExistsError):
        provider.mkdir("")
    with pytest.raises(ConflictError):
        provider.mkdir("missing/child")
    with pytest.raises(ConflictError):
        provider.mkdir("f/child")


def test_listdir_is_sorted_by_name(provider: Provider) -> None:
    wanted = ["b", "a", "C", "a b", "a.txt", "\u00e9", "10", "9", "z"]
    for i, name in enumerate(wanted):
        if i % 2:
            provider.mkdir(name)
        else:
            put(provider, name, name.encode())
    assert names(provider, "") == sorted(wanted)


def test_listdir_entries_describe_members(provider: Provider) -> None:
    provider.mkdir("d")
    provider.mkdir("d/sub")
    put(provider, "d/f.txt", b"12345", mtime_ns=MTIME)
    entries = provider.listdir("d")
    assert [e.path for e in entries] == ["d/f.txt", "d/sub"]
    assert [e.is_dir for e in entries] == [False, True]
    for entry in entries:
        assert entry == provider.stat(entry.path)
    assert entries[0].size == 5 and entries[0].mtime_ns == MTIME


def test_listdir_errors(provider: Provider) -> None:
    put(provider, "f", b"x")
    with pytest.raises(NotFoundError):
        provider.listdir("missing")
    with pytest.raises(ConflictError):
        provider.listdir("f")


def test_delete_file(provider: Provider) -> None:
    put(provider, "a.txt", b"x")
    put(provider, "b.txt", b"y")
    provider.delete("a.txt")
    with pytest.raises(NotFoundError):
        provider.stat("a.txt")
    assert names(provider, "") == ["b.txt"]


def test_delete_tree(provider: Provider) -> None:
    files = make_tree(provider, "t")
    put(provider, "keep", b"k")
    provider.delete("t")
    for rel in [*files, "sub", "sub/deep"]:
        with pytest.raises(NotFoundError):
            provider.stat(f"t/{rel}")
    with pytest.raises(NotFoundError):
        provider.stat("t")
    assert names(provider, "") == ["keep"]


def test_delete_errors(provider: Provider) -> None:
    with pytest.raises(NotFoundError):
        provider.delete("missing")
    with pytest.raises(ConflictError):
        provider.delete("")


def test_set_mtime(provider: Provider) -> None:
    put(provider, "a.txt", b"x")
    provider.mkdir("d")
    assert provider.set_mtime("a.txt", MTIME).mtime_ns == MTIME
    assert provider.stat("a.txt").mtime_ns == MTIME
    assert provider.digests("a.txt").sha256 == sha256(b"x")
    assert provider.set_mtime("d", MTIME + 5).mtime_ns == MTIME + 5
    assert provider.stat("d").mtime_ns == MTIME + 5
    with pytest.raises(NotFoundError):
        provider.set_mtime("missing", MTIME)


# ------------------------------------------------------------------- file ids


def test_file_ids_are_unique(provider: Provider) -> None:
    make_tree(provider, "t")
    put(provider, "x", b"x")
    ids = [provider.stat(p).file_id for p in ["", "t", "t/sub", "t/a.txt", "t/sub/b.bin", "x"]]
    assert all(ids) and len(set(ids)) == len(ids)


def test_overwrite_keeps_file_id(provider: Provider) -> None:
    file_id = put(provider, "a.txt", b"v1").entry.file_id
    assert put(provider, "a.txt", b"version 2").entry.file_id == file_id
    assert provider.stat("a.txt").file_id == file_id
    assert provider.listdir("")[0].file_id == file_id


def test_recreated_path_gets_a_new_file_id(provider: Provider) -> None:
    old = put(provider, "a.txt", b"v1").entry.file_id
    provider.delete("a.txt")
    assert put(provider, "a.txt", b"v1").entry.file_id != old


# ----------------------------------------------------------------------- move


def test_move_file_keeps_content_digests_mtime_and_id(provider: Provider) -> None:
    provider.mkdir("dst")
    before = put(provider, "a.txt", b"payload", mtime_ns=MTIME).entry
    moved = provider.move("a.txt", "dst/b.txt", overwrite=False)
    assert moved.path == "dst/b.txt"
    assert (moved.file_id, moved.mtime_ns, moved.size) == (before.file_id, MTIME, 7)
    assert moved == provider.stat("dst/b.txt")
    assert read(provider, "dst/b.txt") == b"payload"
    assert provider.digests("dst/b.txt").sha256 == sha256(b"payload")
    with pytest.raises(NotFoundError):
        provider.stat("a.txt")


def test_move_onto_existing_file(provider: Provider) -> None:
    src = put(provider, "src", b"source").entry
    put(provider, "dst", b"destination")
    with pytest.raises(AlreadyExistsError):
        provider.move("src", "dst", overwrite=False)
    assert read(provider, "src") == b"source" and read(provider, "dst") == b"destination"
    moved = provider.move("src", "dst", overwrite=True)
    assert moved.file_id == src.file_id
    assert read(provider, "dst") == b"source"
    assert names(provider, "") == ["dst"]


def test_move_file_onto_collection_replaces_it(provider: Provider) -> None:
    make_tree(provider, "t")
    put(provider, "f", b"file")
    provider.move("f", "t", overwrite=True)
    assert not provider.stat("t").is_dir
    assert read(provider, "t") == b"file"
    with pytest.raises(NotFoundError):
        provider.stat("t/a.txt")


def test_move_collection_onto_file_replaces_it(provider: Provider) -> None:
    files = make_tree(provider, "t")
    put(provider, "f", b"file")
    provider.move("t", "f", overwrite=True)
    assert provider.stat("f").is_dir
    assert read(provider, "f/sub/b.bin") == files["sub/b.bin"]


def test_move_tree_carries_everything(provider: Provider) -> None:
    files = make_tree(provider, "t")
    provider.mkdir("other")
    make_tree(provider, "other/t")  # replaced below
    before = {rel: provider.stat(f"t/{rel}") for rel in [*files, "sub", "sub/deep"]}
    top = provider.stat("t")
    moved = provider.move("t", "other/t", overwrite=True)
    assert moved.is_dir and moved.file_id == top.file_id
    for rel, old in before.items():
        new = provider.stat(f"other/t/{rel}")
        assert (new.file_id, new.is_dir, new.size) == (old.file_id, old.is_dir, old.size)
        if not old.is_dir:
            assert new.mtime_ns == old.mtime_ns and new.etag == old.etag
            assert read(provider, f"other/t/{rel}") == files[rel]
            assert provider.digests(f"other/t/{rel}").sha256 == sha256(files[rel])
    with pytest.raises(NotFoundError):
        provider.stat("t")
    assert names(provider, "") == ["other"]


def test_move_errors(provider: Provider) -> None:
    make_tree(provider, "t")
    with pytest.raises(NotFoundError):
        provider.move("missing", "x", overwrite=True)
    with pytest.raises(ConflictError):
        provider.move("t/a.txt", "missing/a.txt", overwrite=True)
    with pytest.raises(ConflictError):
        provider.move("t", "t/sub/t", overwrite=True)
    with pytest.raises(ConflictError):
        provider.move("t", "t", overwrite=True)
    with pytest.raises(ConflictError):
        provider.move("t/sub", "t", overwrite=True)
    with pytest.raises(ConflictError):
        provider.move("", "x", overwrite=True)
    assert read(provider, "t/a.txt") == b"alpha"


# ----------------------------------------------------------------------- copy


def test_copy_file(provider: Provider) -> None:
    src = put(provider, "a.txt", b"payload", mtime_ns=MTIME).entry
    copied = provider.copy("a.txt", "b.txt", overwrite=False)
    assert copied == provider.stat("b.txt")
    assert copied.file_id != src.file_id
    assert copied.mtime_ns == MTIME and copied.size == 7
    assert read(provider, "b.txt") == b"payload"
    assert provider.digests("b.txt") == provider.digests("a.txt")
    assert provider.stat("a.txt") == src
    put(provider, "b.txt", b"changed copy")
    assert read(provider, "a.txt") == b"payload"


def test_copy_tree(provider: Provider) -> None:
    files = make_tree(provider, "t")
    before = {rel: provider.stat(f"t/{rel}") for rel in [*files, "sub", "sub/deep"]}
    copied = provider.copy("t", "u", overwrite=False)
    assert copied.is_dir and copied.path == "u"
    assert copied.file_id != provider.stat("t").file_id
    seen_ids = set()
    for rel, old in before.items():
        new = provider.stat(f"u/{rel}")
        assert new.is_dir == old.is_dir
        assert new.file_id != old.file_id
        seen_ids.add(new.file_id)
        if not old.is_dir:
            assert (new.mtime_ns, new.size) == (old.mtime_ns, old.size)
            assert read(provider, f"u/{rel}") == files[rel]
            assert provider.digests(f"u/{rel}") == provider.digests(f"t/{rel}")
        assert provider.stat(f"t/{rel}") == old
    assert len(seen_ids) == len(before)
    assert names(provider, "u") == names(provider, "t")


def test_copy_overwrite_semantics(provider: Provider) -> None:
    make_tree(provider, "t")
    put(provider, "f", b"file")
    put(provider, "g", b"other file")
    with pytest.raises(AlreadyExistsError):
        provider.copy("f", "g", overwrite=False)
    assert read(provider, "g") == b"other file"
    replaced_id = provider.stat("g").file_id
    copied = provider.copy("f", "g", overwrite=True)
    assert read(provider, "g") == b"file"
    assert copied.file_id not in (replaced_id, provider.stat("f").file_id)
    provider.copy("t", "g", overwrite=True)
    assert read(provider, "g/a.txt") == b"alpha"
    provider.copy("f", "g", overwrite=True)
    assert read(provider, "g") == b"file"
    with pytest.raises(AlreadyExistsError):
        provider.copy("t", "f", overwrite=False)


def test_copy_errors(provider: Provider) -> None:
    make_tree(provider, "t")
    with pytest.raises(NotFoundError):
        provider.copy("missing", "x", overwrite=True)
    with pytest.raises(ConflictError):
        provider.copy("t/a.txt", "missing/a.txt", overwrite=True)
    with pytest.raises(ConflictError):
        provider.copy("t", "t/sub/copy", overwrite=True)
    with pytest.raises(ConflictError):
        provider.copy("t/a.txt", "t/a.txt", overwrite=True)
    assert names(provider, "t/sub") == ["b.bin", "deep"]


# ---------------------------------------------------------------- path policy

BAD_PATHS = [
    "..",
    "a/../b",
    "./a",
    "a\x00b",
    "a\x01b",
    "a\\b",
    "x" * 256,
    "\u00e9" * 128,
    "/".join(["d" * 200] * 21),
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_path_policy_rejections(provider: Provider, bad: str) -> None:
    put(provider, "ok", b"x")
    calls: list[Callable[[], object]] = [
        lambda: provider.stat(bad),
        lambda: provider.listdir(bad),
        lambda: provider.open_read(bad),
        lambda: provider.digests(bad),
        lambda: provider.begin_write(bad),
        lambda: provider.mkdir(bad),
        lambda: provider.delete(bad),
        lambda: provider.set_mtime(bad, MTIME),
        lambda: provider.usage(bad),
        lambda: provider.move(bad, "y", overwrite=True),
        lambda: provider.move("ok", bad, overwrite=True),
        lambda: provider.copy(bad, "y", overwrite=True),
        lambda: provider.copy("ok", bad, overwrite=True),
    ]
    for call in calls:
        with pytest.raises(InvalidPathError):
            call()
    assert read(provider, "ok") == b"x"
    assert names(provider, "") == ["ok"]


def test_equivalent_spellings_name_one_path(provider: Provider) -> None:
    provider.mkdir("/a/")
    put(provider, "a//b.txt", b"x")
    assert provider.stat("/a/b.txt/").path == "a/b.txt"
    assert names(provider, "a/") == ["b.txt"]


def test_names_are_normalised_to_nfc(provider: Provider) -> None:
    put(provider, "e\u0301t\u00e9.txt", b"x")  # NFD then NFC spelling of one name
    assert provider.stat("\u00e9t\u00e9.txt").size == 1
    assert names(provider, "") == ["\u00e9t\u00e9.txt"]


def test_longest_allowed_name(provider: Provider) -> None:
    name = "n" * 255
    put(provider, name, b"x")
    assert names(provider, "") == [name]


# ---------------------------------------------------------------------- usage


def test_usage(provider: Provider) -> None:
    assert provider.usage("").used == 0
    files = make_tree(provider, "t")
    provider.mkdir("empty")
    put(provider, "top", b"12345")
    total = sum(len(d) for d in files.values()) + 5
    assert provider.usage("").used == total
    assert provider.usage("t").used == total - 5
    assert provider.usage("t/sub").used == len(files["sub/b.bin"])
    assert provider.usage("empty").used == 0
    available = provider.usage("").available
    assert available is None or available >= 0
    with pytest.raises(NotFoundError):
        provider.usage("missing")


def test_free_space_matches_usage_available(provider: Provider) -> None:
    put(provider, "f", b"x" * 1000)
    free = provider.free_space()
    available = provider.usage("").available
    if free is None:
        assert available is None
    else:
        assert available is not None and abs(free - available) < 64 * 1024 * 1024


# ---------------------------------------------------------- folder propagation

FOLDERS = ["", "h", "h/a", "h/a/b", "h/a/b/c", "h/a/side", "h/other", "h/other/deep"]


def build_folders(provider: Provider) -> None:
    """Folders three deep below a home, a sibling branch, and a file in each leaf."""
    for folder in FOLDERS[1:]:
        provider.mkdir(folder)
    put(provider, "h/a/b/c/leaf.txt", b"leaf", mtime_ns=MTIME)
    put(provider, "h/a/side/s.txt", b"side", mtime_ns=MTIME)
    put(provider, "h/other/deep/o.txt", b"other", mtime_ns=MTIME)


def all_etags(provider: Provider) -> dict[str, str]:
    """ETags of every collection and file of the tree (files as reached by listing)."""
    tags: dict[str, str] = {}
    for folder in FOLDERS:
        try:
            entry = provider.stat(folder)
        except NotFoundError:
            continue
        tags[folder] = entry.etag
        for member in provider.listdir(folder):
            tags[member.path] = member.etag
    return tags


CHAIN = {"", "h", "h/a", "h/a/b", "h/a/b/c"}

CHANGES: dict[str, tuple[Callable[[Provider], None], set[str]]] = {
    "overwrite": (lambda p: put(p, "h/a/b/c/leaf.txt", b"new", mtime_ns=MTIME), CHAIN),
    "new file": (lambda p: put(p, "h/a/b/c/n.txt", b"n"), CHAIN),
    "delete": (lambda p: p.delete("h/a/b/c/leaf.txt"), CHAIN),
    "mkdir": (lambda p: p.mkdir("h/a/b/c/new"), CHAIN),
    "file mtime": (lambda p: p.set_mtime("h/a/b/c/leaf.txt", MTIME + 5), CHAIN),
    "folder mtime": (lambda p: p.set_mtime("h/a/b/c", MTIME + 5), CHAIN),
    "move in": (
        lambda p: p.move("h/other/deep/o.txt", "h/a/b/c/o.txt", overwrite=False),
        CHAIN | {"h/other", "h/other/deep"},
    ),
    "move out": (
        lambda p: p.move("h/a/b/c/leaf.txt", "h/other/leaf.txt", overwrite=False),
        CHAIN | {"h/other"},
    ),
    "copy in": (
        lambda p: p.copy("h/other/deep", "h/a/b/c/copied", overwrite=False),
        CHAIN,
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_deep_change_changes_every_ancestor_etag_and_nothing_else(
    provider: Provider, change: str
) -> None:
    build_folders(provider)
    before = all_etags(provider)
    apply, expected = CHANGES[change]
    apply(provider)
    after = all_etags(provider)
    changed = {p for p in before if p in after and before[p] != after[p]}
    changed_folders = changed & set(FOLDERS)
    assert changed_folders == expected
    files_changed = changed - set(FOLDERS)
    assert files_changed <= {"h/a/b/c/leaf.txt"}  # only the file the change itself touched


def test_folder_etags_are_stable_without_changes(provider: Provider) -> None:
    build_folders(provider)
    assert all_etags(provider) == all_etags(provider)


def test_folder_size_is_the_recursive_size(provider: Provider) -> None:
    build_folders(provider)
    sizes = {f: provider.stat(f).size for f in FOLDERS}
    assert sizes["h/a/b/c"] == 4 and sizes["h/a/b"] == 4 and sizes["h/a"] == 8
    assert sizes["h"] == 13 and sizes[""] == 13
    listed = {e.path: e.size for e in provider.listdir("h")}
    assert listed == {"h/a": 8, "h/other": 5}
    put(provider, "h/a/b/c/leaf.txt", b"longer leaf")
    provider.move("h/other/deep", "h/a/moved", overwrite=False)
    assert [provider.stat(f).size for f in ("h/a/b/c", "h/a", "h/other", "h")] == [11, 20, 0, 20]
    provider.delete("h/a/b")
    assert (provider.stat("h/a").size, provider.usage("h").used) == (9, 9)


def test_digests_many_answers_as_digests_does_for_files_only(provider: Provider) -> None:
    provider.mkdir("d")
    put(provider, "d/a.txt", b"alpha")
    put(provider, "d/b.txt", b"beta")
    provider.mkdir("d/sub")
    asked = ["d/a.txt", "d/b.txt", "d/sub", "d/missing", "d/../x", "/d/a.txt"]
    got = digests_many(provider, asked)
    assert set(got) == {"d/a.txt", "d/b.txt", "/d/a.txt"}
    assert got["d/a.txt"] == provider.digests("d/a.txt") == got["/d/a.txt"]
    assert got["d/b.txt"].sha256 == sha256(b"beta")
    assert isinstance(provider, BatchDigests)  # both providers answer in one call


def test_a_listing_with_digests_is_the_listing_with_each_files_digests(
    provider: Provider,
) -> None:
    if not isinstance(provider, ListingDigests):
        pytest.skip("this provider's listings carry no digests (digests_many answers)")
    provider.mkdir("d")
    put(provider, "d/b.txt", b"beta")
    put(provider, "d/a.txt", b"alpha")
    provider.mkdir("d/sub")
    listed = provider.listdir_with_digests("d")
    assert [entry for entry, _ in listed] == provider.listdir("d")
    known = {entry.name: digests for entry, digests in listed}
    assert known == {"a.txt": provider.digests("d/a.txt"), "b.txt": known["b.txt"], "sub": None}
    assert known["b.txt"] is not None and known["b.txt"].sha256 == sha256(b"beta")
    with pytest.raises(ConflictError):
        provider.listdir_with_digests("d/a.txt")
    with pytest.raises(NotFoundError):
        provider.listdir_with_digests("missing")


def test_digests_many_after_a_listing_sees_later_commits(provider: Provider) -> None:
    provider.mkdir("d")
    put(provider, "d/a.txt", b"first")
    assert [e.name for e in provider.listdir("d")] == ["a.txt"]
    put(provider, "d/a.txt", b"second")
    assert digests_many(provider, ["d/a.txt"])["d/a.txt"].sha256 == sha256(b"second")
