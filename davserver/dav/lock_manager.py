"""WsgiDAV's ``LockManager`` with the ancestor walks answered in one storage query.

``LockManager`` decides whether a write may proceed by asking its storage for the direct locks
of the URL, then of each parent up to ``/``: one query per path segment, twice per PUT (the
early check and the write transaction). :class:`DavsyncLockManager` reads the locks of the
whole walk at once (:meth:`SQLiteLockStorage.get_direct_locks`) and applies exactly
``LockManager``'s rules to them, in the same order, so the answers (including the hrefs of a
``423 Locked`` body) are unchanged. Nothing is cached between calls: every check reads the
shared state database, so several server processes sharing it stay consistent.

Installed on a built ``WsgiDAVApp`` by :func:`install_lock_manager`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsgidav.dav_error import DAVErrorCondition, PRECONDITION_CODE_LockConflict
from wsgidav.lock_man.lock_manager import LockManager, normalize_lock_root

from davserver.dav.lock_store import SQLiteLockStorage, lock_roots_up

if TYPE_CHECKING:
    from wsgidav._types import LockDict
    from wsgidav.wsgidav_app import WsgiDAVApp

__all__ = ["DavsyncLockManager", "install_lock_manager"]


class DavsyncLockManager(LockManager):
    """``LockManager`` over :class:`SQLiteLockStorage`, one query per ancestor walk."""

    storage: SQLiteLockStorage

    def __init__(self, storage: SQLiteLockStorage) -> None:
        super().__init__(storage)

    def _walk(self, url: str) -> list[tuple[str, LockDict]]:
        """``(walked root, lock)`` for the direct locks of ``url`` and of each parent, in the
        order ``LockManager`` meets them (``url`` first; per root, oldest first)."""
        roots = lock_roots_up(url)
        locks = self.storage.get_direct_locks(sorted(set(roots)))
        if not locks:
            return []
        return [(root, lock) for root in roots for lock in locks if lock["root"] == root]

    def _get_write_conflicts(
        self, url: str, depth: str, token_list: Sequence[str], principal: str
    ) -> DAVErrorCondition:
        """``LockManager._get_write_conflicts`` with the parent walk read in one query."""
        errcond = DAVErrorCondition(PRECONDITION_CODE_LockConflict)
        url = normalize_lock_root(url)
        for root, lock in self._walk(url):
            if root != url and lock["depth"] != "infinity":
                continue  # parents count only with Depth: infinity
            if principal == lock["principal"] and lock["token"] in token_list:
                continue  # the principal holds this lock and submitted its token
            errcond.add_href(lock["root"])
        if depth == "infinity":
            for lock in self.storage.get_lock_list(
                url, include_root=False, include_children=True, token_only=False
            ):
                errcond.add_href(lock["root"])
        return errcond

    def get_indirect_url_lock_list(
        self, url: str, *, principal: str | None = None
    ) -> list[LockDict]:
        """``LockManager.get_indirect_url_lock_list`` with the parent walk in one query."""
        url = normalize_lock_root(url)
        return [
            lock
            for root, lock in self._walk(url)
            if (root == url or lock["depth"] == "infinity")
            and (principal is None or principal == lock["principal"])
        ]


def install_lock_manager(dav_app: WsgiDAVApp) -> None:
    """Give the built ``WsgiDAVApp`` ``dav_app`` (and each of its providers) a
    :class:`DavsyncLockManager` over its :class:`SQLiteLockStorage`; other storages keep
    WsgiDAV's manager."""
    current = getattr(dav_app, "lock_manager", None)
    if current is None or not isinstance(current.storage, SQLiteLockStorage):
        return
    manager = DavsyncLockManager(current.storage)
    dav_app.lock_manager = manager
    for provider in dav_app.provider_map.values():
        provider.set_lock_manager(manager)
