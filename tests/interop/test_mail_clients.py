"""Stock mail clients against the e-mail gateway: swaks (Debian) and Python's smtplib, over
STARTTLS with AUTH PLAIN and LOGIN; the attachment lands with the server's hashes."""

from __future__ import annotations

import hashlib
import os
import smtplib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from interop.tools import require_tool
from tests.support.configured import USERS
from tests.support.mail import RunningGateway, attachment_message, running_gateway

pytestmark = pytest.mark.interop


@pytest.fixture
def gw(tmp_path: Path, tls_ca: trustme.CA) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path, tls_ca) as running:
        yield running


def _swaks() -> str:
    return require_tool("swaks")


def _today(gw: RunningGateway) -> Path:
    return gw.files / "alice" / "mail-in" / datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_attachment(gw: RunningGateway, tmp_path: Path, mechanism: str) -> None:
    data = os.urandom(50_000)
    (tmp_path / "site.dat").write_bytes(data)
    run = subprocess.run(
        [
            _swaks(),
            "--server",
            f"{gw.target.host}:{gw.target.port}",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(gw.target.ca_file),
            "--auth",
            mechanism,
            "--auth-user",
            "alice",
            "--auth-password",
            USERS["alice"],
            "--from",
            "site@example.org",
            "--to",
            "drop@example.org",
            "--attach",
            f"@{tmp_path / 'site.dat'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert (_today(gw) / "site.dat").read_bytes() == data


def test_swaks_without_auth_is_refused(gw: RunningGateway, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            _swaks(),
            "--server",
            f"{gw.target.host}:{gw.target.port}",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(gw.target.ca_file),
            "--from",
            "spam@example.org",
            "--to",
            "victim@example.com",
            "--attach",
            "-",
        ],
        input="junk",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert "530" in run.stdout
    assert not (gw.files / "alice" / "mail-in").exists()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtplib_auth_mechanisms(gw: RunningGateway, mechanism: str) -> None:
    data = f"{mechanism}\n".encode() * 1000
    with smtplib.SMTP(gw.target.host, gw.target.port, timeout=60) as smtp:
        smtp.starttls(context=gw.target.tls_context())
        smtp.ehlo()
        smtp.user, smtp.password = "alice", USERS["alice"]
        code, _ = smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        assert code == 235
        smtp.send_message(attachment_message({f"{mechanism}.txt": data}))
    stored = (_today(gw) / f"{mechanism}.txt").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
