"""Where shared login state lives: the state database (SQLite or PostgreSQL), or a private
file.

The login throttle and the Digest nonce registry keep their state in the state database so
that every server process on the same database shares it (as the lock store does). Without a path
(tests, embedding), each instance gets a private file in a temporary folder that is removed
with the instance.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path

from providers.statedb import StateDB, open_db


def open_state_db(
    owner: object,
    db_path: Path | str | None,
    schema: str,
    *,
    component: str = "",
    migrations: Sequence[str] = (),
) -> StateDB:
    """The state database at ``db_path`` (a SQLite file or a ``postgresql://`` URL, see
    ``providers.statedb.open_db``) with ``schema``; with none, a private SQLite file that is
    deleted when ``owner`` is garbage-collected."""
    if db_path is None:
        folder = tempfile.mkdtemp(prefix="davsync-state-")
        weakref.finalize(owner, shutil.rmtree, folder, True)
        db_path = Path(folder) / "state.sqlite3"
    return open_db(db_path, schema, component=component, migrations=migrations)
