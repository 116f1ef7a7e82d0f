"""The request view: one reading of user, length, mtime, digests and preconditions."""

from __future__ import annotations

from typing import Any

import pytest
from wsgidav.dav_error import DAVError

from davserver.dav.request import DavRequest
from davserver.http import environ as wsgi_environ


def _env(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"REQUEST_METHOD": "put", "PATH_INFO": "/files/alice/a"}
    base.update(extra)
    return base


def test_user_is_empty_when_anonymous_and_named_when_authenticated() -> None:
    assert DavRequest(_env()).user == ""
    assert DavRequest(_env(**{wsgi_environ.USER_KEY: "alice"})).user == "alice"
    assert DavRequest(_env()).method == "PUT"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, None),
        ({"CONTENT_LENGTH": ""}, None),
        ({"CONTENT_LENGTH": "0"}, 0),
        ({"CONTENT_LENGTH": " 42 "}, 42),
        ({"CONTENT_LENGTH": "42", "HTTP_TRANSFER_ENCODING": "Chunked"}, None),
    ],
)
def test_declared_length(extra: dict[str, str], expected: int | None) -> None:
    assert DavRequest(_env(**extra)).declared_length == expected


@pytest.mark.parametrize("raw", ["-1", "+5", "1e3", "x", "\u00b2"])
def test_malformed_length_is_a_400(raw: str) -> None:
    with pytest.raises(DAVError) as info:
        _ = DavRequest(_env(CONTENT_LENGTH=raw)).declared_length
    assert info.value.value == 400
    with pytest.raises(wsgi_environ.ContentLengthError):
        wsgi_environ.declared_length(_env(CONTENT_LENGTH=raw))


def test_mtime_in_ns_and_bad_values_refused() -> None:
    assert DavRequest(_env()).mtime_ns is None
    assert DavRequest(_env(HTTP_X_OC_MTIME="1.5")).mtime_ns == 1_500_000_000
    for raw in ("soon", "-1", str(2**33)):
        with pytest.raises(DAVError) as info:
            _ = DavRequest(_env(HTTP_X_OC_MTIME=raw)).mtime_ns
        assert info.value.value == 400


def test_expected_digests_and_disagreement() -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    assert DavRequest(_env(HTTP_OC_CHECKSUM=f"MD5:{md5}")).expected_digests() == {"md5": md5}
    with pytest.raises(DAVError) as info:
        DavRequest(_env(HTTP_OC_CHECKSUM="MD5:nothex")).expected_digests()
    assert info.value.value == 400


def test_write_preconditions() -> None:
    assert DavRequest(_env()).write_preconditions() == (None, False)
    assert DavRequest(_env(HTTP_IF_MATCH='"abc"')).write_preconditions() == ("abc", False)
    assert DavRequest(_env(HTTP_IF_MATCH='W/"abc"')).write_preconditions() == (None, False)
    assert DavRequest(_env(HTTP_IF_MATCH='"a", "b"')).write_preconditions() == (None, False)
    assert DavRequest(_env(HTTP_IF_NONE_MATCH=" * ")).write_preconditions() == (None, True)


def test_headers_and_queued_response_headers_share_one_list() -> None:
    env = _env(HTTP_X_THING="1", CONTENT_TYPE="text/plain")
    request = DavRequest(env)
    assert request.header("x-thing") == "1"
    assert request.header("Content-Type") == "text/plain"
    assert request.header("absent") is None
    assert request.headers == {"x-thing": "1", "content-type": "text/plain"}
    request.add_response_header("OC-FileId", "7")
    DavRequest(env).add_response_header("X-OC-Mtime", "accepted")
    assert DavRequest(env).queued_response_headers() == [
        ("OC-FileId", "7"),
        ("X-OC-Mtime", "accepted"),
    ]
