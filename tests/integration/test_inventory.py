"""The one-request inventory endpoint (GET <collection>?inventory)."""

from __future__ import annotations

import gzip
import hashlib
import json

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_inventory_lists_tree_with_hashes(alice: httpx.Client, folder: str) -> None:
    files = {"a.txt": b"abc", "sub/b.bin": b"\x00" * 5000, "sub/deep/c": b"c"}
    alice.request("MKCOL", folder + "sub")
    alice.request("MKCOL", folder + "sub/deep")
    for rel, data in files.items():
        assert alice.put(folder + rel, content=data).status_code == 201
    r = alice.get(folder + "?inventory", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines[0]["inventory"] == 1
    assert lines[-1] == {"end": True, "count": 5}
    got = {e["path"]: e for e in lines[1:-1]}
    assert {p for p, e in got.items() if e["type"] == "dir"} == {"sub", "sub/deep"}
    for rel, data in files.items():
        assert got[rel]["size"] == len(data)
        assert got[rel]["sha256"] == hashlib.sha256(data).hexdigest()
        assert got[rel]["sha1"] == hashlib.sha1(data).hexdigest()
        assert got[rel]["md5"] == hashlib.md5(data).hexdigest()
        assert f'"{got[rel]["etag"]}"' == alice.head(folder + rel).headers["ETag"]


def test_inventory_gzip(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "x.txt", content=b"x")
    with (
        httpx.Client(auth=alice.auth) as raw,
        raw.stream("GET", folder + "?inventory", headers={"Accept-Encoding": "gzip"}) as r,
    ):
        assert r.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(b"".join(r.iter_raw()))
    assert b'"path":"x.txt"' in body


def test_inventory_of_other_home_forbidden(bob: httpx.Client, folder: str) -> None:
    assert bob.get(folder + "?inventory").status_code == 403
