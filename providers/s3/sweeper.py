"""Deleting objects nothing references, and aborting abandoned multipart uploads.

Three sources of garbage, all older than a grace period (so uploads still in flight and readers
of a just-replaced version are safe):

1. objects the namespace released (replaced or deleted files) that no row references any more;
2. orphans: objects below the prefix that neither a row nor the garbage list knows (an upload
   whose commit never happened, e.g. the server was killed or the precondition failed while
   the store was down);
3. multipart uploads begun before the grace period that were never completed.

``sweep`` is safe to run from several processes at once (deleting twice is harmless).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from providers.s3 import namespace as ns
from providers.s3.objects import ObjectStore
from providers.statedb import StateDB


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep removed."""

    released: int
    orphans: int
    uploads_aborted: int


def sweep(db: StateDB, objects: ObjectStore, grace_s: float) -> SweepReport:
    """Run the three clean-ups (see the module docstring). StorageUnavailableError if the
    object store cannot be reached (nothing is forgotten: the next sweep retries)."""
    cutoff_ns = time.time_ns() - int(grace_s * 1e9)
    cutoff = datetime.fromtimestamp(cutoff_ns / 1e9, tz=UTC)
    conn = db.conn()
    released = 0
    for key in ns.garbage_before(conn, cutoff_ns):
        if not ns.is_referenced(conn, key):
            objects.delete([key])
            released += 1
        with db.transaction() as tx:
            ns.forget_garbage(tx, key)
    known = set(ns.known_keys(conn))
    orphans = [
        o.key for o in objects.list_objects() if o.key not in known and o.last_modified < cutoff
    ]
    # a commit may have landed between the listing and now: check each again
    orphans = [key for key in orphans if not ns.is_referenced(conn, key)]
    objects.delete(orphans)
    aborted = 0
    for upload in objects.list_uploads():
        if upload.initiated < cutoff:
            objects.abort_upload(upload)
            aborted += 1
    return SweepReport(released=released, orphans=len(orphans), uploads_aborted=aborted)
