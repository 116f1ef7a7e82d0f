"""Group commit: concurrent writes land in batches, each write keeps its own outcome, and
everything a batch answers for is on disk with its metadata."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from providers.errors import ChecksumMismatchError, PreconditionFailedError, ProviderError
from providers.hashing import Digests
from providers.local import LocalProvider
from providers.local.group_commit import CommitQueue, Ticket

pytestmark = pytest.mark.unit

WAIT_S = 30.0


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Recorder:
    """A batch runner that records its batches; the first batch waits for ``release``."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, batch: Sequence[Ticket[str, str]]) -> None:
        self.started.set()
        self.release.wait(WAIT_S)
        self.batches.append([t.job for t in batch])
        for ticket in batch:
            if ticket.job.startswith("bad"):
                ticket.fail(ValueError(ticket.job))
            else:
                ticket.succeed(ticket.job.upper())


def submit_all(
    queue: CommitQueue[str, str], jobs: list[str]
) -> tuple[dict[str, object], list[threading.Thread]]:
    """Submit every job from its own thread; outcomes fill in as the threads finish."""
    outcomes: dict[str, object] = {}

    def one(job: str) -> None:
        try:
            outcomes[job] = queue.submit(job)
        except ValueError as exc:
            outcomes[job] = exc

    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    return outcomes, threads


def test_commits_arriving_during_a_batch_form_the_next_batch() -> None:
    runner = Recorder()
    queue: CommitQueue[str, str] = CommitQueue(runner)
    _, first = submit_all(queue, ["a"])
    runner.started.wait(WAIT_S)
    _, rest = submit_all(queue, ["b", "c", "bad-d", "e"])
    wait_for(lambda: len(queue._pending) == 4)
    runner.release.set()
    for t in [*first, *rest]:
        t.join(WAIT_S)
    assert runner.batches[0] == ["a"]
    assert sorted(runner.batches[1]) == ["b", "bad-d", "c", "e"]
    assert len(runner.batches) == 2


def test_one_failed_commit_leaves_its_batch_neighbours_alone() -> None:
    runner = Recorder()
    runner.release.set()
    queue: CommitQueue[str, str] = CommitQueue(runner)
    outcomes, threads = submit_all(queue, ["x", "bad-y", "z"])
    for t in threads:
        t.join(WAIT_S)
    assert outcomes["x"] == "X" and outcomes["z"] == "Z"
    assert isinstance(outcomes["bad-y"], ValueError)


def test_a_crashing_runner_fails_its_batch_and_the_queue_goes_on() -> None:
    calls: list[int] = []

    def runner(batch: Sequence[Ticket[str, str]]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise OSError("the disk went away")
        for ticket in batch:
            ticket.succeed("ok")

    queue: CommitQueue[str, str] = CommitQueue(runner)
    with pytest.raises(OSError, match="went away"):
        queue.submit("first")
    assert queue.submit("second") == "ok"


def test_a_lone_commit_is_not_delayed() -> None:
    def runner(batch: Sequence[Ticket[str, str]]) -> None:
        for ticket in batch:
            ticket.succeed("done")

    queue: CommitQueue[str, str] = CommitQueue(runner)
    started = time.monotonic()
    assert queue.submit("alone") == "done"
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------- the local provider


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[LocalProvider]:
    p = LocalProvider(tmp_path / "root", tmp_path / "state")
    yield p
    p.close()


def body(i: int) -> bytes:
    return f"file {i} ".encode() * (500 + i)


def digests_of(data: bytes) -> Digests:
    return Digests(
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def test_concurrent_writes_are_all_stored_with_their_digests(
    provider: LocalProvider, tmp_path: Path
) -> None:
    writers = 16
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            handle = provider.begin_write(f"f{i}.bin")
            handle.write(body(i))
            barrier.wait(WAIT_S)
            handle.commit(expected_digests={"sha256": hashlib.sha256(body(i)).hexdigest()})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert errors == []
    for i in range(writers):
        assert (tmp_path / "root" / f"f{i}.bin").read_bytes() == body(i)
        assert provider.digests(f"f{i}.bin") == digests_of(body(i))
    assert sorted(e.name for e in provider.listdir("")) == sorted(
        f"f{i}.bin" for i in range(writers)
    )
    assert provider.stat("").size == sum(len(body(i)) for i in range(writers))
    assert provider._commits.batches <= writers


def test_a_failed_precondition_in_a_batch_fails_only_that_write(
    provider: LocalProvider, tmp_path: Path
) -> None:
    handle = provider.begin_write("taken.txt")
    handle.write(b"already here")
    original = handle.commit()
    blocker = provider.begin_write("first.txt")
    blocker.write(b"first")
    outcomes: dict[str, object] = {}

    def commit(label: str, name: str, data: bytes, **kwargs: object) -> None:
        h = provider.begin_write(name)
        h.write(data)
        try:
            outcomes[label] = h.commit(**kwargs)  # type: ignore[arg-type]
        except ProviderError as exc:
            outcomes[label] = exc

    # The first commit leads a batch that waits for the path lock held here, so the
    # commits submitted meanwhile all land in the second batch.
    with provider._locks.hold("first.txt"):
        leader = threading.Thread(target=lambda: blocker.commit())
        leader.start()
        queue = provider._commits
        before = queue.batches
        wait_for(lambda: queue._leading and not queue._pending)  # the leader took its batch
        jobs = [
            threading.Thread(target=commit, args=("ok-1", "ok-1.txt", b"one")),
            threading.Thread(
                target=commit,
                args=("create-only", "taken.txt", b"must not land"),
                kwargs={"if_none_match_any": True},
            ),
            threading.Thread(
                target=commit,
                args=("if-match", "taken.txt", b"replaces it"),
                kwargs={"if_match": original.entry.etag},
            ),
            threading.Thread(
                target=commit,
                args=("bad-hash", "bad-hash.txt", b"corrupted"),
                kwargs={"expected_digests": {"sha256": "0" * 64}},
            ),
            threading.Thread(target=commit, args=("ok-2", "ok-2.txt", b"two")),
        ]
        for t in jobs:
            t.start()
        wait_for(lambda: len(queue._pending) == 4)  # the bad hash never queues
        time.sleep(0.1)
        assert queue.batches == before
    leader.join(WAIT_S)
    for t in jobs:
        t.join(WAIT_S)
    assert provider._commits.batches == before + 2
    assert isinstance(outcomes["bad-hash"], ChecksumMismatchError)
    assert isinstance(outcomes["create-only"], PreconditionFailedError)
    for label in ("ok-1", "ok-2", "if-match"):
        assert not isinstance(outcomes[label], ProviderError), outcomes[label]
    assert not (tmp_path / "root" / "bad-hash.txt").exists()
    assert (tmp_path / "root" / "ok-1.txt").read_bytes() == b"one"
    assert (tmp_path / "root" / "ok-2.txt").read_bytes() == b"two"
    assert (tmp_path / "root" / "first.txt").read_bytes() == b"first"
    assert (tmp_path / "root" / "taken.txt").read_bytes() == b"replaces it"
    assert provider.digests("taken.txt") == digests_of(b"replaces it")
    assert provider.digests("ok-2.txt") == digests_of(b"two")
    assert [p.name for p in provider.staging_dir.iterdir() if p.suffix == ".part"] == []
