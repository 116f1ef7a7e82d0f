"""The start-up text's authentication line, for each combination of TLS, Digest, Basic over
HTTP and a trusted proxy (the real ``serve`` output is checked in
tests/integration/test_startup.py)."""

from __future__ import annotations

from typing import Any

import pytest

from davserver.settings import Settings
from davserver.startup_text import auth_summary, login_line

pytestmark = pytest.mark.unit

TLS = {"tls": {"cert": "c.pem", "key": "k.pem"}}
PROXY = {"server": {"trusted_proxies": ["10.0.0.1"]}}


@pytest.mark.parametrize(
    ("config", "starts"),
    [
        ({}, "Digest only: Basic is refused over plain HTTP"),
        (TLS, "Basic or Digest over HTTPS"),
        ({**TLS, "auth": {"digest": False}}, "Basic over HTTPS"),
        ({"auth": {"basic_over_http": True}}, "Basic or Digest over plain HTTP"),
        ({"auth": {"basic_over_http": True, "digest": False}}, "Basic over plain HTTP"),
        ({"auth": {"digest": False}}, "NONE: Digest is off"),
        ({"auth": {"digest": False}, **PROXY}, "Basic only through a trusted proxy"),
    ],
)
def test_auth_summary(config: dict[str, Any], starts: str) -> None:
    assert auth_summary(Settings.model_validate(config)).startswith(starts)


def test_auth_summary_mentions_a_trusted_proxy() -> None:
    text = auth_summary(Settings.model_validate(PROXY))
    assert text.startswith("Digest only") and "X-Forwarded-Proto: https" in text
    assert "proxy" not in auth_summary(Settings())


def test_login_line_claims_a_new_admin_only_when_created() -> None:
    settings = Settings.model_validate({"root": "/srv/d"})
    assert "'admin' (created now" in login_line(settings, admin="admin", created=True, user_count=1)
    existing = login_line(settings, admin="admin", created=False, user_count=3)
    assert "'admin'" not in existing and "3 existing user(s)" in existing
    assert "--root /srv/d" in existing
