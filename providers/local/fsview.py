"""Storage paths mapped onto the root directory, without ever following a symlink.

Every component of a storage path is ``lstat``-ed: a symlink, a device, a FIFO or a socket
anywhere on the way is treated as absent, so nothing outside the root is reachable through
the provider. Reserved paths (the staging fallback and any state kept inside the root) are
refused by ``storage_path`` and hidden from listings, as are names that the path policy
rejects or that are not in NFC form (they could not be addressed).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from providers.errors import InvalidPathError
from providers.paths import MAX_PATH_BYTES, is_within, normalize, parent_of, validate_segment

STAGING_FALLBACK_NAME = ".davsync-staging"
_NORMALIZED_KEPT = 4096

_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9 _.,+=@~-]{1,255}")
"""Names ``validate_segment`` accepts unchanged without looking further (ASCII is NFC);
``.`` and ``..`` excepted."""
_DOTS = frozenset((".", ".."))


def is_file(st: os.stat_result) -> bool:
    """True for a regular file."""
    return stat.S_ISREG(st.st_mode)


def is_dir(st: os.stat_result) -> bool:
    """True for a directory."""
    return stat.S_ISDIR(st.st_mode)


class FsView:
    """The visible part of the tree below ``root``."""

    def __init__(self, root: Path, reserved: Iterable[str]) -> None:
        self.root = root
        self.reserved = frozenset(reserved)
        self._root_text = os.fspath(root)
        self._normalized: dict[str, str] = {}

    def storage_path(self, raw: str) -> str:
        """Normalise ``raw``; InvalidPathError if the policy forbids it or it is reserved.

        A pure function of ``raw``: the accepted ones are remembered (a bounded number), since
        one request asks for the same few paths several times."""
        known = self._normalized.get(raw)
        if known is not None:
            return known
        path = normalize(raw)
        if any(path and is_within(path, r) for r in self.reserved):
            raise InvalidPathError(f"{path!r} is reserved for the server")
        if len(self._normalized) >= _NORMALIZED_KEPT:
            self._normalized.clear()
        self._normalized[raw] = path
        return path

    def full(self, path: str) -> Path:
        """The filesystem path of storage path ``path``."""
        return self.root / path if path else self.root

    def lookup(self, path: str) -> os.stat_result | None:
        """``lstat`` of the file or collection at ``path``; None if absent, if any component
        is a symlink or not a directory, or if it is neither a file nor a directory.

        Raises OSError for failures other than absence.
        """
        if path == "":
            return os.lstat(self._root_text)
        current = self._root_text
        parts = path.split("/")
        for part in parts[:-1]:
            current = f"{current}/{part}"
            st = lstat_or_none(current)
            if st is None or not is_dir(st):
                return None
        st = lstat_or_none(f"{current}/{parts[-1]}")
        if st is None or not (is_file(st) or is_dir(st)):
            return None
        return st

    def lookup_with_parent(self, path: str) -> tuple[os.stat_result | None, os.stat_result | None]:
        """``(lookup(parent_of(path)), lookup(path))`` for a non-root ``path``, in one walk.

        Raises OSError for failures other than absence.
        """
        parts = path.split("/")
        current = self._root_text
        parent: os.stat_result | None = os.lstat(current) if len(parts) == 1 else None
        for part in parts[:-1]:
            current = f"{current}/{part}"
            parent = lstat_or_none(current)
            if parent is None or not is_dir(parent):
                return None, None
        st = lstat_or_none(f"{current}/{parts[-1]}")
        if st is None or not (is_file(st) or is_dir(st)):
            return parent, None
        return parent, st

    def child_path(self, parent: str, name: str) -> str | None:
        """The storage path of entry ``name`` of ``parent`` (a storage path) if it is
        addressable and visible: what ``storage_path`` accepts unchanged, checking only the
        new name."""
        return self._child_namer(parent)(name)

    def _child_namer(self, parent: str) -> Callable[[str], str | None]:
        """``child_path`` for the entries of one folder ``parent``, with what depends only on
        the folder (which reserved names lie in it) worked out once."""
        if any(is_within(parent, r) for r in self.reserved):
            return lambda name: None
        here = frozenset(r for r in self.reserved if parent_of(r) == parent)
        prefix = f"{parent}/" if parent else ""
        room = MAX_PATH_BYTES - len(prefix.encode("utf-8"))

        def name_child(name: str) -> str | None:
            if not (_PLAIN_SEGMENT.fullmatch(name) and name not in _DOTS):
                try:
                    if validate_segment(name) != name:  # not NFC: could not be addressed
                        return None
                except InvalidPathError:
                    return None
            if len(name) * 4 > room and len(name.encode("utf-8")) > room:
                return None
            path = prefix + name
            return None if path in here else path

        return name_child

    def children(self, path: str) -> Iterator[tuple[str, os.stat_result]]:
        """(storage path, lstat) of the visible files and collections in collection ``path``.

        Raises OSError (ENOTDIR/ENOENT if ``path`` is not a directory).
        """
        name_child = self._child_namer(path)
        with os.scandir(self.full(path)) as entries:
            for entry in entries:
                child = name_child(entry.name)
                if child is None:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if is_file(st) or is_dir(st):
                    yield child, st

    def walk_files(self, path: str) -> Iterator[tuple[str, os.stat_result]]:
        """Every visible file below collection ``path``, depth first. Raises OSError."""
        stack = [path]
        while stack:
            current = stack.pop()
            for child, st in self.children(current):
                if is_dir(st):
                    stack.append(child)
                else:
                    yield child, st


def lstat_or_none(path: Path | str) -> os.stat_result | None:
    """``lstat`` of ``path``; None if it or a parent is absent or a parent is not a folder."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
