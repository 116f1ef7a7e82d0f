"""SQLiteLockStorage, directly and behind WsgiDAV's LockManager."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wsgidav.dav_error import (
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_LOCKED,
    HTTP_PRECONDITION_FAILED,
    DAVError,
)
from wsgidav.lock_man.lock_manager import LockManager

from davserver.dav.lock_store import SQLiteLockStorage

pytestmark = pytest.mark.unit

OWNER = b"<?xml version='1.0' encoding='UTF-8'?>\n<owner xmlns=\"DAV:\">J\xc3\xb6rg</owner>"


class Clock:
    """A settable clock, shared by every storage of one test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dav.sqlite"


@pytest.fixture
def storage(db_path: Path, clock: Clock) -> Iterator[SQLiteLockStorage]:
    store = SQLiteLockStorage(db_path, clock=clock)
    store.open()
    yield store
    store.close()


def new_lock(
    *,
    scope: str = "exclusive",
    depth: str = "0",
    principal: str = "alice",
    timeout: float | None = 60,
) -> dict[str, Any]:
    return {
        "type": "write",
        "scope": scope,
        "depth": depth,
        "owner": OWNER,
        "timeout": timeout,
        "principal": principal,
    }


def acquire(
    manager: LockManager,
    url: str,
    *,
    scope: str = "exclusive",
    depth: str = "0",
    principal: str = "alice",
    timeout: float | None = 60,
) -> dict[str, Any]:
    lock: dict[str, Any] = manager.acquire(
        url=url,
        lock_type="write",
        lock_scope=scope,
        lock_depth=depth,
        lock_owner=OWNER,
        timeout=timeout,
        principal=principal,
        token_list=[],
    )
    return lock


def stored_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM dav_locks").fetchone()
    return int(count)


# --- storage interface -------------------------------------------------------------------


def test_create_completes_the_lock_in_place(storage: SQLiteLockStorage, clock: Clock) -> None:
    lock = new_lock(depth="infinity")
    result = storage.create("/docs/report.txt/", lock)

    assert result is lock
    assert lock["root"] == "/docs/report.txt"
    assert lock["token"].startswith("opaquelocktoken:")
    assert lock["timeout"] == 60.0
    assert lock["expire"] == clock.now + 60
    assert set(lock) == {
        "token",
        "root",
        "type",
        "scope",
        "depth",
        "owner",
        "timeout",
        "principal",
        "expire",
    }
    assert storage.get(lock["token"]) == lock


def test_owner_xml_round_trips_as_bytes(storage: SQLiteLockStorage) -> None:
    lock = storage.create("/a", new_lock())
    fetched = storage.get(lock["token"])
    assert fetched is not None
    assert fetched["owner"] == OWNER
    assert isinstance(fetched["owner"], bytes)
    empty = storage.create("/b", {**new_lock(), "owner": b""})
    assert storage.get(empty["token"]) == empty
    with sqlite3.connect(storage.db_path) as conn:
        (owner,) = conn.execute(
            "SELECT owner FROM dav_locks WHERE token = ?", (lock["token"],)
        ).fetchone()
    assert owner == OWNER.decode("utf-8")  # kept as readable text


def test_create_rejects_malformed_locks(storage: SQLiteLockStorage) -> None:
    with pytest.raises(ValueError):
        storage.create("/a", {**new_lock(), "token": "opaquelocktoken:x"})
    with pytest.raises(ValueError):
        storage.create("/a", {**new_lock(), "expire": 5.0})
    with pytest.raises(ValueError):
        storage.create("/a", {**new_lock(), "scope": "weird"})
    with pytest.raises(ValueError):
        storage.create("/a", {**new_lock(), "depth": "1"})
    with pytest.raises(ValueError):
        storage.create("/a", new_lock(timeout=0))
    assert (
        storage.get_lock_list("/", include_root=True, include_children=True, token_only=True) == []
    )


def test_unknown_token(storage: SQLiteLockStorage) -> None:
    assert storage.get("opaquelocktoken:nope") is None
    assert storage.delete("opaquelocktoken:nope") is False
    with pytest.raises(DAVError) as info:
        storage.refresh("opaquelocktoken:nope", timeout=30)
    assert info.value.value == HTTP_PRECONDITION_FAILED


def test_refresh_and_delete(storage: SQLiteLockStorage, clock: Clock) -> None:
    lock = storage.create("/a", new_lock(timeout=60))
    clock.now += 50
    refreshed = storage.refresh(lock["token"], timeout=120)
    assert refreshed["expire"] == clock.now + 120
    assert refreshed["timeout"] == 120
    assert refreshed["token"] == lock["token"]
    clock.now += 100  # past the original expiry, within the refreshed one
    assert storage.get(lock["token"]) == refreshed
    assert storage.delete(lock["token"]) is True
    assert storage.get(lock["token"]) is None
    assert storage.delete(lock["token"]) is False


def test_timeouts_are_clamped(db_path: Path, clock: Clock) -> None:
    store = SQLiteLockStorage(db_path, max_timeout_s=100, clock=clock)
    long = store.create("/long", new_lock(timeout=10_000))
    assert long["timeout"] == 100
    assert long["expire"] == clock.now + 100
    infinite = store.create("/infinite", new_lock(timeout=-1))
    assert infinite["timeout"] == 100
    assert infinite["expire"] == clock.now + 100
    default = store.create("/default", new_lock(timeout=None))
    assert default["timeout"] == 100
    short = store.create("/short", new_lock(timeout=5))
    assert short["timeout"] == 5
    assert store.refresh(short["token"], timeout=-1)["timeout"] == 100
    assert store.refresh(short["token"], timeout=10**9)["timeout"] == 100


def test_default_timeout_is_one_week(storage: SQLiteLockStorage) -> None:
    assert storage.create("/a", new_lock(timeout=None))["timeout"] == 7 * 24 * 3600


def test_expired_locks_are_absent_and_purged(
    storage: SQLiteLockStorage, db_path: Path, clock: Clock
) -> None:
    short = storage.create("/a/short", new_lock(timeout=10))
    long = storage.create("/a/long", new_lock(timeout=100))
    clock.now += 10
    assert storage.get(short["token"]) is not None  # expires only after `expire`
    clock.now += 1

    assert storage.get_lock_list(
        "/a", include_root=True, include_children=True, token_only=True
    ) == [long["token"]]
    assert stored_rows(db_path) == 1  # the expired lock was purged on the way
    assert storage.get(short["token"]) is None
    assert storage.delete(short["token"]) is False
    with pytest.raises(DAVError) as info:
        storage.refresh(short["token"], timeout=10)
    assert info.value.value == HTTP_PRECONDITION_FAILED


def test_delete_of_expired_lock_reports_false(storage: SQLiteLockStorage, clock: Clock) -> None:
    lock = storage.create("/a", new_lock(timeout=10))
    clock.now += 11
    assert storage.delete(lock["token"]) is False


def test_cleanup_and_clear(storage: SQLiteLockStorage, db_path: Path, clock: Clock) -> None:
    storage.create("/a", new_lock(timeout=10))
    storage.create("/b", new_lock(timeout=100))
    clock.now += 50
    storage.cleanup()
    assert stored_rows(db_path) == 1
    storage.clear()
    assert stored_rows(db_path) == 0


def test_children_listing(storage: SQLiteLockStorage) -> None:
    tokens = {
        path: storage.create(path, new_lock(scope="shared"))["token"]
        for path in ["/a/b", "/a/b/c", "/a/b/c/d", "/a/bc", "/a/b.txt", "/a/b%20c", "/a", "/x"]
    }

    def listing(path: str, *, root: bool, children: bool) -> set[str]:
        found = storage.get_lock_list(
            path, include_root=root, include_children=children, token_only=False
        )
        return {lock["root"] for lock in found}

    assert listing("/a/b", root=True, children=False) == {"/a/b"}
    assert listing("/a/b", root=False, children=True) == {"/a/b/c", "/a/b/c/d"}
    assert listing("/a/b/", root=True, children=True) == {"/a/b", "/a/b/c", "/a/b/c/d"}
    assert listing("/", root=False, children=True) == set(tokens)
    assert listing("/", root=True, children=False) == set()
    tokens_only = storage.get_lock_list(
        "/a/b", include_root=True, include_children=False, token_only=True
    )
    assert tokens_only == [tokens["/a/b"]]
    with pytest.raises(ValueError):
        storage.get_lock_list("/a", include_root=False, include_children=False, token_only=True)


def test_children_listing_ignores_like_wildcards(storage: SQLiteLockStorage) -> None:
    storage.create("/axb/c", new_lock())
    storage.create("/a%/c", new_lock())
    found = storage.get_lock_list("/a_b", include_root=True, include_children=True, token_only=True)
    assert found == []
    found = storage.get_lock_list(
        "/a%", include_root=False, include_children=True, token_only=False
    )
    assert [lock["root"] for lock in found] == ["/a%/c"]


def test_per_principal_limit(db_path: Path, clock: Clock) -> None:
    store = SQLiteLockStorage(db_path, max_locks_per_principal=2, clock=clock)
    first = store.create("/1", new_lock(timeout=10))
    store.create("/2", new_lock(timeout=100))
    with pytest.raises(DAVError) as info:
        store.create("/3", new_lock())
    assert info.value.value == HTTP_INSUFFICIENT_STORAGE
    store.create("/other", new_lock(principal="bob"))  # other principals are unaffected
    store.delete(first["token"])
    store.create("/3", new_lock(timeout=10))
    clock.now += 20  # expired locks do not count
    store.create("/4", new_lock())


def test_close_then_reuse(storage: SQLiteLockStorage) -> None:
    lock = storage.create("/a", new_lock())
    storage.close()
    assert storage.get(lock["token"]) == lock
    storage.open()
    storage.open()
    assert storage.get(lock["token"]) == lock


def test_storage_rejects_conflicting_create(storage: SQLiteLockStorage) -> None:
    """The storage re-checks conflicts, so races between processes cannot double-grant."""
    storage.create("/a/b", new_lock())
    for path, lock in [
        ("/a/b", new_lock()),
        ("/a/b", new_lock(scope="shared")),
        ("/a", new_lock(depth="infinity", scope="shared")),
        ("/", new_lock(depth="infinity")),
    ]:
        with pytest.raises(DAVError) as info:
            storage.create(path, lock)
        assert info.value.value == HTTP_LOCKED
        assert info.value.err_condition.hrefs == ["/a/b"]
    storage.create("/a", new_lock())  # depth 0 on a parent does not conflict
    storage.create("/a/b/c", new_lock())  # a depth-0 lock on /a/b does not cover children
    storage.create("/a/bc", new_lock(depth="infinity"))


# --- behind LockManager ------------------------------------------------------------------


def test_manager_acquire_refresh_release(storage: SQLiteLockStorage, clock: Clock) -> None:
    manager = LockManager(storage)
    lock = acquire(manager, "/docs/a.txt", timeout=30)
    token = lock["token"]
    assert manager.get_lock(token, key="root") == "/docs/a.txt"
    assert manager.is_url_locked("/docs/a.txt")
    assert manager.is_token_locked_by_user(token, "alice")
    assert manager.is_url_locked_by_token("/docs/a.txt", token)

    clock.now += 20
    refreshed = manager.refresh(token, timeout=300)
    assert refreshed["expire"] == clock.now + 300

    manager.release(token)
    assert manager.get_lock(token) is None
    assert not manager.is_url_locked("/docs/a.txt")


def test_manager_conflicting_exclusive_locks(storage: SQLiteLockStorage) -> None:
    manager = LockManager(storage)
    acquire(manager, "/a.txt")
    with pytest.raises(DAVError) as info:
        acquire(manager, "/a.txt", principal="bob")
    assert info.value.value == HTTP_LOCKED
    with pytest.raises(DAVError):
        acquire(manager, "/a.txt", scope="shared", principal="bob")

    acquire(manager, "/b.txt", scope="shared")
    acquire(manager, "/b.txt", scope="shared", principal="bob")
    with pytest.raises(DAVError):
        acquire(manager, "/b.txt", principal="carol")


def test_manager_depth_infinity_covers_children(storage: SQLiteLockStorage) -> None:
    manager = LockManager(storage)
    lock = acquire(manager, "/dir", depth="infinity")
    token = lock["token"]

    with pytest.raises(DAVError) as info:
        manager.check_write_permission(
            url="/dir/sub/file", depth="0", token_list=[], principal="alice"
        )
    assert info.value.value == HTTP_LOCKED
    with pytest.raises(DAVError):  # the token alone is not enough: it must be the owner's
        manager.check_write_permission(
            url="/dir/sub/file", depth="0", token_list=[token], principal="bob"
        )
    manager.check_write_permission(
        url="/dir/sub/file", depth="0", token_list=[token], principal="alice"
    )
    manager.check_write_permission(url="/dirx/file", depth="0", token_list=[], principal="bob")
    assert [entry["token"] for entry in manager.get_indirect_url_lock_list("/dir/sub/file")] == [
        token
    ]
    assert manager.is_url_locked_by_token("/dir/sub/file", token)
    with pytest.raises(DAVError):
        acquire(manager, "/dir/sub/file", principal="bob")


def test_manager_depth_zero_does_not_cover_children(storage: SQLiteLockStorage) -> None:
    manager = LockManager(storage)
    lock = acquire(manager, "/dir", depth="0")
    # the child is free: no lock covers it, and another principal may write it
    assert manager.get_indirect_url_lock_list("/dir/file") == []
    manager.check_write_permission(url="/dir/file", depth="0", token_list=[], principal="bob")
    # while the collection itself stays locked against that principal
    assert [entry["token"] for entry in manager.get_indirect_url_lock_list("/dir")] == [
        lock["token"]
    ]
    with pytest.raises(DAVError) as info:
        manager.check_write_permission(url="/dir", depth="0", token_list=[], principal="bob")
    assert info.value.value == HTTP_LOCKED


def test_manager_locked_child_blocks_recursive_operations(storage: SQLiteLockStorage) -> None:
    manager = LockManager(storage)
    acquire(manager, "/dir/sub/file")
    with pytest.raises(DAVError) as info:
        acquire(manager, "/dir", depth="infinity", principal="bob")
    assert info.value.err_condition.hrefs == ["/dir/sub/file"]
    with pytest.raises(DAVError):
        manager.check_write_permission(url="/dir", depth="infinity", token_list=[], principal="bob")
    manager.check_write_permission(url="/dir", depth="0", token_list=[], principal="bob")
    assert [entry["root"] for entry in manager.get_url_lock_list("/dir", recursive=True)] == [
        "/dir/sub/file"
    ]
    manager.remove_all_locks_from_url("/dir", recursive=True)
    assert manager.get_url_lock_list("/dir", recursive=True) == []


def test_manager_expiry(storage: SQLiteLockStorage, clock: Clock) -> None:
    manager = LockManager(storage)
    lock = acquire(manager, "/a.txt", timeout=5)
    clock.now += 6
    assert manager.get_lock(lock["token"]) is None
    assert not manager.is_url_locked("/a.txt")
    acquire(manager, "/a.txt", principal="bob")  # the expired lock no longer conflicts


def test_manager_infinite_timeout_is_clamped(db_path: Path, clock: Clock) -> None:
    manager = LockManager(SQLiteLockStorage(db_path, max_timeout_s=3600, clock=clock))
    lock = acquire(manager, "/a.txt", timeout=-1)
    assert lock["timeout"] == 3600
    assert lock["expire"] == clock.now + 3600
    assert manager.refresh(lock["token"], timeout=-1)["expire"] == clock.now + 3600


# --- several processes -------------------------------------------------------------------


def test_two_instances_share_locks(db_path: Path, clock: Clock) -> None:
    one = LockManager(SQLiteLockStorage(db_path, clock=clock))
    two = LockManager(SQLiteLockStorage(db_path, clock=clock))

    lock = acquire(one, "/shared/dir", depth="infinity")
    assert two.get_lock(lock["token"]) == lock
    assert two.is_url_locked("/shared/dir")
    with pytest.raises(DAVError) as info:
        acquire(two, "/shared/dir/file", principal="bob")
    assert info.value.value == HTTP_LOCKED
    with pytest.raises(DAVError):
        two.check_write_permission(
            url="/shared/dir/file", depth="0", token_list=[], principal="bob"
        )

    two.refresh(lock["token"], timeout=500)
    assert one.get_lock(lock["token"], key="timeout") == 500
    two.release(lock["token"])
    assert one.get_lock(lock["token"]) is None
    acquire(one, "/shared/dir/file", principal="bob")


def test_concurrent_acquire_across_instances_grants_one(db_path: Path) -> None:
    """Each thread has its own LockManager and storage, as separate processes would."""
    workers = 8
    managers = [LockManager(SQLiteLockStorage(db_path)) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    granted: list[str] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            lock = acquire(managers[index], "/race.txt", principal=f"user{index}")
            granted.append(lock["token"])
        except DAVError as exc:
            refused.append(exc.value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(granted) == 1
    assert refused == [HTTP_LOCKED] * (workers - 1)
    assert len(managers[0].get_url_lock_list("/race.txt")) == 1
