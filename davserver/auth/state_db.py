"""Where shared login state lives: a SQLite file of the state folder, or a private one.

The login throttle and the Digest nonce registry keep their state in SQLite so that every
server process on the same state folder shares it (as the lock store does). Without a path
(tests, embedding), each instance gets a private file in a temporary folder that is removed
with the instance.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

from providers.sqlite import ThreadLocalDB


def open_state_db(owner: object, db_path: Path | None, schema: str) -> ThreadLocalDB:
    """A ``ThreadLocalDB`` on ``db_path`` with ``schema``; with no path, on a private file
    that is deleted when ``owner`` is garbage-collected."""
    if db_path is None:
        folder = tempfile.mkdtemp(prefix="davsync-state-")
        weakref.finalize(owner, shutil.rmtree, folder, True)
        db_path = Path(folder) / "state.sqlite3"
    return ThreadLocalDB(Path(db_path), schema)
