"""A site's daily manifest (JSONL, one line per arrival) and its diff against the manifest
syncclient writes.

The server's lines use syncclient's keys where they mean the same (``path``, ``size``,
``sha256``, ``sha1``, ``time`` as ``YYYY-MM-DDTHH:MM:SSZ``) plus ``md5``, ``user``,
``protocol``, ``client`` and ``previous_sha256``. ``path`` is relative to the user's home.
syncclient's ``path`` is relative to its source folder, so the diff locates each client line
in the home through its ``url`` (``.../files/<user>/<path>``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from davserver.collection.model import Arrival


def iso(t: float) -> str:
    """``t`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), the format syncclient's manifest uses."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def day_bounds(day: date) -> tuple[float, float]:
    """Start and end (exclusive) of ``day`` in UTC, as POSIX seconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def manifest_line(a: Arrival) -> dict[str, Any]:
    """The manifest record of one arrival."""
    return {
        "path": a.path,
        "size": a.size,
        "sha256": a.sha256,
        "sha1": a.sha1,
        "md5": a.md5,
        "time": iso(a.time),
        "user": a.user,
        "protocol": a.protocol,
        "client": a.client,
        "previous_sha256": a.previous_sha256,
    }


def manifest_lines(arrivals: Iterable[Arrival]) -> Iterator[str]:
    """JSONL lines (without newline), oldest arrival first as given."""
    for a in arrivals:
        yield json.dumps(manifest_line(a), ensure_ascii=False, sort_keys=True)


def home_path(record: dict[str, Any], user: str) -> str:
    """Where a syncclient manifest record's file lives in ``user``'s home."""
    url = str(record.get("url") or "")
    marker = f"/files/{user}/"
    decoded = unquote(urlsplit(url).path)
    if marker in decoded:
        return decoded.split(marker, 1)[1]
    return str(record.get("path") or "")


@dataclass
class ManifestDiff:
    """What the client says it delivered versus what the server journaled."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    different: list[tuple[str, str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True if every file the client verified is journaled with the same SHA-256."""
        return not self.missing and not self.different


def read_client_manifest(path: Path) -> list[dict[str, Any]]:
    """The records of a syncclient manifest. Raises OSError, ValueError (line number)."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from exc
            if not isinstance(record, dict) or "sha256" not in record:
                raise ValueError(f"{path}:{number}: not a manifest record")
            records.append(record)
    return records


def diff(
    client: list[dict[str, Any]], server: list[Arrival], user: str, *, window: bool = False
) -> ManifestDiff:
    """Compare the client's records (latest per path wins) with the server's arrivals.

    ``missing``: the client verified a file the journal has no arrival of; ``different``:
    (path, client sha256, newest server sha256) when no arrival has the client's SHA-256.
    ``unexpected``: server arrivals the client manifest does not mention (only reported when
    ``window`` says the server list covers the same period, e.g. one day).
    """
    wanted: dict[str, str] = {}
    for record in client:
        wanted[home_path(record, user)] = str(record["sha256"])
    seen: dict[str, list[str]] = {}
    for a in server:
        seen.setdefault(a.path, []).append(a.sha256)
    out = ManifestDiff()
    for path, sha in sorted(wanted.items()):
        if path not in seen:
            out.missing.append(path)
        elif sha in seen[path]:
            out.matched.append(path)
        else:
            out.different.append((path, sha, seen[path][-1]))
    if window:
        out.unexpected = sorted(set(seen) - set(wanted))
    return out
