"""The upload service over a real local provider and SQLite, with a controllable clock:
persistence across restarts, crash leftovers, leases, expiry, tus offsets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from davserver.uploads.errors import (
    ChunkOverlapError,
    InvalidChunkError,
    OffsetMismatchError,
    SessionBusyError,
    SessionCommittedError,
    SessionExistsError,
    SessionNotFoundError,
    TooManySessionsError,
)
from davserver.uploads.service import UploadLimits, UploadService
from davserver.uploads.store import SessionStore
from providers.errors import ChecksumMismatchError
from providers.local import LocalProvider

pytestmark = pytest.mark.unit

TTL = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Env:
    """A storage root, a state folder and a clock shared by successive 'server runs'."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = Clock()
        self.storage = LocalProvider(tmp / "files", tmp / "state")
        self.storage.mkdir("alice")

    def service(self, **limits: float) -> UploadService:
        store = SessionStore(self.tmp / "state" / "db.sqlite", self.tmp / "uploads", self.clock)
        settings = UploadLimits(session_ttl_s=TTL, max_sessions_per_user=3, **limits)  # type: ignore[arg-type]
        return UploadService(store, self.storage, settings, self.clock)


@pytest.fixture()
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def put(service: UploadService, session: str, name: str, data: bytes) -> None:
    upload = service.begin_chunk("alice", session, name, length=len(data))
    upload.write(data)
    upload.commit()


def read(env: Env, path: str) -> bytes:
    with env.storage.open_read(path) as f:
        return f.read()


def test_sessions_and_chunks_survive_a_restart(env: Env) -> None:
    first = env.service()
    first.create_chunked("alice", "s", destination=None, total=None)
    put(first, "s", "0-4", b"hello")
    second = env.service()  # a new process over the same state
    assert [(c.name, c.size) for c in second.chunks(second.session("alice", "s"))] == [("0-4", 5)]
    put(second, "s", "5-10", b" world")
    result = second.assemble("alice", "s", "alice/hw.txt")
    assert result.created and read(env, "alice/hw.txt") == b"hello world"
    assert (
        result.digests is not None
        and result.digests.sha1 == hashlib.sha1(b"hello world").hexdigest()
    )


def test_a_chunk_cut_short_or_left_by_a_crash_never_counts(env: Env) -> None:
    service = env.service()
    service.create_chunked("alice", "s", destination=None, total=None)
    cut = service.begin_chunk("alice", "s", "0-9", length=10)
    cut.write(b"12345")
    with pytest.raises(InvalidChunkError, match="received 5 of 10"):
        cut.commit()
    crashed = service.begin_chunk("alice", "s", "0-9", length=10)
    crashed.write(b"1234567890")  # the process dies before commit: the .part stays behind
    assert list((env.tmp / "uploads").rglob("*.part"))
    after = env.service()
    assert after.chunks(after.session("alice", "s")) == []
    put(after, "s", "0-9", b"abcdefghij")
    after.assemble("alice", "s", "alice/x")
    assert not list((env.tmp / "uploads").rglob("*"))  # the session folder went with it


def test_rules_checked_again_at_commit(env: Env) -> None:
    service = env.service()
    service.create_chunked("alice", "s", destination=None, total=None)
    late = service.begin_chunk("alice", "s", "5-9", length=5)
    late.write(b"56789")
    put(service, "s", "0-6", b"0123456")  # arrived meanwhile and overlaps
    with pytest.raises(ChunkOverlapError):
        late.commit()
    assert [c.name for c in service.chunks(service.session("alice", "s"))] == ["0-6"]


def test_failed_assembly_keeps_session_and_old_file(env: Env) -> None:
    service = env.service()
    handle = env.storage.begin_write("alice/keep")
    handle.write(b"old")
    handle.commit()
    service.create_chunked("alice", "s", destination=None, total=None)
    put(service, "s", "0-2", b"new")
    with pytest.raises(ChecksumMismatchError):
        service.assemble("alice", "s", "alice/keep", expected_digests={"sha1": "0" * 40})
    assert read(env, "alice/keep") == b"old"
    assert len(service.chunks(service.session("alice", "s"))) == 1
    service.assemble(
        "alice", "s", "alice/keep", expected_digests={"md5": hashlib.md5(b"new").hexdigest()}
    )
    assert read(env, "alice/keep") == b"new"


def test_repeat_and_reuse_after_commit(env: Env) -> None:
    service = env.service()
    service.create_chunked("alice", "s", destination=None, total=None)
    put(service, "s", "0-0", b"1")
    service.assemble("alice", "s", "alice/one")
    assert service.assemble("alice", "s", "alice/one").repeated
    with pytest.raises(SessionCommittedError):
        service.assemble("alice", "s", "alice/two")
    with pytest.raises(SessionCommittedError):
        service.begin_chunk("alice", "s", "1-1", length=1)
    service.create_chunked("alice", "s", destination=None, total=None)  # same name, new upload
    with pytest.raises(SessionExistsError):
        service.create_chunked("alice", "s", destination=None, total=None)


def test_session_limit_counts_open_sessions(env: Env) -> None:
    service = env.service()
    for name in ("a", "b", "c"):
        service.create_chunked("alice", name, destination=None, total=None)
    with pytest.raises(TooManySessionsError):
        service.create_chunked("alice", "d", destination=None, total=None)
    service.abort("alice", "a")
    service.create_chunked("alice", "d", destination=None, total=None)


def test_dead_assemblers_lease_runs_out(env: Env) -> None:
    service = env.service()
    service.create_chunked("alice", "s", destination=None, total=None)
    put(service, "s", "0-1", b"ok")
    dead = SessionStore(env.tmp / "state" / "db.sqlite", env.tmp / "uploads", env.clock)
    dead.acquire("alice", "s", "dead-process", 15.0)  # and never released
    restarted = env.service()
    with pytest.raises(SessionBusyError):
        restarted.assemble("alice", "s", "alice/f")
    with pytest.raises(SessionBusyError):
        restarted.begin_chunk("alice", "s", "2-2", length=1)
    env.clock.now += 16
    restarted.assemble("alice", "s", "alice/f")
    assert read(env, "alice/f") == b"ok"


def test_expiry_removes_idle_sessions_records_and_orphans(env: Env) -> None:
    service = env.service(committed_retention_s=600.0)
    service.create_chunked("alice", "idle", destination=None, total=None)
    put(service, "idle", "0-2", b"abc")
    service.create_chunked("alice", "done", destination=None, total=None)
    put(service, "done", "0-0", b"x")
    service.assemble("alice", "done", "alice/done")
    orphan = env.tmp / "uploads" / "deadbeef"
    orphan.mkdir()
    (orphan / "x.chunk").write_bytes(b"lost")
    env.clock.now += 601
    assert service.expire() == 1  # the committed record only
    assert service.session("alice", "idle")
    assert not orphan.exists()
    env.clock.now += TTL
    put(service, "idle", "3-3", b"d")  # activity keeps a session alive
    env.clock.now += TTL - 1
    assert service.expire() == 0
    env.clock.now += 2
    assert service.expire() == 1
    with pytest.raises(SessionNotFoundError):
        service.session("alice", "idle")
    assert not list((env.tmp / "uploads").iterdir())


def test_tus_offsets_and_completion(env: Env) -> None:
    service = env.service()
    env.storage.mkdir("alice/in")
    state = service.create_tus("alice", "alice/in", "t.bin", 10, mtime_ns=1_500_000_000 * 10**9)
    body = iter([b"01234", b""])
    state = service.tus_append("alice", state.name, 0, lambda n: next(body), length=None)
    assert state.offset == 5 and not state.complete
    with pytest.raises(OffsetMismatchError) as info:
        service.tus_append("alice", state.name, 4, lambda n: b"", length=0)
    assert info.value.expected == 5
    cut = iter([b"567", b""])  # the client promised 5 bytes and left after 3
    state = service.tus_append("alice", state.name, 5, lambda n: next(cut), length=5)
    assert state.offset == 8
    rest = iter([b"89"])
    state = service.tus_append("alice", state.name, 8, lambda n: next(rest), length=2)
    assert state.complete and state.offset == 10
    assert read(env, "alice/in/t.bin") == b"0123456789"
    assert env.storage.stat("alice/in/t.bin").mtime_ns == 1_500_000_000 * 10**9
    assert service.tus_state("alice", state.name).complete
