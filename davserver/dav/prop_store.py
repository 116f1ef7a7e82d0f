"""WebDAV dead-property storage in the state database (SQLite or PostgreSQL), shared by every
server process using it.

``SQLitePropertyManager`` is a drop-in replacement for WsgiDAV's ``PropertyManager``; wire it
in with ``config["property_manager"] = SQLitePropertyManager(path)``. WsgiDAV calls
``get_properties``, ``get_property``, ``write_property``, ``remove_property``,
``remove_properties``, ``copy_properties`` and ``move_properties``.

Contracts:

- Keys are WsgiDAV ref-URLs (quoted, starting with ``/``). A trailing slash is ignored, so
  ``/a/b/`` and ``/a/b`` name the same resource (WsgiDAV treats them as equal, and a
  collection's ref-URL carries the slash).
- Values are what WsgiDAV passes to ``write_property``: the element serialised with
  ``etree.tostring`` (bytes). They are stored byte for byte and ``get_property`` returns
  them as bytes, ready for ``xml_tools.string_to_xml``. A ``str`` value is stored UTF-8
  encoded.
- Bounds: a value may have at most ``max_value_bytes`` bytes (default 64 KiB), a name at
  most ``max_name_bytes`` UTF-8 bytes (default 1 KiB), and a resource at most
  ``max_properties_per_resource`` properties (default 256). Exceeding one raises
  ``DAVError(507 Insufficient Storage)``, the status RFC 4918 (9.2.1) assigns to a property
  the server cannot record; PROPPATCH reports it in the property's propstat. A disk too full
  for the database to grow gives the same 507 (and nothing is written). The checks also
  run for ``dry_run=True`` (PROPPATCH's validation pass); the count check there considers
  only the one property, so the real pass may still refuse later ones of the same request.
- Every change is one write transaction (``providers.statedb``), atomic across processes.
- ``copy_properties`` and ``move_properties`` replace the destination's properties with the
  source's (with children: the whole destination subtree is replaced). Subtrees are selected
  with the range ``url >= prefix + '/' AND url < prefix + '0'``, so LIKE wildcards in URLs
  and siblings sharing a prefix (``/a/bc`` next to ``/a/b``) are never affected.
- ``remove_properties`` removes the resource's properties and those of everything below it:
  a deleted collection takes its members' properties with it. (WsgiDAV's in-memory manager
  leaves them behind, where a later resource of the same name would inherit them.)
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wsgidav.dav_error import HTTP_INSUFFICIENT_STORAGE, DAVError

from davserver.http.environ import Environ
from providers.statedb import StateConnection, StateDB, open_db

__all__ = ["SQLitePropertyManager"]

_logger = logging.getLogger(__name__)


@contextmanager
def _full_disk_is_507() -> Iterator[None]:
    """Re-raise SQLite's "database or disk is full" from the block as DAVError(507)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc).lower():
            raise
        raise DAVError(HTTP_INSUFFICIENT_STORAGE, context_info=f"property database: {exc}") from exc


_SCHEMA = """
CREATE TABLE IF NOT EXISTS dav_props (
    url   TEXT NOT NULL,
    name  TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (url, name)
) WITHOUT ROWID;
"""

#: Selects ``url`` equal to ``:key`` or below it (parameters ``key``, ``low``, ``high``).
_SUBTREE = "(url = ? OR (url >= ? AND url < ?))"

OptionalEnviron = Environ | None
"""The request environ WsgiDAV passes to a property manager, or None (unused here)."""


def _key(url: str) -> str:
    """The storage key for a ref-URL: the URL without trailing slashes (``/`` stays)."""
    if not isinstance(url, str) or not url.startswith("/"):
        raise ValueError(f"property URL must start with '/': {url!r}")
    return url.rstrip("/") or "/"


def _base(key: str) -> str:
    """The key's prefix for building descendant URLs (``""`` for the root)."""
    return "" if key == "/" else key


def _subtree_params(key: str) -> tuple[str, str, str]:
    """Parameters for ``_SUBTREE`` (key, low, high): ``/`` is followed by ``0`` in code-point
    order (both engines compare the column so: SQLite's binary collation, PostgreSQL's "C")."""
    base = _base(key)
    return key, base + "/", base + "0"


class SQLitePropertyManager:
    """Dead-property manager for WsgiDAV, kept in the SQLite file ``db_path`` (table
    ``dav_props``). Several instances, in one or several processes, share the data."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        max_value_bytes: int = 64 * 1024,
        max_name_bytes: int = 1024,
        max_properties_per_resource: int = 256,
    ) -> None:
        if min(max_value_bytes, max_name_bytes, max_properties_per_resource) <= 0:
            raise ValueError("limits must be positive")
        self.db_path = db_path
        self.max_value_bytes = max_value_bytes
        self.max_name_bytes = max_name_bytes
        self.max_properties_per_resource = max_properties_per_resource
        self._db = open_db(db_path, _SCHEMA, component="dav_props")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.display_name!r})"

    # --- life cycle -----------------------------------------------------------------------

    def _database(self) -> StateDB:
        return self._db

    def close(self) -> None:
        """Release this instance's connections; any later call reopens them."""
        self._db.close()

    def clear(self) -> None:
        """Delete all properties (of every process sharing the file)."""
        with self._database().transaction() as conn:
            conn.execute("DELETE FROM dav_props")

    def _dump(self, msg: str = "") -> None:
        """Log every stored property (WsgiDAV's debug filter calls this)."""
        _logger.info("%r: %s", self, msg)
        rows = (
            self._database()
            .conn()
            .execute("SELECT url, name, length(value) FROM dav_props ORDER BY url, name")
        )
        for url, name, size in rows:
            _logger.info("    %s %s (%d bytes)", url, name, size)

    # --- reading --------------------------------------------------------------------------

    def get_properties(self, norm_url: str, environ: OptionalEnviron = None) -> list[str]:
        """Names (Clark notation) of the dead properties of ``norm_url``, sorted."""
        rows = (
            self._database()
            .conn()
            .execute("SELECT name FROM dav_props WHERE url = ? ORDER BY name", (_key(norm_url),))
            .fetchall()
        )
        return [str(name) for (name,) in rows]

    def get_property(
        self, norm_url: str, name: str, environ: OptionalEnviron = None
    ) -> bytes | None:
        """The serialised value of property ``name`` of ``norm_url``, or None if absent."""
        row = (
            self._database()
            .conn()
            .execute(
                "SELECT value FROM dav_props WHERE url = ? AND name = ?", (_key(norm_url), name)
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    # --- writing --------------------------------------------------------------------------

    def write_property(
        self,
        norm_url: str,
        name: str,
        property_value: bytes | str,
        dry_run: bool = False,
        environ: OptionalEnviron = None,
    ) -> None:
        """Set property ``name`` of ``norm_url`` to ``property_value`` (serialised XML).

        Raises ``DAVError(507)`` if a bound is exceeded (also when ``dry_run``; then nothing
        is written) and ``ValueError`` for a malformed URL, name or value.
        """
        key = _key(norm_url)
        if not isinstance(name, str) or not name:
            raise ValueError(f"property name must be a non-empty string: {name!r}")
        if isinstance(property_value, str):
            value = property_value.encode("utf-8")
        elif isinstance(property_value, bytes | bytearray | memoryview):
            value = bytes(property_value)
        else:
            raise ValueError(f"property value must be serialised XML: {property_value!r}")
        if len(name.encode("utf-8")) > self.max_name_bytes:
            raise DAVError(
                HTTP_INSUFFICIENT_STORAGE,
                context_info=f"Property name longer than {self.max_name_bytes} bytes.",
            )
        if len(value) > self.max_value_bytes:
            raise DAVError(
                HTTP_INSUFFICIENT_STORAGE,
                context_info=f"Property value larger than {self.max_value_bytes} bytes.",
            )
        if dry_run:
            self._check_count(self._database().conn(), key, name)
            return
        with _full_disk_is_507(), self._database().transaction() as conn:
            self._check_count(conn, key, name)
            conn.execute(
                "INSERT INTO dav_props (url, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (url, name) DO UPDATE SET value = excluded.value",
                (key, name, value),
            )

    def _check_count(self, conn: StateConnection, key: str, name: str) -> None:
        """Raise DAVError(507) if adding ``name`` to ``key`` would exceed the count bound."""
        exists = conn.execute(
            "SELECT 1 FROM dav_props WHERE url = ? AND name = ?", (key, name)
        ).fetchone()
        if exists is not None:
            return
        (count,) = conn.execute("SELECT COUNT(*) FROM dav_props WHERE url = ?", (key,)).fetchone()
        if count >= self.max_properties_per_resource:
            raise DAVError(
                HTTP_INSUFFICIENT_STORAGE,
                context_info=(
                    f"At most {self.max_properties_per_resource} properties per resource."
                ),
            )

    def remove_property(
        self, norm_url: str, name: str, dry_run: bool = False, environ: OptionalEnviron = None
    ) -> None:
        """Remove property ``name`` of ``norm_url``; removing an absent property is no error."""
        key = _key(norm_url)
        if dry_run:
            return
        with self._database().transaction() as conn:
            conn.execute("DELETE FROM dav_props WHERE url = ? AND name = ?", (key, name))

    def remove_properties(self, norm_url: str, environ: OptionalEnviron = None) -> None:
        """Remove all properties of ``norm_url`` and of every resource below it."""
        params = _subtree_params(_key(norm_url))
        with self._database().transaction() as conn:
            conn.execute(f"DELETE FROM dav_props WHERE {_SUBTREE}", params)

    def copy_properties(self, src_url: str, dest_url: str, environ: OptionalEnviron = None) -> None:
        """Make the properties of ``dest_url`` a copy of those of ``src_url`` (no children)."""
        src, dest = _key(src_url), _key(dest_url)
        if src == dest:
            return
        with self._database().transaction() as conn:
            conn.execute("DELETE FROM dav_props WHERE url = ?", (dest,))
            conn.execute(
                "INSERT INTO dav_props (url, name, value)"
                " SELECT ?, name, value FROM dav_props WHERE url = ?",
                (dest, src),
            )

    def move_properties(
        self, src_url: str, dest_url: str, with_children: bool, environ: OptionalEnviron = None
    ) -> None:
        """Move the properties of ``src_url`` to ``dest_url``, replacing the destination's.

        With ``with_children``, the properties of everything below ``src_url`` move along
        (``/src/x`` becomes ``/dest/x``) and replace those of the destination subtree.
        """
        src, dest = _key(src_url), _key(dest_url)
        if src == dest:
            return
        with self._database().transaction() as conn:
            if not with_children:
                conn.execute("DELETE FROM dav_props WHERE url = ?", (dest,))
                conn.execute("UPDATE dav_props SET url = ? WHERE url = ?", (dest, src))
                return
            params = _subtree_params(src)
            # The rows are read out first: the destination subtree may overlap the source (a
            # move onto an ancestor), so the source is taken out before the destination is
            # cleared.
            rows = conn.execute(
                f"SELECT url, name, value FROM dav_props WHERE {_SUBTREE}", params
            ).fetchall()
            src_len, dest_base = len(_base(src)), _base(dest)
            moved = [((dest_base + url[src_len:]) or "/", name, value) for url, name, value in rows]
            conn.execute(f"DELETE FROM dav_props WHERE {_SUBTREE}", params)
            conn.execute(f"DELETE FROM dav_props WHERE {_SUBTREE}", _subtree_params(dest))
            if moved:
                conn.executemany("INSERT INTO dav_props (url, name, value) VALUES (?, ?, ?)", moved)
