"""``GET /healthz`` (no login): 200 when the server can store files and answer from its state
database, 503 otherwise, with a small JSON body naming each check.

Checks, each on every request (they are cheap):

- ``files`` and ``state``: a tiny file is created, written, fsynced and removed in the files
  folder and in the state folder (a read-only or full file system, or lost permissions fail);
- ``database``: ``SELECT 1`` on a fresh connection to the state database (opened read-write,
  so a missing or read-only database fails);
- ``objects`` (only with ``storage: s3://...``): the bucket answers a HEAD request.

Failures are reported by error name only (``EROFS``), never with paths.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from davserver.web.wsgi import StartResponse, respond
from providers.statedb import is_postgres_url

PATH = "/healthz"
PROBE_PREFIX = ".davsync-healthz-"


def probe_writable(folder: Path) -> str | None:
    """None if a file can be created, written, fsynced and removed in ``folder``; else the
    error's symbolic name (``EROFS``, ``ENOSPC``, ``EACCES``, ...)."""
    path = folder / f"{PROBE_PREFIX}{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return errno.errorcode.get(exc.errno or 0, "OSError")
    return None


def probe_database(db_path: Path | str, timeout_s: float = 5.0) -> str | None:
    """None if the state database at ``db_path`` (a SQLite file or a PostgreSQL URL) answers
    ``SELECT 1``; else a short reason."""
    if is_postgres_url(db_path):
        from providers.postgres import probe  # the driver is only needed for PostgreSQL

        return probe(str(db_path), timeout_s)
    db_path = Path(db_path)
    try:
        uri = f"{db_path.absolute().as_uri()}?mode=rw"  # a relative --root is common
        conn = sqlite3.connect(uri, uri=True, timeout=timeout_s)
    except sqlite3.Error as exc:
        return type(exc).__name__ + ": " + str(exc).split(":")[0]
    try:
        row = conn.execute("SELECT 1").fetchone()
        return None if row == (1,) else "unexpected answer"
    except sqlite3.Error as exc:
        return type(exc).__name__ + ": " + str(exc).split(":")[0]
    finally:
        conn.close()


class HealthCheck:
    """The checks for one server (see the module docstring)."""

    def __init__(
        self,
        files_dir: Path,
        state_dir: Path,
        db_path: Path | str,
        objects: Callable[[], str | None] | None = None,
    ) -> None:
        """``objects``: the object-store probe (None: no object store)."""
        self.files_dir = files_dir
        self.state_dir = state_dir
        self.db_path = db_path
        self.objects = objects

    def run(self) -> dict[str, str]:
        """Check name -> ``ok`` or the reason it failed."""
        results = {
            "files": probe_writable(self.files_dir),
            "state": probe_writable(self.state_dir),
            "database": probe_database(self.db_path),
        }
        if self.objects is not None:
            results["objects"] = self.objects()
        return {name: reason or "ok" for name, reason in results.items()}

    def serve(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """Answer ``GET``/``HEAD /healthz``."""
        checks = self.run()
        healthy = all(v == "ok" for v in checks.values())
        body = json.dumps({"status": "ok" if healthy else "failing", "checks": checks}) + "\n"
        status = "200 OK" if healthy else "503 Service Unavailable"
        return respond(environ, start_response, status, body.encode(), "application/json")
