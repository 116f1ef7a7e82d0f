"""DavsyncLockManager answers exactly as WsgiDAV's LockManager over the same storage, with one
storage query per ancestor walk instead of one per path segment."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wsgidav.dav_error import DAVError
from wsgidav.lock_man.lock_manager import LockManager

from davserver.dav.lock_manager import DavsyncLockManager
from davserver.dav.lock_store import SQLiteLockStorage

PATHS = ["/", "/a", "/a/b", "/a/b/c", "/a/bc", "/a/b/c/d.txt", "/x", "/x/y"]
PRINCIPALS = ["alice", "bob"]


class CountingStorage(SQLiteLockStorage):
    """Counts the queries a manager makes."""

    queries = 0

    def get_lock_list(self, path: str, **kwargs: Any) -> list[Any]:
        self.queries += 1
        return super().get_lock_list(path, **kwargs)

    def get_direct_locks(self, roots: Any) -> list[Any]:
        self.queries += 1
        return super().get_direct_locks(roots)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[CountingStorage]:
    store = CountingStorage(tmp_path / "state.sqlite")
    yield store
    store.close()


def _outcome(manager: LockManager, url: str, depth: str, tokens: list[str], who: str) -> Any:
    try:
        manager.check_write_permission(url=url, depth=depth, token_list=tokens, principal=who)
    except DAVError as exc:
        assert exc.err_condition is not None
        return ("423", exc.value, list(exc.err_condition.hrefs))
    return "ok"


def _fill(storage: SQLiteLockStorage, rng: random.Random) -> list[str]:
    tokens = []
    for _ in range(rng.randint(0, 6)):
        lock = {
            "type": "write",
            "scope": rng.choice(["shared", "exclusive"]),
            "depth": rng.choice(["0", "infinity"]),
            "owner": b"",
            "timeout": 600,
            "principal": rng.choice(PRINCIPALS),
        }
        with contextlib.suppress(DAVError):  # the storage refuses conflicting locks itself
            tokens.append(storage.create(rng.choice(PATHS), lock)["token"])
    return tokens


@pytest.mark.parametrize("seed", range(40))
def test_same_answers_as_wsgidav(storage: CountingStorage, seed: int) -> None:
    rng = random.Random(seed)
    tokens = _fill(storage, rng)
    stock = LockManager(storage)
    ours = DavsyncLockManager(storage)
    for _ in range(30):
        url = rng.choice(PATHS) + rng.choice(["", "/"])
        depth = rng.choice(["0", "infinity"])
        who = rng.choice(PRINCIPALS)
        sent = rng.sample(tokens, k=rng.randint(0, len(tokens)))
        assert _outcome(ours, url, depth, sent, who) == _outcome(stock, url, depth, sent, who)
        for principal in (None, who):
            assert ours.get_indirect_url_lock_list(
                url, principal=principal
            ) == stock.get_indirect_url_lock_list(url, principal=principal)


def test_one_query_per_walk(storage: CountingStorage) -> None:
    storage.create(
        "/a",
        {
            "type": "write",
            "scope": "exclusive",
            "depth": "infinity",
            "owner": b"",
            "timeout": 60,
            "principal": "alice",
        },
    )
    ours = DavsyncLockManager(storage)
    before = storage.queries
    outcome = _outcome(ours, "/a/b/c/d.txt", "0", [], "bob")
    assert outcome == ("423", 423, ["/a"])
    assert storage.queries - before == 1
    stock = LockManager(storage)
    before = storage.queries
    assert _outcome(stock, "/a/b/c/d.txt", "0", [], "bob") == outcome
    assert storage.queries - before == 5  # one per segment: what the walk saves
