"""The pure rules of form upload: cross-site check, declared hashes, file names, the
streaming parser's bounds, and the client's form body."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from davserver.gateways.form import _RefusedError, declared_values, same_origin
from davserver.gateways.form_pages import upload_form_html
from davserver.gateways.form_parts import (
    FormContent,
    FormError,
    FormLimits,
    StagedFile,
    base_name,
    boundary_of,
    read_form,
)
from syncclient.transports.form import FormBody
from tests.gateways.form_support import multipart

pytestmark = pytest.mark.unit


def _env(**headers: str) -> dict[str, Any]:
    env: dict[str, Any] = {"HTTP_HOST": "dav.example.org:8443"}
    env.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return env


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({}, True),
        ({"User-Agent": "curl/8.5.0"}, True),
        ({"Origin": "https://dav.example.org:8443"}, True),
        ({"Origin": "https://DAV.example.org:8443", "User-Agent": "Mozilla/5.0"}, True),
        ({"Origin": "https://dav.example.org"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Referer": "https://dav.example.org:8443/dav/files/a/?upload"}, True),
        ({"Referer": "https://evil.example/form.html"}, False),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"User-Agent": "Mozilla/5.0 (X11)"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(_env(**headers))[0] is ok


def test_default_port_follows_the_origin_scheme() -> None:
    env = {"HTTP_HOST": "dav.example.org", "HTTP_ORIGIN": "https://dav.example.org"}
    assert same_origin(env)[0]
    env["HTTP_ORIGIN"] = "https://dav.example.org:444"
    assert not same_origin(env)[0]


def _content(names: list[str], fields: list[tuple[str, str]]) -> FormContent:
    files = [
        StagedFile(field, f"{field}-{i}", Path("/nonexistent")) for i, field in enumerate(names)
    ]
    return FormContent(files=files, fields=fields)


def test_declared_values_per_field_and_for_all() -> None:
    content = _content(
        ["a", "a", "b"],
        [("a.sha256", "11 22"), ("md5", "m1,m2,m3"), ("b.sha1", "s"), ("mtime", "5")],
    )
    got = declared_values(content)
    assert got[0] == {"sha256": "11", "md5": "m1", "mtime": "5"}
    assert got[1] == {"sha256": "22", "md5": "m2"}
    assert got[2] == {"sha1": "s", "md5": "m3"}


def test_more_declared_values_than_files_is_refused() -> None:
    with pytest.raises(_RefusedError) as caught:
        declared_values(_content(["a"], [("a.sha256", "1 2")]))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("t.csv", "t.csv"),
        ("dir/sub/t.csv", "t.csv"),
        ("C:\\Users\\me\\t.csv", "t.csv"),
        ("\\\\server\\share\\t.csv", "t.csv"),
        ("odd\\name.txt", "odd\\name.txt"),
        (" spaced .txt", " spaced .txt"),
    ],
)
def test_base_name(raw: str, name: str) -> None:
    assert base_name(raw) == name


def test_boundary_of() -> None:
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    assert boundary_of("multipart/form-data") is None
    assert boundary_of("multipart/mixed; boundary=abc") is None


def _read(body: bytes, kind: str, tmp: Path, **limits: int) -> FormContent:
    boundary = boundary_of(kind)
    assert boundary is not None
    return read_form(io.BytesIO(body), len(body), boundary, tmp, FormLimits(**limits))


def test_read_form_streams_files_and_keeps_fields(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    kind, body = multipart([("sha256", None, b"abc"), ("file", "x.bin", data)])
    content = _read(body, kind, tmp_path)
    assert content.fields == [("sha256", "abc")]
    (f,) = content.files
    assert (f.field, f.filename, f.size) == ("file", "x.bin", len(data))
    assert f.path.read_bytes() == data
    content.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("parts", "limits", "status"),
    [
        ([("f", None, b"x")] * 5, {"max_parts": 4}, 413),
        ([("f", "a", b"x"), ("f", "b", b"y")], {"max_files": 1}, 413),
        ([("f", None, b"x" * 100)], {"max_field_bytes": 64}, 413),
        ([("f", "a", b"x" * 100)], {"max_file_bytes": 99}, 413),
    ],
)
def test_read_form_bounds(
    tmp_path: Path, parts: list[tuple[str, str | None, bytes]], limits: dict[str, int], status: int
) -> None:
    kind, body = multipart(parts)
    with pytest.raises(FormError) as caught:
        _read(body, kind, tmp_path, **limits)
    assert caught.value.status == status
    assert list(tmp_path.iterdir()) == []


def test_truncated_or_malformed_body_is_400_and_leaves_no_staging(tmp_path: Path) -> None:
    kind, body = multipart([("file", "x.bin", b"x" * 5000)])
    for broken in (body[:-10], body[:100], b"not multipart at all"):
        with pytest.raises(FormError) as caught:
            _read(broken, kind, tmp_path)
        assert caught.value.status == 400
    assert list(tmp_path.iterdir()) == []


def test_upload_form_escapes_the_url() -> None:
    html = upload_form_html('/dav/files/a/"><script>x</script>/')
    assert "<script>" not in html
    assert 'enctype="multipart/form-data"' in html and "multiple" in html


def test_form_body_length_and_replay() -> None:
    chunks = [b"abc", b"defg"]
    form = FormBody([("sha1", "00"), ("mtime", "1")], 'a "q".txt', chunks, 7)
    first, second = b"".join(form), b"".join(form)
    assert first == second and len(first) == form.length
    boundary = form.content_type.split("boundary=")[1].encode()
    assert boundary_of(form.content_type) == boundary
