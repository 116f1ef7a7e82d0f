"""Copying file content and whole trees into the staging area.

Content whose digests are already recorded is copied with ``os.copy_file_range`` (which may
share blocks on filesystems that support it); otherwise it is read once and hashed on the way.
Everything here raises OSError; callers translate it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from providers.hashing import BLOCK_SIZE, Digests, MultiHasher
from providers.local.atomic import STAGING_FILE_MODE, fsync_dir, write_all
from providers.local.fsview import FsView, is_dir
from providers.local.metadata import Row, same_version

_NO_RANGE_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def _range_copy(src_fd: int, dst_fd: int) -> bool:
    """Copy everything with copy_file_range; False if the kernel cannot (nothing copied)."""
    copied = 0
    while True:
        try:
            n = os.copy_file_range(src_fd, dst_fd, BLOCK_SIZE * 8)
        except OSError as exc:
            if copied == 0 and exc.errno in _NO_RANGE_COPY:
                return False
            raise
        if n == 0:
            return True
        copied += n


def _stream_copy(src_fd: int, dst_fd: int, hasher: MultiHasher | None) -> None:
    while True:
        block = os.read(src_fd, BLOCK_SIZE)
        if not block:
            return
        write_all(dst_fd, block)
        if hasher is not None:
            hasher.update(block)


def copy_content(source: Path, row: Row | None, dst_fd: int) -> tuple[os.stat_result, Digests]:
    """Copy the file at ``source`` into ``dst_fd``; return the source's stat and digests.

    The recorded digests of ``row`` are reused when it matches the source; otherwise the
    content is hashed while copying. Raises OSError (ELOOP for a symlink; EAGAIN if the source
    changed during the copy).
    """
    src_fd = os.open(source, _READ_FLAGS)
    try:
        before = os.fstat(src_fd)
        known = row.digests if row is not None and row.matches(before) else None
        hasher = MultiHasher()
        if known is None:
            _stream_copy(src_fd, dst_fd, hasher)
        elif not _range_copy(src_fd, dst_fd):
            _stream_copy(src_fd, dst_fd, None)
        after = os.fstat(src_fd)
    finally:
        os.close(src_fd)
    if not same_version(before, after):
        raise OSError(errno.EAGAIN, f"{source} changed while being copied")
    return before, known if known is not None else hasher.digests()


@dataclass(frozen=True, slots=True)
class CopiedItem:
    """One file or collection of a copied tree: path relative to the tree root ("" for the
    root), the copy's stat and (files only) digests."""

    relative: str
    st: os.stat_result
    digests: Digests | None


def copy_tree(
    view: FsView, src: str, target: Path, rows: Mapping[str, Row], file_mode: int
) -> list[CopiedItem]:
    """Recreate the visible content of collection ``src`` as the new directory ``target``.

    Files keep their mtime and gain ``file_mode``; collections keep their mtime. Everything is
    fsynced before returning, so renaming ``target`` into place publishes a durable tree.
    ``rows`` are metadata rows below ``src`` (digests are reused where they match).
    Raises OSError.
    """
    os.mkdir(target)
    items: list[CopiedItem] = []
    dirs: list[tuple[str, Path, os.stat_result]] = [("", target, os.lstat(view.full(src)))]
    stack: list[tuple[str, Path]] = [(src, target)]
    while stack:
        current, dest = stack.pop()
        for child, st in view.children(current):
            relative = child[len(src) + 1 :]
            out = dest / child.rsplit("/", 1)[-1]
            if is_dir(st):
                os.mkdir(out)
                dirs.append((relative, out, st))
                stack.append((child, out))
            else:
                copied = _copy_file(view.full(child), rows.get(child), out, file_mode, relative)
                items.append(copied)
    for relative, path, st in reversed(dirs):
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        fsync_dir(path)
        items.append(CopiedItem(relative, os.lstat(path), None))
    return items


def _copy_file(source: Path, row: Row | None, out: Path, mode: int, relative: str) -> CopiedItem:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(out, flags, STAGING_FILE_MODE)
    try:
        src_st, digests = copy_content(source, row, fd)
        os.fchmod(fd, mode)
        os.utime(fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
        os.fsync(fd)
        return CopiedItem(relative, os.fstat(fd), digests)
    finally:
        os.close(fd)
