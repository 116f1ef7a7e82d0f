"""Alert mails and log lines show times as dates, not as raw POSIX seconds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from davserver.collection.alerts import text_of
from davserver.collection.service import Collection
from davserver.settings import Settings
from providers.local import LocalProvider

SINCE = 1_796_171_977.0184782  # 2026-12-02T00:39:37Z


def test_alert_mail_shows_times_as_utc_dates() -> None:
    alert = {
        "event": "site_late",
        "user": "site1",
        "expectation": "every 1h",
        "since": SINCE,
        "last_arrival": SINCE - 3600,
        "time": SINCE + 5,
    }
    text = text_of(alert)
    assert "since: 2026-12-02T00:39:37Z" in text
    assert "last_arrival: 2026-12-01T23:39:37Z" in text
    assert "time: 2026-12-02T00:39:42Z" in text
    assert "1796171977" not in text
    assert "last_arrival: never" in text_of({**alert, "last_arrival": None})


def test_late_site_log_line_shows_a_date(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.model_validate(
        {"root": tmp_path / "root", "sites": {"site1": {"expect_every": "1s"}}}
    )
    settings.files_dir.mkdir(parents=True)
    col = Collection(settings, LocalProvider(settings.files_dir, settings.state_path))
    now = time.time()
    col.check_sites(now)  # starts watching site1
    with caplog.at_level(logging.WARNING, logger="davserver.collection.service"):
        col.check_sites(now + 10)
    lines = [r.getMessage() for r in caplog.records]
    expected = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 1))
    assert lines == [f"site site1: late (since {expected})"]
