"""``http_date`` writes exactly what WsgiDAV's ``get_rfc1123_time`` writes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsgidav import util

from davserver.dav.dates import http_date


@settings(max_examples=500, deadline=None)
@given(ns=st.integers(min_value=-(10**18), max_value=253_402_300_799 * 10**9))
def test_any_mtime_is_written_as_wsgidav_writes_it(ns: int) -> None:
    secs = ns / 1e9
    assert http_date(secs) == util.get_rfc1123_time(secs)
    assert http_date(secs) == util.get_rfc1123_time(secs)  # the kept text too


@pytest.mark.parametrize(
    "secs", [0.0, 1.9999995, 1.9999994, 1_764_612_148.9999999, -0.5, 951_782_400.0, 1e10]
)
def test_edges_of_seconds_and_dates(secs: float) -> None:
    assert http_date(secs) == util.get_rfc1123_time(secs)
