"""The e-mail gateway with smtplib: STARTTLS + AUTH, attachments stored through the same
policy path as a PUT, declared hashes verified by the server, bounded MIME, split files."""

from __future__ import annotations

import base64
import hashlib
import json
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from pathlib import Path

import pytest
import trustme
from aiosmtpd.smtp import Envelope, Session

from davserver.gateways.inprocess import Credentials, InProcessClient
from davserver.gateways.mail.parse import PART_HEADER, PATH_HEADER, SHA256_HEADER
from davserver.gateways.mail.server import FreePortController, MailGateway
from tests.support.configured import USERS
from tests.support.mail import (
    RunningGateway,
    attachment_message,
    running_gateway,
    sha256,
    smtp_login,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gw(tmp_path: Path, tls_ca: trustme.CA) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path,
        tls_ca,
        "max_message_bytes: 65536, max_parts: 20, max_depth: 4",
        "auth: {throttle: {max_failures: 3, lockout_s: 60}}\n",
    ) as running:
        yield running


def _today(gw: RunningGateway, user: str = "alice") -> Path:
    return gw.files / user / "mail-in" / datetime.now(UTC).strftime("%Y-%m-%d")


def _receipts(gw: RunningGateway, user: str = "alice") -> list[dict[str, object]]:
    folder = gw.files / user / "mail-in" / "receipts"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _send(gw: RunningGateway, msg: EmailMessage | MIMEMultipart, user: str = "alice") -> None:
    with smtp_login(gw.target, user) as smtp:
        smtp.send_message(msg)


def test_attachments_land_in_the_users_dated_folder_with_server_hashes(
    gw: RunningGateway,
) -> None:
    files = {"a.csv": b"1,2,3\n" * 1000, "b.bin": bytes(range(256)) * 40}
    _send(gw, attachment_message(files))
    folder = _today(gw)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    (receipt,) = _receipts(gw)
    stored = {e["name"]: e for e in receipt["stored"]}  # type: ignore[attr-defined]
    assert stored["a.csv"]["sha256"] == sha256(files["a.csv"])
    assert stored["b.bin"]["md5"] == hashlib.md5(files["b.bin"]).hexdigest()
    assert not (gw.files / "bob" / "mail-in").exists()


def test_files_go_to_the_authenticated_user_whatever_the_recipient(gw: RunningGateway) -> None:
    msg = attachment_message({"x.txt": b"for bob?"})
    with smtp_login(gw.target, "bob") as smtp:
        smtp.send_message(msg, to_addrs=["alice@anywhere.example", "root@localhost"])
    assert (_today(gw, "bob") / "x.txt").read_bytes() == b"for bob?"
    assert not (gw.files / "alice" / "mail-in").exists()


def test_right_content_md5_stored_and_wrong_one_refused_old_version_kept(
    gw: RunningGateway,
) -> None:
    old = b"old version\n"
    good = base64.b64encode(hashlib.md5(old).digest()).decode()
    _send(gw, attachment_message({"v.csv": old}, md5={"v.csv": good}))
    new = b"new version, damaged on the way\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(gw, attachment_message({"v.csv": new}, md5={"v.csv": good}))
    assert refused.value.smtp_code == 550
    assert b"v.csv" in refused.value.smtp_error
    assert (_today(gw) / "v.csv").read_bytes() == old
    assert any("v.csv" in json.dumps(r["refused"]) for r in _receipts(gw))


def test_sha256_part_is_the_declared_hash_and_is_not_stored(gw: RunningGateway) -> None:
    data = b"measured values\n" * 100
    _send(gw, attachment_message({"m.csv": data, "m.csv.sha256": sha256(data).encode()}))
    assert (_today(gw) / "m.csv").read_bytes() == data
    assert not (_today(gw) / "m.csv.sha256").exists()
    wrong = sha256(b"something else").encode() + b"  m.csv\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(gw, attachment_message({"m.csv": b"changed\n", "m.csv.sha256": wrong}))
    assert refused.value.smtp_code == 550
    assert (_today(gw) / "m.csv").read_bytes() == data


def test_unauthenticated_session_cannot_send_no_open_relay(gw: RunningGateway) -> None:
    with smtplib.SMTP(gw.target.host, gw.target.port, timeout=30) as smtp:
        smtp.starttls(context=gw.target.tls_context())
        smtp.ehlo()
        assert smtp.mail("someone@example.org")[0] == 530
        assert smtp.rcpt("victim@example.com")[0] == 530
        assert smtp.docmd("DATA")[0] == 530
    assert not (gw.files / "alice" / "mail-in").exists()


def test_auth_before_starttls_is_refused(gw: RunningGateway) -> None:
    token = base64.b64encode(b"\0alice\0" + USERS["alice"].encode()).decode()
    with smtplib.SMTP(gw.target.host, gw.target.port, timeout=30) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        code, _ = smtp.docmd("AUTH", "PLAIN " + token)
        assert code >= 500
        assert smtp.mail("site@example.org")[0] == 530


def test_brute_force_is_throttled_like_http(gw: RunningGateway) -> None:
    codes = []
    for _ in range(5):
        with smtplib.SMTP(gw.target.host, gw.target.port, timeout=30) as smtp:
            smtp.starttls(context=gw.target.tls_context())
            try:
                smtp.login("alice", "guess")
                codes.append(235)
            except smtplib.SMTPAuthenticationError as exc:
                codes.append(exc.smtp_code)
    assert codes[0] == 535
    assert 454 in codes
    with smtplib.SMTP(gw.target.host, gw.target.port, timeout=30) as smtp:
        smtp.starttls(context=gw.target.tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as right_password:
            smtp.login("alice", USERS["alice"])
        assert right_password.value.smtp_code == 454
    # The same throttle: HTTP from the same address is locked out too.
    http = InProcessClient(gw.app.wsgi).request(
        "PROPFIND",
        "/dav/files/alice/",
        credentials=Credentials("alice", USERS["alice"]),
        client_addr="127.0.0.1",
        protocol="http",
        secure=True,
        headers={"Depth": "0"},
    )
    assert http.status == 429


def _raw_send(gw: RunningGateway, raw: bytes) -> tuple[int, bytes]:
    with smtp_login(gw.target) as smtp:
        assert smtp.mail("site@example.org")[0] == 250
        assert smtp.rcpt("drop@example.org")[0] == 250
        return smtp.data(raw)


def test_malformed_mime_gets_a_clean_error_and_stores_nothing(gw: RunningGateway) -> None:
    raw = (
        b"From: site@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="a.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAA====BBB\r\n"
    )
    code, text = _raw_send(gw, raw)
    assert code == 554, text
    assert not _today(gw).exists()
    # The listener survived: the next message goes through.
    _send(gw, attachment_message({"ok.txt": b"fine"}))
    assert (_today(gw) / "ok.txt").read_bytes() == b"fine"


def test_oversize_message_gets_552(gw: RunningGateway) -> None:
    big = attachment_message({"big.bin": b"x" * 100_000})
    with smtp_login(gw.target) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:  # SIZE= in MAIL FROM
            smtp.send_message(big)
        assert announced.value.smtp_code == 552
    code, _ = _raw_send(gw, big.as_bytes(policy=policy.SMTP))  # no SIZE: refused at the end of DATA
    assert code == 552
    assert not _today(gw).exists()


def _nested(depth: int) -> bytes:
    """A message of ``depth`` multiparts one inside the other (written by hand: the
    standard library's generator recurses and cannot write a deep one)."""
    head = b"From: site@example.org\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    core = b"Content-Type: text/plain\r\n\r\ncore\r\n"
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + opening + core + closing


def test_nested_multipart_bomb_is_bounded(gw: RunningGateway) -> None:
    code, text = _raw_send(gw, _nested(400))
    assert code == 552, text
    code, text = _raw_send(gw, _nested(8))
    assert code == 552 and b"nested" in text, text
    wide = MIMEMultipart()
    for n in range(200):
        wide.attach(MIMEText(f"part {n}"))
    code, text = _raw_send(gw, wide.as_bytes(policy=policy.SMTP))
    assert code == 552, text
    assert not _today(gw).exists()


def test_archives_are_stored_as_they_are(gw: RunningGateway, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/one.csv", "1\n")
        zf.writestr("two.csv", "2\n")
    _send(gw, attachment_message({"bundle.zip": archive.read_bytes()}))
    assert sorted(p.name for p in _today(gw).iterdir()) == ["bundle.zip"]
    assert (_today(gw) / "bundle.zip").read_bytes() == archive.read_bytes()


def test_message_without_attachment_is_refused(gw: RunningGateway) -> None:
    msg = EmailMessage()
    msg["From"] = "site@example.org"
    msg["To"] = "drop@example.org"
    msg.set_content("no files here")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(gw, msg)
    assert refused.value.smtp_code == 550


def _piece_message(
    file_id: str, n: int, total: int, data: bytes, whole_sha: str, path: str = ""
) -> EmailMessage:
    msg = attachment_message({"big.dat": data})
    part = list(msg.iter_attachments())[-1]
    part[PART_HEADER] = f"{file_id} {n}/{total}"
    part[SHA256_HEADER] = whole_sha
    if path:
        part[PATH_HEADER] = path
    return msg


def test_split_file_is_reassembled_across_a_restart(gw: RunningGateway) -> None:
    whole = bytes(range(256)) * 600  # 153600 bytes, more than one message may carry
    pieces = [whole[i : i + 40_000] for i in range(0, len(whole), 40_000)]
    total = len(pieces)
    digest = sha256(whole)
    for n in (3, 1):
        _send(gw, _piece_message("f-1", n, total, pieces[n - 1], digest, "sub/big.dat"))
    target = _today(gw) / "sub" / "big.dat"
    assert not target.exists()
    settings = gw.app.context.settings
    gw.gateway.stop()  # a restart: the staged pieces are on disk
    gw.gateway = MailGateway(settings, gw.app.wsgi, http_host="127.0.0.1", http_port=8080)
    gw.gateway.start()
    gw.target.port = gw.gateway.address[1]
    for n in range(1, total + 1):
        if n not in (1, 3):
            _send(gw, _piece_message("f-1", n, total, pieces[n - 1], digest, "sub/big.dat"))
    assert target.read_bytes() == whole
    verdict = json.loads((gw.files / "alice/mail-in/receipts/file-f-1.json").read_text())
    assert verdict["sha256"] == digest
    assert not any((settings.state_path / "mail" / "pieces").glob("*/*"))


def test_split_file_with_a_wrong_whole_hash_is_refused(gw: RunningGateway) -> None:
    whole = b"abc" * 10_000
    wrong = sha256(b"not this")
    _send(gw, _piece_message("f-2", 1, 2, whole[:15_000], wrong))
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(gw, _piece_message("f-2", 2, 2, whole[15_000:], wrong))
    assert refused.value.smtp_code == 550
    assert not (_today(gw) / "big.dat").exists()
    verdict = json.loads((gw.files / "alice/mail-in/receipts/file-f-2.json").read_text())
    assert verdict["reason"]


def test_rfc2046_message_partial_is_reassembled(gw: RunningGateway) -> None:
    data = bytes(range(256)) * 100
    inner = attachment_message({"p.bin": data}).as_bytes(policy=policy.SMTP)
    cut = len(inner) // 2
    cut = inner.index(b"\n", cut) + 1  # fragments end at line ends
    for n, body in enumerate((inner[:cut], inner[cut:]), start=1):
        total = "; total=2" if n == 2 else ""
        raw = (
            b"From: site@example.org\r\nMIME-Version: 1.0\r\n"
            + f'Content-Type: message/partial; id="frag-1@site"; number={n}{total}\r\n\r\n'.encode()
            + body
        )
        code, text = _raw_send(gw, raw)
        assert code == 250, text
    assert (_today(gw) / "p.bin").read_bytes() == data


def test_receipt_is_mailed_back_through_the_relay(tmp_path: Path, tls_ca: trustme.CA) -> None:
    received: list[Envelope] = []

    class Collect:
        async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
            received.append(envelope)
            return "250 OK"

    relay = FreePortController(Collect(), hostname="127.0.0.1", port=0)
    relay.start()
    try:
        with running_gateway(tmp_path, tls_ca, f"relay: '127.0.0.1:{relay.port}'") as running:
            _send(running, attachment_message({"r.txt": b"receipt please"}))
    finally:
        relay.stop()
    (envelope,) = received
    assert envelope.rcpt_tos == ["site@example.org"]
    assert isinstance(envelope.content, bytes)
    mail = BytesParser(policy=policy.default).parsebytes(envelope.content)
    (attached,) = list(mail.iter_attachments())  # type: ignore[attr-defined]
    receipt = json.loads(attached.get_content())
    assert receipt["stored"][0]["sha256"] == sha256(b"receipt please")


def test_plain_login_only_when_the_config_allows_it(tmp_path: Path, tls_ca: trustme.CA) -> None:
    with running_gateway(tmp_path, tls_ca, "allow_plain_login: true") as running:
        with smtplib.SMTP(running.target.host, running.target.port, timeout=30) as smtp:
            smtp.login("alice", USERS["alice"])  # no STARTTLS
            smtp.send_message(attachment_message({"plain.txt": b"over plain SMTP"}))
        assert (_today(running) / "plain.txt").read_bytes() == b"over plain SMTP"
