"""Storing files for a logged-in mail user through in-process WebDAV requests.

Everything goes through ``InProcessClient`` with the user's own credentials and address:
``MKCOL`` for missing folders, ``PUT`` with the declared hashes as headers (the server
verifies them: a mismatch refuses the PUT and keeps the old version), then ``PROPFIND`` for
the digests and ETag the server recorded (the receipt shows the server's word, not ours).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import BinaryIO

from defusedxml import ElementTree

from davserver.errors import DavserverError
from davserver.gateways.inprocess import Credentials, InProcessClient, Response

PROTOCOL = "mail"
_PROPS = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    b"<d:prop><d:getetag/><d:getcontentlength/><oc:checksums/></d:prop></d:propfind>"
)


@dataclass(frozen=True)
class Login:
    """An authenticated SMTP session: who, from where, over TLS or not."""

    credentials: Credentials
    client_addr: str
    secure: bool

    @property
    def user(self) -> str:
        """The user name."""
        return self.credentials.user


@dataclass(frozen=True)
class Stored:
    """A file the server committed: its path below the home, size, digests and ETag."""

    path: str
    size: int
    hashes: dict[str, str]
    etag: str


class StoreRefusedError(DavserverError):
    """The server refused to store a file; the message says why (status and reason)."""


class Deliverer:
    """Stores files in a user's home through ``client``."""

    def __init__(self, client: InProcessClient) -> None:
        self.client = client
        self._folders = threading.Lock()  # messages in parallel create the same folders

    def _request(self, login: Login, method: str, rel: str, **kwargs: object) -> Response:
        return self.client.request(
            method,
            f"/dav/files/{login.user}/{rel}",
            credentials=login.credentials,
            client_addr=login.client_addr,
            protocol=PROTOCOL,
            secure=login.secure,
            **kwargs,  # type: ignore[arg-type]
        )

    def ensure_folder(self, login: Login, folder: str) -> None:
        """Create ``folder`` (relative to the home) and its missing parents."""
        path = ""
        with self._folders:
            for part in [p for p in folder.split("/") if p]:
                path = f"{path}{part}/"
                answer = self._request(login, "MKCOL", path)
                if answer.status not in (201, 405):
                    raise StoreRefusedError(f"cannot create folder {path}: {_said(answer)}")

    def store(
        self,
        login: Login,
        rel: str,
        body: bytes | BinaryIO,
        length: int,
        *,
        content_md5: str | None = None,
        sha256: str | None = None,
    ) -> Stored:
        """PUT ``body`` to ``rel`` (below the home) declaring the given hashes; the result as
        the server reports it. Raises ``StoreRefusedError`` if the server refuses."""
        headers: dict[str, str] = {}
        if content_md5:
            headers["Content-MD5"] = content_md5.strip()
        if sha256:
            headers["OC-Checksum"] = f"SHA256:{sha256}"
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.ensure_folder(login, folder)
        answer = self._request(login, "PUT", rel, headers=headers, body=body, length=length)
        if not answer.ok:
            raise StoreRefusedError(_said(answer))
        return self.describe(login, rel)

    def describe(self, login: Login, rel: str) -> Stored:
        """Size, digests and ETag of the stored file ``rel``."""
        answer = self._request(
            login,
            "PROPFIND",
            rel,
            headers={"Depth": "0", "Content-Type": "application/xml"},
            body=_PROPS,
        )
        if answer.status != 207:
            raise StoreRefusedError(f"stored but cannot read back: {_said(answer)}")
        root = ElementTree.fromstring(answer.body)
        etag = root.findtext(".//{DAV:}getetag") or ""
        size = int(root.findtext(".//{DAV:}getcontentlength") or "0")
        sums = root.findtext(".//{http://owncloud.org/ns}checksum") or ""
        hashes = {}
        for token in sums.split():
            alg, _, value = token.partition(":")
            if value:
                hashes[alg.lower()] = value.lower()
        return Stored(rel, size, hashes, etag.strip('"'))


def _said(answer: Response) -> str:
    text = answer.explanation()
    return f"HTTP {answer.status} {answer.reason}" + (f" ({text})" if text else "")
