"""Helpers of the form-upload tests: multipart bodies, the stored checksums over WebDAV, and
the CI rule for tools (missing: skip on a developer machine, fail under CI=true)."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable

import httpx
import pytest

CHECKSUMS_BODY = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    b"<d:prop><oc:checksums/><d:getetag/></d:prop></d:propfind>"
)


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail under CI where the Makefile must have installed it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it: make tools)")
    pytest.skip(reason)


def multipart(
    parts: Iterable[tuple[str, str | None, bytes]], boundary: str | None = None
) -> tuple[str, bytes]:
    """(Content-Type, body) for ``(field, filename or None for a text field, data)`` parts."""
    boundary = boundary or "b" + uuid.uuid4().hex
    out = bytearray()
    for name, filename, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def digests(data: bytes) -> dict[str, str]:
    """md5, sha1 and sha256 of ``data``."""
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def stored_checksums(client: httpx.Client, url: str) -> str:
    """The ``oc:checksums`` text of ``url`` as PROPFIND shows it."""
    r = client.request("PROPFIND", url, headers={"Depth": "0"}, content=CHECKSUMS_BODY)
    assert r.status_code == 207, r.text
    match = re.search(r"<(?:\w+:)?checksum>([^<]*)</(?:\w+:)?checksum>", r.text)
    assert match, r.text
    return match.group(1)
