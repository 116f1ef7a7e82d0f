"""Conditional GET/HEAD, ranges (single and multipart) and gzip on a real server."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

pytestmark = pytest.mark.integration

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture()
def file_url(alice: httpx.Client, folder: str) -> str:
    url = folder + "data.bin"
    assert alice.put(url, content=DATA).status_code == 201
    return url


def test_if_none_match_gives_304(alice: httpx.Client, file_url: str) -> None:
    etag = alice.head(file_url).headers["ETag"]
    r = alice.get(file_url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["ETag"] == etag
    assert alice.get(file_url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert alice.get(file_url, headers={"If-None-Match": "W/" + etag}).status_code == 304


def test_if_modified_since_equal_date_is_304(alice: httpx.Client, file_url: str) -> None:
    lm = alice.head(file_url).headers["Last-Modified"]
    assert alice.get(file_url, headers={"If-Modified-Since": lm}).status_code == 304
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert alice.get(file_url, headers={"If-Modified-Since": old}).status_code == 200


def test_if_unmodified_since_and_if_match(alice: httpx.Client, file_url: str) -> None:
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert alice.get(file_url, headers={"If-Unmodified-Since": old}).status_code == 412
    assert alice.get(file_url, headers={"If-Match": '"nope"'}).status_code == 412
    etag = alice.head(file_url).headers["ETag"]
    assert alice.get(file_url, headers={"If-Match": etag}).status_code == 200


def test_single_range(alice: httpx.Client, file_url: str) -> None:
    r = alice.get(file_url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    assert r.content == DATA[100:200]
    r = alice.get(file_url, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == DATA[-10:]


def test_multipart_ranges(alice: httpx.Client, file_url: str) -> None:
    r = alice.get(file_url, headers={"Range": "bytes=0-9,500-509,10000-"})
    assert r.status_code == 206
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1]
    assert int(r.headers["Content-Length"]) == len(r.content)
    parts = r.content.split(b"--" + boundary.encode())
    bodies = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts[1:-1]]
    assert bodies == [DATA[0:10], DATA[500:510], DATA[10000:]]
    ranges = re.findall(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", r.content)
    assert ranges == [
        (b"0", b"9", b"10240"),
        (b"500", b"509", b"10240"),
        (b"10000", b"10239", b"10240"),
    ]


def test_unsatisfiable_range_416(alice: httpx.Client, file_url: str) -> None:
    r = alice.get(file_url, headers={"Range": "bytes=20000-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_if_range(alice: httpx.Client, file_url: str) -> None:
    etag = alice.head(file_url).headers["ETag"]
    r = alice.get(file_url, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206 and r.content == DATA[:4]
    r = alice.get(file_url, headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == DATA


def test_gzip_for_text_with_own_etag(alice: httpx.Client, folder: str) -> None:
    text = b"line of text that compresses well\n" * 500
    alice.put(folder + "log.txt", content=text)
    with (
        httpx.Client(auth=alice.auth) as raw,
        raw.stream("GET", folder + "log.txt", headers={"Accept-Encoding": "gzip"}) as r,
    ):
        body = b"".join(r.iter_raw())
        assert r.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in r.headers["Vary"]
        gz_etag = r.headers["ETag"]
    assert len(body) < len(text) // 5
    assert gzip.decompress(body) == text
    plain = alice.get(folder + "log.txt", headers={"Accept-Encoding": "identity"})
    assert plain.content == text and "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] != gz_etag
    again = alice.get(
        folder + "log.txt", headers={"Accept-Encoding": "gzip", "If-None-Match": gz_etag}
    )
    assert again.status_code == 304


def test_head_matches_get_headers(alice: httpx.Client, file_url: str) -> None:
    h = alice.head(file_url)
    g = alice.get(file_url)
    for name in ("ETag", "Last-Modified", "Content-Length", "OC-Checksum", "Repr-Digest"):
        assert h.headers[name] == g.headers[name]
    assert h.content == b""


def test_want_repr_digest(alice: httpx.Client, file_url: str) -> None:
    r = alice.head(file_url, headers={"Want-Repr-Digest": "sha=5, sha-256=1"})
    assert r.headers["Repr-Digest"].startswith("sha=:")


def test_headers_describe_the_body_during_concurrent_replaces(
    alice: httpx.Client, folder: str
) -> None:
    """While writers replace a file, every GET is a 200 whose OC-Checksum, Repr-Digest and
    Content-Length describe exactly the body sent (never the headers of one version and the
    bytes of another)."""
    import base64
    import hashlib
    import threading

    from tests.conftest import digest_client

    url = folder + "busy.bin"
    bodies = [bytes([65 + i]) * (150_000 + i) for i in range(4)]
    assert alice.put(url, content=bodies[0]).status_code == 201
    problems: list[str] = []

    def write(i: int) -> None:
        with digest_client("alice") as c:
            for _ in range(12):
                c.put(url, content=bodies[i])

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in writers:
        t.start()
    with digest_client("alice") as reader:
        for _ in range(60):
            r = reader.get(url, headers={"Accept-Encoding": "identity"})
            body = r.content
            sha1 = hashlib.sha1(body).hexdigest()
            sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if r.status_code != 200 or body not in bodies:
                problems.append(f"status {r.status_code}, {len(body)} bytes")
            elif r.headers["OC-Checksum"] != f"SHA1:{sha1}":
                problems.append("OC-Checksum of another version")
            elif r.headers["Repr-Digest"] != f"sha-256=:{sha256}:":
                problems.append("Repr-Digest of another version")
    for t in writers:
        t.join(60)
    assert problems == []
