"""Ignore rules in gitignore syntax, with sane defaults, and which rule matched.

Rules come in layers, later layers winning as in git (a later ``!pattern`` re-includes):
the built-in defaults, the ``.syncignore`` file at the source root, the configuration's
``ignore`` list, then ``--exclude`` flags. ``IgnoreRules.match`` says which rule decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

DEFAULT_PATTERNS: tuple[str, ...] = (
    "~$*",
    "*.tmp",
    "*.part",
    "Thumbs.db",
    "desktop.ini",
    ".DS_Store",
    "._*",
    ".syncclient/",
)
IGNORE_FILE = ".syncignore"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One ignore line and where it came from (``defaults``, a file:line, ``config``...)."""

    text: str
    source: str


@dataclass(frozen=True, slots=True)
class Match:
    """The rule that decided a path; ``ignored`` is False for a matching ``!`` rule."""

    pattern: Pattern
    ignored: bool

    def describe(self) -> str:
        """``source: pattern`` for messages."""
        return f"{self.pattern.source}: {self.pattern.text}"


class IgnoreRules:
    """A compiled list of gitignore-style patterns."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = tuple(p for p in patterns if p.text.strip() and not _comment(p.text))
        self._spec = pathspec.GitIgnoreSpec.from_lines([p.text for p in self.patterns])

    def match(self, path: str, is_dir: bool = False) -> Match | None:
        """The last rule matching ``path`` (relative, ``/``-separated), or None."""
        probe = path.rstrip("/") + ("/" if is_dir else "")
        result = self._spec.check_file(probe)
        if result.index is None or result.include is None:
            return None
        return Match(self.patterns[result.index], bool(result.include))

    def ignored(self, path: str, is_dir: bool = False) -> Match | None:
        """The rule ignoring ``path``, or None if the path is not ignored."""
        m = self.match(path, is_dir)
        return m if m is not None and m.ignored else None


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def build_rules(
    root: Path | None,
    config_patterns: Iterable[str] = (),
    flag_patterns: Iterable[str] = (),
    use_defaults: bool = True,
    extra: Iterable[str] = (),
) -> IgnoreRules:
    """Compile the layers (see the module docstring). ``extra`` are patterns the client adds
    itself (the archive folder of a ``move`` rule); they come first so the user can see them.
    Reads ``<root>/.syncignore`` if present; an unreadable file is skipped.
    """
    patterns: list[Pattern] = [Pattern(p, "client") for p in extra]
    if use_defaults:
        patterns += [Pattern(p, "defaults") for p in DEFAULT_PATTERNS]
    if root is not None:
        patterns += _file_patterns(root / IGNORE_FILE)
    patterns += [Pattern(p, "config") for p in config_patterns]
    patterns += [Pattern(p, "--exclude") for p in flag_patterns]
    return IgnoreRules(patterns)


def _file_patterns(path: Path) -> list[Pattern]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [Pattern(line, f"{path.name}:{n}") for n, line in enumerate(lines, 1)]
