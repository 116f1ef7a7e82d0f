"""Receipts: what a message stored (with the server's hashes), what is still pending, and
what was refused and why.

A receipt is JSON (``Receipt.to_json``). It is kept in the user's home (``keep``, through the
same in-process PUT as any file) as ``<folder>/<receipt id>.json``, and for every split file
finished or refused also as ``<folder>/file-<file id>.json``, so a client that can read its
home (syncclient with an HTTPS URL) finds the server's verdict per file. With a relay
configured it is also mailed to the sender (``mail_receipt``); a relay that fails is logged,
never fatal: the files are stored either way.
"""

from __future__ import annotations

import json
import logging
import smtplib
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from davserver.gateways.mail.deliver import Deliverer, Login, StoreRefusedError

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30.0


@dataclass
class Receipt:
    """The outcome of one message."""

    receipt_id: str
    user: str
    sender: str
    message_id: str
    received_at: str
    reply: str = ""
    stored: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        """The receipt as UTF-8 JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode("utf-8")

    def file_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(file id, entry) for every split file this message finished or refused."""
        return [(str(e["file_id"]), e) for e in self.stored + self.refused if e.get("file_id")]


def keep(deliverer: Deliverer, login: Login, folder: str, receipt: Receipt) -> None:
    """Write the receipt (and one per finished split file) into ``folder`` of the home."""
    try:
        body = receipt.to_json()
        deliverer.store(login, f"{folder}/{receipt.receipt_id}.json", body, len(body))
        for file_id, entry in receipt.file_entries():
            one = json.dumps(
                {**entry, "receipt_id": receipt.receipt_id, "received_at": receipt.received_at},
                indent=2,
                sort_keys=True,
            ).encode("utf-8")
            deliverer.store(login, f"{folder}/file-{file_id}.json", one, len(one))
    except StoreRefusedError as exc:
        log.warning("mail receipt %s not kept: %s", receipt.receipt_id, exc)


def mail_receipt(relay: str, sender: str, receipt: Receipt) -> None:
    """Mail the receipt to the message's sender through ``relay`` (``host:port``)."""
    if not receipt.sender:
        return
    host, _, port = relay.rpartition(":")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = receipt.sender
    msg["Subject"] = f"davsync receipt {receipt.receipt_id}: {receipt.reply}"
    if receipt.message_id:
        msg["In-Reply-To"] = receipt.message_id
    lines = [f"stored {e['path']} sha256={e.get('sha256', '')}" for e in receipt.stored]
    lines += [f"pending {e['name']}: {e['have']}/{e['total']} pieces" for e in receipt.pending]
    lines += [f"refused {e['name']}: {e['reason']}" for e in receipt.refused]
    msg.set_content("\n".join(lines or [receipt.reply]) + "\n")
    msg.add_attachment(
        receipt.to_json(),
        maintype="application",
        subtype="json",
        filename=f"{receipt.receipt_id}.json",
    )
    try:
        with smtplib.SMTP(host or "127.0.0.1", int(port), timeout=SMTP_TIMEOUT_S) as smtp:
            smtp.send_message(msg, from_addr=sender, to_addrs=[receipt.sender])
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        log.warning("mail receipt %s not sent through %s: %s", receipt.receipt_id, relay, exc)
