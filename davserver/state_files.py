"""Permissions of the server's state folder (``<root>/.davsync`` by default).

The state folder holds password hashes and password-equivalent Digest HA1 values
(``state.sqlite``), file metadata (``metadata.sqlite``), upload sessions and staging files, so
it is private to the server's account: the folder and every folder below it 0700, every file
0600. ``prepare_state_dir`` creates it that way, creates the SQLite databases with mode 0600
before SQLite opens them (SQLite gives their ``-wal`` and ``-shm`` files the database's mode)
and tightens an existing install, logging what it changed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

_log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600

#: SQLite databases the server keeps in the state folder (users/locks/properties/uploads,
#: and the storage provider's file metadata).
DATABASES = ("state.sqlite", "metadata.sqlite")

#: The first administrator password, when the server generated it.
INITIAL_PASSWORD_FILE = "initial-admin-password"


def tighten(state_dir: Path) -> list[Path]:
    """chmod ``state_dir``, its folders (0700) and files (0600) that allow more; returns the
    paths changed. Symbolic links are not followed."""
    changed: list[Path] = []
    if not state_dir.is_dir():
        return changed
    for path in [state_dir, *sorted(state_dir.rglob("*"))]:
        with contextlib.suppress(FileNotFoundError):  # a staging file may vanish meanwhile
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                wanted = DIR_MODE
            elif stat.S_ISREG(st.st_mode):
                wanted = FILE_MODE
            else:
                continue
            if stat.S_IMODE(st.st_mode) & ~wanted:
                path.chmod(stat.S_IMODE(st.st_mode) & wanted)
                changed.append(path)
    return changed


def prepare_state_dir(state_dir: Path) -> list[Path]:
    """Create ``state_dir`` (0700) and its databases (0600) if missing, and tighten what
    exists; returns the paths whose mode was changed (each logged)."""
    state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed = tighten(state_dir)
    if changed:
        _log.warning(
            "tightened permissions of %d path(s) in %s to 0700 (folders) / 0600 (files): %s",
            len(changed),
            state_dir,
            ", ".join(str(p.relative_to(state_dir.parent)) for p in changed[:10])
            + (" ..." if len(changed) > 10 else ""),
        )
    for name in DATABASES:
        fd = os.open(state_dir / name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.close(fd)
    return changed


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by the owner only (0600, never any wider).
    An existing file is replaced."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
