"""HTML form upload against a real server: the POST runs the PUT's own policy path."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateways.form_support import digests, multipart, stored_checksums, unavailable
from tests.integration.collection_support import arrivals
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = """\
auth: {basic_over_http: true, throttle: {max_failures: 50}}
gateways: {form: {max_parts: 20}}
"""
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("form"), CONFIG)
    yield server
    server.stop()


def _alice() -> httpx.Client:
    return httpx.Client(auth=("alice", USERS["alice"]), timeout=30)


def _post(
    client: httpx.Client, url: str, parts: list[tuple[str, str | None, bytes]], **headers: str
) -> httpx.Response:
    kind, body = multipart(parts)
    return client.post(url, content=body, headers={"Content-Type": kind, **JSON, **headers})


def test_curl_form_upload_stores_the_file_with_its_hashes(srv: DavServer, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed")
    data = b"id,value\n" + b"1,2\n" * 5000
    (tmp_path / "t.csv").write_bytes(data)
    out = subprocess.run(
        [
            str(curl),
            "-sS",
            "-u",
            f"alice:{USERS['alice']}",
            "-H",
            "Accept: application/json",
            "-F",
            f"file=@{tmp_path / 't.csv'}",
            "-w",
            "\n%{http_code}",
            srv.files_url("alice", "curl/"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, code = out.stdout.rpartition("\n")
    assert code == "201", out.stdout
    answer = json.loads(body)
    (stored,) = answer["files"]
    want = digests(data)
    assert stored["name"] == "t.csv"
    assert stored["size"] == len(data)
    assert {k: stored[k] for k in want} == want
    assert stored["etag"]
    with _alice() as c:
        assert c.get(srv.files_url("alice", "curl/t.csv")).content == data


def test_put_and_form_post_show_the_same_checksums(srv: DavServer) -> None:
    data = b"the same bytes by two ways in\n" * 3000
    with _alice() as c:
        r = _post(c, srv.files_url("alice", "same/"), [("file", "by-form.bin", data)])
        assert r.status_code == 201, r.text
        assert c.put(srv.files_url("alice", "same/by-put.bin"), content=data).status_code == 201
        by_put = stored_checksums(c, srv.files_url("alice", "same/by-put.bin"))
        by_form = stored_checksums(c, srv.files_url("alice", "same/by-form.bin"))
    assert by_put == by_form
    assert digests(data)["sha256"] in by_form.lower()


def test_wrong_declared_hash_is_400_and_keeps_the_old_version(srv: DavServer) -> None:
    url = srv.files_url("alice", "keep/")
    old, new = b"old version\n", b"new version\n"
    with _alice() as c:
        assert c.request("MKCOL", url).status_code == 201
        assert c.put(url + "v.txt", content=old).status_code == 201
        for field in ("sha256", "file.sha256"):
            wrong = digests(b"something else")["sha256"]
            r = _post(c, url, [(field, None, wrong.encode()), ("file", "v.txt", new)])
            assert r.status_code == 400, r.text
            assert c.get(url + "v.txt").content == old
        wrong_md5 = digests(b"other")["md5"]
        r = _post(c, url, [("file", "v.txt", new), ("md5", None, wrong_md5.encode())])
        assert r.status_code == 400
        assert c.get(url + "v.txt").content == old
        right = digests(new)["sha256"]
        r = _post(c, url, [("file", "v.txt", new), ("file.sha256", None, right.encode())])
        assert r.status_code == 201, r.text
        assert r.json()["files"][0]["status"] == "replaced"
        assert c.get(url + "v.txt").content == new


def test_several_files_with_hashes_in_order(srv: DavServer) -> None:
    url = srv.files_url("alice", "many/")
    one, two = b"first\n", b"second\n"
    sums = f"{digests(one)['sha256']}\n{digests(two)['sha256']}".encode()
    with _alice() as c:
        r = _post(
            c, url, [("file.sha256", None, sums), ("file", "1.txt", one), ("file", "2.txt", two)]
        )
        assert r.status_code == 201, r.text
        assert [f["name"] for f in r.json()["files"]] == ["1.txt", "2.txt"]
        too_many = sums + b" " + digests(b"x")["sha256"].encode()
        r = _post(c, url, [("file.sha256", None, too_many), ("file", "3.txt", one)])
        assert r.status_code == 400
        assert c.get(url + "3.txt").status_code == 404


def test_an_empty_file_input_is_skipped_and_no_staging_is_left(srv: DavServer) -> None:
    with _alice() as c:
        r = _post(c, srv.files_url("alice"), [("file", "", b""), ("file", "real.txt", b"r")])
        assert r.status_code == 201, r.text
        assert [f["name"] for f in r.json()["files"]] == ["real.txt"]
        r = _post(c, srv.files_url("alice"), [("file", "", b"")])
        assert r.status_code == 400
    assert not list(srv.root.rglob("form-*.part"))


def test_form_without_a_file_part_is_400(srv: DavServer) -> None:
    with _alice() as c:
        r = _post(c, srv.files_url("alice"), [("note", None, b"no file here")])
        assert r.status_code == 400
        assert "no file" in r.json()["error"]


def test_malformed_and_truncated_bodies_are_400_and_store_nothing(srv: DavServer) -> None:
    url = srv.files_url("alice", "broken/")
    kind, body = multipart([("file", "cut.bin", b"x" * 10000)])
    with _alice() as c:
        r = c.post(url, content=body[:-30], headers={"Content-Type": kind, **JSON})
        assert r.status_code == 400
        r = c.post(url, content=b"garbage", headers={"Content-Type": "multipart/form-data"})
        assert r.status_code == 400
        assert c.get(url + "cut.bin").status_code == 404


def test_part_count_is_bounded(srv: DavServer) -> None:
    parts: list[tuple[str, str | None, bytes]] = [("f", None, b"x")] * 30
    with _alice() as c:
        r = _post(c, srv.files_url("alice"), [*parts, ("file", "p.txt", b"p")])
        assert r.status_code == 413
        assert c.get(srv.files_url("alice", "p.txt")).status_code == 404


def test_missing_folders_are_made_and_mkdir_fields(srv: DavServer) -> None:
    with _alice() as c:
        r = _post(c, srv.files_url("alice", "new/deeper/"), [("file", "n.txt", b"n")])
        assert r.status_code == 201, r.text
        assert c.get(srv.files_url("alice", "new/deeper/n.txt")).content == b"n"
        r = _post(c, srv.files_url("alice", "new/"), [("mkdir", None, b"empty/sub")])
        assert r.status_code == 201, r.text
        r = c.request("PROPFIND", srv.files_url("alice", "new/empty/sub/"), headers={"Depth": "0"})
        assert r.status_code == 207


def test_non_ascii_folder_and_file_names(srv: DavServer) -> None:
    with _alice() as c:
        r = _post(c, srv.files_url("alice", "dätä/ünter/"), [("file", "fïle ü.txt", b"u")])
        assert r.status_code == 201, r.text
        assert r.json()["collection"] == "/remote.php/dav/files/alice/d%C3%A4t%C3%A4/%C3%BCnter/"
        assert r.json()["files"][0]["path"] == "dätä/ünter/fïle ü.txt"
        assert c.get(srv.files_url("alice", "dätä/ünter/fïle ü.txt")).content == b"u"


def test_policy_of_the_put_applies(srv: DavServer) -> None:
    with _alice() as c:
        r = _post(c, srv.files_url("bob", "in/"), [("file", "x.txt", b"x")])
        assert r.status_code == 403
    with httpx.Client(auth=("alice", "wrong"), timeout=30) as bad:
        r = _post(bad, srv.files_url("alice"), [("file", "y.txt", b"y")])
        assert r.status_code == 401
    with _alice() as c:
        assert c.get(srv.files_url("alice", "y.txt")).status_code == 404


def test_a_locked_file_is_not_replaced(srv: DavServer) -> None:
    url = srv.files_url("alice", "locked.txt")
    lock_body = (
        b'<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/>'
        b"</d:lockscope><d:locktype><d:write/></d:locktype></d:lockinfo>"
    )
    with _alice() as c:
        assert c.put(url, content=b"locked content").status_code == 201
        r = c.request("LOCK", url, content=lock_body, headers={"Timeout": "Second-60"})
        assert r.status_code == 200, r.text
        token = r.headers["Lock-Token"]
        try:
            r = _post(c, srv.files_url("alice"), [("file", "locked.txt", b"new")])
            assert r.status_code == 423, r.text
            assert c.get(url).content == b"locked content"
        finally:
            c.request("UNLOCK", url, headers={"Lock-Token": token})


def test_digest_authentication_works_for_the_post(tmp_path: Path) -> None:
    server = start_server(tmp_path, "auth: {digest: true}\n")
    try:
        with httpx.Client(auth=httpx.DigestAuth("alice", USERS["alice"]), timeout=30) as c:
            r = _post(c, server.files_url("alice"), [("file", "d.txt", b"digest")])
            assert r.status_code == 201, r.text
            assert c.get(server.files_url("alice", "d.txt")).content == b"digest"
    finally:
        server.stop()


def test_cross_site_posts_are_refused(srv: DavServer) -> None:
    url = srv.files_url("alice")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(srv.url))
    with _alice() as c:
        r = _post(c, url, [("file", "csrf.txt", b"evil")], Origin="https://evil.example")
        assert r.status_code == 403
        r = _post(c, url, [("file", "csrf.txt", b"evil")], Referer="http://evil.example/x")
        assert r.status_code == 403
        r = _post(c, url, [("file", "csrf.txt", b"evil")], **{"User-Agent": "Mozilla/5.0"})
        assert r.status_code == 403
        assert c.get(url + "csrf.txt").status_code == 404
        r = _post(c, url, [("file", "ok.txt", b"fine")], Origin=origin)
        assert r.status_code == 201


def test_html_answer_and_upload_page(srv: DavServer) -> None:
    url = srv.files_url("alice", "page/")
    with _alice() as c:
        kind, body = multipart([("file", "<b>.txt", b"html")])
        r = c.post(url, content=body, headers={"Content-Type": kind, "Accept": "text/html"})
        assert r.status_code == 201
        assert r.headers["Content-Type"].startswith("text/html")
        assert "&lt;b&gt;.txt" in r.text and "<b>.txt" not in r.text
        listing = c.get(url, headers={"Accept": "text/html"})
        assert listing.status_code == 200
        assert 'class="davsync-upload"' in listing.text
        page = c.get(url + "?upload")
        assert page.status_code == 200
        assert 'enctype="multipart/form-data"' in page.text
        assert "multiple" in page.text
        on_a_file = c.get(url + "%3Cb%3E.txt?upload")
        assert on_a_file.status_code == 200 and on_a_file.content == b"html"


def test_post_to_a_file_or_the_uploads_area_is_not_a_form(srv: DavServer) -> None:
    with _alice() as c:
        assert c.put(srv.files_url("alice", "plain.txt"), content=b"plain").status_code == 201
        r = _post(c, srv.files_url("alice", "plain.txt"), [("file", "x.txt", b"x")])
        assert r.status_code == 405
        assert c.get(srv.files_url("alice", "plain.txt")).content == b"plain"
        uploads = srv.url + "remote.php/dav/uploads/alice/"
        r = _post(c, uploads, [("file", "x.txt", b"x")])
        assert r.status_code in (403, 405), r.text


def test_tus_post_is_not_taken_for_a_form(srv: DavServer) -> None:
    with _alice() as c:
        r = c.post(
            srv.files_url("alice"),
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "3",
                "Upload-Metadata": "filename dHVzLnR4dA==",
            },
        )
        assert r.status_code == 201, r.text
        assert "/uploads/alice/" in r.headers["Location"]


def test_killed_server_mid_post_keeps_the_old_version(tmp_path: Path) -> None:
    server = start_server(tmp_path, CONFIG)
    url = server.files_url("alice", "k.bin")
    try:
        with _alice() as c:
            assert c.put(url, content=b"old").status_code == 201
        kind, body = multipart([("file", "k.bin", b"n" * 4_000_000)])
        split = urlsplit(server.url)
        with socket.create_connection((split.hostname, split.port), timeout=10) as sock:
            head = (
                f"POST {urlsplit(server.files_url('alice')).path} HTTP/1.1\r\n"
                f"Host: {split.netloc}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Authorization: {httpx.BasicAuth('alice', USERS['alice'])._auth_header}\r\n\r\n"
            ).encode()
            sock.sendall(head + body[: len(body) // 2])
            time.sleep(0.5)
            server.kill()
        staged = list((tmp_path / "root").rglob("form-*.part"))
        assert staged, "the half-received part was staged"
        server = DavServer(server.root, server.extra_args).start()
        with _alice() as c:
            assert c.get(server.files_url("alice", "k.bin")).content == b"old"
            listing = c.request("PROPFIND", server.files_url("alice"), headers={"Depth": "1"})
            assert "form-" not in listing.text
    finally:
        server.stop()


def test_a_form_upload_is_an_arrival_of_protocol_form(tmp_path: Path) -> None:
    server = start_server(tmp_path, CONFIG)
    try:
        with _alice() as c:
            r = _post(c, server.files_url("alice", "arr/"), [("file", "f.csv", b"1,2\n")])
            assert r.status_code == 201, r.text
            assert c.put(server.files_url("alice", "arr/p.csv"), content=b"3").status_code == 201
    finally:
        server.stop()
    got = arrivals(server.root, "--user", "alice")
    assert [(a["protocol"], a["path"]) for a in got] == [
        ("form", "arr/f.csv"),
        ("put", "arr/p.csv"),
    ]
    assert got[0]["sha256"] == digests(b"1,2\n")["sha256"]
