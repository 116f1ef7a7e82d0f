"""Names that cannot live on a Windows server or share (pure; no I/O; standard library only).

This module is the one Windows-name rule set of the project: the client's planner uses it,
and so does the server's portable-names policy (``providers.paths.PathPolicy``), so a name the
client lets through is exactly a name the server accepts. It imports nothing but the
standard library, so the client-only install carries it.

A tree synced here may later be copied to Windows, served over SMB or opened on a Windows
PC. The planner reports such names (``report``), leaves them out of the run (``skip``) or
ignores the check (``off``); see ``--windows-names``.

Checked per path component (``component_problem``): reserved device names (``CON``,
``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``, ``COM¹²³``, ``LPT¹²³``,
``CONIN$``, ``CONOUT$``; in any case, with any extension, and with spaces before the
extension, as Windows strips them: ``CON .txt`` is ``CON``), a trailing dot or space, the
characters ``<>:"\\|?*`` and control characters. Checked per path: more than ``MAX_PATH``
characters, and case-only clashes (``case_key``: NFC, then case-folded) between two files
(``a/B.txt`` and ``a/b.txt``; folders that differ only in case clash the same way).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from enum import StrEnum

MAX_PATH = 260
_PORT_SUFFIXES = [str(i) for i in range(10)] + ["\u00b9", "\u00b2", "\u00b3"]
RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{i}" for i in _PORT_SUFFIXES]
    + [f"LPT{i}" for i in _PORT_SUFFIXES]
)
BAD_CHARS = frozenset('<>:"\\|?*')


class WindowsNames(StrEnum):
    """What a run does with a name Windows cannot hold."""

    REPORT = "report"
    SKIP = "skip"
    OFF = "off"


def case_key(name: str) -> str:
    """The key under which Windows (case-insensitive, NFC) sees ``name``."""
    return unicodedata.normalize("NFC", name).casefold()


def component_problem(name: str) -> str | None:
    """Why one path component cannot exist on Windows, or None."""
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in RESERVED:
        return f"reserved device name {stem!r} in {name!r}"
    bad = sorted({c for c in name if c in BAD_CHARS or ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"character(s) {shown} not allowed on Windows in {name!r}"
    if name.endswith((".", " ")):
        return f"trailing {'dot' if name.endswith('.') else 'space'} in {name!r}"
    return None


def path_problem(path: str) -> str | None:
    """Why ``path`` (relative, ``/``-separated) cannot exist on Windows, or None."""
    for part in path.split("/"):
        problem = component_problem(part)
        if problem:
            return problem
    if len(path) > MAX_PATH:
        return f"path is {len(path)} characters long (Windows limit {MAX_PATH})"
    return None


def case_clashes(paths: Iterable[str]) -> dict[str, str]:
    """Files whose path differs from another's only in case: path -> what it clashes with.

    Folders count too (``a/B/x`` and ``a/b/y`` cannot both exist on Windows). In each group of
    spellings the first in sorted order is not listed: it alone would fit.
    """
    files = sorted(set(paths))
    spellings: dict[str, set[str]] = defaultdict(set)
    for p in files:
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            spellings[case_key(prefix)].add(prefix)
    losers: dict[str, str] = {}
    for group in spellings.values():
        if len(group) > 1:
            first, *rest = sorted(group)
            losers.update((r, first) for r in rest)
    out: dict[str, str] = {}
    for p in files:
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in losers:
                out[p] = losers[prefix]
                break
    return out


def name_problems(paths: Iterable[str]) -> dict[str, str]:
    """Every path with a Windows naming problem -> a one-line explanation."""
    paths = list(paths)
    out: dict[str, str] = {}
    for p in paths:
        problem = path_problem(p)
        if problem:
            out[p] = problem
    for p, other in case_clashes(paths).items():
        out.setdefault(p, f"differs only in case from {other!r}")
    return out
