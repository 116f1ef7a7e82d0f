"""Frozen value types shared by every stage: local and remote entries, rules, actions, plans.

Paths are always relative, ``/``-separated and without a leading slash (``sub/a.csv``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Digests:
    """Hex digests of a file's content (lower case)."""

    sha256: str
    sha1: str
    md5: str


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file found by the scan.

    ``stable_since`` is the unix time since which size and mtime are known not to have
    changed; ``digests`` is None when the file was not hashed (still settling, or locked).
    """

    path: str
    size: int
    mtime_ns: int
    inode: int = 0
    dev: int = 0
    stable_since: float = 0.0
    digests: Digests | None = None
    locked: bool = False

    @property
    def mtime(self) -> float:
        """Modification time in unix seconds."""
        return self.mtime_ns / 1e9


@dataclass(frozen=True, slots=True)
class IgnoredPath:
    """A file or folder the ignore rules excluded, and the rule that did it."""

    path: str
    rule: str


@dataclass(frozen=True)
class LocalInventory:
    """The result of one scan."""

    files: Mapping[str, LocalFile]
    ignored: tuple[IgnoredPath, ...] = ()
    scanned_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file on the server, with whatever hashes the server reported."""

    path: str
    size: int
    mtime_ns: int | None = None
    etag: str | None = None
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None

    def hash_matches(self, d: Digests) -> bool | None:
        """True/False when the server reported a hash to compare with, None when it did not.

        The strongest hash both sides have decides.
        """
        for ours, theirs in ((d.sha256, self.sha256), (d.sha1, self.sha1), (d.md5, self.md5)):
            if theirs:
                return ours == theirs.lower()
        return None


class ListingMethod(StrEnum):
    """How the remote inventory was obtained."""

    INVENTORY = "inventory"
    PROPFIND = "propfind"
    MISSING = "missing"


@dataclass(frozen=True)
class RemoteInventory:
    """The server's view of the target collection. ``exists`` is False if it is missing."""

    files: Mapping[str, RemoteFile]
    dirs: frozenset[str] = frozenset()
    method: ListingMethod = ListingMethod.INVENTORY
    exists: bool = True

    def file(self, path: str) -> RemoteFile | None:
        """The server's file for the local ``path``: under that name, else under its NFC
        form (a server that normalises names, as davserver does, lists a name sent as NFD
        in NFC; without this lookup such a file would be "new" on every run)."""
        found = self.files.get(path)
        if found is None and not path.isascii():
            found = self.files.get(unicodedata.normalize("NFC", path))
        return found

    def has_dir(self, path: str) -> bool:
        """Whether the server has a folder ``path`` (exactly, or in NFC form)."""
        return path in self.dirs or (
            not path.isascii() and unicodedata.normalize("NFC", path) in self.dirs
        )


@dataclass(frozen=True, slots=True)
class SentRecord:
    """What the journal knows about a file verified earlier."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    verified_at: float
    etag: str | None = None
    post_done: bool = False


@dataclass(frozen=True)
class JournalView:
    """The parts of the journal the planner reads: verified files and open upload sessions."""

    sent: Mapping[str, SentRecord] = field(default_factory=dict)
    open_sessions: frozenset[str] = frozenset()


class OrderBy(StrEnum):
    """Sort keys for the upload queue."""

    NEWEST_FIRST = "newest-first"
    OLDEST_FIRST = "oldest-first"
    SMALLEST_FIRST = "smallest-first"
    LARGEST_FIRST = "largest-first"
    PATH = "path"


class GroupBy(StrEnum):
    """What ``latest_only`` counts per: each folder, or the whole rule."""

    FOLDER = "folder"
    RULE = "rule"


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """How a rule's files are queued.

    ``classes``: ordered glob classes; a file's class is the first pattern it matches, files
    of earlier classes go first, files matching none go last. ``latest_only``: send only the
    N newest files per group; the rest are never sent (``rest = "skip"``) or queued after
    every other file (``rest = "later"``).
    """

    by: OrderBy = OrderBy.PATH
    classes: tuple[str, ...] = ()
    latest_only: int | None = None
    group_by: GroupBy = GroupBy.FOLDER
    rest: str = "skip"


class PostAction(StrEnum):
    """What happens to a local file once its upload is verified."""

    KEEP = "keep"
    DELETE = "delete"
    MOVE = "move"
    DELETE_AFTER = "delete-after"


@dataclass(frozen=True, slots=True)
class PostPolicy:
    """Post-action of a rule; ``archive_dir`` for MOVE, ``days`` for DELETE_AFTER."""

    action: PostAction = PostAction.KEEP
    archive_dir: str = ""
    days: float = 0.0


@dataclass(frozen=True, slots=True)
class Rule:
    """Settings for the files a rule matches (gitignore-style ``match`` patterns).

    A file is ready once its size and mtime have been stable for ``stable_seconds``, or when
    the done-marker ``<file><done_suffix>`` or a ``flag_file`` in its folder exists.
    """

    name: str = "default"
    match: tuple[str, ...] = ("*",)
    stable_seconds: float = 30.0
    done_suffix: str = ""
    flag_file: str = ""
    order: OrderPolicy = OrderPolicy()
    post: PostPolicy = PostPolicy()
    priority: int = 0


class ActionKind(StrEnum):
    """What the executor does with a planned entry."""

    UPLOAD = "upload"
    POST = "post-action"
    WAIT = "wait"
    SKIP = "skip"


class Reason(StrEnum):
    """Why an entry got its action."""

    NEW = "new"
    CHANGED_SIZE = "changed-size"
    CHANGED_HASH = "changed-hash"
    WAITING = "waiting-for-stability"
    IGNORED = "ignored"
    LOCKED = "locked"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"
    MARKER = "done-marker"
    CONFLICT = "conflict"
    NAME_INVALID = "name-invalid"
    NAME_WARNING = "name-warning"


@dataclass(frozen=True, slots=True)
class Action:
    """One line of the plan. ``resume`` is True when an upload session is open for it;
    ``warning`` explains a name Windows cannot hold (the action itself is unaffected)."""

    kind: ActionKind
    path: str
    reason: Reason
    size: int = 0
    mtime_ns: int = 0
    rule: str = ""
    detail: str = ""
    resume: bool = False
    post: PostPolicy = PostPolicy()
    warning: str = ""


@dataclass(frozen=True)
class Plan:
    """Ordered actions: uploads in queue order, then post-actions, waits and skips."""

    actions: tuple[Action, ...]

    def of_kind(self, kind: ActionKind) -> tuple[Action, ...]:
        """The actions of one kind, in plan order."""
        return tuple(a for a in self.actions if a.kind is kind)

    @property
    def uploads(self) -> tuple[Action, ...]:
        """The upload queue."""
        return self.of_kind(ActionKind.UPLOAD)

    def counts(self) -> dict[str, int]:
        """Number of actions per reason (``name-warning`` counts actions with a warning)."""
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.reason.value] = out.get(a.reason.value, 0) + 1
            if a.warning:
                out[Reason.NAME_WARNING.value] = out.get(Reason.NAME_WARNING.value, 0) + 1
        return out
