"""bench.form_vs_put checks its own results: a server that answers with another hash (a
deliberately misbehaving peer) makes an upload fail, so the bench exits non-zero."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from bench.form_vs_put import MismatchError, post, put

pytestmark = pytest.mark.unit


def test_wrong_hash_in_the_answers_is_a_mismatch(httpserver: HTTPServer, tmp_path: Path) -> None:
    data = b"bench bytes\n" * 100
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    wrong = {"files": [{"sha256": hashlib.sha256(b"other").hexdigest()}]}
    httpserver.expect_request("/form/", method="POST").respond_with_data(
        json.dumps(wrong), status=201, content_type="application/json"
    )
    httpserver.expect_request("/put/f.bin", method="PUT").respond_with_data(
        "", status=201, headers={"OC-Checksum": "SHA1:" + "0" * 40}
    )
    with httpx.Client() as c:
        with pytest.raises(MismatchError):
            post(c, httpserver.url_for("/form/"), "f.bin", path, hashlib.sha256(data).hexdigest())
        with pytest.raises(MismatchError):
            put(c, httpserver.url_for("/put/"), "f.bin", path, hashlib.sha1(data).hexdigest())


def test_right_hashes_pass(httpserver: HTTPServer, tmp_path: Path) -> None:
    data = b"fine\n"
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    right = {"files": [{"sha256": hashlib.sha256(data).hexdigest()}]}
    httpserver.expect_request("/form/", method="POST").respond_with_data(
        json.dumps(right), status=201, content_type="application/json"
    )
    with httpx.Client() as c:
        post(c, httpserver.url_for("/form/"), "f.bin", path, hashlib.sha256(data).hexdigest())
