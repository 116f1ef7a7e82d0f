"""The collection back end's parts on real SQLite, real local storage and real processes:
expectations, the queue, set-complete conditions, commands and webhook signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from davserver.collection.actions import ActionError, run_command, signed_body
from davserver.collection.config import SiteSettings
from davserver.collection.model import Totals
from davserver.collection.origin import Origin, origin_scope
from davserver.collection.queue import JobQueue, JobSpec, owner_token
from davserver.collection.service import Collection
from davserver.collection.sites import late_since
from davserver.settings import Settings
from providers.local import LocalProvider

PUT = Origin(actor="alice", method="PUT", client="192.0.2.7")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_expect_every_is_late_once_the_period_passed() -> None:
    site = SiteSettings.model_validate({"expect_every": "10s"})
    assert late_since(site, 100.0, last_arrival=95.0, watch_since=0.0) is None
    assert late_since(site, 106.0, last_arrival=95.0, watch_since=0.0) == 105.0
    assert late_since(site, 12.0, last_arrival=None, watch_since=0.0) == 10.0  # never sent


def test_weekly_schedule_deadlines() -> None:
    site = SiteSettings.model_validate({"weekly": {"days": ["mon", "wed"], "by": "10:00"}})
    monday_9, monday_11 = _ts("2026-11-30T09:00"), _ts("2026-11-30T11:00")
    watch = _ts("2026-11-01T00:00")
    # before Monday's deadline: judged by last Wednesday (an arrival that day: fine)
    assert late_since(site, monday_9, _ts("2026-11-25T08:00"), watch) is None
    assert late_since(site, monday_11, _ts("2026-11-25T08:00"), watch) == _ts("2026-11-30T10:00")
    assert late_since(site, monday_11, _ts("2026-11-30T00:30"), watch) is None
    tuesday = _ts("2026-12-01T12:00")  # Tuesday is not a collection day
    assert late_since(site, tuesday, _ts("2026-11-30T00:30"), watch) is None


def test_command_gets_a_newline_quote_path_as_one_argument(tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    script = "import json,sys; json.dump(sys.argv[1:], open(sys.argv[1], 'w'))"
    name = str(tmp_path / "a 'b'\n\"c\" $(d).csv")
    run_command(
        {"argv": [sys.executable, "-c", script, str(out)], "pass_file": True},
        {"file": name, "user": "alice", "path": "x"},
        timeout=30,
    )
    assert json.loads(out.read_text()) == [str(out), name]


def test_command_that_cannot_start_or_fails_raises(tmp_path: Path) -> None:
    with pytest.raises(ActionError, match="cannot start"):
        run_command({"argv": [str(tmp_path / "missing")]}, {"file": ""}, timeout=5)
    with pytest.raises(ActionError, match="exit status 7: boom"):
        code = "import sys; print('boom'); sys.exit(7)"
        run_command({"argv": [sys.executable, "-c", code], "pass_file": False}, {}, timeout=5)


def test_webhook_signature_is_hmac_of_the_exact_body() -> None:
    data, headers = signed_body({"b": 1, "a": "é"}, "s3cret")
    assert json.loads(data) == {"a": "é", "b": 1}
    digest = hmac.new(b"s3cret", data, hashlib.sha256).hexdigest()
    assert headers["X-Davsync-Signature"] == f"sha256={digest}"
    assert "X-Davsync-Signature" not in signed_body({"a": 1}, None)[1]


def _collection(tmp_path: Path, triggers: list[dict[str, object]]) -> Collection:
    settings = Settings.model_validate({"root": tmp_path / "root", "triggers": triggers})
    settings.files_dir.mkdir(parents=True)
    storage = LocalProvider(settings.files_dir, settings.state_path)
    storage.mkdir("alice")
    return Collection(settings, storage)


def _put(col: Collection, path: str, data: bytes) -> None:
    with origin_scope(PUT):
        handle = col.storage.begin_write(path)
        handle.write(data)
        handle.commit()


def test_set_complete_fires_once_per_set(tmp_path: Path) -> None:
    col = _collection(
        tmp_path,
        [
            {
                "name": "plate",
                "match": {"path": "plates/*/*.tif"},
                "when": {"count": 3},
                "webhook": {"url": "http://127.0.0.1:9/"},
            }
        ],
    )
    col.storage.mkdir("alice/plates")
    col.storage.mkdir("alice/plates/p1")
    for name in ("a.tif", "b.tif", "a.tif", "notes.txt"):  # a re-sent file counts once
        _put(col, f"alice/plates/p1/{name}", name.encode())
    assert col.trigger_queue_depth() == 0
    _put(col, "alice/plates/p1/c.tif", b"c")
    assert col.trigger_queue_depth() == 1
    _put(col, "alice/plates/p1/d.tif", b"d")  # the next set starts counting afresh
    assert col.trigger_queue_depth() == 1
    job = col.queue.claim(time.time())
    assert job is not None
    assert job.event["files"] == ["plates/p1/a.tif", "plates/p1/b.tif", "plates/p1/c.tif"]
    assert job.event["folder"] == "plates/p1" and job.event["protocol"] == "put"
    assert job.event["client"] == "192.0.2.7"


def test_failed_and_refused_writes_are_tallied(tmp_path: Path) -> None:
    col = _collection(tmp_path, [])
    with origin_scope(PUT):
        handle = col.storage.begin_write("alice/x.bin")
        handle.write(b"abc")
        with pytest.raises(Exception, match=r"(?i)sha"):
            handle.commit(expected_digests={"sha256": "0" * 64})
        handle = col.storage.begin_write("alice/y.bin")
        handle.write(b"abc")
        handle.abort()
    refusal = col.last_refusal("alice")
    assert refusal is not None and refusal[1] == "x.bin"
    rows = col.alerts.db.conn().execute("SELECT path, refused FROM upload_failures ORDER BY id")
    assert rows.fetchall() == [("x.bin", 1), ("y.bin", 0)]
    assert col.recent_arrivals() == []


def test_job_of_a_dead_process_is_claimed_again(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "state.sqlite")
    spec = JobSpec("trigger", "t", "run", "alice", "p", {}, {}, 3, 1.0, 600.0)
    with queue.db.transaction() as conn:
        queue.enqueue(conn, spec, time.time())
    job = queue.claim(time.time())
    assert job is not None and queue.claim(time.time()) is None  # leased to this process
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with queue.db.transaction() as conn:  # as if a process that has exited had claimed it
        conn.execute(
            "UPDATE collection_jobs SET owner = ?", (f"{owner_token().rpartition(':')[0]}:{gone}",)
        )
    again = queue.claim(time.time())
    assert again is not None and again.id == job.id and again.attempts == 2


def test_copy_action_lands_through_the_journal_without_firing_again(tmp_path: Path) -> None:
    col = _collection(
        tmp_path,
        [
            {"name": "archive", "match": {"path": "in/**"}, "copy": {"to": "alice/in/archive"}},
            {
                "name": "marker",
                "match": {"path": "**"},
                "when": {"marker": "_DONE"},
                "webhook": {"url": "http://127.0.0.1:9/"},
            },
        ],
    )
    col.storage.mkdir("alice/in")
    _put(col, "alice/in/a.csv", b"a,b")
    job = col.queue.claim(time.time())
    assert job is not None and job.name == "archive" and col.queue.claim(time.time()) is None
    col._settle(job)
    assert col.storage.open_read("alice/in/archive/a.csv").read() == b"a,b"
    newest = col.recent_arrivals(limit=1)[0]
    assert (newest.protocol, newest.path) == ("trigger", "in/archive/a.csv")
    assert col.trigger_queue_depth() == 0  # the copy matched in/** but fired nothing
    _put(col, "alice/in/_DONE", b"")
    claimed = [col.queue.claim(time.time()), col.queue.claim(time.time())]
    jobs = {j.name: j for j in claimed if j is not None}
    assert sorted(jobs) == ["archive", "marker"] and jobs["marker"].event["folder"] == "in"


def test_server_context_exposes_the_collection_view(tmp_path: Path) -> None:
    from davserver.app import build_context

    settings = Settings.model_validate(
        {
            "root": tmp_path / "root",
            "sites": {"alice": {"expect_every": "1h"}, "bob": {"expect_every": "1s"}},
        }
    )
    ctx = build_context(settings)
    view = ctx.collection
    assert view is not None
    ctx.ensure_home("alice")
    with origin_scope(PUT):
        handle = ctx.storage.begin_write("alice/a.txt")  # the context's storage records
        handle.write(b"12345")
        handle.commit()
    now = time.time()
    assert view.totals("alice", now - 60) == Totals(1, 5)
    assert view.last_arrival("alice") is not None and view.last_arrival("bob") is None
    assert view.site_states(now + 2)["bob"].health == "unknown"  # not watched yet
    assert isinstance(view, Collection)
    view.check_sites(now)  # the monitor thread's step: starts watching bob
    states = view.site_states(now + 2)
    assert states["alice"].health == "ok" and states["alice"].expectation == "every 1h"
    assert states["bob"].health == "late"
    assert view.trigger_queue_depth() == 0 and view.trigger_failures() == []
    assert [a.path for a in view.recent_arrivals(user="alice")] == ["a.txt"]


def test_retry_delay_doubles_up_to_an_hour() -> None:
    from davserver.collection.queue import retry_delay

    assert [retry_delay(10.0, n) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]
    assert retry_delay(10.0, 30) == 3600.0
