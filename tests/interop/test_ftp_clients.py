"""Stock FTP clients against the FTPS gateway: curl, rclone's ftp backend and lftp."""

from __future__ import annotations

import ftplib
import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from interop.tools import require_tool
from tests.interop.rclone_support import rclone_binary
from tests.support.configured import USERS
from tests.support.ftp import FtpEndpoint, start_ftp_server

pytestmark = [pytest.mark.interop, pytest.mark.integration]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEndpoint]:
    ep = start_ftp_server(tmp_path_factory.mktemp("ftp-interop"), trustme.CA())
    yield ep
    ep.server.stop()


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _make_source(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"x,y\n" * 50_000)
    (folder / "sub" / "b c.bin").write_bytes(os.urandom(300_000))
    (folder / "empty.txt").write_bytes(b"")
    return folder


def test_curl_upload_and_download(endpoint: FtpEndpoint, tmp_path: Path) -> None:
    curl = require_tool("curl", "curl")
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(500_000))
    base = f"ftp://{endpoint.host}:{endpoint.port}"
    common = [
        curl, "--silent", "--show-error", "--fail", "--ssl-reqd",
        "--cacert", str(endpoint.ca_file), "--user", f"alice:{USERS['alice']}",
    ]  # fmt: skip
    subprocess.run(
        [*common, "--ftp-create-dirs", "-T", str(src), f"{base}/curl/up.bin"],
        check=True, timeout=120,
    )  # fmt: skip
    assert (endpoint.home("alice") / "curl" / "up.bin").read_bytes() == src.read_bytes()
    out = tmp_path / "down.bin"
    subprocess.run([*common, "-o", str(out), f"{base}/curl/up.bin"], check=True, timeout=120)
    assert out.read_bytes() == src.read_bytes()
    listing = subprocess.run(
        [*common, f"{base}/curl/"], check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert "up.bin" in listing


def test_curl_resumes_a_cut_upload(endpoint: FtpEndpoint, tmp_path: Path) -> None:
    curl = require_tool("curl", "curl")
    data = os.urandom(1_500_000)
    (endpoint.home("alice") / "resume.bin").write_bytes(b"old")
    ftp = endpoint.client()
    conn = ftp.transfercmd("STOR resume.bin")
    conn.sendall(data[:700_000])
    raw = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    raw.shutdown(socket.SHUT_RDWR)  # cut: no TLS close_notify
    raw.close()
    with pytest.raises(ftplib.error_temp, match="426 Transfer interrupted"):
        ftp.voidresp()
    ftp.quit()
    assert (endpoint.home("alice") / "resume.bin").read_bytes() == b"old"
    src = tmp_path / "resume.bin"
    src.write_bytes(data)
    proc = subprocess.run(
        [
            curl, "--silent", "--show-error", "--fail", "--ssl-reqd", "-C", "-",
            "--cacert", str(endpoint.ca_file), "--user", f"alice:{USERS['alice']}",
            "-T", str(src), f"ftp://{endpoint.host}:{endpoint.port}/resume.bin", "-v",
        ],
        timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "APPE" in proc.stderr  # curl continued after the kept bytes
    assert (endpoint.home("alice") / "resume.bin").read_bytes() == data


def test_curl_without_tls_cannot_log_in(endpoint: FtpEndpoint, tmp_path: Path) -> None:
    curl = require_tool("curl", "curl")
    src = tmp_path / "plain.txt"
    src.write_bytes(b"plain")
    proc = subprocess.run(
        [
            curl, "--silent", "--show-error", "-T", str(src),
            "--user", f"alice:{USERS['alice']}",
            f"ftp://{endpoint.host}:{endpoint.port}/plain.txt",
        ],
        timeout=60, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert not (endpoint.home("alice") / "plain.txt").exists()


def _rclone(tmp: Path, endpoint: FtpEndpoint) -> list[str]:
    binary = rclone_binary()
    obscured = subprocess.run(
        [binary, "obscure", USERS["alice"]], capture_output=True, text=True, check=True
    ).stdout.strip()
    config = tmp / "rclone-ftp.conf"
    config.write_text(
        f"[ftps]\ntype = ftp\nhost = {endpoint.host}\nport = {endpoint.port}\n"
        f"user = alice\npass = {obscured}\nexplicit_tls = true\n",
        encoding="utf-8",
    )
    return [binary, "--config", str(config), "--ca-cert", str(endpoint.ca_file),
            "--retries", "1", "--low-level-retries", "2", "--contimeout", "10s"]  # fmt: skip


def test_rclone_ftp_copy_and_check(endpoint: FtpEndpoint, tmp_path: Path) -> None:
    rclone = _rclone(tmp_path, endpoint)
    src = _make_source(tmp_path / "src")
    subprocess.run([*rclone, "mkdir", "ftps:rc"], check=True, timeout=120)
    copy = subprocess.run(
        [*rclone, "copy", str(src), "ftps:rc"], timeout=300, capture_output=True, text=True
    )
    assert copy.returncode == 0, copy.stderr
    assert _tree(endpoint.home("alice") / "rc") == _tree(src)
    check = subprocess.run(
        [*rclone, "check", "--download", str(src), "ftps:rc"],
        timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    (endpoint.home("alice") / "rc" / "a.csv").write_bytes(b"changed behind rclone's back")
    bad = subprocess.run(
        [*rclone, "check", "--download", str(src), "ftps:rc"],
        timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0


def test_lftp_mirror_up_and_down(endpoint: FtpEndpoint, tmp_path: Path) -> None:
    lftp = require_tool("lftp")
    src = _make_source(tmp_path / "src")
    back = tmp_path / "back"
    script = (
        f"set ssl:ca-file {endpoint.ca_file}; set ftp:ssl-force true; "
        "set ftp:ssl-protect-data true; set net:max-retries 1; "
        f"open -u alice,{USERS['alice']} -p {endpoint.port} ftp://{endpoint.host}; "
        f"mkdir lf; mirror -R {src} lf; mirror lf {back}; bye"
    )
    proc = subprocess.run([lftp, "-c", script], timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _tree(endpoint.home("alice") / "lf") == _tree(src)
    assert _tree(back) == _tree(src)
