"""Unit tests of the client's parts: windows, units, ignore rules, retry/backoff, token
bucket, budgets, chunk layout, config precedence, hash cache and stability bookkeeping."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from syncclient import UsageError
from syncclient.config import load_config
from syncclient.ignore import build_rules
from syncclient.journal import Journal
from syncclient.model import LocalFile
from syncclient.scan import scan
from syncclient.schedule import active, next_start, parse_window
from syncclient.transfer import StopRequestedError
from syncclient.transfer.bandwidth import TokenBucket
from syncclient.transfer.budget import Budget, Cutoff
from syncclient.transfer.chunking import chunk_layout
from syncclient.transfer.retry import RetryPolicy, call_with_retry
from syncclient.transports import StatusError, UnreachableError, diagnose
from syncclient.transports.webdav import parse_checksums, parse_retry_after
from syncclient.units import parse_duration, parse_size

pytestmark = pytest.mark.unit

# 2026-11-30 is a Monday
MON = datetime(2026, 11, 30)


def test_window_overnight_and_weekend_chain() -> None:
    windows = [parse_window("Mon-Fri 19:00-07:00"), parse_window("Sat,Sun 00:00-24:00 bw=2M")]
    assert active(windows, MON.replace(hour=12)) is None
    end, bw = active(windows, MON.replace(hour=20)) or (None, None)
    assert end == datetime(2026, 12, 1, 7, 0) and bw == 0
    # Friday 23:00 runs through the weekend until Sunday midnight (Monday's window opens 19:00)
    fri = datetime(2026, 12, 4, 23, 0)
    end, _ = active(windows, fri) or (None, None)
    assert end == datetime(2026, 12, 7, 0, 0)
    _, bw = active(windows, datetime(2026, 12, 5, 12, 0)) or (None, None)
    assert bw == 2 * 1024 * 1024
    assert next_start(windows, MON.replace(hour=12)) == MON.replace(hour=19)
    assert next_start(windows, MON.replace(hour=20)) == MON.replace(hour=20)


def test_window_wraps_week_and_daily() -> None:
    sun = parse_window("Sun 22:00-02:00")
    assert active([sun], datetime(2026, 12, 7, 1, 0)) is not None  # Monday 01:00
    assert active([sun], datetime(2026, 12, 7, 3, 0)) is None
    daily = parse_window("daily 08:00-09:30")
    assert active([daily], datetime(2026, 12, 3, 9, 29)) is not None
    assert parse_window("Fri-Mon 10:00-11:00").days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize(
    "bad", ["Mon", "Xyz 10:00-11:00", "Mon 25:00-01:00", "Mon 10-11", "Mon 10:00-11:00 speed=1"]
)
def test_window_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_window(bad)


def test_units() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("512k") == 512 * 1024
    assert parse_size("1.5G") == int(1.5 * 1024**3)
    assert parse_size("300000") == 300000
    assert parse_duration("90m") == 5400 and parse_duration("2h") == 7200
    assert parse_duration("45") == 45
    with pytest.raises(UsageError):
        parse_size("ten")
    with pytest.raises(UsageError):
        parse_duration("soon")


def test_ignore_defaults_file_and_negation(tmp_path: Path) -> None:
    (tmp_path / ".syncignore").write_text("# comment\nbuild/\n*.log\n!keep.log\n")
    rules = build_rules(tmp_path, config_patterns=["*.bak"], flag_patterns=["secret*"])
    for path, source in [
        ("~$report.xlsx", "defaults: ~$*"),
        ("a/b/Thumbs.db", "defaults: Thumbs.db"),
        ("x.part", "defaults: *.part"),
        ("._mac", "defaults: ._*"),
        ("sub/app.log", ".syncignore:3: *.log"),
        ("old.bak", "config: *.bak"),
        ("secret.txt", "--exclude: secret*"),
    ]:
        m = rules.ignored(path)
        assert m is not None and m.describe() == source, path
    assert rules.ignored("build", is_dir=True) is not None
    assert rules.ignored("keep.log") is None
    m = rules.match("keep.log")
    assert m is not None and not m.ignored and m.pattern.text == "!keep.log"
    assert rules.ignored("data.csv") is None
    assert build_rules(None, use_defaults=False).ignored("Thumbs.db") is None


def test_retry_delay_backoff_jitter_and_retry_after() -> None:
    p = RetryPolicy(attempts=5, base=1.0, cap=8.0)
    rng = random.Random(1)
    for attempt, (lo, hi) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8), (4, 8)], 1):
        d = p.delay(attempt, None, rng)
        assert lo <= d <= hi
    assert p.delay(1, 30.0, rng) == 30.0
    assert RetryPolicy(max_retry_after=10).delay(1, 3600.0, rng) == 10.0


def test_call_with_retry_stops_on_permanent_and_exhaustion() -> None:
    stop = threading.Event()
    calls: list[int] = []
    fast = RetryPolicy(attempts=3, base=0.01, cap=0.01)

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise UnreachableError("drop")
        return "ok"

    assert call_with_retry(flaky, fast, stop) == "ok" and len(calls) == 3
    calls.clear()

    def permanent() -> None:
        calls.append(1)
        raise StatusError(403, "no")

    with pytest.raises(StatusError):
        call_with_retry(permanent, fast, stop)
    assert len(calls) == 1
    with pytest.raises(StatusError):
        call_with_retry(lambda: (_ for _ in ()).throw(StatusError(503, "busy")), fast, stop)
    stop.set()
    with pytest.raises(StopRequestedError):
        call_with_retry(flaky, fast, stop)


def test_retryable_statuses_are_data() -> None:
    assert StatusError(503, "x").transient and StatusError(429, "x").transient
    assert StatusError(423, "x").transient
    assert not StatusError(400, "x").transient and not StatusError(404, "x").transient
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_parse_checksums() -> None:
    assert parse_checksums("SHA1:AB MD5:cd, SHA256:ef") == {
        "sha1": "ab",
        "md5": "cd",
        "sha256": "ef",
    }


def test_token_bucket_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(1000, burst=1000, clock=lambda: now[0])
    assert bucket.reserve(1000) == 0.0
    assert bucket.reserve(500) == pytest.approx(0.5)
    now[0] = 1.5
    assert bucket.reserve(500) == 0.0
    assert TokenBucket(0).reserve(10**9) == 0.0
    real = TokenBucket(200_000, burst=10_000)
    t0 = time.monotonic()
    for _ in range(10):
        real.take(10_000)
    assert time.monotonic() - t0 >= 0.35  # 90 KB beyond the burst at 200 KB/s


def test_budget_modes() -> None:
    clock = [0.0]
    soft = Budget(max_bytes=100, cutoff=Cutoff.SOFT, clock=lambda: clock[0])
    assert soft.may_start(80) and soft.may_start(80)  # 80 < 100: a second file may start
    assert not soft.may_start(1) and soft.ended == "byte budget reached"
    cautious = Budget(max_bytes=100, cutoff=Cutoff.CAUTIOUS, clock=lambda: clock[0])
    assert cautious.may_start(60) and not cautious.may_start(60) and cautious.may_start(40)
    hard = Budget(max_bytes=100, cutoff=Cutoff.HARD, clock=lambda: clock[0])
    assert hard.may_start(1000)
    hard.charge(99)
    assert not hard.stop.is_set()
    hard.charge(1)
    assert hard.stop.is_set() and not hard.may_start(1)
    timed = Budget(max_duration=10, cutoff=Cutoff.CAUTIOUS, rate_hint=10.0, clock=lambda: clock[0])
    clock[0] = 5.0
    assert not timed.may_start(100)  # 10 s at 10 B/s > 5 s left
    assert timed.may_start(40)
    clock[0] = 11.0
    assert not timed.may_start(1) and timed.ended == "time budget reached"


def test_cautious_time_budget_counts_the_files_in_flight() -> None:
    """Files sent in parallel share the link: a file that would finish in time alone does
    not start when the bytes still in flight leave no time for it."""
    clock = [0.0]
    timed = Budget(max_duration=10, cutoff=Cutoff.CAUTIOUS, rate_hint=10.0, clock=lambda: clock[0])
    assert timed.may_start(60)  # 6 s at 10 B/s
    assert not timed.may_start(60), "60 B in flight + 60 B need 12 s; 10 s left"
    assert timed.ended == "time budget too short for the next file"
    clock[0] = 6.0
    timed.charge(60)  # the first file is sent: nothing in flight
    assert timed.may_start(40)  # 4 s of the 4 s left


def test_chunk_layout() -> None:
    assert [(c.n, c.offset, c.size) for c in chunk_layout(25, 10)] == [
        (1, 0, 10),
        (2, 10, 10),
        (3, 20, 5),
    ]
    assert [(c.n, c.size) for c in chunk_layout(20, 10)] == [(1, 10), (2, 10)]
    assert [(c.n, c.size) for c in chunk_layout(0, 10)] == [(1, 0)]


def test_config_precedence_flags_env_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.toml"
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    cfg_file.write_text(
        '[server]\nurl = "https://file/"\nuser = "fileuser"\npassword_file = "pw"\n'
        '[transfer]\nparallel = 2\nbwlimit = "1M"\n'
    )
    env = {"SYNCCLIENT_USER": "envuser", "SYNCCLIENT_PARALLEL": "3"}
    cfg = load_config(cfg_file, {("transfer", "parallel"): 5}, environ=env)
    assert cfg.server.user == "envuser" and cfg.server.url == "https://file/"
    assert cfg.transfer.parallel == 5 and cfg.transfer.bwlimit == "1M"
    assert cfg.password is not None and cfg.password.get_secret_value() == "from-file"
    assert "from-file" not in repr(cfg)
    env_pw = load_config(cfg_file, {}, environ={"SYNCCLIENT_PASSWORD": "from-env"})
    assert env_pw.password is not None and env_pw.password.get_secret_value() == "from-env"
    with pytest.raises(UsageError, match=r"transfer\.paralel"):
        load_config(None, {("transfer", "paralel"): 1}, environ={})
    with pytest.raises(UsageError, match="not a size"):
        load_config(None, {("transfer", "chunk_size"): "huge"}, environ={})


def test_hash_cache_skips_unchanged_files_and_tracks_stability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncclient.scan as scan_mod

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        (src / name).write_bytes(name.encode() * 100)
        os.utime(src / name, (1000.0, 1000.0))
    hashed: list[str] = []
    real = scan_mod.hash_file
    monkeypatch.setattr(scan_mod, "hash_file", lambda p: (hashed.append(p.name), real(p))[1])
    journal = Journal(tmp_path / "j.sqlite")
    rules = build_rules(src)

    def always(_f: LocalFile, _present: set[str]) -> bool:
        return True

    first = scan(src, rules, journal, 5000.0, always)
    assert sorted(hashed) == ["a", "b"]
    assert first.files["a"].stable_since == 1000.0  # first sight: its mtime
    second = scan(src, rules, journal, 6000.0, always)
    assert sorted(hashed) == ["a", "b"], "unchanged files were hashed again"
    assert second.files["a"].digests == first.files["a"].digests
    (src / "b").write_bytes(b"changed")
    os.utime(src / "b", (1500.0, 1500.0))  # a copy tool kept an old mtime
    os.rename(src / "a", src / "renamed")
    third = scan(src, rules, journal, 7000.0, always)
    assert sorted(hashed) == ["a", "b", "b"], "a renamed file is found by its identity"
    assert third.files["renamed"].digests == first.files["a"].digests
    assert third.files["b"].stable_since == 6000.0  # changed after the scan at 6000
    journal.close()


WSGIDAV_423 = b"""<!DOCTYPE HTML PUBLIC '-//W3C//DTD HTML 4.01//EN' 'http://www.w3.org/TR/html4/strict.dtd'>
<html><head>
  <meta http-equiv='Content-Type' content='text/html; charset=utf-8'>
  <title>423 Locked</title>
</head><body>
  <h1>423 Locked</h1>
  <p>423 Locked: upload session &#x27;s1&#x27; is being assembled; MOVE &lt;session&gt;/.file</p>
<hr/>
<a href='https://github.com/mar10/wsgidav/'>WsgiDAV/4.4.0</a> - 2026-12-02 00:56:46.527548
</body></html>"""


def test_server_explanation_of_an_html_error_page() -> None:
    """The explanation of a server's HTML error page is its message, readable: not the
    title and heading repeating the status, entities, or the software footer."""
    said = diagnose.server_explanation("text/html; charset=utf-8", WSGIDAV_423)
    assert said == "423 Locked: upload session 's1' is being assembled; MOVE <session>/.file"
    page = b"<html><body><h1>Service down</h1>back at 10:00 &amp; later</body></html>"
    assert diagnose.server_explanation("text/html", page) == "Service down back at 10:00 & later"
    assert diagnose.server_explanation("text/plain", b"a &amp; b") == "a &amp; b"
