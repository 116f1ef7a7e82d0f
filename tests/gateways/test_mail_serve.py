"""The e-mail gateway in a real ``davserver serve`` (``--smtp-port 0``): the start line, the
same stored result as a PUT, a server killed mid-message, and syncclient's mail transport."""

from __future__ import annotations

import json
import os
import smtplib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from defusedxml import ElementTree

from tests.support.configured import USERS, start_server
from tests.support.mail import (
    MailTarget,
    attachment_message,
    sha256,
    smtp_login,
    write_tls,
)
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

PROPFIND_SUMS = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    b"<d:prop><oc:checksums/></d:prop></d:propfind>"
)


def _serve(tmp: Path, ca: trustme.CA, smtp: str = "") -> tuple[DavServer, MailTarget]:
    cert, key, ca_file = write_tls(tmp, ca)
    config = f"tls: {{cert: '{cert}', key: '{key}'}}\n"
    if smtp:
        config += f"gateways: {{smtp: {{{smtp}}}}}\n"
    server = start_server(tmp, config, extra=["--smtp-port", "0"])
    host, _, port = server.smtp.rpartition(":")
    return server, MailTarget(host, int(port), ca_file)


@pytest.fixture
def served(tmp_path: Path, tls_ca: trustme.CA) -> Iterator[tuple[DavServer, MailTarget]]:
    server, target = _serve(tmp_path, tls_ca)
    yield server, target
    server.stop()


def _http(target: MailTarget, user: str = "alice") -> httpx.Client:
    return httpx.Client(auth=(user, USERS[user]), verify=str(target.ca_file), timeout=60)


def _checksums(client: httpx.Client, url: str) -> str:
    answer = client.request("PROPFIND", url, headers={"Depth": "0"}, content=PROPFIND_SUMS)
    assert answer.status_code == 207, answer.text
    sums = ElementTree.fromstring(answer.content).findtext(".//{http://owncloud.org/ns}checksum")
    assert sums, answer.text
    return sums


def test_serve_prints_the_smtp_line_and_mail_equals_put(
    served: tuple[DavServer, MailTarget],
) -> None:
    server, target = served
    assert any(line.startswith(f"SMTP: {server.smtp}") for line in server.output)
    data = b"station,value\n" + b"7,3.25\n" * 5000
    with smtp_login(target) as smtp:
        smtp.send_message(attachment_message({"same.csv": data}))
    with _http(target) as client:
        put = client.put(server.files_url("alice", "by-put.csv"), content=data)
        assert put.status_code in (201, 204)
        mail_in = server.root / "files" / "alice" / "mail-in"
        day = next(p.name for p in mail_in.iterdir() if p.name != "receipts")
        mailed = _checksums(client, server.files_url("alice", f"mail-in/{day}/same.csv"))
        putted = _checksums(client, server.files_url("alice", "by-put.csv"))
    assert mailed == putted
    assert sha256(data) in mailed.lower()
    server.stop()  # SIGTERM: the SMTP thread is stopped with the web server
    assert server.proc is not None and server.proc.returncode == 0


def test_killed_server_mid_message_leaves_the_old_version_and_nothing_else(
    tmp_path: Path, tls_ca: trustme.CA
) -> None:
    server, target = _serve(tmp_path, tls_ca)
    try:
        with smtp_login(target) as smtp:
            smtp.send_message(attachment_message({"k.csv": b"old\n"}))
        mail_in = server.root / "files" / "alice" / "mail-in"
        before = sorted(p.relative_to(mail_in) for p in mail_in.rglob("*") if p.is_file())
        message = attachment_message({"k.csv": b"new\n" * 200_000, "other.bin": b"x" * 1000})
        raw = message.as_bytes().replace(b"\n", b"\r\n")
        smtp = smtplib.SMTP(target.host, target.port, timeout=30)
        smtp.starttls(context=target.tls_context())
        smtp.login("alice", USERS["alice"])
        smtp.mail("site@example.org")
        smtp.rcpt("drop@example.org")
        assert smtp.docmd("DATA")[0] == 354
        smtp.sock.sendall(raw[: len(raw) // 2])  # type: ignore[union-attr]
        time.sleep(0.5)
        server.kill()
        smtp.close()
    finally:
        server.stop()
    after = sorted(p.relative_to(mail_in) for p in mail_in.rglob("*") if p.is_file())
    assert after == before
    day = next(p for p in mail_in.iterdir() if p.name != "receipts")
    assert (day / "k.csv").read_bytes() == b"old\n"
    restarted = DavServer(server.root, server.extra_args).start()
    try:
        assert restarted.smtp
        after_restart = sorted(p.relative_to(mail_in) for p in mail_in.rglob("*") if p.is_file())
        assert after_restart == before
    finally:
        restarted.stop()


def _client_config(tmp: Path, target: MailTarget, server: DavServer, receipts: bool) -> Path:
    lines = ["[mail]", 'part_size = "64KiB"', 'to = "drop@example.org"']
    if receipts:
        lines.append(f'receipts_url = "{server.files_url("alice", "mail-in/receipts/")}"')
    path = tmp / "client.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_client(
    tmp: Path, source: Path, url: str, config: Path, ca: Path
) -> tuple[int, dict[str, object]]:
    pw = tmp / "alice.pw"
    pw.write_text(USERS["alice"] + "\n", encoding="utf-8")
    pw.chmod(0o600)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncclient.cli",
            "run",
            "--once",
            str(source),
            url,
            "--config",
            str(config),
            "--user",
            "alice",
            "--password-file",
            str(pw),
            "--ca-bundle",
            str(ca),
            "--state-dir",
            str(tmp / "state"),
            "--json",
            "--stable-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNCCLIENT_")},
            "XDG_STATE_HOME": str(tmp / "xdg"),
        },
    )
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    summaries = [e for e in events if e.get("event") == "summary"]
    assert summaries, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.returncode, summaries[-1]


def _source(tmp: Path) -> dict[str, bytes]:
    files = {
        "a.csv": b"1,2\n" * 60_000,  # 240000 bytes: 4 pieces of 64 KiB
        "sub/b.bin": bytes(range(256)) * 10,
        "empty.txt": b"",
    }
    for name, data in files.items():
        (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "src" / name).write_bytes(data)
    return files


def test_syncclient_mail_transport_verified_by_receipts(
    served: tuple[DavServer, MailTarget], tmp_path: Path
) -> None:
    server, target = served
    files = _source(tmp_path)
    url = f"smtp://{target.host}:{target.port}/"
    config = _client_config(tmp_path, target, server, receipts=True)
    code, summary = _run_client(tmp_path, tmp_path / "src", url, config, target.ca_file)
    assert code == 0, summary
    assert summary["files"]["verified"] == len(files), summary  # type: ignore[index]
    day = next(p for p in (server.root / "files/alice/mail-in").iterdir() if p.name[0] == "2")
    for name, data in files.items():
        assert (day / name).read_bytes() == data
    code, again = _run_client(tmp_path, tmp_path / "src", url, config, target.ca_file)
    assert code == 0
    assert not again.get("transferred"), again


def test_syncclient_mail_transport_without_receipts_only_sends(
    served: tuple[DavServer, MailTarget], tmp_path: Path
) -> None:
    server, target = served
    files = _source(tmp_path)
    url = f"smtp://{target.host}:{target.port}/drop@example.org"
    config = _client_config(tmp_path, target, server, receipts=False)
    code, summary = _run_client(tmp_path, tmp_path / "src", url, config, target.ca_file)
    assert code == 0, summary
    assert summary["files"].get("sent") == len(files), summary  # type: ignore[union-attr]
    assert not summary["files"].get("verified"), summary  # type: ignore[union-attr]
    assert "not verified" in str(summary["exit_reason"])
    (journal_file,) = (tmp_path / "state").glob("*/journal.sqlite")
    journal = sqlite3.connect(journal_file)
    try:
        sent = {row[0] for row in journal.execute("SELECT path FROM sent_unverified")}
        verified = journal.execute("SELECT COUNT(*) FROM sent").fetchone()[0]
    finally:
        journal.close()
    assert sent == set(files) and verified == 0
