"""The bundled sync client against servers that are not davsync: stock WsgiDAV 4.4
(FilesystemProvider; Digest over HTTP) and nginx's DAV module with dav-ext (Basic only), each
on a loopback port (fixtures ``stock_wsgidav`` and ``nginx_dav`` in conftest.py; they skip
with the reason when the server is not installed).

Neither server has davsync's inventory endpoint, upload sessions or hash properties, so the
client lists with ``PROPFIND Depth: 1`` per folder, sends every file by one plain ``PUT`` (no
resume), and verifies each file by downloading it and hashing the bytes (``verified_by``
``download``). A later run decides "unchanged" from the listing's size, the journal's record
of the verified upload (its SHA-256 equals the local file's) and, where the server reports
one, an unchanged ETag; it never compares modification times.

Every file is checked here with a GET of its own, and "nothing sent again" is checked on the
server's disk (inode and ctime of every stored file), not only in the client's report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest
from lxml import etree

from interop import stock
from interop.stock import StockServer, start_nginx_dav
from interop.tools import require
from tests.syncclient.conftest import ClientResult, run_client, write_tree

pytestmark = [pytest.mark.interop]

MiB = 1024 * 1024
NOTE_LISTING = "server has no davsync inventory endpoint: listing with PROPFIND Depth 1 per folder"
NOTE_NO_CHUNKS = "no resumable upload sessions: large files go by plain PUT"
NOTE_MISSING = "the target collection does not exist yet"
NO_HASH = "server reports no hash"


def _blob(seed: int, size: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


TREE: dict[str, bytes] = {
    "top.txt": b"hello\n",
    "empty.dat": b"",
    "name with spaces & \u00fcmlaut.txt": b"unicode name\n",
    "a/notes.md": b"# notes\n" * 40,
    "a/b/c/deep.csv": b"x,y\n" * 500,
    "a/b/big.bin": _blob(1, 3 * MiB + 17),
    "logs/2025/run-01.log": b"started\nfinished\n",
}
IGNORED = {"Thumbs.db": b"ignored by default"}


@dataclass
class Site:
    """One stock server as the client meets it, and a fresh target collection on it."""

    server: StockServer
    tmp: Path
    target: str  # missing until the first run creates it (two levels below the share)

    @property
    def auth_flags(self) -> tuple[str, ...]:
        # The client uses Digest over plain HTTP unless told otherwise; nginx offers Basic only.
        return () if "digest" in self.server.auth_schemes else ("--auth", "basic")

    def password_file(self) -> Path:
        path = self.tmp / "password"
        path.write_text(self.server.password + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def sync(
        self, src: Path, *flags: str, command: str = "run", state: str = "state"
    ) -> ClientResult:
        """``syncclient run --once`` (or ``plan``) of ``src`` to the target, with --json."""
        extra = ["--once"] if command == "run" else []
        return run_client(
            self.tmp,
            command,
            *extra,
            str(src),
            self.target,
            "--user",
            self.server.user,
            "--password-file",
            str(self.password_file()),
            "--state-dir",
            str(self.tmp / state),
            "--json",
            *self.auth_flags,
            *flags,
        )

    def http(self) -> httpx.Client:
        auth: httpx.Auth
        if "digest" in self.server.auth_schemes:
            auth = httpx.DigestAuth(self.server.user, self.server.password)
        else:
            auth = httpx.BasicAuth(self.server.user, self.server.password)
        return httpx.Client(auth=auth, timeout=120.0)

    def disk(self) -> Path:
        """The target collection as a folder on the server's disk."""
        rel = urlsplit(self.target).path[len(urlsplit(self.server.url).path) :]
        return self.server.root / unquote(rel)


@pytest.fixture(params=["stock_wsgidav", "nginx_dav"], ids=["wsgidav", "nginx"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    server: StockServer = request.getfixturevalue(request.param)
    return Site(server, tmp_path, f"{server.url}sync-{uuid.uuid4().hex[:8]}/incoming/")


def _source(tmp: Path, files: dict[str, bytes]) -> Path:
    src = tmp / "src"
    write_tree(src, files)  # mtimes an hour ago: settled for the stability gate
    return src


def _events(r: ClientResult, kind: str) -> list[dict[str, Any]]:
    return [e for e in r.events() if e["event"] == kind]


def _walk(http: httpx.Client, url: str) -> dict[str, dict[str, str]]:
    """path -> {length, lastmodified, etag} of every file below ``url`` (PROPFIND Depth 1)."""
    base = unquote(urlsplit(url).path)
    out: dict[str, dict[str, str]] = {}
    queue = [url]
    while queue:
        folder = queue.pop()
        r = http.request("PROPFIND", folder, headers={"Depth": "1"})
        assert r.status_code == 207, r.text
        here = unquote(urlsplit(folder).path).rstrip("/")
        for resp in etree.fromstring(r.content).iter("{DAV:}response"):
            href = urlsplit(resp.findtext("{DAV:}href") or "").path
            path = unquote(href).rstrip("/")
            if path == here:
                continue
            if resp.find(".//{DAV:}resourcetype/{DAV:}collection") is not None:
                queue.append(urljoin(folder, href.rstrip("/") + "/"))
                continue
            out[path[len(base) :]] = {
                "length": resp.findtext(".//{DAV:}getcontentlength") or "",
                "lastmodified": resp.findtext(".//{DAV:}getlastmodified") or "",
                "etag": resp.findtext(".//{DAV:}getetag") or "",
            }
    return out


def _assert_byte_identical(site: Site, files: dict[str, bytes]) -> None:
    with site.http() as http:
        listed = _walk(http, site.target)
        assert set(listed) == set(files), listed
        for rel, data in files.items():
            r = http.get(site.target + rel, headers={"Accept-Encoding": "identity"})
            assert r.status_code == 200, (rel, r.status_code)
            assert r.content == data, rel
            assert listed[rel]["length"] == str(len(data)), rel


def _disk_identity(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, ctime_ns) of every stored file: any rewrite changes at least one of them."""
    out: dict[str, tuple[int, int]] = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_ctime_ns)
    return out


def test_run_once_mixed_tree(site: Site) -> None:
    """First run: notes say "not davsync", plain PUT without resume, every file verified by
    download and byte-identical on a GET. Second run: nothing sent, nothing rewritten."""
    src = _source(site.tmp, {**TREE, **IGNORED})
    # A threshold below big.bin's size: against davserver it would go through chunks.
    flags = ("--chunk-threshold", "1MiB", "--chunk-size", "512KiB")
    r = site.sync(src, *flags)
    assert r.code == 0, r.stderr + r.stdout
    notes = [e["message"] for e in _events(r, "note")]
    assert NOTE_LISTING in notes and NOTE_NO_CHUNKS in notes, notes
    s = r.summary()
    assert s["server"] == {
        "listing": "propfind",
        "chunking": False,
        "notes": [NOTE_LISTING, NOTE_NO_CHUNKS],
    }
    assert s["chunks_sent"] == 0 and s["bytes"]["resumed"] == 0
    assert s["files"]["verified"] == len(TREE) and s["files"]["ignored"] == len(IGNORED)
    assert s["exit_reason"] == "all files verified"
    verified = {e["path"]: (e["method"], e["verified_by"]) for e in _events(r, "verified")}
    assert verified == {p: ("put", "download") for p in TREE}
    assert not _events(r, "retry") and not _events(r, "verify-mismatch")
    _assert_byte_identical(site, TREE)

    stored = _disk_identity(site.disk())
    assert set(stored) == set(TREE)
    again = site.sync(src, *flags)
    assert again.code == 0, again.stderr + again.stdout
    s2 = again.summary()
    assert s2["nothing_transferred"] is True and s2["bytes"]["wire"] == 0
    assert s2["planned"] == {"unchanged": len(TREE), "ignored": len(IGNORED)}
    assert s2["exit_reason"] == "nothing to transfer: everything is up to date"
    assert not _events(again, "start")
    assert _disk_identity(site.disk()) == stored


def test_modification_times(site: Site) -> None:
    """``X-OC-Mtime`` is honoured by stock WsgiDAV (``honor_mtime_header``), ignored by nginx
    (the stored time is the upload time). The client compares no times either way."""
    src = _source(site.tmp, {"t.txt": b"time\n"})
    local = (src / "t.txt").stat().st_mtime
    assert site.sync(src).code == 0
    with site.http() as http:
        listed = _walk(http, site.target)
    remote = parsedate_to_datetime(listed["t.txt"]["lastmodified"]).timestamp()
    if "digest" in site.server.auth_schemes:  # WsgiDAV
        assert abs(remote - int(local)) < 1.5
    else:
        assert remote - local > 600  # the upload time, not the local mtime of an hour ago


def test_plan(site: Site) -> None:
    """``plan`` before the first run (writes nothing), after it (all unchanged), after a local
    edit, and with a lost journal (no hash on the server: every file would be re-sent)."""
    files = {k: TREE[k] for k in ("top.txt", "a/notes.md", "a/b/c/deep.csv")}
    src = _source(site.tmp, files)
    first = site.sync(src, command="plan")
    assert first.code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["counts"] == {"new": 3}
    assert doc["server"] == {"listing": "missing", "chunking": False, "notes": [NOTE_MISSING]}
    with site.http() as http:
        probe = http.request("PROPFIND", site.target, headers={"Depth": "0"})
        assert probe.status_code == 404  # plan created nothing

    assert site.sync(src).code == 0
    after = json.loads(site.sync(src, command="plan").stdout)
    assert after["counts"] == {"unchanged": 3}
    assert after["server"] == {
        "listing": "propfind",
        "chunking": False,
        "notes": [NOTE_LISTING, NOTE_NO_CHUNKS],
    }
    text = run_client(
        site.tmp,
        "plan",
        str(src),
        site.target,
        "--user",
        site.server.user,
        "--password-file",
        str(site.password_file()),
        "--state-dir",
        str(site.tmp / "state"),
        *site.auth_flags,
    )
    assert text.code == 0, text.stderr
    assert f"note: {NOTE_LISTING}" in text.stdout and "0 to send" in text.stdout

    # A same-size local edit: the scan re-hashes (mtime changed), the hash differs from the
    # journal's record of the verified upload.
    edited = src / "top.txt"
    edited.write_bytes(b"HELLO\n")
    os.utime(edited, (time.time() - 1800, time.time() - 1800))
    doc = json.loads(site.sync(src, "--stable-seconds", "0", command="plan").stdout)
    reasons = {a["path"]: (a["reason"], a["detail"]) for a in doc["actions"]}
    assert reasons["top.txt"] == ("changed-hash", NO_HASH)
    assert reasons["a/notes.md"][0] == "unchanged"

    # Without the journal there is nothing to compare with: everything is planned again.
    lost = json.loads(site.sync(src, command="plan", state="fresh-state").stdout)
    assert lost["counts"] == {"changed-hash": 3}
    assert {a["detail"] for a in lost["actions"]} == {NO_HASH}


def test_server_side_same_size_replacement(site: Site) -> None:
    """Someone replaces a sent file on the server with other bytes of the same size.
    WsgiDAV's ETag changes, so the client sends the file again; nginx reports no ETag (and no
    hash), so the client cannot tell and keeps it as unchanged."""
    src = _source(site.tmp, {"r.txt": b"original\n", "keep.txt": b"keep\n"})
    assert site.sync(src).code == 0
    with site.http() as http:
        assert http.put(site.target + "r.txt", content=b"replaced\n").status_code in (200, 204)
    plan = json.loads(site.sync(src, command="plan").stdout)
    reasons = {a["path"]: (a["reason"], a["detail"]) for a in plan["actions"]}
    assert reasons["keep.txt"] == ("unchanged", "")
    r = site.sync(src)
    assert r.code == 0, r.stderr + r.stdout
    with site.http() as http:
        served = http.get(site.target + "r.txt").content
    if "digest" in site.server.auth_schemes:  # WsgiDAV: ETag = inode-mtime-size
        assert reasons["r.txt"] == ("changed-hash", NO_HASH)
        assert [e["path"] for e in _events(r, "verified")] == ["r.txt"]
        assert served == b"original\n"
    else:  # nginx: size is all the listing offers
        assert reasons["r.txt"] == ("unchanged", "")
        assert r.summary()["nothing_transferred"] is True
        assert served == b"replaced\n"


def test_no_download_verify_never_claims_verified(site: Site) -> None:
    """With ``--no-download-verify`` the client has no way to check a file on these servers:
    it reports ``verify-failed`` (exit 4) and records nothing, so the next run sends again."""
    src = _source(site.tmp, {"v.txt": b"verify me\n"})
    r = site.sync(src, "--no-download-verify")
    assert r.code == 4, r.stderr + r.stdout
    assert not _events(r, "verified")
    failed = _events(r, "verify-failed")
    assert [e["path"] for e in failed] == ["v.txt"]
    assert "the server reports no hash and download verification is off" in failed[0]["error"]
    assert r.summary()["files"]["verify-failed"] == 1
    plan = json.loads(site.sync(src, command="plan").stdout)
    assert [(a["path"], a["reason"]) for a in plan["actions"]] == [("v.txt", "changed-hash")]
    again = site.sync(src)  # with download verification (the default) it completes
    assert again.code == 0, again.stderr + again.stdout
    assert [e["verified_by"] for e in _events(again, "verified")] == ["download"]


# nginx specifics -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StockServer, Path]]:
    """nginx DAV as shipped: ``create_full_put_path off`` (the harness turns it on), so a PUT
    into a missing folder fails (HTTP 500) and only MKCOL creates folders. Yields the server and
    its work folder (``access.log`` is there)."""
    work = tmp_path_factory.mktemp("nginx-strict")
    conf = stock.NGINX_CONF.replace("create_full_put_path on;", "create_full_put_path off;")
    assert conf != stock.NGINX_CONF
    with mock.patch.object(stock, "NGINX_CONF", conf):
        srv = require(lambda: start_nginx_dav(work, "alice", "alice-pw-1"))
    yield srv, work
    srv.stop()


_LOG_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3})')


def _client_requests(log: Path, prefix: str) -> list[tuple[str, str, str]]:
    """(method, path relative to ``prefix``, status) of the sync client's requests below
    ``prefix`` in nginx's access log (the test's own requests have another User-Agent)."""
    out: list[tuple[str, str, str]] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        m = _LOG_LINE.search(line)
        if m and '"syncclient/' in line and unquote(m["path"]).startswith(prefix):
            out.append((m["method"], unquote(m["path"])[len(prefix) :], m["status"]))
    return out


def test_nginx_mkcol_chain_for_missing_folders(
    nginx_strict: tuple[StockServer, Path], tmp_path: Path
) -> None:
    """Files in folders that do not exist yet: the client creates the target collection and
    every missing folder level with MKCOL, parents first, before the PUT; again after someone
    deleted a folder on the server."""
    server, work = nginx_strict
    site = Site(server, tmp_path, f"{server.url}sync-{uuid.uuid4().hex[:8]}/incoming/")
    with site.http() as http:  # a PUT alone fails here: nginx answers 500 (rename()), not 409
        alone = http.put(server.url + f"nowhere-{uuid.uuid4().hex[:6]}/x.txt", content=b"x")
        assert alone.status_code == 500
    files = {"new/deeper/deepest/file.txt": b"deep\n", "new/side.txt": b"side\n"}
    src = _source(tmp_path, files)
    r = site.sync(src)
    assert r.code == 0, r.stderr + r.stdout
    _assert_byte_identical(site, files)

    share = unquote(urlsplit(server.url).path)  # "/dav/"
    top = unquote(urlsplit(site.target).path)[len(share) :]  # "sync-<id>/incoming/"
    log = [
        (m, p, st)
        for m, p, st in _client_requests(work / "access.log", share)
        if p.startswith(top.split("/")[0] + "/")
    ]
    writes = [(m, p, st) for m, p, st in log if m in ("MKCOL", "PUT")]
    assert writes[:2] == [("MKCOL", top.split("/")[0] + "/", "201"), ("MKCOL", top, "201")], log
    mine = [(m, p[len(top) :], st) for m, p, st in writes[2:]]
    mkcols = [p for m, p, st in mine if m == "MKCOL"]
    assert mkcols == ["new/", "new/deeper/", "new/deeper/deepest/"], log
    assert all(st == "201" for _m, _p, st in mine), log
    deep_put = mine.index(("PUT", "new/deeper/deepest/file.txt", "201"))
    assert deep_put > mine.index(("MKCOL", "new/deeper/deepest/", "201")), log
    gets = [p[len(top) :] for m, p, st in log if m == "GET" and st == "200"]
    assert sorted(gets) == sorted(files), log  # the verification downloads

    # The folder vanishes on the server; a new file below it needs the chain again.
    with site.http() as http:
        assert http.delete(site.target + "new/deeper/").status_code == 204
    (src / "new/deeper/deepest/second.txt").write_bytes(b"second\n")
    os.utime(src / "new/deeper/deepest/second.txt", (time.time() - 600, time.time() - 600))
    again = site.sync(src, "--stable-seconds", "0")
    assert again.code == 0, again.stderr + again.stdout
    planned = again.summary()["planned"]
    assert planned == {"new": 2, "unchanged": 1}, planned
    _assert_byte_identical(site, {**files, "new/deeper/deepest/second.txt": b"second\n"})


def test_nginx_needs_auth_basic_over_http(nginx_dav: StockServer, tmp_path: Path) -> None:
    """nginx offers only Basic; over plain HTTP the client uses Digest unless ``--auth basic``
    is given. It stops with exit 3 and says which scheme the server offers; a wrong password
    with ``--auth basic`` is reported as refused credentials."""
    site = Site(nginx_dav, tmp_path, f"{nginx_dav.url}sync-{uuid.uuid4().hex[:8]}/")
    src = _source(tmp_path, {"a.txt": b"a\n"})
    pw = site.password_file()
    common = ["--user", nginx_dav.user, "--password-file", str(pw), "--state-dir"]
    r = run_client(tmp_path, "run", "--once", str(src), site.target, *common, str(tmp_path / "s"))
    assert r.code == 3, r.stderr + r.stdout
    assert "offers only Basic authentication and the client uses Digest" in r.stderr
    assert "--auth" in r.stderr
    pw.write_text("wrong-password\n", encoding="utf-8")
    wrong = run_client(
        tmp_path,
        "run",
        "--once",
        str(src),
        site.target,
        *common,
        str(tmp_path / "s"),
        "--auth",
        "basic",
    )
    assert wrong.code == 3 and "refused the password of user" in wrong.stderr, wrong.stderr
    assert "(HTTP 401)" in wrong.stderr
    with httpx.Client(auth=httpx.BasicAuth(nginx_dav.user, nginx_dav.password)) as http:
        assert http.request("PROPFIND", site.target, headers={"Depth": "0"}).status_code == 404
