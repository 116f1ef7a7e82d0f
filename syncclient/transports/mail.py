"""The ``mail`` transport: files as numbered pieces over SMTP to davsync's e-mail gateway.

For sites whose firewall lets only mail out. URLs::

    smtp://HOST[:PORT]/RECIPIENT     STARTTLS (required; default port 587)
    smtps://HOST[:PORT]/RECIPIENT    TLS from the first byte (default port 465)

RECIPIENT (``drop@example.org``) may be left out of the URL and set as ``mail.to`` in the
config instead; the gateway stores the files in the AUTHENTICATED user's mail folder whatever
the recipient. Credentials are the configured ``server.user`` and password; ``server.ca_bundle``
is trusted for the TLS certificate.

Each file is cut into pieces of ``mail.part_size`` bytes (``--mail-part-size``); each piece is
one message whose attachment carries the gateway's headers (``X-Davsync-Part: <file-id>
<n>/<total>``, ``X-Davsync-Path`` = the file's path (percent-encoded UTF-8), ``Content-MD5``
of the piece, and
``X-Davsync-SHA256`` of the whole file on the last piece, computed while streaming). The
file id is derived from the file's path and SHA-1, so sending the same file again reuses the
pieces the gateway already holds. At most one piece is in memory at a time.

Verification: SMTP itself says nothing about the stored file. With ``mail.receipts_url`` (the
HTTPS URL of the receipts folder in the user's home, e.g.
``https://host/remote.php/dav/files/alice/mail-in/receipts/``) the transport reads the
gateway's receipt ``file-<file-id>.json`` after the last piece and reports the server's
SHA-256: the file then counts as verified. Without it ``verifies`` is False and the runner
records the file as "sent", never as "verified". SMTP cannot list the server
(``lists_files`` False): the journal tells which files were delivered before.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import posixpath
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from syncclient.model import ListingMethod, RemoteFile, RemoteInventory
from syncclient.transports.base import (
    AuthError,
    PutResult,
    ServerInfo,
    SetupError,
    StatusError,
    TransportError,
    UnreachableError,
)

PART_HEADER = "X-Davsync-Part"
SHA256_HEADER = "X-Davsync-SHA256"
PATH_HEADER = "X-Davsync-Path"
RECEIPT_HEADER = "X-Davsync-Receipt-Id"
SCHEMES = ("smtp", "smtps")
_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True)
class MailOptions:
    """How to reach the gateway and how to cut files."""

    url: str
    user: str | None
    password: str | None
    part_size: int
    recipient: str | None = None
    sender: str | None = None
    receipts_url: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 300.0
    receipt_wait_s: float = 60.0


class MailTransport:
    """``Transport`` over SMTP (see the module docstring)."""

    def __init__(self, options: MailOptions) -> None:
        parts = urlsplit(options.url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise SetupError(f"not a mail URL: {options.url} (smtp://HOST/RCPT or smtps://...)")
        self.options = options
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        recipient = unquote(parts.path.strip("/")) or options.recipient
        if not recipient:
            raise SetupError("the mail transport needs a recipient: smtp://HOST/RCPT or mail.to")
        if not options.user or options.password is None:
            raise SetupError("the mail transport needs server.user and a password")
        self.recipient = recipient
        self.sender = options.sender or f"{options.user}@{self.host}"
        self.verifies = options.receipts_url is not None
        self.lists_files = False

    # SMTP --------------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        ca = self.options.ca_bundle
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def _connect(self) -> smtplib.SMTP:
        opts = self.options
        try:
            if self.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=opts.timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=opts.timeout)
                smtp.starttls(context=self._tls())
            assert opts.user is not None and opts.password is not None
            smtp.login(opts.user, opts.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise _auth_error(exc) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SetupError(f"{self.host}:{self.port} offers no STARTTLS/AUTH: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise SetupError(f"untrusted certificate at {self.host}:{self.port}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise UnreachableError(f"cannot reach {self.host}:{self.port}: {exc}") from exc
        return smtp

    def probe(self) -> ServerInfo:
        """Log in once (checks the address, TLS and the credentials)."""
        smtp = self._connect()
        _quit(smtp)
        note = (
            f"mail transport: pieces of {self.options.part_size} bytes; verified by receipts"
            if self.verifies
            else "mail transport without mail.receipts_url: files are recorded as sent, "
            "not verified"
        )
        return ServerInfo(collection_exists=True, inventory=False, chunking=False, notes=(note,))

    def put(
        self, path: str, body: Iterable[bytes], length: int, sha1: str, mtime: int
    ) -> PutResult:
        """Send ``body`` as numbered pieces; the server's hashes if a receipt is readable."""
        file_id = _file_id(path, sha1)
        total = max(1, math.ceil(length / self.options.part_size))
        whole = hashlib.sha256()
        smtp = self._connect()
        try:
            for n, piece in enumerate(_pieces(body, self.options.part_size, total), start=1):
                whole.update(piece)
                last = n == total
                msg = self._message(
                    path, file_id, n, total, piece, whole.hexdigest() if last else None
                )
                self._send(smtp, msg, f"{path} piece {n}/{total}")
        finally:
            _quit(smtp)
        if not self.verifies:
            return PutResult()
        receipt = self._wait_receipt(file_id)
        if receipt is None or "sha256" not in receipt:
            return PutResult()
        return PutResult(
            etag=receipt.get("etag"),
            hashes={k: str(receipt[k]).lower() for k in ("sha256", "sha1", "md5") if k in receipt},
        )

    def _message(
        self, path: str, file_id: str, n: int, total: int, piece: bytes, sha256: str | None
    ) -> bytes:
        """One piece as a MIME message (CRLF line ends), built directly: base64 in C, one
        copy of the encoded piece, no generator pass over it."""
        boundary = f"davsync-{file_id}-{n}"
        name = email.utils.encode_rfc2231(posixpath.basename(path) or "file", "utf-8")
        head = [
            f"From: {self.sender}",
            f"To: {self.recipient}",
            f"Subject: davsync piece {n}/{total} of {file_id}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Message-ID: {email.utils.make_msgid('davsync')}",
            f"{RECEIPT_HEADER}: {file_id}-{n}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{boundary}"',
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=us-ascii",
            "",
            f"piece {n} of {total}",
            f"--{boundary}",
            "Content-Type: application/octet-stream",
            f"Content-Disposition: attachment; filename*={name}",
            "Content-Transfer-Encoding: base64",
            f"Content-MD5: {base64.b64encode(hashlib.md5(piece).digest()).decode()}",
            f"{PART_HEADER}: {file_id} {n}/{total}",
            f"{PATH_HEADER}: {_fold(quote(path, safe='/'))}",
        ]
        if sha256:
            head.append(f"{SHA256_HEADER}: {sha256}")
        encoded = base64.encodebytes(piece).replace(b"\n", b"\r\n")
        tail = f"--{boundary}--\r\n".encode()
        return ("\r\n".join(head) + "\r\n\r\n").encode() + encoded + tail

    def _send(self, smtp: smtplib.SMTP, msg: bytes, what: str) -> None:
        try:
            smtp.sendmail(self.sender, [self.recipient], msg)
        except smtplib.SMTPResponseException as exc:
            said = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            # SMTP 4xx is "try again later"; the HTTP status with the same meaning is 503.
            status = 503 if 400 <= exc.smtp_code < 500 else 422
            raise StatusError(
                status,
                f"the mail gateway refused {what}",
                explanation=f"{exc.smtp_code} {said}",
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise SetupError(f"the gateway refused the recipient {self.recipient}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise UnreachableError(f"connection to {self.host}:{self.port} failed: {exc}") from exc

    # receipts ----------------------------------------------------------------------------

    def _get_json(self, name: str) -> Any:
        """GET ``name`` below the receipts URL as JSON; None if absent."""
        base = self.options.receipts_url
        assert base is not None
        token = f"{self.options.user}:{self.options.password}".encode()
        request = urllib.request.Request(
            base.rstrip("/") + "/" + name,
            headers={"Authorization": "Basic " + base64.b64encode(token).decode()},
        )
        try:
            with urllib.request.urlopen(request, timeout=60, context=self._tls()) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code in (401, 403):
                raise AuthError(f"receipts: HTTP {exc.code}") from exc
            raise StatusError(exc.code, f"GET receipt {name}") from exc
        except (OSError, ValueError) as exc:
            raise UnreachableError(f"cannot read receipt {name}: {exc}") from exc

    def _wait_receipt(self, file_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.options.receipt_wait_s
        while True:
            found = self._get_json(f"file-{file_id}.json")
            if isinstance(found, dict) or time.monotonic() >= deadline:
                return found if isinstance(found, dict) else None
            time.sleep(0.5)

    def inventory(self) -> RemoteInventory:
        """Files the receipts show stored (empty without a receipts URL)."""
        return RemoteInventory(files={}, method=ListingMethod.INVENTORY)

    def stat(self, path: str) -> RemoteFile | None:
        """Nothing is known per path: a file is checked through its receipt after ``put``."""
        return None

    def download_digests(self, path: str) -> dict[str, str]:
        """Not possible over SMTP."""
        raise SetupError("the mail transport cannot download files to verify them")

    def make_dir(self, path: str) -> None:
        """Folders are created by the gateway."""

    def make_collection(self) -> None:
        """Folders are created by the gateway."""

    def session_create(self, session: str, path: str, total: int) -> None:
        """Not used: big files travel as pieces (``probe`` reports no chunking)."""
        raise SetupError("no upload sessions over mail")

    def session_chunks(self, session: str) -> dict[int, int] | None:
        """No sessions over mail."""
        return None

    def session_put(
        self, session: str, n: int, body: Iterable[bytes], length: int, path: str, total: int
    ) -> None:
        """Not used."""
        raise SetupError("no upload sessions over mail")

    def session_commit(
        self, session: str, path: str, total: int, sha1: str, mtime: int
    ) -> PutResult:
        """Not used."""
        raise SetupError("no upload sessions over mail")

    def session_abort(self, session: str) -> None:
        """No sessions over mail."""

    def close(self) -> None:
        """Nothing held between calls."""


def _fold(value: str, width: int = 70) -> str:
    """A long header value without spaces, folded (the reader removes all white space)."""
    return "\r\n ".join(value[i : i + width] for i in range(0, len(value), width)) or value


def _file_id(path: str, sha1: str) -> str:
    """Stable id of one content at one path: resending reuses the gateway's staged pieces."""
    return hashlib.sha256(f"{path}\0{sha1}".encode()).hexdigest()[:32]


def _pieces(body: Iterable[bytes], size: int, total: int) -> Iterator[bytes]:
    """``body`` re-cut into ``total`` pieces of ``size`` bytes (the last may be shorter)."""
    buffer = bytearray()
    sent = 0
    for block in body:
        buffer += block
        while len(buffer) >= size and sent < total - 1:
            yield bytes(buffer[:size])
            del buffer[:size]
            sent += 1
    yield bytes(buffer)


def _auth_error(exc: smtplib.SMTPAuthenticationError) -> TransportError:
    if 400 <= exc.smtp_code < 500:
        error: TransportError = StatusError(
            429, "mail login refused for now", explanation=str(exc.smtp_error)
        )
        return error
    return AuthError(f"mail login refused: {exc.smtp_code} {exc.smtp_error!r}")


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def open_mail_transport(cfg: Any, url: str, password: str | None) -> MailTransport:
    """The mail transport for ``url`` from the client's config (``mail``, ``server``)."""
    from syncclient.units import parse_size

    return MailTransport(
        MailOptions(
            url=url,
            user=cfg.server.user,
            password=password,
            part_size=parse_size(cfg.mail.part_size),
            recipient=cfg.mail.to,
            sender=cfg.mail.sender,
            receipts_url=cfg.mail.receipts_url,
            ca_bundle=cfg.server.ca_bundle,
            timeout=max(cfg.transfer.stall_timeout, 300.0),
        )
    )
