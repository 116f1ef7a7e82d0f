"""The FTP/FTPS gateway against Python's ftplib (FTP_TLS), on a real ``davserver serve``."""

from __future__ import annotations

import ftplib
import hashlib
import io
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from lxml import etree

from tests.support.configured import USERS
from tests.support.ftp import FtpEndpoint, start_ftp_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[FtpEndpoint]:
    ep = start_ftp_server(tmp_path_factory.mktemp("ftp"), ca)
    yield ep
    ep.server.stop()


@pytest.fixture
def ftp(endpoint: FtpEndpoint) -> Iterator[ftplib.FTP_TLS]:
    client = endpoint.client()
    yield client
    try:
        client.quit()
    except (ftplib.Error, OSError):
        client.close()


def _payload(n: int, seed: bytes) -> bytes:
    block = hashlib.sha256(seed).digest() * 2048
    return (block * (n // len(block) + 1))[:n]


def _webdav_checksums(endpoint: FtpEndpoint, user: str, path: str) -> str:
    body = (
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
        "<d:prop><oc:checksums/></d:prop></d:propfind>"
    )
    with httpx.Client(verify=str(endpoint.ca_file), auth=(user, USERS[user])) as http:
        answer = http.request(
            "PROPFIND",
            endpoint.server.files_url(user, path),
            headers={"Depth": "0"},
            content=body,
        )
    assert answer.status_code == 207, answer.text
    found = etree.fromstring(answer.content).findtext(".//{http://owncloud.org/ns}checksum")
    assert found, answer.text
    return found


def _cut_stor(ftp: ftplib.FTP_TLS, name: str, data: bytes) -> None:
    """Send ``data`` on a STOR data connection, then drop it without TLS close_notify."""
    conn = ftp.transfercmd(f"STOR {name}")
    conn.sendall(data)
    raw = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    raw.shutdown(socket.SHUT_RDWR)  # a cut line: FIN without the TLS goodbye
    raw.close()
    with pytest.raises(ftplib.error_temp, match="426"):
        ftp.voidresp()


def test_store_list_retrieve_and_hash(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    data = _payload(300_000, b"store")
    assert ftp.storbinary("STOR store.bin", io.BytesIO(data)).startswith("226")
    assert ftp.sendcmd("SIZE store.bin") == f"213 {len(data)}"
    assert ftp.sendcmd("MDTM store.bin").startswith("213 2")
    facts = dict(ftp.mlsd())
    assert facts["store.bin"]["type"] == "file"
    assert facts["store.bin"]["size"] == str(len(data))
    assert "unique" not in facts["store.bin"]  # no inode to offer
    assert "store.bin" in ftp.nlst()
    got = io.BytesIO()
    ftp.retrbinary("RETR store.bin", got.write)
    assert got.getvalue() == data
    sha256 = hashlib.sha256(data).hexdigest()
    assert ftp.sendcmd("HASH store.bin") == f"213 SHA-256 0-{len(data)} {sha256} /store.bin"
    assert ftp.sendcmd("XSHA256 store.bin") == f"250 {sha256}"
    assert ftp.sendcmd("XSHA1 store.bin") == f"250 {hashlib.sha1(data).hexdigest()}"
    assert ftp.sendcmd("XMD5 store.bin") == f"250 {hashlib.md5(data).hexdigest()}"
    assert ftp.sendcmd("OPTS HASH MD5") == "200 MD5"
    assert ftp.sendcmd("HASH store.bin").split()[3] == hashlib.md5(data).hexdigest()
    assert "HASH SHA-256;SHA-1;MD5*" in ftp.sendcmd("FEAT") or "MD5*" in ftp.sendcmd("FEAT")
    assert (endpoint.home("alice") / "store.bin").read_bytes() == data


def test_restart_download_with_rest(ftp: ftplib.FTP_TLS) -> None:
    data = _payload(100_000, b"rest-retr")
    ftp.storbinary("STOR r.bin", io.BytesIO(data))
    got = io.BytesIO()
    ftp.retrbinary("RETR r.bin", got.write, rest=40_000)
    assert got.getvalue() == data[40_000:]


def test_same_checksums_as_a_webdav_put(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    data = _payload(70_000, b"same")
    with httpx.Client(verify=str(endpoint.ca_file), auth=("alice", USERS["alice"])) as http:
        assert http.put(endpoint.server.files_url("alice", "by-put.bin"), content=data).is_success
    ftp.storbinary("STOR by-ftp.bin", io.BytesIO(data))
    by_put = _webdav_checksums(endpoint, "alice", "by-put.bin")
    assert hashlib.sha256(data).hexdigest() in by_put.lower()
    assert _webdav_checksums(endpoint, "alice", "by-ftp.bin") == by_put


def test_folders_rename_delete(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    ftp.mkd("dir1")
    ftp.storbinary("STOR dir1/x.txt", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm, match="550 Directory not empty"):
        ftp.rmd("dir1")
    ftp.rename("dir1/x.txt", "dir1/y.txt")
    assert ftp.nlst("dir1") == ["y.txt"]
    ftp.cwd("dir1")
    assert ftp.pwd() == "/dir1"
    ftp.delete("y.txt")
    ftp.cwd("/")
    ftp.rmd("dir1")
    assert not (endpoint.home("alice") / "dir1").exists()


def test_append(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    ftp.storbinary("STOR log.txt", io.BytesIO(b"one\n"))
    ftp.storbinary("APPE log.txt", io.BytesIO(b"two\n"))
    assert (endpoint.home("alice") / "log.txt").read_bytes() == b"one\ntwo\n"
    digest = hashlib.sha256(b"one\ntwo\n").hexdigest()
    assert ftp.sendcmd("XSHA256 log.txt") == f"250 {digest}"


def test_cut_stor_keeps_old_version_and_resumes_with_rest(
    ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint
) -> None:
    old = b"old version\n"
    ftp.storbinary("STOR resumed.bin", io.BytesIO(old))
    data = _payload(2_000_000, b"resume")
    half = len(data) // 2
    _cut_stor(ftp, "resumed.bin", data[:half])
    assert (endpoint.home("alice") / "resumed.bin").read_bytes() == old
    got = io.BytesIO()
    ftp.retrbinary("RETR resumed.bin", got.write)
    assert got.getvalue() == old
    assert sorted(ftp.nlst()).count("resumed.bin") == 1

    again = endpoint.client()
    try:
        offset = int(again.sendcmd("SIZE resumed.bin").split()[1])
        assert 0 < offset <= half
        with pytest.raises(ftplib.error_perm, match="554"):
            again.storbinary("STOR resumed.bin", io.BytesIO(data[offset + 1 :]), rest=offset + 1)
        again.storbinary("STOR resumed.bin", io.BytesIO(data[offset:]), rest=offset)
        assert (endpoint.home("alice") / "resumed.bin").read_bytes() == data
        digest = hashlib.sha256(data).hexdigest()
        assert again.sendcmd("HASH resumed.bin").split()[3] == digest
        assert again.sendcmd("SIZE resumed.bin") == f"213 {len(data)}"
    finally:
        again.quit()


def test_login_needs_tls(endpoint: FtpEndpoint) -> None:
    plain = ftplib.FTP(timeout=30)
    plain.connect(endpoint.host, endpoint.port)
    try:
        with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required"):
            plain.login("alice", USERS["alice"])
    finally:
        plain.close()


def test_untrusted_certificate_is_rejected_by_the_client(endpoint: FtpEndpoint) -> None:
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(), timeout=30)
    ftp.connect(endpoint.host, endpoint.port)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            ftp.auth()
    finally:
        ftp.close()


def test_paths_outside_the_home_are_refused(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    with httpx.Client(verify=str(endpoint.ca_file), auth=("bob", USERS["bob"])) as http:
        assert http.put(endpoint.server.files_url("bob", "secret.txt"), content=b"s").is_success
    for name in ("../bob/secret.txt", "/../bob/secret.txt", "../../files/bob/secret.txt"):
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.retrbinary(f"RETR {name}", lambda _b: None)
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.storbinary(f"STOR {name}x", io.BytesIO(b"no"))
    ftp.cwd("../../..")
    assert ftp.pwd() == "/"
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.sendcmd("HASH ../bob/secret.txt")
    assert (endpoint.home("bob") / "secret.txt").read_bytes() == b"s"
    assert not list(endpoint.home("bob").glob("secret.txtx"))


def test_brute_force_is_throttled_like_http(tmp_path: Path, ca: trustme.CA) -> None:
    # A server of its own: the lock-out covers the whole client address (127.0.0.1).
    endpoint = start_ftp_server(tmp_path, ca)
    try:
        _brute_force(endpoint)
    finally:
        endpoint.server.stop()


def _brute_force(endpoint: FtpEndpoint) -> None:
    messages: list[str] = []
    for _ in range(6):
        ftp = endpoint.connect()
        try:
            ftp.auth()
            ftp.login("carol", "wrong")
        except ftplib.error_perm as exc:
            messages.append(str(exc))
        finally:
            ftp.close()
    assert all(m.startswith("530") for m in messages), messages
    assert "Too many failed logins" in messages[-1]
    # The right password is refused too while the address is locked out, over FTP and HTTP.
    ftp = endpoint.connect()
    try:
        ftp.auth()
        with pytest.raises(ftplib.error_perm, match="530 Too many failed logins"):
            ftp.login("carol", USERS["carol"])
    finally:
        ftp.close()
    with httpx.Client(verify=str(endpoint.ca_file), auth=("carol", USERS["carol"])) as http:
        assert http.request("PROPFIND", endpoint.server.files_url("carol")).status_code == 429


def test_stor_into_missing_folder_is_refused(ftp: ftplib.FTP_TLS) -> None:
    with pytest.raises(ftplib.error_perm, match="550 The parent folder does not exist"):
        ftp.storbinary("STOR nowhere/x.bin", io.BytesIO(b"x"))


def test_a_webdav_lock_blocks_the_ftp_upload(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    ftp.storbinary("STOR locked.txt", io.BytesIO(b"v1"))
    lock_body = (
        '<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/>'
        "</d:lockscope><d:locktype><d:write/></d:locktype></d:lockinfo>"
    )
    with httpx.Client(verify=str(endpoint.ca_file), auth=("alice", USERS["alice"])) as http:
        url = endpoint.server.files_url("alice", "locked.txt")
        locked = http.request("LOCK", url, content=lock_body, headers={"Timeout": "Second-60"})
        assert locked.status_code == 200, locked.text
        try:
            with pytest.raises(ftplib.error_perm, match="550 Not stored: The file is locked"):
                ftp.storbinary("STOR locked.txt", io.BytesIO(b"v2"))
            with pytest.raises(ftplib.error_perm, match="550"):
                ftp.delete("locked.txt")
            assert (endpoint.home("alice") / "locked.txt").read_bytes() == b"v1"
        finally:
            token = locked.headers["lock-token"]
            http.request("UNLOCK", url, headers={"Lock-Token": token})
    ftp.storbinary("STOR locked.txt", io.BytesIO(b"v2"))
    assert (endpoint.home("alice") / "locked.txt").read_bytes() == b"v2"


def test_arrival_journal_names_the_ftp_gateway(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> None:
    data = b"arrived over FTPS\n"
    ftp.storbinary("STOR journal.csv", io.BytesIO(data))
    config = endpoint.server.extra_args[endpoint.server.extra_args.index("--config") + 1]
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "davserver.cli",
            "arrivals",
            "--json",
            "--root",
            str(endpoint.root),
            "--config",
            config,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    entries = [json.loads(line) for line in listed.splitlines() if line.startswith("{")]
    mine = [e for e in entries if e["path"] == "journal.csv"]
    assert len(mine) == 1, listed
    assert mine[0]["protocol"] == "ftp" and mine[0]["user"] == "alice"
    assert mine[0]["sha256"] == hashlib.sha256(data).hexdigest()
