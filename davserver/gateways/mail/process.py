"""One received message, from its bytes to the SMTP reply and the receipt.

Contract of ``MessageProcessor.process`` (called once per message, after AUTH):
- a message the gateway cannot read, or one over the MIME bounds, stores nothing and gets a
  5xx reply;
- every attachment is stored with an in-process PUT declaring its hashes; pieces of split
  files (``X-Davsync-Part``, or RFC 2046 ``message/partial``) are staged and the whole file
  is stored once complete, in one PUT declaring the whole-file SHA-256;
- the reply is 250 when everything the message carried was stored or staged, else 5xx naming
  what was refused (the receipt lists what was stored anyway);
- it never raises for anything a sender can cause.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from davserver.gateways.config import SmtpGatewaySettings
from davserver.gateways.mail import receipts
from davserver.gateways.mail.deliver import Deliverer, Login, Stored, StoreRefusedError
from davserver.gateways.mail.parse import (
    Attachment,
    Fragment,
    Limits,
    MessageRefusedError,
    ParsedMessage,
    malformed,
    parse_message,
    refused,
)
from davserver.gateways.mail.reassemble import PieceStore, Progress
from davserver.gateways.mail.receipts import Receipt

log = logging.getLogger(__name__)

_REPLY_MAX = 400


class MessageProcessor:
    """Turns messages into stored files for the settings' folders, staging under ``state``
    (never into the server's last ``reserve_bytes`` of disk)."""

    def __init__(
        self,
        deliverer: Deliverer,
        settings: SmtpGatewaySettings,
        state: Path,
        *,
        reserve_bytes: int = 0,
    ) -> None:
        self.deliverer = deliverer
        self.settings = settings
        self.limits = Limits(settings.max_parts, settings.max_depth)
        self.pieces = PieceStore(
            state / "pieces",
            max_pieces=settings.max_parts_per_file,
            expiry_s=settings.staging_expiry_s,
            reserve_bytes=reserve_bytes,
        )
        self.assembly = state / "assembly"

    def process(self, login: Login, sender: str, raw: bytes) -> str:
        """Store what ``raw`` carries for ``login``; returns the SMTP reply line."""
        try:
            self.pieces.expire()
        except OSError:  # housekeeping; the message itself must still be handled
            log.exception("mail gateway: expiring old piece sets failed")
        now = datetime.now(UTC)
        receipt = Receipt(
            receipt_id=f"{now:%Y%m%dT%H%M%SZ}-{hashlib.sha256(raw).hexdigest()[:12]}",
            user=login.user,
            sender=sender,
            message_id="",
            received_at=now.isoformat(timespec="seconds"),
        )
        try:
            parsed = parse_message(raw, self.limits)
            receipt.message_id = parsed.message_id
            receipt.receipt_id = parsed.receipt_id or receipt.receipt_id
            folder = self.settings.folder_for(login.user).replace("{date}", f"{now:%Y-%m-%d}")
            reply = self._handle(login, parsed, folder.strip("/"), receipt)
        except MessageRefusedError as exc:
            receipt.refused.append({"name": "(message)", "reason": exc.text})
            reply = exc.reply
        except Exception:  # a defect here must not kill the listener; the sender gets 451
            log.exception("mail gateway: message from %s failed", login.user)
            reply = "451 4.3.0 Internal error; try again later"
        receipt.reply = reply[:_REPLY_MAX]
        self._publish(login, receipt)
        return receipt.reply

    def _handle(self, login: Login, parsed: ParsedMessage, folder: str, receipt: Receipt) -> str:
        if parsed.fragment is not None:
            inner = self._fragment(login, parsed.fragment, receipt)
            if inner is None:
                return f"250 2.0.0 Fragment staged; receipt {receipt.receipt_id}"
            parsed = inner
        if not parsed.attachments:
            raise refused("No attachment in the message")
        for item in parsed.attachments:
            if item.piece is None:
                self._store_whole(login, folder, item, receipt)
            else:
                self._store_piece(login, folder, item, receipt)
        if receipt.refused:
            names = ", ".join(f"{e['name']}: {e['reason']}" for e in receipt.refused)
            stored = f" ({len(receipt.stored)} other file(s) stored)" if receipt.stored else ""
            return f"550 5.7.1 Refused {names}{stored}"
        return (
            f"250 2.0.0 Stored {len(receipt.stored)} file(s), {len(receipt.pending)} piece(s)"
            f" staged; receipt {receipt.receipt_id}"
        )

    def _store_whole(self, login: Login, folder: str, item: Attachment, receipt: Receipt) -> None:
        path = f"{folder}/{item.name}"
        try:
            stored = self.deliverer.store(
                login,
                path,
                item.data,
                len(item.data),
                content_md5=item.content_md5,
                sha256=item.sha256,
            )
        except StoreRefusedError as exc:
            receipt.refused.append({"name": item.name, "reason": str(exc)})
            return
        receipt.stored.append(_entry(item.name, stored))

    def _store_piece(self, login: Login, folder: str, item: Attachment, receipt: Receipt) -> None:
        piece = item.piece
        assert piece is not None
        entry: dict[str, Any] = {"name": item.name, "file_id": piece.file_id}
        if item.content_md5 and not _md5_matches(item.content_md5, item.data):
            receipt.refused.append({**entry, "reason": "Content-MD5 of the piece does not match"})
            return
        where = self.pieces.folder(login.user, "davsync:" + piece.file_id)
        meta = {"file_id": piece.file_id, "name": item.name}
        with self.pieces.locked(where):
            progress = self.pieces.add(
                where, piece.number, piece.total, item.data, meta, piece.sha256
            )
            if not progress.complete:
                receipt.pending.append({**entry, "have": progress.have, "total": progress.total})
                return
            self._store_assembled(login, f"{folder}/{item.name}", progress, entry, receipt)

    def _store_assembled(
        self, login: Login, path: str, progress: Progress, entry: dict[str, Any], receipt: Receipt
    ) -> None:
        sha256 = progress.sha256
        if sha256 is None:  # the parser requires it on the last piece; pieces may come in any order
            receipt.refused.append({**entry, "reason": "no SHA-256 of the whole file declared"})
            self.pieces.discard(progress.folder)
            return
        self.assembly.mkdir(parents=True, exist_ok=True)
        target = self.assembly / uuid.uuid4().hex
        try:
            size, actual = self.pieces.assemble(progress, target)
            with target.open("rb") as body:
                stored = self.deliverer.store(login, path, body, size, sha256=sha256)
        except StoreRefusedError as exc:
            receipt.refused.append({**entry, "reason": str(exc)})
            if actual != sha256:  # the pieces are wrong: the sender must send them again
                self.pieces.discard(progress.folder)
            return
        finally:
            target.unlink(missing_ok=True)
        self.pieces.discard(progress.folder)
        receipt.stored.append({**_entry(entry["name"], stored), "file_id": entry["file_id"]})

    def _fragment(self, login: Login, frag: Fragment, receipt: Receipt) -> ParsedMessage | None:
        """Stage an RFC 2046 fragment; the reassembled message once all are there."""
        where = self.pieces.folder(login.user, "partial:" + frag.id)
        with self.pieces.locked(where):
            progress = self.pieces.add(where, frag.number, frag.total, frag.body, {"id": frag.id})
            staged = sum(p.stat().st_size for p in where.glob("piece-*[0-9]"))
            if staged > self.settings.max_partial_bytes:
                self.pieces.discard(where)
                raise MessageRefusedError(552, "5.3.4 Fragmented message too big")
            if not progress.complete:
                receipt.pending.append(
                    {
                        "name": f"message/partial {frag.id}",
                        "have": progress.have,
                        "total": progress.total,
                    }
                )
                return None
            self.assembly.mkdir(parents=True, exist_ok=True)
            target = self.assembly / uuid.uuid4().hex
            try:
                self.pieces.assemble(progress, target)
                whole = target.read_bytes()
            finally:
                target.unlink(missing_ok=True)
            self.pieces.discard(where)
        inner = parse_message(whole, self.limits)
        if inner.fragment is not None:
            raise malformed("message/partial inside a fragmented message")
        return inner

    def _publish(self, login: Login, receipt: Receipt) -> None:
        if self.settings.receipts_folder:
            receipts.keep(self.deliverer, login, self.settings.receipts_folder.strip("/"), receipt)
        if self.settings.relay:
            receipts.mail_receipt(self.settings.relay, self.settings.receipt_from, receipt)

    def clear_assembly(self) -> None:
        """Remove half-assembled files a crash left behind (call at start-up)."""
        shutil.rmtree(self.assembly, ignore_errors=True)


def _entry(name: str, stored: Stored) -> dict[str, Any]:
    return {
        "name": name,
        "path": stored.path,
        "size": stored.size,
        "etag": stored.etag,
        **{alg: value for alg, value in stored.hashes.items() if alg in ("md5", "sha1", "sha256")},
    }


def _md5_matches(declared: str, data: bytes) -> bool:
    """True if ``declared`` (RFC 1864 base64, or hex) is the MD5 of ``data``."""
    digest = hashlib.md5(data).digest()
    value = declared.strip()
    if value.lower() == digest.hex():
        return True
    try:
        return base64.b64decode(value, validate=True) == digest
    except (binascii.Error, ValueError):
        return False
