"""The extensions registry: OPTIONS advertises exactly what the registered parts declare."""

from __future__ import annotations

from davserver.dav import extensions
from davserver.dav.extensions import EXTENSIONS, Extension, allow_verbs, dav_features


def test_features_come_from_the_registry_in_order_and_once() -> None:
    assert dav_features() == ["nextcloud-checksum-update", "davsync-inventory", "davsync-uploads"]
    doubled = (*EXTENSIONS, Extension("again", dav_features=("davsync-inventory",)))
    assert dav_features(doubled) == dav_features()
    assert allow_verbs() == ["PATCH", "POST"]


def test_options_headers_append_features_and_missing_verbs() -> None:
    headers = [("DAV", "1, 2"), ("Allow", "OPTIONS, GET, POST"), ("Content-Length", "0")]
    inside = dict(extensions._options_headers(headers, in_share=True))
    assert inside["DAV"] == "1, 2, nextcloud-checksum-update, davsync-inventory, davsync-uploads"
    assert inside["Allow"] == "OPTIONS, GET, POST, PATCH"
    outside = dict(extensions._options_headers(headers, in_share=False))
    assert outside["Allow"] == "OPTIONS, GET, POST"
    assert outside["DAV"] == inside["DAV"]
