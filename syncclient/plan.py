"""The planner: a PURE function from (local inventory, remote inventory, journal, rules, now)
to an ordered list of actions, each with a reason. No I/O, no clock, no randomness: the same
inputs give the same plan, byte for byte.

Decisions per local file, in this order:

1. done-marker and flag files are never sent (``done-marker``); a name Windows cannot hold
   (``syncclient.winnames``) is skipped as ``name-invalid`` when ``windows_names`` is
   ``skip``; with ``report`` (default) the file is planned as usual and its action carries a
   ``name-warning``;
2. a file the scan could not open is ``locked`` (waits, retried next run);
3. a file neither stable for its rule's ``stable_seconds`` nor marked ready waits
   (``waiting-for-stability``);
4. two local files whose paths are one name on the server (the same letters in another
   Unicode form, NFC and NFD: the server stores names in NFC) are both skipped as
   ``conflict`` (sending both would leave only the second, and a post-action would delete
   the first); a folder of that name on the server, or a file where its folder goes, is a
   ``conflict`` too;
   no such file on the server -> upload (``new``); another size -> ``changed-size``;
   another hash -> ``changed-hash``; the same hash -> ``unchanged``. When the server reports
   no hash, the journal's record of an earlier verified upload of the same content counts;
   otherwise the file is re-sent (``changed-hash``, "server reports no hash");
5. ``latest-only:N`` keeps the N newest files per group; the rest are ``superseded``
   (skipped, or queued after everything else with ``rest = later``);
6. unchanged files whose rule says delete/move (or delete-after, once due) get a
   ``post-action``.

The upload queue is one sorted list (not batches): (later tier, rule priority, glob class,
the rule's order key, path).
"""

from __future__ import annotations

import functools
import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import replace

import pathspec

from syncclient.model import (
    Action,
    ActionKind,
    GroupBy,
    JournalView,
    LocalFile,
    LocalInventory,
    OrderBy,
    Plan,
    PostAction,
    Reason,
    RemoteInventory,
    Rule,
)
from syncclient.rules import RuleSet
from syncclient.winnames import WindowsNames, name_problems

DAY_S = 86400.0


def make_plan(
    local: LocalInventory,
    remote: RemoteInventory,
    journal: JournalView,
    rules: RuleSet,
    now: float,
    windows_names: WindowsNames = WindowsNames.REPORT,
) -> Plan:
    """Plan one run (see the module docstring)."""
    skips = [Action(ActionKind.SKIP, i.path, Reason.IGNORED, detail=i.rule) for i in local.ignored]
    markers = _marker_paths(local, rules)
    names = {} if windows_names is WindowsNames.OFF else name_problems(local.files)
    clashes = _normalization_clashes(local.files)
    waits: list[Action] = []
    posts: list[Action] = []
    candidates: list[tuple[LocalFile, Rule, Reason, str]] = []
    live: list[tuple[LocalFile, Rule]] = []
    for path in sorted(local.files):
        f = local.files[path]
        if path in markers:
            skips.append(_action(ActionKind.SKIP, f, Reason.MARKER, Rule(name="")))
            continue
        rule = rules.rule_for(path)
        if path in names and windows_names is WindowsNames.SKIP:
            skips.append(_action(ActionKind.SKIP, f, Reason.NAME_INVALID, rule, names[path]))
            continue
        if path in clashes:
            skips.append(_action(ActionKind.SKIP, f, Reason.CONFLICT, rule, clashes[path]))
            continue
        live.append((f, rule))
        decided = _decide(f, rule, local, remote, journal, now)
        kind, reason, detail = decided
        if kind is ActionKind.UPLOAD:
            candidates.append((f, rule, reason, detail))
        elif kind is ActionKind.WAIT:
            waits.append(_action(kind, f, reason, rule, detail))
        elif kind is ActionKind.POST:
            posts.append(_action(kind, f, reason, rule, detail))
        else:
            skips.append(_action(kind, f, reason, rule, detail))
    superseded = _superseded(live)
    queue: list[tuple[tuple[int, ...], str, Action]] = []
    for f, rule, reason, detail in candidates:
        tier = 0
        if f.path in superseded:
            if rule.order.rest != "later":
                skips.append(
                    _action(ActionKind.SKIP, f, Reason.SUPERSEDED, rule, superseded[f.path])
                )
                continue
            tier, detail = 1, f"{detail}; {superseded[f.path]}, sent later".lstrip("; ")
        act = _action(ActionKind.UPLOAD, f, reason, rule, detail, f.path in journal.open_sessions)
        queue.append((_sort_key(f, rule, tier), f.path, act))
    queue.sort(key=lambda item: (item[0], item[1]))
    by_path = lambda a: a.path  # noqa: E731
    ordered = [a for _, _, a in queue]
    ordered += sorted(posts, key=by_path) + sorted(waits, key=by_path) + sorted(skips, key=by_path)
    if windows_names is WindowsNames.REPORT and names:
        ordered = [replace(a, warning=names[a.path]) if a.path in names else a for a in ordered]
    return Plan(tuple(ordered))


def _decide(
    f: LocalFile,
    rule: Rule,
    local: LocalInventory,
    remote: RemoteInventory,
    journal: JournalView,
    now: float,
) -> tuple[ActionKind, Reason, str]:
    if f.locked:
        return ActionKind.WAIT, Reason.LOCKED, "could not be opened for reading; retried later"
    ready = _marked_ready(f.path, rule, local)
    settled = now - f.stable_since
    if not ready and settled < rule.stable_seconds:
        shown = max(settled, 0.0)
        return (
            ActionKind.WAIT,
            Reason.WAITING,
            f"unchanged for {shown:.0f}s of {rule.stable_seconds:.0f}s",
        )
    if f.digests is None:
        return ActionKind.WAIT, Reason.WAITING, "not hashed yet"
    r = remote.file(f.path)
    if r is None:
        if remote.has_dir(f.path):
            return ActionKind.SKIP, Reason.CONFLICT, "a folder of that name exists on the server"
        blocker = _file_in_the_way(f.path, remote)
        if blocker:
            return (
                ActionKind.SKIP,
                Reason.CONFLICT,
                f"the server has a file {blocker!r} where this file's folder goes",
            )
        return ActionKind.UPLOAD, Reason.NEW, ""
    if r.size != f.size:
        return ActionKind.UPLOAD, Reason.CHANGED_SIZE, f"server has {r.size} bytes"
    same = r.hash_matches(f.digests)
    if same is None:
        sent = journal.sent.get(f.path)
        same = (
            sent is not None
            and sent.sha256 == f.digests.sha256
            and sent.size == r.size
            and (sent.etag is None or r.etag is None or sent.etag == r.etag)
        )
        if not same:
            return ActionKind.UPLOAD, Reason.CHANGED_HASH, "server reports no hash"
    if not same:
        return ActionKind.UPLOAD, Reason.CHANGED_HASH, ""
    return _post_or_unchanged(f, rule, journal, now)


def _file_in_the_way(path: str, remote: RemoteInventory) -> str:
    """The folder of ``path`` (or one above it) that is a file on the server, or ``""``."""
    parent = posixpath.dirname(path)
    while parent:
        if remote.file(parent) is not None:
            return parent
        parent = posixpath.dirname(parent)
    return ""


def _normalization_clashes(paths: Iterable[str]) -> dict[str, str]:
    """Paths that are one name on the server with another local path (equal in NFC),
    each with the sentence that says so."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if not path.isascii():
            groups[unicodedata.normalize("NFC", path)].append(path)
    out: dict[str, str] = {}
    for same in groups.values():
        if len(same) > 1:
            for path in same:
                others = ", ".join(repr(p) for p in sorted(same) if p != path)
                out[path] = (
                    f"one name on the server with {others} (the same letters in another "
                    "Unicode form); rename one of them"
                )
    return out


def _post_or_unchanged(
    f: LocalFile, rule: Rule, journal: JournalView, now: float
) -> tuple[ActionKind, Reason, str]:
    post = rule.post
    if post.action in (PostAction.DELETE, PostAction.MOVE):
        return ActionKind.POST, Reason.UNCHANGED, post.action.value
    if post.action is PostAction.DELETE_AFTER:
        sent = journal.sent.get(f.path)
        digests = f.digests
        if sent is not None and digests is not None and sent.sha256 == digests.sha256:
            due = sent.verified_at + post.days * DAY_S
            if now >= due:
                return ActionKind.POST, Reason.UNCHANGED, f"delete (verified {post.days:g}d ago)"
            return ActionKind.SKIP, Reason.UNCHANGED, f"delete in {(due - now) / DAY_S:.1f}d"
        return ActionKind.SKIP, Reason.UNCHANGED, "verified now; delete-after starts counting"
    return ActionKind.SKIP, Reason.UNCHANGED, ""


def _marked_ready(path: str, rule: Rule, local: LocalInventory) -> bool:
    return marked_ready(path, rule, local.files.keys())


def marked_ready(path: str, rule: Rule, present: Collection[str]) -> bool:
    """True if a done-marker for ``path`` or a flag file in its folder is present."""
    if rule.done_suffix and path + rule.done_suffix in present:
        return True
    if rule.flag_file:
        folder = posixpath.dirname(path)
        return posixpath.join(folder, rule.flag_file) in present
    return False


def worth_hashing(f: LocalFile, rule: Rule, present: Collection[str], now: float) -> bool:
    """Whether the scan should hash ``f`` now: it is settled or marked ready."""
    return now - f.stable_since >= rule.stable_seconds or marked_ready(f.path, rule, present)


def _marker_paths(local: LocalInventory, rules: RuleSet) -> set[str]:
    suffixes = rules.done_suffixes()
    flags = set(rules.flag_files())
    return {
        p
        for p in local.files
        if posixpath.basename(p) in flags or (suffixes and p.endswith(suffixes))
    }


def _superseded(live: Iterable[tuple[LocalFile, Rule]]) -> dict[str, str]:
    """Files beyond the N newest of their group under a ``latest-only`` rule."""
    groups: dict[tuple[str, str], list[LocalFile]] = defaultdict(list)
    limits: dict[tuple[str, str], int] = {}
    for f, rule in live:
        n = rule.order.latest_only
        if n is None:
            continue
        folder = posixpath.dirname(f.path) if rule.order.group_by is GroupBy.FOLDER else ""
        key = (rule.name, folder)
        groups[key].append(f)
        limits[key] = n
    out: dict[str, str] = {}
    for key, files in groups.items():
        files.sort(key=lambda f: (-f.mtime_ns, f.path))
        for f in files[limits[key] :]:
            out[f.path] = f"not among the {limits[key]} newest"
    return out


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines([pattern])


def _class_rank(path: str, classes: tuple[str, ...]) -> int:
    for i, pattern in enumerate(classes):
        if _glob(pattern).match_file(path):
            return i
    return len(classes)


def _sort_key(f: LocalFile, rule: Rule, tier: int) -> tuple[int, ...]:
    by = rule.order.by
    if by is OrderBy.NEWEST_FIRST:
        k = -f.mtime_ns
    elif by is OrderBy.OLDEST_FIRST:
        k = f.mtime_ns
    elif by is OrderBy.SMALLEST_FIRST:
        k = f.size
    elif by is OrderBy.LARGEST_FIRST:
        k = -f.size
    else:
        k = 0
    return (tier, rule.priority, _class_rank(f.path, rule.order.classes), k)


def _action(
    kind: ActionKind,
    f: LocalFile,
    reason: Reason,
    rule: Rule,
    detail: str = "",
    resume: bool = False,
) -> Action:
    return Action(
        kind=kind,
        path=f.path,
        reason=reason,
        size=f.size,
        mtime_ns=f.mtime_ns,
        rule=rule.name,
        detail=detail,
        resume=resume,
        post=rule.post,
    )
