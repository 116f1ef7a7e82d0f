"""The refusal tracker under a login scan: what it keeps stays bounded."""

from __future__ import annotations

from davserver.web.access_log import RequestRecord
from davserver.web.refusals import (
    MAX_NAME_CHARS,
    MAX_TARGET_CHARS,
    MAX_USERS,
    RefusalTracker,
)


def _failed_login(n: int, name: str, client: str) -> RequestRecord:
    return RequestRecord(
        time=1_800_000_000.0 + n,
        client=client,
        user=None,
        attempted_user=name,
        auth_failed=True,
        method="PROPFIND",
        target="/dav/files/" + name + "/",
        protocol="HTTP/1.1",
        status=401,
        bytes_in=0,
        bytes_out=0,
        duration_s=0.001,
    )


def test_names_tried_by_a_login_scan_are_bounded() -> None:
    """Anyone can send credentials for made-up user names; each failed login names one. The
    tracker keeps the newest MAX_USERS names (a real site that failed recently stays)."""
    tracker = RefusalTracker()
    tracker(_failed_login(0, "site1", "192.0.2.1"))
    for n in range(1, 3 * MAX_USERS):
        tracker(_failed_login(n, f"scan{n}", f"198.51.{n % 200}.{n % 250}"))
        if n == 2 * MAX_USERS:
            tracker(_failed_login(n, "site1", "192.0.2.1"))  # site1 fails again, recently
    assert tracker.tracked_users() == MAX_USERS
    assert tracker.last_for_user("scan1") == (None, None)  # the oldest names are forgotten
    refusal, _ = tracker.last_for_user("site1")
    assert refusal is not None and refusal.time == 1_800_000_000.0 + 2 * MAX_USERS
    newest, _ = tracker.last_for_user(f"scan{3 * MAX_USERS - 1}")
    assert newest is not None


def test_a_long_request_target_is_kept_shortened() -> None:
    """A request head may be 64 KiB; what is kept of its target per refusal is bounded, so
    the bounded number of entries bounds the memory too."""
    tracker = RefusalTracker()
    long = _failed_login(1, "site1", "192.0.2.1")
    target = "/dav/files/site1/" + "x" * 60_000
    tracker(RequestRecord(**{**long.__dict__, "target": target}))
    refusal, _ = tracker.last_for_user("site1")
    assert refusal is not None
    assert len(refusal.target) <= MAX_TARGET_CHARS
    assert refusal.target.startswith("/dav/files/site1/xxx") and refusal.target.endswith("…")
    (by_address,) = tracker.recent_addresses()
    assert by_address.target == refusal.target


def test_a_name_no_user_can_have_gets_no_entry_of_its_own() -> None:
    tracker = RefusalTracker()
    tracker(_failed_login(1, "n" * 10_000, "192.0.2.9"))
    assert tracker.tracked_users() == 0
    (by_address,) = tracker.recent_addresses()
    assert by_address.client == "192.0.2.9"
    assert by_address.user is not None and len(by_address.user) <= MAX_NAME_CHARS
