"""Starting the FTP gateway: YAML settings, plain logins only when allowed."""

from __future__ import annotations

import ftplib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.configured import USERS, prepare_root, start_server

pytestmark = pytest.mark.integration


def test_yaml_enables_plain_ftp_when_explicitly_allowed(tmp_path: Path) -> None:
    config = "gateways:\n  ftp: {enabled: true, port: 0, allow_plain_login: true}\n"
    server = start_server(tmp_path, config)
    try:
        assert server.ftp_url.startswith("ftp://127.0.0.1:")
        port = int(server.ftp_url.rstrip("/").rsplit(":", 1)[1])
        ftp = ftplib.FTP(timeout=30)
        ftp.connect("127.0.0.1", port)
        ftp.login("alice", USERS["alice"])
        ftp.storbinary("STOR plain.txt", io.BytesIO(b"over plain FTP"))
        assert ftp.sendcmd("XSHA1 plain.txt").startswith("250 ")
        ftp.quit()
        assert (server.root / "files" / "alice" / "plain.txt").read_bytes() == b"over plain FTP"
    finally:
        server.stop()


def test_ftp_without_a_certificate_needs_plain_logins_allowed(tmp_path: Path) -> None:
    root = prepare_root(tmp_path, "{}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "davserver.cli",
            "serve",
            "--root",
            str(root),
            "--port",
            "0",
            "--ftp-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "x"},
    )
    assert proc.returncode == 2
    assert "gateways.ftp needs tls.cert and tls.key (FTPS)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_passive_port_range_is_validated(tmp_path: Path) -> None:
    from davserver.settings import SettingsError, load_settings

    (tmp_path / "bad.yaml").write_text("gateways:\n  ftp: {passive_ports: [60000, 50000]}\n")
    with pytest.raises(SettingsError, match="passive_ports"):
        load_settings(tmp_path / "bad.yaml", {"root": tmp_path / "root"})
