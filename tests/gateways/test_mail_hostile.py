"""The e-mail gateway against a hostile or careless sender (smtplib, real STARTTLS + AUTH):
ambiguous or inconsistent messages are refused with a reply that says why, and nothing the
sender did not clearly mean is stored or replaced."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
import trustme

from tests.support.mail import RunningGateway, attachment_message, running_gateway, smtp_login

pytestmark = pytest.mark.integration


@pytest.fixture
def gw(tmp_path: Path, tls_ca: trustme.CA) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path, tls_ca, "max_message_bytes: 65536") as running:
        yield running


def _today(gw: RunningGateway) -> Path:
    return gw.files / "alice" / "mail-in" / datetime.now(UTC).strftime("%Y-%m-%d")


def _raw_send(gw: RunningGateway, raw: bytes) -> tuple[int, bytes]:
    with smtp_login(gw.target) as smtp:
        assert smtp.mail("site@example.org")[0] == 250
        assert smtp.rcpt("drop@example.org")[0] == 250
        return smtp.data(raw)


def _two_attachments(name: str, first: bytes, second: bytes) -> bytes:
    msg = attachment_message({"other.txt": b"x"})
    msg.add_attachment(first, maintype="application", subtype="octet-stream", filename=name)
    msg.add_attachment(second, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=policy.SMTP)


def test_two_attachments_of_one_name_are_refused_and_nothing_is_replaced(
    gw: RunningGateway,
) -> None:
    code, text = _raw_send(gw, attachment_message({"dup.txt": b"old"}).as_bytes())
    assert code == 250, text
    code, text = _raw_send(gw, _two_attachments("dup.txt", b"first", b"second"))
    assert code == 550, text
    assert b"dup.txt" in text and b"only once" in text
    assert (_today(gw) / "dup.txt").read_bytes() == b"old"
    assert not (_today(gw) / "other.txt").exists()


def _fragment(number: int, body: bytes, total: int | None = None) -> bytes:
    count = f"; total={total}" if total is not None else ""
    return (
        b"From: site@example.org\r\nMIME-Version: 1.0\r\n"
        + f'Content-Type: message/partial; id="f-9@site"; number={number}{count}\r\n\r\n'.encode()
        + body
    )


@pytest.mark.parametrize("stray_first", [False, True])
def test_a_fragment_numbered_beyond_the_total_is_refused_not_an_internal_error(
    gw: RunningGateway, stray_first: bool
) -> None:
    inner = attachment_message({"frag.bin": bytes(range(256)) * 40}).as_bytes(policy=policy.SMTP)
    cut = inner.index(b"\n", len(inner) // 2) + 1
    stray = _fragment(5, b"junk\r\n")
    if stray_first:  # the total is not known yet: staged, then left out of the count
        assert _raw_send(gw, stray)[0] == 250
    code, text = _raw_send(gw, _fragment(2, inner[cut:], total=2))
    assert code == 250, text
    if not stray_first:
        code, text = _raw_send(gw, stray)
        assert code == 550 and b"out of range" in text, text
    code, text = _raw_send(gw, _fragment(1, inner[:cut]))
    assert code == 250, text
    assert (_today(gw) / "frag.bin").read_bytes() == bytes(range(256)) * 40


def test_a_hash_mismatch_is_named_in_the_reply_and_the_receipt(gw: RunningGateway) -> None:
    msg = attachment_message({"h.txt": b"hello", "h.txt.sha256": b"0" * 64})
    code, text = _raw_send(gw, msg.as_bytes(policy=policy.SMTP))
    assert code == 550, text
    assert b"h.txt" in text and b"sha256 mismatch" in text, text
    assert b"&#x27;" not in text and b"<" not in text
    receipts = gw.files / "alice" / "mail-in" / "receipts"
    (receipt,) = [p.read_text() for p in receipts.glob("*.json")]
    assert "sha256 mismatch" in receipt
    assert not (_today(gw) / "h.txt").exists()


def _named(filename: str) -> bytes:
    return (
        b"From: site@example.org\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n--BB\r\n'
        b"Content-Type: application/octet-stream\r\n"
        + f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\nZGF0YQ==\r\n--BB--\r\n"
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("=?UTF-8?B?w6l0w6kuY3N2?=", "été.csv"),  # as Outlook and Gmail name non-ASCII files
        ("=?utf-8?Q?r=C3=A9sum=C3=A9_2.txt?=", "résumé 2.txt"),
        ("=?utf-8?b?Li4vLi4vZXZpbC50eHQ=?=", "evil.txt"),  # ../../evil.txt: the base name only
    ],
)
def test_an_encoded_word_file_name_is_decoded(gw: RunningGateway, sent: str, stored: str) -> None:
    code, text = _raw_send(gw, _named(sent))
    assert code == 250, text
    assert [p.name for p in _today(gw).iterdir()] == [stored]
    assert (_today(gw) / stored).read_bytes() == b"data"


def test_pieces_are_not_staged_into_the_disk_reserve(tmp_path: Path, tls_ca: trustme.CA) -> None:
    """Staged pieces live in the state folder, outside any PUT: they must respect the same
    disk reserve, or one user could fill the disk with pieces of files that never finish."""
    with running_gateway(tmp_path, tls_ca, extra="reserve_bytes: 1000000000000000\n") as gw:
        msg = attachment_message({"big.dat": b"p" * 1000})
        part = list(msg.iter_attachments())[-1]
        part["X-Davsync-Part"] = "res-1 1/3"
        code, text = _raw_send(gw, msg.as_bytes(policy=policy.SMTP))
        assert code == 452, text
        assert b"storage" in text
        pieces = gw.app.context.settings.state_path / "mail" / "pieces"
        assert not [p for p in pieces.rglob("piece-*") if p.is_file()]


def _banner(gw: RunningGateway) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((gw.target.host, gw.target.port), timeout=10)
    return sock, sock.recv(200)


def test_connections_are_capped_and_a_freed_slot_is_reused(
    tmp_path: Path, tls_ca: trustme.CA
) -> None:
    """Without a cap, idle connections (no login needed) pile up until the server process
    runs out of file descriptors, which stops its HTTP side too."""
    with running_gateway(tmp_path, tls_ca, "max_connections: 3") as gw:
        held = [_banner(gw) for _ in range(3)]
        assert all(banner.startswith(b"220") for _, banner in held)
        extra, banner = _banner(gw)
        assert banner.startswith(b"421"), banner
        extra.close()
        held.pop()[0].close()
        deadline = time.monotonic() + 10
        while True:  # the freed slot is released when the server sees the close
            again, banner = _banner(gw)
            again.close()
            if banner.startswith(b"220") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert banner.startswith(b"220"), banner
        for sock, _ in held:
            sock.close()
        for n in range(6):  # sessions after STARTTLS give their slot back too
            code, text = _raw_send(gw, attachment_message({f"after-{n}.txt": b"ok"}).as_bytes())
            assert code == 250, text
