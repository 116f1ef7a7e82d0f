"""Local inventory: walk the source folder, apply ignore rules, hash what needs hashing.

Hashes (SHA-256, SHA-1, MD5 in one pass) are cached in the journal keyed by
(device, inode, size, mtime_ns): an unchanged file is never re-hashed, and a renamed one is
found by its identity. The cache also remembers since when each file has looked the way it
does now, which the stability gate uses (``LocalFile.stable_since``):

- a path seen for the first time, with an mtime in the past: stable since its mtime;
- a path whose size or mtime changed since the last scan: stable since
  max(mtime, time of the last scan that still saw the old state) - the change happened
  after that scan, whatever an mtime preserved by a copy tool claims.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from syncclient import SourceError
from syncclient.ignore import IgnoreRules
from syncclient.journal import CacheRow, Journal
from syncclient.model import Digests, IgnoredPath, LocalFile, LocalInventory

BLOCK = 1024 * 1024


class Hashers:
    """SHA-256, SHA-1 and MD5 fed together."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1()
        self.md5 = hashlib.md5()

    def update(self, data: bytes) -> None:
        """Feed ``data`` to every digest."""
        self.sha256.update(data)
        self.sha1.update(data)
        self.md5.update(data)

    def digests(self) -> Digests:
        """The digests so far."""
        return Digests(self.sha256.hexdigest(), self.sha1.hexdigest(), self.md5.hexdigest())


def hash_file(path: Path) -> Digests:
    """Hash a file's content. Raises OSError if it cannot be read."""
    h = Hashers()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.digests()


@dataclass(frozen=True, slots=True)
class _Found:
    path: str
    st: os.stat_result


NOT_UTF8 = "name is not valid UTF-8 and cannot be sent; rename it"


def _utf8(name: str) -> bool:
    """Whether a name read from the file system is text (a byte that is not UTF-8 comes
    back from ``os.scandir`` as a lone surrogate, which no URL, journal or listing holds)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(rel: str) -> str:
    """``rel`` with every byte that is not UTF-8 shown as U+FFFD."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _walk(root: Path, ignore: IgnoreRules) -> tuple[list[_Found], list[IgnoredPath]]:
    found: list[_Found] = []
    ignored: list[IgnoredPath] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir if rel_dir else root))
        except OSError:
            if rel_dir == "":
                raise
            ignored.append(IgnoredPath(rel_dir, "unreadable folder"))
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if not _utf8(entry.name):
                ignored.append(IgnoredPath(_printable(rel), NOT_UTF8))
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir:
                    m = ignore.ignored(rel, is_dir=True)
                    if m is not None:
                        ignored.append(IgnoredPath(rel, m.describe()))
                    else:
                        stack.append(rel)
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            m = ignore.ignored(rel)
            if m is not None:
                ignored.append(IgnoredPath(rel, m.describe()))
                continue
            found.append(_Found(rel, st))
    return found, ignored


def scan(
    root: Path,
    ignore: IgnoreRules,
    journal: Journal,
    now: float,
    should_hash: Callable[[LocalFile, set[str]], bool],
) -> LocalInventory:
    """Scan ``root``. ``should_hash(file, all_paths)`` says whether a not-yet-hashed file
    is worth hashing now (files still settling are not). Raises SourceError if ``root`` is
    unreadable.
    """
    if not root.is_dir():
        raise SourceError(f"source folder {root} does not exist or is not a folder")
    try:
        found, ignored = _walk(root, ignore)
    except OSError as exc:
        raise SourceError(f"cannot read source folder {root}: {exc.strerror}") from exc
    cache = journal.cache_all()
    files: dict[str, LocalFile] = {}
    rows: list[CacheRow] = []
    present = {item.path for item in found}
    for item in found:
        f, row = _observe(item, cache.get(item.path), journal, now)
        if f.digests is None and should_hash(f, present):
            f, row = _hash(root, f, row, now)
        files[f.path] = f
        rows.append(row)
    journal.cache_replace(rows, set(files))
    return LocalInventory(files=files, ignored=tuple(ignored), scanned_at=now)


def _observe(
    item: _Found, row: CacheRow | None, journal: Journal, now: float
) -> tuple[LocalFile, CacheRow]:
    st = item.st
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    mtime_s = st.st_mtime_ns / 1e9
    if row is not None and row.same_state(*ident):
        first_seen, baseline, digests = row.first_seen, row.baseline, row.digests
    else:
        first_seen, baseline = (now, True) if row is None else (row.seen_at or now, False)
        moved = journal.cache_find_by_id(*ident)
        digests = moved.digests if moved is not None else None
    stable_since = mtime_s if baseline and mtime_s <= now else max(mtime_s, first_seen)
    f = LocalFile(
        path=item.path,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        dev=st.st_dev,
        stable_since=stable_since,
        digests=digests,
    )
    new_row = CacheRow(item.path, *ident, digests, first_seen, baseline, now)
    return f, new_row


def _hash(root: Path, f: LocalFile, row: CacheRow, now: float) -> tuple[LocalFile, CacheRow]:
    path = root / f.path
    try:
        digests = hash_file(path)
        st = path.stat()
    except OSError:
        return replace(f, locked=True), row
    if (st.st_size, st.st_mtime_ns, st.st_ino) != (f.size, f.mtime_ns, f.inode):
        # changed while we read it: it is not settled, whatever its mtime says
        return replace(f, stable_since=now), replace(row, first_seen=now, baseline=False)
    return replace(f, digests=digests), replace(row, digests=digests)
