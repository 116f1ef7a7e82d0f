"""The e-mail gateway's parser and piece store, without a network."""

from __future__ import annotations

import hashlib
import json
import threading
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from davserver.gateways.mail.parse import (
    PART_HEADER,
    PATH_HEADER,
    SHA256_HEADER,
    Limits,
    MessageRefusedError,
    parse_message,
    safe_relative_path,
)
from davserver.gateways.mail.reassemble import PieceStore

pytestmark = pytest.mark.unit

LIMITS = Limits(max_parts=10, max_depth=3)


def _message(files: dict[str, bytes], headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg.set_content("text body is not a file\n")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
        for key, value in (headers or {}).items():
            list(msg.iter_attachments())[-1][key] = value
    return msg


def _raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def test_attachments_and_their_names_only_the_base_name_is_kept() -> None:
    parsed = parse_message(_raw(_message({"../../etc/x.csv": b"1", "b.bin": b"2"})), LIMITS)
    assert [(a.name, a.data) for a in parsed.attachments] == [("x.csv", b"1"), ("b.bin", b"2")]


def test_sidecar_becomes_the_declared_hash() -> None:
    digest = hashlib.sha256(b"data").hexdigest()
    parsed = parse_message(
        _raw(_message({"d.csv": b"data", "d.csv.sha256": digest.encode()})), LIMITS
    )
    (only,) = parsed.attachments
    assert only.sha256 == digest


def test_a_sidecar_without_hex_is_malformed() -> None:
    with pytest.raises(MessageRefusedError) as refused:
        parse_message(_raw(_message({"d.csv": b"x", "d.csv.sha256": b"not a hash"})), LIMITS)
    assert refused.value.code == 554


def test_piece_headers_are_read_and_checked() -> None:
    whole = hashlib.sha256(b"ab").hexdigest()
    headers = {PART_HEADER: "f1 2/2", SHA256_HEADER: whole, PATH_HEADER: "a/b/c.dat"}
    (piece,) = parse_message(_raw(_message({"c.dat": b"b"}, headers)), LIMITS).attachments
    assert piece.piece is not None and (piece.piece.number, piece.piece.total) == (2, 2)
    assert piece.name == "a/b/c.dat"
    for bad in ({PART_HEADER: "f1 3/2", SHA256_HEADER: whole}, {PART_HEADER: "f1 2/2"}):
        with pytest.raises(MessageRefusedError):
            parse_message(_raw(_message({"c.dat": b"b"}, bad)), LIMITS)


def test_unsafe_paths_are_refused() -> None:
    for bad in ("../x", "a/../b", "", "a\\b", "a/\x01b"):
        with pytest.raises(MessageRefusedError):
            safe_relative_path(bad)
    assert safe_relative_path("/a//b/") == "a/b"


def test_wide_message_refused_before_parsing() -> None:
    with pytest.raises(MessageRefusedError) as refused:
        parse_message(_raw(_message({f"f{n}": b"x" for n in range(30)})), LIMITS)
    assert refused.value.code == 552


def test_pieces_survive_a_new_store_and_assemble_in_order(tmp_path: Path) -> None:
    store = PieceStore(tmp_path, max_pieces=5, expiry_s=60)
    folder = store.folder("alice", "f1")
    meta = {"name": "x"}
    store.add(folder, 2, 3, b"BB", meta)
    store.add(folder, 3, 3, b"C", meta, sha256="ab" * 32)
    again = PieceStore(tmp_path, max_pieces=5, expiry_s=60)
    progress = again.add(folder, 1, 3, b"AA", meta)
    assert progress.complete and progress.sha256 == "ab" * 32
    size, digest = again.assemble(progress, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"AABBC"
    assert (size, digest) == (5, hashlib.sha256(b"AABBC").hexdigest())


def test_pieces_that_disagree_are_refused_and_old_sets_expire(tmp_path: Path) -> None:
    store = PieceStore(tmp_path, max_pieces=5, expiry_s=60)
    folder = store.folder("alice", "f1")
    store.add(folder, 1, 2, b"A", {"name": "x"})
    with pytest.raises(MessageRefusedError):
        store.add(folder, 2, 3, b"B", {"name": "x"})
    with pytest.raises(MessageRefusedError):
        store.add(folder, 2, 2, b"B", {"name": "y"})
    with pytest.raises(MessageRefusedError):
        store.add(store.folder("alice", "f2"), 1, 6, b"B", {"name": "x"})
    assert store.expire(now=10**12) == 1
    assert not folder.exists()


def test_expire_skips_a_set_discarded_between_its_scan_and_its_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another message stores its file and discards the set while ``expire`` walks the sets
    (what made a message fail with FileNotFoundError instead of being stored)."""
    store = PieceStore(tmp_path, max_pieces=5, expiry_s=60)
    gone = store.folder("alice", "stored-meanwhile")
    gone.mkdir(parents=True)  # a set whose meta.json is not written yet
    read_meta = PieceStore._read_meta

    def discarded_meanwhile(folder: Path) -> dict[str, object] | None:
        if folder == gone:
            store.discard(folder)
        return read_meta(folder)

    monkeypatch.setattr(PieceStore, "_read_meta", staticmethod(discarded_meanwhile))
    assert store.expire(now=10**12) == 0
    assert not gone.exists()


def test_pieces_of_many_files_from_many_threads_while_sets_expire(tmp_path: Path) -> None:
    """Sets are added, completed, assembled and discarded by eight threads while a ninth
    expires stale sets: no piece is lost, no thread fails."""
    store = PieceStore(tmp_path / "pieces", max_pieces=4, expiry_s=3600)
    stale = store.folder("bob", "stale")
    store.add(stale, 1, 2, b"old", {"name": "stale"})
    old = json.loads((stale / "meta.json").read_text())
    (stale / "meta.json").write_text(json.dumps({**old, "updated": 0}))
    errors: list[BaseException] = []
    assembled: dict[str, bytes] = {}

    def send(n: int) -> None:
        try:
            for round_ in range(15):
                key = f"f{n}-{round_}"
                folder = store.folder("alice", key)
                for number in (2, 1, 3):
                    with store.locked(folder):
                        data = bytes([48 + number]) * 10
                        progress = store.add(folder, number, 3, data, {"k": key})
                        if progress.complete:
                            out = tmp_path / key
                            store.assemble(progress, out)
                            assembled[key] = out.read_bytes()
                            store.discard(folder)
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    def sweep() -> None:
        try:
            for _ in range(200):
                store.expire()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=sweep))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(assembled) == 8 * 15
    assert set(assembled.values()) == {b"1" * 10 + b"2" * 10 + b"3" * 10}
    assert not stale.exists()
    assert not list((tmp_path / "pieces").glob("*/*/*"))
