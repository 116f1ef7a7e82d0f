"""Chunk sessions against an in-memory transport: resume, changed files, lost commit answers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from syncclient.journal import Journal
from syncclient.model import Digests, LocalFile, RemoteFile
from syncclient.transfer.bandwidth import TokenBucket
from syncclient.transfer.body import FileBody
from syncclient.transfer.chunking import ChunkedUpload, ChunkingUnsupportedError
from syncclient.transfer.retry import RetryPolicy, call_with_retry
from syncclient.transports import PutResult, StatusError, UnreachableError

pytestmark = pytest.mark.unit


class MemoryTransport:
    """Just the session part of the Transport protocol, in memory."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[int, bytes]] = {}
        self.files: dict[str, bytes] = {}
        self.puts: list[int] = []
        self.aborted: list[str] = []
        self.lose_commit_answer = False
        self.refuse_sessions = False
        self.commit_faults: list[StatusError] = []

    def session_create(self, session: str, path: str, total: int) -> None:
        if self.refuse_sessions:
            raise StatusError(405, "MKCOL")
        self.sessions.setdefault(session, {})

    def session_chunks(self, session: str) -> dict[int, int] | None:
        chunks = self.sessions.get(session)
        return None if chunks is None else {n: len(b) for n, b in chunks.items()}

    def session_put(
        self, session: str, n: int, body: Iterable[bytes], length: int, path: str, total: int
    ) -> None:
        if not 1 <= n <= 10_000:  # as davserver and Nextcloud: chunking v2 numbers 1..10000
            raise StatusError(400, f"PUT chunk {n}")
        self.sessions[session][n] = b"".join(body)
        self.puts.append(n)

    def session_commit(
        self, session: str, path: str, total: int, sha1: str, mtime: int
    ) -> PutResult:
        if self.commit_faults:
            raise self.commit_faults.pop(0)
        if session not in self.sessions:
            raise StatusError(404, "MOVE")
        data = b"".join(v for _, v in sorted(self.sessions.pop(session).items()))
        if hashlib.sha1(data).hexdigest() != sha1 or len(data) != total:
            raise StatusError(400, "MOVE")
        self.files[path] = data
        if self.lose_commit_answer:
            self.lose_commit_answer = False
            raise UnreachableError("connection dropped")
        return PutResult(None, {"sha1": sha1})

    def stat(self, path: str) -> RemoteFile | None:
        data = self.files.get(path)
        if data is None:
            return None
        return RemoteFile(path, len(data), sha256=hashlib.sha256(data).hexdigest())

    def session_abort(self, session: str) -> None:
        self.aborted.append(session)
        self.sessions.pop(session, None)


def _file(tmp: Path, data: bytes) -> LocalFile:
    p = tmp / "big.bin"
    p.write_bytes(data)
    st = p.stat()
    d = Digests(hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest(), "")
    return LocalFile("big.bin", st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, 0.0, d)


def _upload(
    tmp: Path, t: MemoryTransport, journal: Journal, f: LocalFile, fail_at: int | None = None
) -> ChunkedUpload:
    stop = threading.Event()
    sent = [0]

    def on_bytes(n: int) -> None:
        sent[0] += n
        if fail_at is not None and sent[0] > fail_at:
            raise UnreachableError("link down")

    def call(what: str, fn: Callable[[], object]) -> object:
        return call_with_retry(fn, RetryPolicy(attempts=1), stop)

    return ChunkedUpload(
        transport=t,  # type: ignore[arg-type]
        journal=journal,
        f=f,
        chunk_size=1000,
        call=call,
        body=lambda off, size: FileBody(tmp / f.path, off, size, TokenBucket(0), stop, on_bytes),
        emit=lambda *a, **k: None,
        unchanged=lambda: True,
    )


def test_resume_sends_only_missing_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20  # 5120 bytes: 6 chunks
    f = _file(tmp_path, data)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    with pytest.raises(UnreachableError):
        _upload(tmp_path, t, journal, f, fail_at=3500).run()
    assert t.puts == [1, 2, 3]  # chunk 4 died mid-body
    assert journal.session_get("big.bin") is not None
    up = _upload(tmp_path, t, journal, f)
    up.run()
    assert t.puts == [1, 2, 3, 4, 5, 6] and up.bytes_resumed == 3000
    assert t.files["big.bin"] == data
    assert journal.session_get("big.bin") is None


def test_file_larger_than_ten_thousand_chunks_gets_larger_chunks(tmp_path: Path) -> None:
    """Chunking v2 numbers chunks 1..10000: a file that needs more chunks of the configured
    size is sent in larger ones instead of failing at chunk 10001 (after all the others)."""
    data = hashlib.sha256(b"seed").digest() * (10_000 * 1000 // 32) + b"+" * 1001
    f = _file(tmp_path, data)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    with pytest.raises(UnreachableError):
        _upload(tmp_path, t, journal, f, fail_at=5_000_000).run()
    assert journal.session_get("big.bin") is not None
    up = _upload(tmp_path, t, journal, f)  # the resume keeps the larger layout
    up.run()
    assert t.files["big.bin"] == data
    assert max(t.puts) <= 10_000 and len(set(t.puts)) == max(t.puts)
    assert up.bytes_resumed > 0 and not t.aborted


def test_changed_file_aborts_the_old_session(tmp_path: Path) -> None:
    f = _file(tmp_path, b"a" * 2500)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    with pytest.raises(UnreachableError):
        _upload(tmp_path, t, journal, f, fail_at=1500).run()
    old = journal.session_get("big.bin")
    assert old is not None
    g = _file(tmp_path, b"b" * 2600)
    _upload(tmp_path, t, journal, g).run()
    assert t.aborted == [old.session_url]
    assert t.files["big.bin"] == b"b" * 2600


def test_touched_file_or_new_chunk_size_resumes_the_session(tmp_path: Path) -> None:
    """Same content with a new mtime (a touch), and a changed chunk size setting, resume
    the session with the chunks already on the server instead of starting from zero."""
    import dataclasses
    import os

    data = bytes(range(256)) * 20  # 5120 bytes: 6 chunks of 1000
    f = _file(tmp_path, data)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    with pytest.raises(UnreachableError):
        _upload(tmp_path, t, journal, f, fail_at=3500).run()
    assert t.puts == [1, 2, 3]
    os.utime(tmp_path / f.path, ns=(f.mtime_ns + 10**9, f.mtime_ns + 10**9))
    touched = dataclasses.replace(f, mtime_ns=f.mtime_ns + 10**9)
    up = _upload(tmp_path, t, journal, touched)
    up.chunk_size = 2000  # the setting changed between the runs
    up.run()
    assert not t.aborted, "the session was thrown away"
    assert t.puts == [1, 2, 3, 4, 5, 6] and up.bytes_resumed == 3000
    assert t.files["big.bin"] == data


@pytest.mark.parametrize("status", [503, 507, 500])
def test_commit_refused_for_a_passing_reason_keeps_the_session(tmp_path: Path, status: int) -> None:
    """A commit that meets a busy, full or failing server keeps the chunks: the next run
    commits them without sending any again. A refused checksum still starts over."""
    data = bytes(range(256)) * 20
    f = _file(tmp_path, data)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    t.commit_faults = [StatusError(status, "MOVE")]
    with pytest.raises(StatusError):
        _upload(tmp_path, t, journal, f).run()
    assert not t.aborted and journal.session_get("big.bin") is not None
    again = _upload(tmp_path, t, journal, f)
    again.run()
    assert t.puts == [1, 2, 3, 4, 5, 6], "chunks were sent twice"
    assert again.bytes_resumed == len(data) and t.files["big.bin"] == data
    t.commit_faults = [StatusError(400, "MOVE")]  # checksum mismatch
    with pytest.raises(StatusError):
        _upload(tmp_path, t, journal, f).run()
    assert len(t.aborted) == 1 and journal.session_get("big.bin") is None


def test_lost_commit_answer_is_confirmed_by_the_servers_hash(tmp_path: Path) -> None:
    data = b"z" * 1500
    f = _file(tmp_path, data)
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    t.lose_commit_answer = True
    up = _upload(tmp_path, t, journal, f)
    up.call = lambda what, fn: call_with_retry(
        fn, RetryPolicy(attempts=2, base=0.01), threading.Event()
    )
    result = up.run()
    assert result.hashes["sha256"] == hashlib.sha256(data).hexdigest()


def test_session_refused_means_no_chunking(tmp_path: Path) -> None:
    t, journal = MemoryTransport(), Journal(tmp_path / "j.sqlite")
    t.refuse_sessions = True
    with pytest.raises(ChunkingUnsupportedError):
        _upload(tmp_path, t, journal, _file(tmp_path, b"q" * 2000)).run()
    assert journal.session_get("big.bin") is None
