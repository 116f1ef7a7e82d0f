"""What the operator sees: a live progress line on a terminal, one stats line per interval
when piped, or machine-readable JSON events (one object per line) with ``--json``.

Events are plain dicts with an ``event`` name; the executor emits them, a Reporter renders
them. Secrets never pass through here: events carry paths, sizes, hashes and messages only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from syncclient.model import Plan


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def zoned_time(ts: float) -> str:
    """Unix time as local time with its UTC offset: '2026-03-01T18:04:05+01:00'."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def human_duration(s: float | None) -> str:
    """Seconds as '1h02m', '3m05s', '12s'; '-' for unknown."""
    if s is None or s != s or s == float("inf"):
        return "-"
    s = int(s)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class Stats:
    """Counters of one run, shared by the transfer threads."""

    files_queued: int = 0
    bytes_queued: int = 0
    files_verified: int = 0
    files_failed: int = 0
    files_verify_failed: int = 0
    files_changed: int = 0
    files_not_started: int = 0
    bytes_wire: int = 0
    bytes_verified: int = 0
    bytes_resumed: int = 0
    chunks_sent: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)
    in_flight: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, **deltas: int) -> None:
        """Add to counters by name."""
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def rate(self) -> float:
        """Wire bytes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.bytes_wire / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """One line of stats: files, bytes, rate, ETA."""
        done = self.files_verified + self.files_failed + self.files_verify_failed
        rate = self.rate()
        left = max(self.bytes_queued - self.bytes_verified - self.bytes_resumed, 0)
        eta = left / rate if rate > 0 else None
        return (
            f"files {done}/{self.files_queued}  "
            f"{human_bytes(self.bytes_verified)}/{human_bytes(self.bytes_queued)}  "
            f"{human_bytes(rate)}/s  ETA {human_duration(eta)}"
        )


class Reporter:
    """Renders events. ``mode``: ``json``, ``tty`` (progress line) or ``lines`` (stats line
    every ``interval`` seconds). ``verbosity``: -1 quiet, 0 normal, 1+ verbose."""

    def __init__(
        self,
        mode: str = "lines",
        verbosity: int = 0,
        out: TextIO | None = None,
        err: TextIO | None = None,
        interval: float = 30.0,
    ) -> None:
        self.mode = mode
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interval = interval
        self.stats: Stats | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._line_shown = False

    @staticmethod
    def auto(json_mode: bool, verbosity: int, interval: float) -> Reporter:
        """JSON if asked, a progress line on a terminal, stats lines otherwise."""
        if json_mode:
            return Reporter("json", verbosity, interval=interval)
        mode = "tty" if sys.stderr.isatty() else "lines"
        return Reporter(mode, verbosity, interval=interval)

    # lifecycle ----------------------------------------------------------------------------

    def start(self, stats: Stats) -> None:
        """Begin periodic progress output for ``stats``."""
        self.stats = stats
        self._stop.clear()
        period = 0.5 if self.mode == "tty" else self.interval
        self._thread = threading.Thread(target=self._tick, args=(period,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop periodic output and clear the progress line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._clear_line()

    def _tick(self, period: float) -> None:
        while not self._stop.wait(period):
            stats = self.stats
            if stats is None:
                continue
            if self.mode == "json":
                self.event("stats", **_stats_fields(stats))
            elif self.mode == "tty" and self.verbosity >= 0:
                with self._lock:
                    current = ", ".join(list(stats.in_flight)[:2])
                    text = stats.line() + (f"  {current}" if current else "")
                    width = 118
                    self.err.write("\r\x1b[K" + text[:width])
                    self.err.flush()
                    self._line_shown = True
            elif self.verbosity >= 0:
                self.message(stats.line())

    def _clear_line(self) -> None:
        if self._line_shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._line_shown = False

    # events -------------------------------------------------------------------------------

    def event(self, name: str, **fields: Any) -> None:
        """Emit one event. In JSON mode every event is printed; otherwise a few become text."""
        if self.mode == "json":
            obj = {"event": name, "time": round(time.time(), 3), **fields}
            with self._lock:
                self.out.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
                self.out.flush()
            return
        text = _human(name, fields, self.verbosity)
        if text is not None:
            self.message(text, error=name in ("failed", "verify-failed", "error"))

    def message(self, text: str, error: bool = False) -> None:
        """A line of text for a human (stderr); suppressed by -q unless it is an error."""
        if self.mode == "json" or (self.verbosity < 0 and not error):
            return
        with self._lock:
            self._clear_line()
            self.err.write(text + "\n")
            self.err.flush()


def _stats_fields(s: Stats) -> dict[str, Any]:
    return {
        "files_queued": s.files_queued,
        "files_verified": s.files_verified,
        "files_failed": s.files_failed + s.files_verify_failed,
        "bytes_queued": s.bytes_queued,
        "bytes_verified": s.bytes_verified,
        "bytes_wire": s.bytes_wire,
        "rate": round(s.rate(), 1),
    }


def _human(name: str, f: dict[str, Any], verbosity: int) -> str | None:
    always = {
        "failed": "FAILED  {path}: {error}",
        "verify-failed": "VERIFY FAILED  {path}: {error}",
        "error": "error: {message}",
        "note": "note: {message}",
        "changed": "changed while sending, will be re-sent later: {path}",
        "budget": "stopping: {reason}",
        "post-failed": "post-action failed for {path}: {error}",
        "name-warning": "name warning (sent anyway): {path}: {problem}",
        "name-invalid": "NOT SENT (name invalid on Windows): {path}: {problem}",
    }
    verbose = {
        "verified": "sent    {path}  ({size} bytes, {method}, verified by {verified_by})",
        "post": "{done}: {path}",
        "retry": "retry   {what} in {wait:.1f}s (attempt {attempt}): {error}",
        "resume": "resume  {path}: {chunks_present} of {chunks} chunks already on the server",
        "hook": "hook    {hook} exited {code}",
    }
    if name in always:
        return always[name].format(**f)
    if name == "retry" and (f.get("stage") == "start" or f.get("retry_after") is not None):
        asked = " as the server asks" if f.get("retry_after") is not None else ""
        return "retrying {what} in {wait:.0f}s{asked} (attempt {attempt}): {error}".format(
            asked=asked, **f
        )
    if verbosity >= 1 and name in verbose:
        return verbose[name].format(**f)
    return None


def plan_table(plan: Plan, verbosity: int = 0) -> str:
    """The plan as a text table: action, reason, size, path (unchanged/ignored only with -v)."""
    rows = [("ACTION", "REASON", "SIZE", "PATH", "DETAIL")]
    hidden = 0
    for a in plan.actions:
        quiet = a.reason.value in ("unchanged", "ignored", "done-marker") and not a.warning
        if verbosity < 1 and quiet:
            hidden += 1
            continue
        detail = "; ".join(x for x in (a.detail, a.warning and f"name-warning: {a.warning}") if x)
        rows.append((a.kind.value, a.reason.value, human_bytes(a.size), a.path, detail))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(r[i].ljust(widths[i]) for i in range(4)) + (f"  {r[4]}" if r[4] else "")
        for r in rows
    ]
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(plan.counts().items()))
    uploads = plan.uploads
    lines.append(
        f"{len(uploads)} to send ({human_bytes(sum(a.size for a in uploads))}); "
        f"{counts or 'nothing'}"
        + (f"; {hidden} unchanged/ignored not shown (-v shows them)" if hidden else "")
    )
    return "\n".join(lines)


def plan_json(plan: Plan) -> list[dict[str, Any]]:
    """The plan's actions as JSON-ready dicts, in order."""
    return [
        {
            "action": a.kind.value,
            "reason": a.reason.value,
            "path": a.path,
            "size": a.size,
            "mtime_ns": a.mtime_ns,
            "rule": a.rule,
            "detail": a.detail,
            "resume": a.resume,
            "warning": a.warning,
        }
        for a in plan.actions
    ]
