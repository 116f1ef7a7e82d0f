"""providers.sqlite: the writers of one process queue on one lock per database file."""

from __future__ import annotations

import threading
from pathlib import Path

from providers.sqlite import ThreadLocalDB, writer_lock

SCHEMA = "CREATE TABLE IF NOT EXISTS t (n INTEGER NOT NULL);"


def test_two_stores_of_one_file_share_the_writer_lock(tmp_path: Path) -> None:
    a = ThreadLocalDB(tmp_path / "state.sqlite", SCHEMA)
    b = ThreadLocalDB(tmp_path / "." / "state.sqlite", SCHEMA)
    other = ThreadLocalDB(tmp_path / "other.sqlite", SCHEMA)
    assert writer_lock(a.db_path) is writer_lock(b.db_path)
    assert writer_lock(a.db_path) is not writer_lock(other.db_path)


def test_a_transaction_holds_the_lock_so_other_threads_wait_in_python(tmp_path: Path) -> None:
    db = ThreadLocalDB(tmp_path / "state.sqlite", SCHEMA)
    lock = writer_lock(db.db_path)
    seen: list[bool] = []

    def try_lock() -> None:
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        seen.append(got)

    with db.transaction() as conn:
        conn.execute("INSERT INTO t (n) VALUES (1)")
        probe = threading.Thread(target=try_lock)
        probe.start()
        probe.join(timeout=10)
    try_lock()
    assert seen == [False, True]


def test_many_threads_writing_lose_nothing(tmp_path: Path) -> None:
    stores = [ThreadLocalDB(tmp_path / "state.sqlite", SCHEMA) for _ in range(2)]

    def write(k: int) -> None:
        for i in range(50):
            with stores[k % 2].transaction() as conn:
                conn.execute("INSERT INTO t (n) VALUES (?)", (k * 1000 + i,))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert stores[0].conn().execute("SELECT COUNT(DISTINCT n) FROM t").fetchone() == (400,)


def test_a_failed_transaction_releases_the_lock(tmp_path: Path) -> None:
    db = ThreadLocalDB(tmp_path / "state.sqlite", SCHEMA)
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO t (n) VALUES (1)")
            raise ValueError("boom")
    except ValueError:
        pass
    seen: list[bool] = []

    def take() -> None:
        lock = writer_lock(db.db_path)
        got = lock.acquire(timeout=5)
        if got:
            lock.release()
        seen.append(got)

    probe = threading.Thread(target=take)
    probe.start()
    probe.join(timeout=10)
    assert seen == [True]
    assert db.conn().execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
