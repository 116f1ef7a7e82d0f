"""The collection's workers when the state database is locked while a run finishes."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

import providers.sqlite
from davserver.collection.origin import Origin, origin_scope
from davserver.collection.queue import DONE
from davserver.collection.service import Collection
from davserver.settings import Settings
from providers.local import LocalProvider

PUT = Origin(actor="alice", method="PUT", client="192.0.2.7")


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("collection-worker-")]


def _states(db: Path | str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [str(r[0]) for r in conn.execute("SELECT state FROM collection_jobs ORDER BY id")]


def _wait(probe: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_run_finishing_while_the_database_is_locked_is_recorded_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose run ends while another process holds the write lock beyond the busy
    timeout keeps the outcome, records it once the database is free, and goes on working."""
    monkeypatch.setattr(providers.sqlite, "BUSY_TIMEOUT_S", 0.3)
    gate = tmp_path / "gate"
    started = tmp_path / "started"
    code = (
        "import os, sys, time\n"
        f"open({str(started)!r}, 'a').close()\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
    )
    settings = Settings.model_validate(
        {
            "root": tmp_path / "root",
            "triggers": [
                {
                    "name": "slow",
                    "match": {"path": "**"},
                    "run": [sys.executable, "-c", code],
                    "pass_file": False,
                    "attempts": 1,
                }
            ],
        }
    )
    settings.files_dir.mkdir(parents=True)
    storage = LocalProvider(settings.files_dir, settings.state_path)
    storage.mkdir("alice")
    col = Collection(settings, storage)
    before = set(_workers())
    col.start()
    blocker = sqlite3.connect(settings.state_target, timeout=5, isolation_level=None)
    try:
        with origin_scope(PUT):
            handle = col.storage.begin_write("alice/a.csv")
            handle.write(b"1,2")
            handle.commit()
        _wait(started.exists, 30, "the command to start")
        blocker.execute("BEGIN IMMEDIATE")  # another process writes for a long time
        gate.touch()  # the command exits while the lock is held
        time.sleep(2.0)  # the worker tries to record the outcome and finds the lock taken
        blocker.execute("COMMIT")
        _wait(lambda: _states(settings.state_target) == [DONE], 30, "the run to be done")
        workers = [t for t in _workers() if t not in before]
        assert len(workers) == 2 and all(t.is_alive() for t in workers)
    finally:
        gate.touch()
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        col.stop()


def test_arrival_while_the_database_is_locked_is_one_warning_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The upload itself succeeds; the journal entry is missed, and the log says so in one
    line naming the file (an unavailable database is expected, not a bug)."""
    monkeypatch.setattr(providers.sqlite, "BUSY_TIMEOUT_S", 0.2)
    settings = Settings.model_validate({"root": tmp_path / "root"})
    settings.files_dir.mkdir(parents=True)
    storage = LocalProvider(settings.files_dir, settings.state_path)
    storage.mkdir("alice")
    col = Collection(settings, storage)
    blocker = sqlite3.connect(settings.state_target, timeout=5, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING), origin_scope(PUT):
            handle = col.storage.begin_write("alice/a.csv")
            handle.write(b"1,2")
            handle.commit()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert storage.open_read("alice/a.csv").read() == b"1,2"
    records = [r for r in caplog.records if r.name == "davserver.collection.service"]
    assert len(records) == 1 and records[0].exc_info is None
    message = records[0].getMessage()
    assert "alice/a.csv" in message and "database is locked" in message
