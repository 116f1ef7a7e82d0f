"""The mail transport's piece cutting and URL rules, and the journal's sent/verified split."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.gateways.mail.parse import Limits, parse_message
from syncclient.journal import Journal
from syncclient.model import Digests
from syncclient.transports.base import SetupError
from syncclient.transports.mail import MailOptions, MailTransport, _pieces

pytestmark = pytest.mark.unit


def test_pieces_recut_any_blocks_into_fixed_sizes() -> None:
    blocks = [b"abc", b"defgh", b"", b"ij"]
    assert list(_pieces(blocks, 4, 3)) == [b"abcd", b"efgh", b"ij"]
    assert list(_pieces([b""], 4, 1)) == [b""]
    assert list(_pieces([b"abcd"], 4, 1)) == [b"abcd"]


def _options(url: str, **kw: object) -> MailOptions:
    return MailOptions(url=url, user="alice", password="pw", part_size=10, **kw)  # type: ignore[arg-type]


def test_recipient_from_url_or_config_and_default_ports() -> None:
    t = MailTransport(_options("smtp://mx.example.org/drop@example.org"))
    assert (t.port, t.recipient, t.verifies) == (587, "drop@example.org", False)
    t = MailTransport(
        _options(
            "smtps://mx.example.org:2465/", recipient="in@example.org", receipts_url="https://x/"
        )
    )
    assert (t.port, t.recipient, t.verifies) == (2465, "in@example.org", True)
    with pytest.raises(SetupError):
        MailTransport(_options("smtp://mx.example.org/"))


def test_journal_keeps_sent_apart_from_verified(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_sent("a.csv", 3, 1, "aa", "smtp://x/a.csv", 1.0)
    assert journal.delivered("a.csv") == (3, "aa", False)
    assert journal.verified_hashes() == []
    digests = Digests(sha256="aa", sha1="bb", md5="cc")
    journal.record_verified("a.csv", 3, 1, digests, None, "smtp://x/a.csv", 2.0)
    assert journal.delivered("a.csv") == (3, "aa", True)
    journal.close()


def test_a_piece_message_reads_back_with_a_long_non_ascii_path() -> None:
    t = MailTransport(_options("smtp://mx.example.org/drop@example.org"))
    path = "Messwerte/" + "Größe-" * 40 + "/tag 1.csv"
    raw = t._message(path, "f" * 32, 2, 2, b"piece bytes", "ab" * 32)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    (att,) = parse_message(raw, Limits()).attachments
    assert (att.name, att.data) == (path, b"piece bytes")
    assert att.piece is not None and att.piece.sha256 == "ab" * 32
