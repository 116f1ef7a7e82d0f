"""Who may read and write which home. Pure; evaluated for every request and destination.

A user always has read-write access to their own home. ``grants`` in the settings give
operators read or read-write access to other homes (``*`` for all). Everyone else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from davserver.settings import Grant

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})


class AccessPolicy:
    """Decides access of an authenticated user to a home."""

    def __init__(self, grants: Iterable[Grant]) -> None:
        self._grants = list(grants)

    def can_read(self, user: str, home: str) -> bool:
        """True if ``user`` may list and read ``home``."""
        return user == home or any(self._matches(g, user, home) for g in self._grants)

    def can_write(self, user: str, home: str) -> bool:
        """True if ``user`` may change ``home``."""
        return user == home or any(
            self._matches(g, user, home) and g.mode == "read-write" for g in self._grants
        )

    def allows(self, user: str, home: str, method: str) -> bool:
        """True if ``method`` is permitted on ``home`` for ``user``."""
        if method.upper() in READ_METHODS:
            return self.can_read(user, home)
        return self.can_write(user, home)

    def can_read_all(self, user: str) -> bool:
        """True if ``user`` holds a grant on every home (``homes: ["*"]``): an operator."""
        return any(g.user == user and "*" in g.homes for g in self._grants)

    def visible_homes(self, user: str, homes: Iterable[str]) -> list[str]:
        """The subset of ``homes`` that ``user`` may see, in the given order."""
        return [h for h in homes if self.can_read(user, h)]

    @staticmethod
    def _matches(grant: Grant, user: str, home: str) -> bool:
        return grant.user == user and ("*" in grant.homes or home in grant.homes)
