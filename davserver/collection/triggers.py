"""Which trigger actions an arrival causes, and the event they receive.

``plan_runs`` is called inside the transaction that records the arrival, so the arrival and
its runs are stored together. Conditions: ``when.marker`` (the arrival is a done-marker of that
name) and ``when.count`` (the N-th distinct matching file arrived in one folder since the
trigger last fired for it; the firing is remembered in ``trigger_sets``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wcmatch import glob

from davserver.collection.config import GLOB_FLAGS, TriggerSettings
from davserver.collection.journal import ArrivalJournal
from davserver.collection.model import Arrival
from davserver.collection.queue import KIND_TRIGGER, JobSpec
from providers.paths import name_of, parent_of
from providers.statedb import StateConnection

SCHEMA = """
CREATE TABLE IF NOT EXISTS trigger_sets (
    trigger TEXT NOT NULL,
    "user" TEXT NOT NULL,
    folder TEXT NOT NULL,
    fired REAL NOT NULL,
    PRIMARY KEY (trigger, "user", folder)
);
"""

NO_TRIGGER_PROTOCOLS = frozenset({"trigger"})
"""Arrivals made by trigger actions are journaled but fire no trigger (no loops)."""

LocalPath = Callable[[str], Path | None]


def _one_of(wanted: str | list[str] | None, value: str) -> bool:
    if wanted is None:
        return True
    return value in ([wanted] if isinstance(wanted, str) else wanted)


def matches(trigger: TriggerSettings, arrival: Arrival) -> bool:
    """True if ``arrival`` satisfies ``trigger.match`` and its marker condition."""
    m = trigger.match
    if not _one_of(m.user, arrival.user) or not _one_of(m.protocol, arrival.protocol):
        return False
    if m.min_size is not None and arrival.size < m.min_size:
        return False
    if m.max_size is not None and arrival.size > m.max_size:
        return False
    if trigger.when.marker is not None and name_of(arrival.path) != trigger.when.marker:
        return False
    return bool(glob.globmatch(arrival.path, m.path, flags=GLOB_FLAGS))


def event_of(arrival: Arrival, local_file: Path | None) -> dict[str, Any]:
    """The fields every action receives (environment, webhook body)."""
    return {
        "id": arrival.id,
        "time": arrival.time,
        "user": arrival.user,
        "path": arrival.path,
        "file": str(local_file) if local_file is not None else "",
        "size": arrival.size,
        "sha256": arrival.sha256,
        "sha1": arrival.sha1,
        "md5": arrival.md5,
        "previous_sha256": arrival.previous_sha256,
        "protocol": arrival.protocol,
        "client": arrival.client,
    }


def _set_complete(
    conn: StateConnection, journal: ArrivalJournal, trigger: TriggerSettings, arrival: Arrival
) -> list[str] | None:
    """The files of the set if this arrival completes one, else None (records the firing)."""
    count = trigger.when.count
    assert count is not None
    folder = parent_of(arrival.path)
    row = conn.execute(
        'SELECT fired FROM trigger_sets WHERE trigger = ? AND "user" = ? AND folder = ?',
        (trigger.name, arrival.user, folder),
    ).fetchone()
    since = float(row[0]) if row is not None else 0.0
    members = [
        p
        for p in journal.in_folder(conn, arrival.user, folder, since)
        if glob.globmatch(p, trigger.match.path, flags=GLOB_FLAGS)
    ]
    if len(members) < count:
        return None
    conn.execute(
        'INSERT INTO trigger_sets (trigger, "user", folder, fired) VALUES (?,?,?,?)'
        ' ON CONFLICT (trigger, "user", folder) DO UPDATE SET fired = excluded.fired',
        (trigger.name, arrival.user, folder, arrival.time + 1e-6),
    )
    return sorted(members)


def plan_runs(
    conn: StateConnection,
    journal: ArrivalJournal,
    triggers: list[TriggerSettings],
    arrival: Arrival,
    local_path: LocalPath,
) -> list[JobSpec]:
    """The jobs ``arrival`` causes (one per action of each matching trigger)."""
    if arrival.protocol in NO_TRIGGER_PROTOCOLS:
        return []
    storage_path = f"{arrival.user}/{arrival.path}"
    jobs: list[JobSpec] = []
    for trigger in triggers:
        if not matches(trigger, arrival):
            continue
        event = event_of(arrival, local_path(storage_path))
        event["trigger"] = trigger.name
        if trigger.when.marker is not None or trigger.when.count is not None:
            folder = parent_of(arrival.path)
            event["folder"] = folder
            local_folder = local_path(parent_of(storage_path))
            event["folder_file"] = str(local_folder) if local_folder is not None else ""
        if trigger.when.count is not None:
            members = _set_complete(conn, journal, trigger, arrival)
            if members is None:
                continue
            event["files"] = members
        for action in trigger.actions():
            jobs.append(
                JobSpec(
                    kind=KIND_TRIGGER,
                    name=trigger.name,
                    action=action,
                    user=arrival.user,
                    path=arrival.path,
                    spec=action_spec(trigger, action),
                    event=event,
                    max_attempts=trigger.attempts,
                    backoff=trigger.backoff,
                    timeout=trigger.timeout,
                )
            )
    return jobs


def action_spec(trigger: TriggerSettings, action: str) -> dict[str, Any]:
    """The part of ``trigger`` that ``action`` needs, stored with the job."""
    if action == "run":
        return {"argv": trigger.run, "pass_file": trigger.pass_file, "cwd": trigger.cwd}
    if action == "webhook":
        assert trigger.webhook is not None
        return trigger.webhook.model_dump()
    place = trigger.copy_to if action == "copy" else trigger.move_to
    assert place is not None
    return {"to": place.to}
