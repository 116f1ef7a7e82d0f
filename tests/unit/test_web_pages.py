"""The operator pages, rendered in-process from a real context (local storage, upload
sessions) and an in-memory CollectionView: rows, states, totals, escaping, no journal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from pathlib import Path

import pytest

from davserver.access import AccessPolicy
from davserver.app import build_context
from davserver.collection.model import SiteState, TriggerFailure
from davserver.context import ServerContext
from davserver.settings import Grant, load_settings
from davserver.web.access_log import RequestRecord
from davserver.web.refusals import RefusalTracker
from davserver.web.status import StatusPages, StatusReports, start_of_day
from davserver.web.templates import human_size, local_time
from tests.support.collection_fake import FakeCollection

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0
HOSTILE = 'x<script>"&'


@pytest.fixture()
def context(tmp_path: Path) -> ServerContext:
    settings = load_settings(None, {"root": tmp_path / "root"}, environ={})
    ctx = build_context(settings)
    for user in ("alice", "bob", HOSTILE):
        ctx.ensure_home(user)
    return ctx


def record(
    status: int, user: str | None, client: str = "192.0.2.7", when: float = NOW
) -> RequestRecord:
    return RequestRecord(
        time=when,
        client=client,
        user=user,
        attempted_user=None,
        auth_failed=False,
        method="PUT",
        target="/dav/files/x/<a>.bin?y=1",
        protocol="HTTP/1.1",
        status=status,
        bytes_in=0,
        bytes_out=0,
        duration_s=0.01,
    )


def site_rows(page: str) -> dict[str, str]:
    """The site rows of the overview, by (unescaped) user."""
    rows = re.findall(r'<tr class="site" data-user="([^"]*)">(.*?)</tr>', page, re.S)
    return {html.unescape(user): body for user, body in rows}


def test_rows_show_arrivals_totals_states_uploads_refusals_and_failures(
    context: ServerContext,
) -> None:
    fake = FakeCollection()
    day = start_of_day(NOW)
    fake.add_arrival("alice", "in/old.csv", 5000, NOW - 3 * 86400)
    fake.add_arrival("alice", "in/yesterday.csv", 700, day - 60)
    fake.add_arrival("alice", "in/today.csv", 2048, day + 1)
    fake.add_arrival("bob", "in/b.csv", 1, NOW - 10 * 86400)  # older than a week
    fake.states = {
        "alice": SiteState("alice", "ok", None, "every 24h"),
        "bob": SiteState("bob", "late", NOW - 7200, "every 24h"),
    }
    fake.failures = [
        TriggerFailure("ingest", "alice", "in/today.csv", "exit 3", NOW - 5, 5, True),
        TriggerFailure("notify", "alice", "in/today.csv", "timeout", NOW - 4, 2, False),
    ]
    fake.queue_depth = 7
    assert context.uploads is not None
    context.uploads.create_chunked("bob", "sess-1", destination=None, total=None)
    refusals = RefusalTracker()
    refusals(record(403, "bob"))
    refusals(record(429, "alice"))
    refusals(record(404, "alice"))  # not a refusal: must not replace anything
    ctx = dataclasses.replace(context, collection=fake)
    page = StatusPages(ctx, refusals, clock=lambda: NOW).render_index(NOW).decode()

    rows = site_rows(page)
    assert set(rows) == {"alice", "bob", HOSTILE}
    alice, bob = rows["alice"], rows["bob"]
    assert local_time(day + 1) in alice  # last arrival
    assert "1 files, 2.0 KiB" in alice  # today
    assert f"3 files, {human_size(5000 + 700 + 2048)}" in alice  # 7 days
    assert "0 files, 0 B" in bob  # bob's only arrival is older than a week
    assert '<td class="num">1</td>' in bob  # one open upload session
    assert ">OK<" in alice and ">LATE<" in bob and f"since {local_time(NOW - 7200)}" in bob
    assert "1 dead" in alice and "1 retrying" in alice
    assert "403 PUT" in bob and "429 PUT" in alice and "403" not in alice
    assert "Trigger queue: 7." in page
    assert "journal-unavailable" not in page
    assert 'http-equiv="refresh"' in page


def test_names_and_paths_are_escaped(context: ServerContext) -> None:
    fake = FakeCollection()
    fake.add_arrival(HOSTILE, '<img src=x onerror="alert(1)">.csv', 3, NOW - 1)
    refusals = RefusalTracker()
    refusals(record(400, HOSTILE, client="198.51.100.1"))
    ctx = dataclasses.replace(context, collection=fake)
    pages = StatusPages(ctx, refusals, clock=lambda: NOW)
    for page in (pages.render_index(NOW), pages.render_site(HOSTILE, NOW)):
        assert page is not None
        text = page.decode()
        assert "<script>" not in text and "<img" not in text and "<a>.bin" not in text
    site = pages.render_site(HOSTILE, NOW)
    assert site is not None and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.csv" in site.decode()
    index = pages.render_index(NOW).decode()
    assert 'href="/status/x%3Cscript%3E%22%26"' in index


def test_site_page_lists_recent_arrivals_newest_first_and_only_that_site(
    context: ServerContext,
) -> None:
    fake = FakeCollection()
    for i in range(5):
        fake.add_arrival("alice", f"in/a{i}.csv", i, NOW - 100 + i)
    fake.add_arrival("bob", "in/secret-of-bob.csv", 1, NOW - 1)
    ctx = dataclasses.replace(context, collection=fake)
    page = StatusPages(ctx, RefusalTracker(), clock=lambda: NOW).render_site("alice", NOW)
    assert page is not None
    text = page.decode()
    positions = [text.index(f"in/a{i}.csv") for i in reversed(range(5))]
    assert positions == sorted(positions)
    assert "secret-of-bob" not in text
    assert StatusPages(ctx, RefusalTracker()).render_site("nobody", NOW) is None


def test_without_a_journal_the_pages_still_render_from_homes_and_uploads(
    context: ServerContext,
) -> None:
    context = dataclasses.replace(context, collection=None)  # as when the journal is off
    assert context.uploads is not None
    context.uploads.create_chunked("alice", "s1", destination=None, total=10)
    context.uploads.create_chunked("alice", "s2", destination=None, total=None)
    pages = StatusPages(context, RefusalTracker(), clock=lambda: NOW)
    index = pages.render_index(NOW).decode()
    assert "journal-unavailable" in index and "Arrival journal unavailable" in index
    rows = site_rows(index)
    assert set(rows) == {"alice", "bob", HOSTILE}
    assert '<td class="num">2</td>' in rows["alice"]
    site = pages.render_site("alice", NOW)
    assert site is not None and "s1" in site.decode() and "s2" in site.decode()


def test_sites_with_an_expectation_but_no_home_get_a_row(context: ServerContext) -> None:
    fake = FakeCollection(states={"remote-7": SiteState("remote-7", "unknown", None, "24h")})
    reports = StatusReports(dataclasses.replace(context, collection=fake), RefusalTracker())
    assert "remote-7" in [r.user for r in reports.rows(NOW)]


def test_start_of_day_is_local_midnight() -> None:
    midnight = start_of_day(NOW)
    local = dt.datetime.fromtimestamp(midnight).astimezone()
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert 0 <= NOW - midnight < 86400


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


def test_refusal_tracker_keeps_the_latest_per_user_and_bounds_addresses() -> None:
    tracker = RefusalTracker(max_addresses=3)
    tracker(record(403, "alice", when=NOW))
    tracker(record(412, "alice", when=NOW + 1))
    tracker(record(401, "alice", when=NOW + 2))  # challenge: ignored
    refusal, throttle = tracker.last_for_user("alice")
    assert refusal is not None and refusal.status == 412 and throttle is None
    failed_login = dataclasses.replace(
        record(401, None, when=NOW + 3), attempted_user="alice", auth_failed=True
    )
    tracker(failed_login)
    refusal, _ = tracker.last_for_user("alice")
    assert refusal is not None and (refusal.status, refusal.time) == (401, NOW + 3)
    for i in range(5):
        tracker(record(429, None, client=f"203.0.113.{i}", when=NOW + 10 + i))
    clients = [e.client for e in tracker.recent_addresses()]
    assert clients == ["203.0.113.4", "203.0.113.3", "203.0.113.2"]


def test_only_a_grant_on_all_homes_makes_an_operator() -> None:
    policy = AccessPolicy(
        [
            Grant(user="partial", homes=["alice", "bob"], mode="read-write"),
            Grant(user="oper", homes=["*"], mode="read"),
        ]
    )
    assert policy.can_read_all("oper")
    assert not policy.can_read_all("partial")
    assert not policy.can_read_all("alice")
