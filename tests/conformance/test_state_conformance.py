"""Every store of server state behaves the same on both engines: a SQLite file and a real
PostgreSQL (a throwaway cluster, see tests/support/postgres.py).

Two store instances opened on one target stand for two server processes (or two servers):
what one writes, the other sees.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from wsgidav.dav_error import DAVError

from davserver.auth.errors import UserExistsError
from davserver.auth.nonces import NonceRegistry
from davserver.auth.throttle import LoginThrottle
from davserver.auth.users import UserStore
from davserver.collection.alerts import Alerts
from davserver.collection.config import AlertSettings, WebhookAction
from davserver.collection.journal import ArrivalJournal, NewArrival
from davserver.collection.queue import KIND_TRIGGER, JobQueue, JobSpec
from davserver.dav.lock_store import SQLiteLockStorage
from davserver.dav.prop_store import SQLitePropertyManager
from davserver.uploads.store import SessionStore
from providers.statedb import open_db

pytestmark = pytest.mark.timeout(300)

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """An empty state database of each engine: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


# --- the interface itself ------------------------------------------------------------------


def test_sql_subset_round_trips_types_and_ids(target: Path | str) -> None:
    db = open_db(
        target,
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL"
        " UNIQUE, size INTEGER, at REAL, data BLOB)",
    )
    with db.transaction() as conn:
        first = conn.execute(
            "INSERT INTO t (name, size, at, data) VALUES (?, ?, ?, ?) RETURNING id",
            ("50% 'quoted' ?", 2**40, 1.5, b"\x00\xff"),
        ).fetchone()[0]
        second = conn.execute(
            "INSERT INTO t (name, size) VALUES (?, ?) RETURNING id", ("b", True)
        ).fetchone()[0]
    assert second > first
    rows = db.conn().execute("SELECT name, size, at, data FROM t ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        ("50% 'quoted' ?", 2**40, 1.5, b"\x00\xff"),
        ("b", 1, None, None),
    ]
    # a literal % and ? in the SQL text itself stay literal
    (count,) = db.conn().execute("SELECT COUNT(*) FROM t WHERE name LIKE '50%?%'").fetchone()
    assert count == 1
    upsert = (
        "INSERT INTO t (name, size) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET size = excluded.size"
    )
    db.conn().execute(upsert, ("b", 7))
    assert db.conn().execute("SELECT size FROM t WHERE name = ?", ("b",)).fetchone()[0] == 7
    with pytest.raises(sqlite3.IntegrityError):
        db.conn().execute("INSERT INTO t (name) VALUES (?)", ("b",))
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO t (name) VALUES (?)", ("rolled back",))
        raise RuntimeError
    assert db.conn().execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    # byte order, as SQLite compares: range scans over paths agree on both engines
    db.conn().executemany(
        "INSERT INTO t (name) VALUES (?)", [("/a/b",), ("/a/B",), ("/a/bc",), ("/a/b/x",)]
    )
    inside = (
        db.conn()
        .execute(
            "SELECT name FROM t WHERE name >= ? AND name < ? ORDER BY name", ("/a/b/", "/a/b0")
        )
        .fetchall()
    )
    assert [r[0] for r in inside] == ["/a/b/x"]
    ordered = (
        db.conn().execute("SELECT name FROM t WHERE name LIKE '/a/%' ORDER BY name").fetchall()
    )
    assert [r[0] for r in ordered] == ["/a/B", "/a/b", "/a/b/x", "/a/bc"]


def test_migrations_run_once_in_order_and_are_recorded(target: Path | str) -> None:
    schema = "CREATE TABLE IF NOT EXISTS m (a INTEGER)"
    steps = ["ALTER TABLE m ADD COLUMN b TEXT", "ALTER TABLE m ADD COLUMN c REAL"]
    db = open_db(target, schema, component="m", migrations=steps[:1])
    db.conn().execute("INSERT INTO m (a, b) VALUES (1, 'x')")
    again = open_db(target, schema, component="m", migrations=steps)  # a newer server
    assert again.conn().execute("SELECT a, b, c FROM m").fetchall() == [(1, "x", None)]
    open_db(target, schema, component="m", migrations=steps)  # nothing left to apply
    versions = again.conn().execute("SELECT component, version FROM schema_versions").fetchall()
    assert [tuple(v) for v in versions] == [("m", 2)]
    with pytest.raises(sqlite3.OperationalError, match="newer than this server"):
        open_db(target, schema, component="m", migrations=steps[:1])  # an older server


# --- users, throttle, nonces ---------------------------------------------------------------


def test_users_shared_between_instances(target: Path | str) -> None:
    a, b = UserStore(target), UserStore(target)
    a.add("alice", "pw-1", digest_realm="davsync")
    with pytest.raises(UserExistsError):
        b.add("alice", "other")
    assert b.verify("alice", "pw-1") and not b.verify("alice", "wrong")
    assert b.digest_ha1("alice", "davsync")
    b.set_password("alice", "pw-2")
    assert a.verify("alice", "pw-2") and a.digest_ha1("alice", "davsync") is None
    a.set_disabled("alice", True)
    assert b.is_disabled("alice") and not b.verify("alice", "pw-2")
    a.add("bob", "pw-3")
    assert b.list_names() == ["alice", "bob"]
    b.remove("alice")
    assert not a.exists("alice") and a.list_names() == ["bob"]


def test_throttle_shared_between_instances(target: Path | str) -> None:
    now = [1000.0]
    a = LoginThrottle(3, 60, 30, clock=lambda: now[0], db_path=target, max_records=5)
    b = LoginThrottle(3, 60, 30, clock=lambda: now[0], db_path=target, max_records=5)
    for _ in range(3):
        a.record_failure("alice", "192.0.2.1")
    wait = b.check("alice", "192.0.2.1")
    assert wait is not None and 0 < wait <= 30
    assert b.check("alice", "192.0.2.2") is None  # another address is not locked
    assert b.tracked() == (1, 1)
    b.record_success("alice", "192.0.2.1")
    assert a.check("alice", "192.0.2.1") is None
    a.record_failure("bad\x00name", "192.0.2.9")  # a hostile name: counted, not a crash
    assert b.check("bad\x00name", "192.0.2.9") is None
    for i in range(40):  # pruning to max_records deletes the oldest by id
        a.record_failure(f"user{i}", "198.51.100.1")
    now[0] += 3600
    assert b.check("user39", "198.51.100.1") is None


def test_nonce_issued_on_one_instance_is_accepted_once_on_another(target: Path | str) -> None:
    a, b = NonceRegistry(db_path=target), NonceRegistry(db_path=target)
    a.issue("n-1")
    assert b.accept("n-1", 1)
    assert not a.accept("n-1", 1)  # replayed count, refused by the other instance
    assert a.accept("n-1", 2)
    a.issue("n-plain")
    assert b.accept("n-plain", None) and not a.accept("n-plain", None)
    a.issue("n-1")  # re-issuing a known nonce renews it (upsert)
    assert not b.accept("n-1", 2)
    assert not b.accept("never-issued", 1)


# --- locks and dead properties -------------------------------------------------------------


def _lock(
    principal: str = "alice", scope: str = "exclusive", depth: str = "0"
) -> dict[str, object]:
    return {
        "type": "write",
        "scope": scope,
        "depth": depth,
        "owner": b"<owner/>",
        "principal": principal,
        "timeout": 600,
    }


def test_locks_shared_between_instances_in_creation_order(target: Path | str) -> None:
    a, b = SQLiteLockStorage(target), SQLiteLockStorage(target)
    first = a.create("/home/x", _lock(scope="shared"))
    second = b.create("/home/x", _lock(principal="bob", scope="shared"))
    third = a.create("/home/x/y", _lock())
    listed = b.get_lock_list("/home/x", include_root=True, include_children=True, token_only=True)
    assert listed == [first["token"], second["token"], third["token"]]
    with pytest.raises(DAVError) as refused:
        b.create("/home/x", _lock(depth="infinity"))
    assert refused.value.value == 423
    refreshed = b.refresh(first["token"], timeout=120)
    assert refreshed["timeout"] == 120 and a.get(first["token"]) is not None
    assert b.delete(first["token"]) and a.get(first["token"]) is None
    assert not a.delete(first["token"])


def test_concurrent_exclusive_locks_across_instances_grant_one(target: Path | str) -> None:
    """Many threads through two store instances (two servers) race for one exclusive lock."""
    stores = [SQLiteLockStorage(target), SQLiteLockStorage(target)]
    attempts = 60
    start = threading.Barrier(attempts)
    granted: list[str] = []
    refused: list[int] = []

    def attempt(i: int) -> None:
        start.wait(timeout=60)
        try:
            lock = stores[i % 2].create("/race/file", _lock(principal=f"user{i}"))
        except DAVError as exc:
            refused.append(exc.value)
        else:
            granted.append(str(lock["token"]))

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        list(pool.map(attempt, range(attempts)))
    assert len(granted) == 1, f"{len(granted)} exclusive locks granted on one path"
    assert refused == [423] * (attempts - 1)
    listed = stores[1].get_lock_list(
        "/race/file", include_root=True, include_children=False, token_only=True
    )
    assert listed == granted


def test_dead_properties_shared_and_moved_as_subtrees(target: Path | str) -> None:
    a, b = SQLitePropertyManager(target), SQLitePropertyManager(target)
    a.write_property("/d/", "{ns:}color", b"<color>red</color>")
    a.write_property("/d/f", "{ns:}color", b"<color>blue</color>")
    a.write_property("/dx", "{ns:}color", b"<color>sibling</color>")
    assert b.get_property("/d", "{ns:}color") == b"<color>red</color>"
    b.move_properties("/d", "/e", with_children=True)
    assert (
        a.get_properties("/d/f") == []
        and a.get_property("/e/f", "{ns:}color") == b"<color>blue</color>"
    )
    assert a.get_property("/dx", "{ns:}color") == b"<color>sibling</color>"
    a.move_properties("/e/f", "/e", with_children=True)  # onto its own parent
    assert b.get_property("/e", "{ns:}color") == b"<color>blue</color>"
    b.copy_properties("/e", "/g")
    assert a.get_property("/g", "{ns:}color") == b"<color>blue</color>"
    a.remove_properties("/e")
    assert b.get_properties("/e") == [] and b.get_properties("/dx") == ["{ns:}color"]
    small = SQLitePropertyManager(target, max_properties_per_resource=1)
    with pytest.raises(DAVError) as full:
        small.write_property("/g", "{ns:}other", b"<other/>")
    assert full.value.value == 507


# --- upload sessions -----------------------------------------------------------------------


def test_upload_session_rows_shared_and_chunks_replaced(target: Path | str, tmp_path: Path) -> None:
    chunks = tmp_path / "chunks"
    a = SessionStore(target, chunks, time.time)
    b = SessionStore(target, chunks, time.time)
    session = a.create("alice", "up-1", "chunked", max_active=5, destination="/x.bin")
    assert b.get("alice", "up-1") == session
    for payload in (b"first", b"second!"):  # the same chunk name twice: the row is replaced
        staged = b.stage(session)
        staged.write(payload)
        b.add_chunk(session, "00001", staged, start=None, end=None, check=lambda s, c: None)
    listed = a.chunks("alice", "up-1")
    assert [(c.name, c.size) for c in listed] == [("00001", 7)]
    assert a.count_active() == {"alice": 1}
    assert b.delete("alice", "up-1") is not None
    assert a.get("alice", "up-1") is None and a.chunks("alice", "up-1") == []


# --- collection: journal, queue, alerts ----------------------------------------------------


def _arrival(path: str, at: float, size: int = 10) -> NewArrival:
    return NewArrival(at, "site1", path, size, "m", "s1", "s256", None, "webdav", None, None)


def test_journal_ids_totals_and_folders(target: Path | str) -> None:
    journal, other = ArrivalJournal(target), ArrivalJournal(target)
    with journal.db.transaction() as conn:
        first = journal.record(conn, _arrival("in/a.csv", 100.0, 2**33))
        second = journal.record(conn, _arrival("in/b.csv", 101.0))
        journal.record(conn, _arrival("in/sub/c.csv", 102.0))
    assert 0 < first.id < second.id
    assert [a.path for a in other.recent(user="site1", limit=2)] == ["in/sub/c.csv", "in/b.csv"]
    totals = other.totals("site1", 0.0)
    assert (totals.files, totals.bytes) == (3, 2**33 + 20)
    with other.db.transaction() as conn:
        assert sorted(other.in_folder(conn, "site1", "in", 0.0)) == ["in/a.csv", "in/b.csv"]
    assert other.last_times() == {"site1": 102.0}
    assert journal.prune(101.5) == 2


def test_queue_claims_each_job_once_and_alerts_mark_once(target: Path | str) -> None:
    queue, other = JobQueue(target), JobQueue(target)
    spec = JobSpec(
        KIND_TRIGGER, "t", "command", "site1", "in/a.csv", {"x": 1}, {"e": 2}, 2, 1.0, 5.0
    )
    with queue.db.transaction() as conn:
        queue.enqueue(conn, spec, 10.0)
    job = other.claim(11.0)
    assert job is not None and job.spec == {"x": 1} and job.attempts == 1
    assert queue.claim(11.0) is None  # leased to the other
    assert other.fail(job, "boom", 12.0) is False
    again = queue.claim(20.0)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert queue.fail(again, "boom again", 21.0) is True  # attempts used up: dead
    assert other.states() == {"dead": 1}
    assert other.retry_dead(30.0, "site1") == 1 and queue.depth() == 1
    settings = AlertSettings(webhook=WebhookAction(url="http://127.0.0.1:9/hook"))
    alerts = Alerts(target, settings, queue)
    for _ in range(settings.failed_uploads.count + 2):
        alerts.upload_failed("site1", "in/x", "digest mismatch", refused=True, client="c")
    refusal = Alerts(target, settings, other).last_refusal("site1")
    assert refusal is not None and refusal[1:] == ("in/x", "digest mismatch")
    # one upload_refused per refusal, uploads_failing once per window (alert_marks upsert)
    assert other.states("alert") == {"queued": settings.failed_uploads.count + 2 + 1}


def test_postgresql_connection_lost_mid_transaction_commits_nothing(postgres_url: str) -> None:
    """The connection of a transaction killed half-way: the transaction fails with an
    OperationalError, nothing of it is committed, and the next statement reconnects."""
    db = open_db(postgres_url, "CREATE TABLE IF NOT EXISTS k (a INTEGER)")
    with pytest.raises(sqlite3.OperationalError), db.transaction() as conn:
        conn.execute("INSERT INTO k (a) VALUES (?)", (1,))
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
        with psycopg.connect(postgres_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        conn.execute("INSERT INTO k (a) VALUES (?)", (2,))
    assert db.conn().execute("SELECT COUNT(*) FROM k").fetchone() == (0,)
    with db.transaction() as conn:
        conn.execute("INSERT INTO k (a) VALUES (?)", (3,))
    assert db.conn().execute("SELECT a FROM k").fetchall() == [(3,)]
