"""rclone's resumable uploads against davserver over TLS: Nextcloud chunking (vendor
nextcloud), including a server SIGKILLed and restarted mid-transfer, and tus (vendor
infinitescale)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import PASSWORDS
from tests.interop.rclone_support import Rclone
from tests.support.server import DavServer, add_user

pytestmark = [pytest.mark.interop, pytest.mark.slow]

MB = 1024 * 1024
BIG_SIZE = 60 * MB
CHUNK_FLAG = ["--webdav-nextcloud-chunk-size", "5M"]


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path`` in 1 MiB pieces; returns the SHA-1."""
    sha1 = hashlib.sha1()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(MB, left))
            sha1.update(block)
            f.write(block)
            left -= len(block)
    return sha1.hexdigest()


def small_tree(base: Path) -> None:
    files = {
        "t/a.txt": b"alpha\n" * 100,
        "t/sub/b.bin": os.urandom(300_000),
        "t/sub/deeper/c.csv": b"x,y\n1,2\n" * 2000,
        "t/empty.dat": b"",
        "t/space name \u00fc.txt": b"unicode name",
    }
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def uploads_listing(client: httpx.Client, url: str) -> list[str]:
    """The hrefs a Depth-1 PROPFIND of ``url`` lists below it (404 -> [])."""
    r = client.request("PROPFIND", url, headers={"Depth": "1"})
    if r.status_code == 404:
        return []
    assert r.status_code == 207, r.text
    hrefs = [h.split("</D:href>")[0] for h in r.text.split("<D:href>")[1:]]
    return [h for h in hrefs if h.rstrip("/") != httpx.URL(url).path.rstrip("/")]


def assert_checked(remote: Rclone, src: Path, dst: str) -> None:
    check = remote.run("check", str(src), dst)
    assert "0 differences found" in check.stderr, check.stderr
    assert "hashes could not be checked" not in check.stderr, check.stderr


@pytest.fixture()
def nc_remote(tls_server: DavServer, ca_file: Path, tmp_path: Path) -> Rclone:
    url = tls_server.files_url("alice").rstrip("/")
    return Rclone(tmp_path, url, "nextcloud", "alice", PASSWORDS["alice"], ca_file)


def test_nextcloud_chunked_copy_60mb_and_tree(
    nc_remote: Rclone, tls_server: DavServer, ca_file: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    sha1 = write_random(src / "big.bin", BIG_SIZE)
    small_tree(src)
    nc_remote.run("copy", *CHUNK_FLAG, str(src), "dav:nc-chunked")
    assert_checked(nc_remote, src, "dav:nc-chunked")
    listing = {e["Path"]: e for e in nc_remote.lsjson("nc-chunked", "-R", "--hash", "--files-only")}
    assert listing["big.bin"]["Size"] == BIG_SIZE
    assert listing["big.bin"]["Hashes"]["sha1"] == sha1
    log = "".join(tls_server.output)
    assert "/rclone-chunked-upload-" in log and "committed to alice/nc-chunked/big.bin" in log
    with httpx.Client(auth=("alice", PASSWORDS["alice"]), verify=str(ca_file)) as c:
        assert uploads_listing(c, f"{tls_server.url}remote.php/dav/uploads/alice/") == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def fixed_port_server(
    tmp_path: Path, tls_ca: trustme.CA
) -> Iterator[tuple[list[DavServer], Path, list[str]]]:
    """A TLS server on a fixed port; the test may kill it and start another in its place."""
    root = tmp_path / "fixed-root"
    add_user(root, "alice", PASSWORDS["alice"])
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    args = ["--tls-cert", str(cert_file), "--tls-key", str(key_file), "--port", str(_free_port())]
    servers = [DavServer(root, args).start()]
    yield servers, root, args
    for srv in servers:
        srv.stop()


def _session_chunks(client: httpx.Client, base: str) -> tuple[str, list[str]] | None:
    sessions = uploads_listing(client, f"{base}remote.php/dav/uploads/alice/")
    if not sessions:
        return None
    session = sessions[0]
    session_url = base.rstrip("/") + session
    names = [h.rstrip("/").rsplit("/", 1)[-1] for h in uploads_listing(client, session_url)]
    return session, names


def test_nextcloud_chunked_survives_server_kill_and_restart(
    fixed_port_server: tuple[list[DavServer], Path, list[str]],
    ca_file: Path,
    tmp_path: Path,
) -> None:
    servers, root, args = fixed_port_server
    base = servers[0].url
    remote = Rclone(
        tmp_path,
        servers[0].files_url("alice").rstrip("/"),
        "nextcloud",
        "alice",
        PASSWORDS["alice"],
        ca_file,
    )
    src = tmp_path / "src"
    sha1 = write_random(src / "big.bin", BIG_SIZE)
    cmd = [
        remote.binary, "--config", str(remote.config), "--ca-cert", str(ca_file),
        "--retries", "3", "--retries-sleep", "2s", "--low-level-retries", "40",
        "--contimeout", "5s", "--timeout", "60s", "--bwlimit", "8M", *CHUNK_FLAG,
        "copy", str(src), "dav:killed",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(auth=("alice", PASSWORDS["alice"]), verify=str(ca_file)) as c:
            before = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                found = _session_chunks(c, base)
                if found and len(found[1]) >= 3:
                    before = found
                    break
                time.sleep(0.1)
            assert before is not None, "rclone never got three chunks into a session"
            servers[0].kill()
            servers.append(DavServer(root, args).start())
            assert servers[-1].url == base
            after = _session_chunks(c, base)
            assert after is not None and after[0] == before[0], "the session did not survive"
            assert set(before[1]) <= set(after[1])
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert_checked(remote, src, "dav:killed")
    [entry] = remote.lsjson("killed/big.bin", "--hash")
    assert entry["Hashes"]["sha1"] == sha1
    with httpx.Client(auth=("alice", PASSWORDS["alice"]), verify=str(ca_file)) as c:
        assert uploads_listing(c, f"{base}remote.php/dav/uploads/alice/") == []


def test_infinitescale_tus_copy(tls_server: DavServer, ca_file: Path, tmp_path: Path) -> None:
    url = tls_server.files_url("alice").rstrip("/")
    remote = Rclone(tmp_path, url, "infinitescale", "alice", PASSWORDS["alice"], ca_file)
    src = tmp_path / "src"
    sha1 = write_random(src / "tus.bin", 25 * MB)  # three PATCHes of rclone's 10 MiB
    small_tree(src)
    remote.run("copy", str(src), "dav:ocis")
    assert_checked(remote, src, "dav:ocis")
    [entry] = remote.lsjson("ocis/tus.bin", "--hash")
    assert entry["Size"] == 25 * MB and entry["Hashes"]["sha1"] == sha1
    assert "committed to alice/ocis/tus.bin" in "".join(tls_server.output)
    again = remote.run("copy", "-v", str(src), "dav:ocis")
    assert "Copied" not in again.stderr, again.stderr
