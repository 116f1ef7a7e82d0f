"""The server's instance id: the prefix of every ``oc:id`` / ``OC-FileId`` it reports.

Every server process sharing one state must report the same id, or clients see a file's id
change from one request to the next. Where it is kept:

- SQLite state (the default): the file ``<state folder>/instance_id``, created once with a
  fresh id; an existing file's value is kept.
- PostgreSQL state: the table ``instance_id`` of the state database, so servers on separate
  machines (separate state folders) agree. The first server to start writes it, inside one
  write transaction (writers are serialised across servers, so exactly one value wins). If the
  database has none yet and the state folder holds an ``instance_id`` file (a server that ran on
  SQLite before), the file's value seeds the database, so ids clients already hold stay valid.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from providers.statedb import is_postgres_url, open_db

FILE_NAME = "instance_id"

SCHEMA = """
CREATE TABLE IF NOT EXISTS instance_id (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    value     TEXT NOT NULL
);
"""


def new_instance_id() -> str:
    """A fresh instance id (``oc`` and ten hex digits)."""
    return "oc" + secrets.token_hex(5)


def load_instance_id(state_target: Path | str, state_path: Path) -> str:
    """The instance id of the server whose state is ``state_target`` (a SQLite path or a
    PostgreSQL URL) and whose state folder is ``state_path`` (created on first use)."""
    from_file = _read_file(state_path / FILE_NAME)
    if not is_postgres_url(state_target):
        if from_file is None:
            from_file = new_instance_id()
            (state_path / FILE_NAME).write_text(from_file + "\n", encoding="utf-8")
        return from_file
    return _from_database(str(state_target), from_file or new_instance_id())


def _read_file(path: Path) -> str | None:
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _from_database(url: str, candidate: str) -> str:
    """The id stored in the database at ``url``, storing ``candidate`` if there is none."""
    db = open_db(url, SCHEMA)
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO instance_id (singleton, value) VALUES (1, ?) "
                "ON CONFLICT (singleton) DO NOTHING",
                (candidate,),
            )
            row = conn.execute("SELECT value FROM instance_id WHERE singleton = 1").fetchone()
        return str(row[0])
    finally:
        db.close()
