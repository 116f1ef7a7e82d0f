"""``davserver arrivals`` and ``davserver triggers``: the collection state for operators.

``arrivals`` lists the journal (``--user``, ``--since 24h``, ``--json``), writes a site's
daily manifest (``--manifest --user U --day YYYY-MM-DD``) or compares a syncclient manifest
with the journal (``--diff FILE --user U [--day D]``; exit 1 if files are missing or differ).
``triggers`` lists failed and dead-lettered trigger runs and the queue's counts;
``--retry-dead`` queues the dead ones again.
They read the state database directly; no server needs to run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path

from davserver.collection.config import parse_duration
from davserver.collection.journal import ArrivalJournal
from davserver.collection.manifest import (
    day_bounds,
    diff,
    iso,
    manifest_lines,
    read_client_manifest,
)
from davserver.collection.queue import JobQueue
from davserver.settings import Settings

COMMANDS = ("arrivals", "triggers")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add the ``arrivals`` and ``triggers`` subcommands."""
    arr = sub.add_parser("arrivals", help="list arrived files; export or diff a manifest")
    common(arr)
    arr.add_argument("--user", help="only this site (user)")
    arr.add_argument("--since", type=_duration, help="only the last DURATION (e.g. 24h, 7d)")
    arr.add_argument("--limit", type=int, default=1000, help="at most N rows (default 1000)")
    arr.add_argument("--json", action="store_true", help="one JSON object per line")
    arr.add_argument("--day", type=_day, help="one UTC day (YYYY-MM-DD)")
    mode = arr.add_mutually_exclusive_group()
    mode.add_argument("--manifest", action="store_true", help="the daily manifest (JSONL)")
    mode.add_argument("--diff", metavar="FILE", help="compare a syncclient manifest")
    trg = sub.add_parser("triggers", help="failed and dead-lettered trigger runs")
    common(trg)
    trg.add_argument("--user", help="only this site (user)")
    trg.add_argument("--json", action="store_true", help="one JSON object per line")
    trg.add_argument(
        "--retry-dead", action="store_true", help="queue the dead runs again (fresh attempts)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run a collection subcommand; exit status."""
    if settings.state is None and not settings.db_path.exists():
        print(f"error: no server state at {settings.db_path} (wrong --root?)", file=sys.stderr)
        return 2
    if args.command == "triggers":
        return _triggers(args, settings)
    if (args.manifest or args.diff) and not args.user:
        print("error: --manifest and --diff need --user", file=sys.stderr)
        return 2
    if args.manifest and args.day is None:
        print("error: --manifest needs --day", file=sys.stderr)
        return 2
    journal = ArrivalJournal(settings.state_target)
    since = time.time() - args.since if args.since else None
    until = None
    if args.day is not None:
        since, until = day_bounds(args.day)
    if args.diff:
        return _diff(args, journal, since, until)
    limit = None if args.manifest else args.limit
    arrivals = journal.recent(
        user=args.user, since=since, until=until, limit=limit, oldest_first=args.manifest
    )
    if args.manifest:
        for line in manifest_lines(arrivals):
            print(line)
    elif args.json:
        for a in arrivals:
            print(json.dumps(asdict(a), ensure_ascii=False, sort_keys=True))
    else:
        for a in arrivals:
            print(
                f"{iso(a.time)}  {a.user:<12} {a.protocol:<8} {a.size:>12}  "
                f"{a.sha256[:16]}  {a.path!r}  {a.client or '-'}"
            )
    return 0


def _diff(
    args: argparse.Namespace, journal: ArrivalJournal, since: float | None, until: float | None
) -> int:
    try:
        client = read_client_manifest(Path(args.diff))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = journal.recent(user=args.user, since=since, until=until, limit=None, oldest_first=True)
    result = diff(client, server, args.user, window=args.day is not None)
    for path in result.missing:
        print(f"missing    {path!r}")
    for path, want, got in result.different:
        print(f"different  {path!r} client {want[:16]} server {got[:16]}")
    for path in result.unexpected:
        print(f"unexpected {path!r}")
    print(
        f"{len(result.matched)} matched, {len(result.missing)} missing, "
        f"{len(result.different)} different, {len(result.unexpected)} not in the client manifest"
    )
    return 0 if result.clean else 1


def _triggers(args: argparse.Namespace, settings: Settings) -> int:
    queue = JobQueue(settings.state_target)
    if args.retry_dead:
        count = queue.retry_dead(time.time(), args.user)
        print(f"queued {count} dead trigger run(s) again (a running server picks them up)")
        return 0
    failures = queue.failures(user=args.user, limit=1000)
    if args.json:
        for f in failures:
            print(json.dumps(asdict(f), ensure_ascii=False, sort_keys=True))
        return 0
    counts = queue.states()
    print("trigger runs: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for f in failures:
        state = "DEAD " if f.dead else "retry"
        print(
            f"{iso(f.time)}  {state} {f.trigger:<16} {f.user}/{f.path!r} x{f.attempts}: {f.error}"
        )
    return 0
