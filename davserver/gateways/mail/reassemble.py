"""Pieces of files split over several messages, staged on disk until all have arrived.

Layout: ``<root>/<user>/<key digest>/`` holds ``meta.json`` (the file's key, ``total`` and
what every piece must agree on) and ``piece-<n>`` files, each written to a temporary name,
fsynced and renamed, so a piece is either wholly there or absent after a crash; a restarted
server finds the pieces that arrived before. A piece sent twice replaces the first copy.
Sets older than the expiry (since their last piece) are dropped by ``expire``.

``add`` returns the progress; when complete, ``assemble`` streams the pieces in order into
one file (the caller stores it and then calls ``discard``). A lock per set serialises
messages carrying pieces of the same file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from davserver.gateways.mail.parse import MessageRefusedError, refused
from providers.local.space import SpaceGuard

_COPY_CHUNK = 1024 * 1024
_LOCK_STRIPES = 64


@dataclass(frozen=True)
class Progress:
    """Pieces held for one file: ``have`` of ``total`` (``total`` None: not yet known)."""

    folder: Path
    have: int
    total: int | None
    sha256: str | None = None

    @property
    def complete(self) -> bool:
        """True when every piece 1..total is staged."""
        return self.total is not None and self.have == self.total


class PieceStore:
    """Staged pieces below ``root``; at most ``max_pieces`` per file; a piece that would eat
    into the last ``reserve_bytes`` of the disk is refused (452, the sender retries later)."""

    def __init__(
        self, root: Path, *, max_pieces: int, expiry_s: float, reserve_bytes: int = 0
    ) -> None:
        self.root = root
        self.max_pieces = max_pieces
        self.expiry_s = expiry_s
        self.reserve_bytes = reserve_bytes
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))

    def folder(self, user: str, key: str) -> Path:
        """The staging folder of ``key`` (any string) for ``user``."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return self.root / hashlib.sha256(user.encode()).hexdigest()[:16] / digest

    @contextmanager
    def locked(self, folder: Path) -> Iterator[None]:
        """Hold the lock of one file's pieces (one of a fixed set of locks, chosen by folder:
        a lock never disappears while a thread waits on it, so a set is never worked on by
        two messages at once, also while it is stored, discarded or expired)."""
        with self._locks[hash(folder) % _LOCK_STRIPES]:
            yield

    def add(
        self,
        folder: Path,
        number: int,
        total: int | None,
        data: bytes,
        meta: dict[str, Any],
        sha256: str | None = None,
    ) -> Progress:
        """Stage piece ``number``; ``meta`` must equal what earlier pieces declared, and so
        must ``total`` and the whole file's ``sha256`` where more than one piece declares them.

        Call with ``locked(folder)`` held. Raises ``MessageRefusedError`` for a piece that does not
        fit (number out of range, also beyond a total an earlier piece declared, too many
        pieces, different file; 452 when the disk has no room above the reserve); pieces
        staged beyond the total are not counted.
        """
        if number < 1 or number > self.max_pieces or (total is not None and number > total):
            raise refused(f"piece {number} out of range")
        if total is not None and total > self.max_pieces:
            raise MessageRefusedError(552, f"5.3.4 More than {self.max_pieces} pieces for one file")
        folder.mkdir(parents=True, exist_ok=True)
        if SpaceGuard(folder, self.reserve_bytes).available() < len(data):
            raise MessageRefusedError(452, "4.3.1 Insufficient storage for the piece; try later")
        stored = self._read_meta(folder)
        if stored is not None and stored["meta"] != meta:
            raise refused("piece does not belong to the file staged under this id")
        known = total if total is not None else (stored or {}).get("total")
        if stored is not None and total is not None and stored.get("total") not in (None, total):
            raise refused("piece declares a different number of pieces than earlier ones")
        if known is not None and number > known:
            raise refused(f"piece {number} out of range (the file has {known} pieces)")
        digest = sha256 or (stored or {}).get("sha256")
        if stored is not None and sha256 and stored.get("sha256") not in (None, sha256):
            raise refused("piece declares a different SHA-256 of the file than earlier ones")
        self._write_atomic(folder / f"piece-{number:06d}", data)
        record = {"meta": meta, "total": known, "sha256": digest, "updated": time.time()}
        self._write_atomic(folder / "meta.json", json.dumps(record).encode())
        numbers = [int(p.name.removeprefix("piece-")) for p in folder.glob("piece-*[0-9]")]
        # A piece staged before the total was known may lie beyond it: it is not counted.
        have = sum(1 for n in numbers if known is None or n <= known)
        return Progress(folder, have, known, digest)

    def assemble(self, progress: Progress, target: Path) -> tuple[int, str]:
        """Concatenate the pieces into ``target``; returns (size, sha256 hex)."""
        assert progress.total is not None
        digest = hashlib.sha256()
        size = 0
        with target.open("wb") as out:
            for n in range(1, progress.total + 1):
                with (progress.folder / f"piece-{n:06d}").open("rb") as piece:
                    while block := piece.read(_COPY_CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        return size, digest.hexdigest()

    def discard(self, folder: Path) -> None:
        """Remove one file's pieces (absent is fine)."""
        shutil.rmtree(folder, ignore_errors=True)

    def expire(self, now: float | None = None) -> int:
        """Drop piece sets not updated within the expiry; returns how many.

        Safe while other threads add, store and discard sets: each set is examined under its
        own lock, and a set that vanished between the scan and the look is skipped.
        """
        now = time.time() if now is None else now
        dropped = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.glob("*/*"):
            with self.locked(folder):
                updated = self._last_update(folder)
                if updated is None or now - updated <= self.expiry_s:
                    continue  # gone meanwhile (stored and discarded by another message), or fresh
                self.discard(folder)
            dropped += 1
        return dropped

    def _last_update(self, folder: Path) -> float | None:
        """When ``folder``'s set last changed; None when the folder no longer exists."""
        meta = self._read_meta(folder)
        if meta is not None:
            return float(meta["updated"])
        try:
            return folder.stat().st_mtime
        except FileNotFoundError:
            return None

    @staticmethod
    def _read_meta(folder: Path) -> dict[str, Any] | None:
        try:
            data = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
