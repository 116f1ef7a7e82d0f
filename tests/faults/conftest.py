"""Helpers of the fault suite: reading what the server stores, on the wire and on disk."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from tests.support.configured import USERS

PROPFIND_HASHES = (
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><D:getetag/>'
    b"<D:getcontentlength/><oc:checksums/></D:prop></D:propfind>"
)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def client(user: str = "alice") -> httpx.Client:
    """A Digest client for ``user`` of ``tests.support.configured.USERS``."""
    return httpx.Client(auth=httpx.DigestAuth(user, USERS[user]), timeout=60.0)


def stored_sha256(c: httpx.Client, url: str) -> str | None:
    """The SHA-256 the server reports in ``oc:checksums`` (None if absent)."""
    r = c.request("PROPFIND", url, headers={"Depth": "0"}, content=PROPFIND_HASHES)
    assert r.status_code == 207, r.text
    match = re.search(r"SHA256:([0-9a-f]{64})", r.text)
    return match.group(1) if match else None


def staging_leftovers(root: Path) -> list[Path]:
    """Staged files still present under the server's state folder or root."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".part", ".tree", ".trash") and "staging" in str(p)
    ]
