"""The staging directory: unique names, ownership and clean-up after crashed processes.

Every provider instance claims a random *owner token* by holding an exclusive ``flock`` on
``<token>.owner`` for its lifetime; everything it stages is named ``<token>-<random>.<kind>``.
The kernel drops the lock when the process dies, so at start-up a token whose owner file can
be locked belongs to a dead process and its leftovers are removed. This is immune to PID
reuse and works for several processes sharing one staging directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import weakref
from pathlib import Path

from providers.local.atomic import STAGING_FILE_MODE, StagedFile

log = logging.getLogger(__name__)

OWNER_SUFFIX = ".owner"
_CLAIM_ATTEMPTS = 5


def same_filesystem(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` live on the same device (so ``os.replace`` is atomic)."""
    return os.stat(a).st_dev == os.stat(b).st_dev


class StagingArea:
    """Owner of one staging directory for the lifetime of a provider instance."""

    def __init__(self, directory: Path) -> None:
        """Create ``directory`` if needed, claim an owner token and remove stale leftovers.

        Raises OSError.
        """
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.token, fd = self._claim()
        self._finalizer = weakref.finalize(self, _release, fd, self._owner_path(self.token))
        self.removed_at_start = self.remove_stale()

    def new_file(self) -> StagedFile:
        """A fresh, exclusively created staging file (mode 0o600). Raises OSError."""
        return StagedFile(self.new_name("part"))

    def new_name(self, kind: str) -> Path:
        """An unused name in the staging directory for a file or tree of ``kind``."""
        return self.directory / f"{self.token}-{secrets.token_hex(8)}.{kind}"

    def remove_stale(self) -> int:
        """Remove everything staged by owners that no longer hold their lock; returns a count.

        Names that do not follow the staging scheme are left alone. Raises OSError only if
        the directory cannot be listed.
        """
        tokens: dict[str, list[str]] = {}
        for name in os.listdir(self.directory):
            token = _token_of(name)
            if token is not None and token != self.token:
                tokens.setdefault(token, []).append(name)
        removed = 0
        for token, names in tokens.items():
            removed += self._remove_if_dead(token, names)
        return removed

    def close(self) -> None:
        """Give up the owner token (staged files still in use become stale). Idempotent."""
        self._finalizer()

    def _owner_path(self, token: str) -> Path:
        return self.directory / f"{token}{OWNER_SUFFIX}"

    def _claim(self) -> tuple[str, int]:
        """Create and lock an owner file whose path still names the locked inode."""
        for _ in range(_CLAIM_ATTEMPTS):
            token = secrets.token_hex(8)
            path = self._owner_path(token)
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            fd = os.open(path, flags, STAGING_FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return token, fd
            except FileNotFoundError:
                pass  # a concurrent clean-up took it for stale in the instant before flock
            os.close(fd)
        raise OSError(errno.EAGAIN, "could not claim a staging owner token")

    def _remove_if_dead(self, token: str, names: list[str]) -> int:
        owner = self._owner_path(token)
        try:
            fd = os.open(owner, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            fd = -1
        try:
            if fd >= 0:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return 0  # the owner is alive
            removed = 0
            for name in names:
                if name.endswith(OWNER_SUFFIX):
                    continue
                _remove_path(self.directory / name)
                removed += 1
            with contextlib.suppress(FileNotFoundError):
                owner.unlink()
            if removed:
                log.info("removed %d stale staging item(s) of owner %s", removed, token)
            return removed
        finally:
            if fd >= 0:
                os.close(fd)


def _token_of(name: str) -> str | None:
    if name.endswith(OWNER_SUFFIX):
        token = name[: -len(OWNER_SUFFIX)]
    elif "-" in name and "." in name:
        token = name.split("-", 1)[0]
    else:
        return None
    return token if len(token) == 16 and all(c in "0123456789abcdef" for c in token) else None


def _remove_path(path: Path) -> None:
    """Remove a file or tree, logging (not raising) what cannot be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove staging leftover %s: %s", path, exc)


def remove_tree_quietly(path: Path) -> None:
    """Remove a discarded tree; failures are logged (the start-up clean-up retries)."""
    _remove_path(path)


def _release(fd: int, owner: Path) -> None:
    with contextlib.suppress(OSError):
        owner.unlink()
    with contextlib.suppress(OSError):
        os.close(fd)
