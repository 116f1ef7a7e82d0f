"""``syncclient verify``: re-check every file the journal records as verified.

Each recorded file is compared with the server's current hash (from the inventory, or
PROPFIND ``oc:checksums``; a server that reports none is downloaded and hashed unless
``--no-download-verify``) and, if the local file is still there, with the local content.
Nothing is written anywhere: neither on the server nor in the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from syncclient.config import Config, state_dir_for
from syncclient.journal import Journal
from syncclient.model import RemoteFile
from syncclient.scan import hash_file
from syncclient.transports.webdav import WebDAVTransport


class Status(StrEnum):
    """The result for one file."""

    OK = "OK"
    MISSING = "MISSING-ON-SERVER"
    MISMATCH = "HASH-MISMATCH"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the journal recorded when the file was verified."""

    path: str
    size: int
    sha256: str
    sha1: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One verified file re-checked. ``server_by`` says where the server hash came from."""

    path: str
    status: Status
    detail: str = ""
    server_by: str = ""
    local: str = "absent"


def server_status(rec: Recorded, remote: RemoteFile | None) -> tuple[Status, str, str] | None:
    """Compare the record with the server's listing (pure). None: the listing has no hash to
    compare with (the caller downloads the file)."""
    if remote is None:
        return Status.MISSING, "not on the server any more", ""
    if remote.size != rec.size:
        return Status.MISMATCH, f"server has {remote.size} bytes, {rec.size} were verified", "size"
    if remote.sha256:
        same = remote.sha256.lower() == rec.sha256
        return (
            (Status.OK if same else Status.MISMATCH),
            "" if same else "server sha256 differs",
            ("sha256"),
        )
    if remote.sha1 and rec.sha1:
        same = remote.sha1.lower() == rec.sha1
        return (
            (Status.OK if same else Status.MISMATCH),
            "" if same else "server sha1 differs",
            ("sha1"),
        )
    return None


def local_status(rec: Recorded, sha256: str | None) -> tuple[Status, str]:
    """Compare the record with the local file's hash (None: the file is gone) (pure)."""
    if sha256 is None or sha256 == rec.sha256:
        return Status.OK, ""
    return Status.MISMATCH, "local file differs from the verified copy (the next run re-sends it)"


def verify_repository(
    cfg: Config, root: Path, url: str, transport: WebDAVTransport, download: bool
) -> list[Check]:
    """Re-check every verified file of (root, url). Raises TransportError."""
    journal = Journal(state_dir_for(cfg, root, url) / "journal.sqlite")
    try:
        records = [Recorded(*r) for r in journal.verified_hashes()]
    finally:
        journal.close()
    if not records:
        return []
    remote = transport.inventory()
    out: list[Check] = []
    for rec in records:
        r = remote.file(rec.path)
        got = server_status(rec, r)
        if got is None:
            if download:
                digests = transport.download_digests(rec.path)
                same = digests["sha256"] == rec.sha256
                got = (
                    Status.OK if same else Status.MISMATCH,
                    "" if same else "downloaded content differs",
                    "download",
                )
            else:
                got = (Status.OK, "server reports no hash; size only", "size")
        status, detail, by = got
        local_file = root / rec.path
        local = "absent"
        if local_file.is_file():
            try:
                lstat, ldetail = local_status(rec, hash_file(local_file).sha256)
                local = "same" if lstat is Status.OK else "changed"
            except OSError as exc:
                lstat, ldetail, local = Status.OK, "", f"unreadable ({exc.strerror})"
            if status is Status.OK and lstat is not Status.OK:
                status, detail = lstat, ldetail
        out.append(Check(rec.path, status, detail, by, local))
    return out
