"""What the operator sees: live progress bars on a terminal, one stats line per interval
when piped, or machine-readable JSON events (one object per line) with ``--json``. Progress
counts bytes as they are sent (``Stats.progress``), not only verified files, so a large
chunked upload moves the display from its first block.

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

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

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
    """Counters of one run, shared by the transfer threads.

    ``in_flight`` maps each file being sent to its size, ``progress`` to how many of its bytes
    are on their way or already on the server: bytes counted as they are handed to the
    connection (PUT bodies and chunks alike), plus chunks an earlier run left on the server.
    A body sent again (a retry) first takes back what it had counted, so ``progress`` never
    exceeds the file. ``done()`` is what the progress display shows: verified files plus the
    progress of the files in flight.
    """

    files_queued: int = 0
    bytes_queued: int = 0
    files_verified: int = 0
    files_failed: int = 0
    files_verify_failed: int = 0
    files_sent_unverified: int = 0
    files_changed: int = 0
    files_not_started: int = 0
    bytes_wire: int = 0
    bytes_verified: int = 0
    bytes_resumed: int = 0
    chunks_sent: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)
    in_flight: dict[str, int] = field(default_factory=dict)
    progress: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, **deltas: int) -> None:
        """Add to counters by name."""
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def begin_file(self, path: str, size: int) -> None:
        """``path`` starts (or starts over): nothing of it counted yet."""
        with self.lock:
            self.in_flight[path] = size
            self.progress[path] = 0

    def file_progress(self, path: str, n: int) -> None:
        """``n`` more bytes of ``path`` sent or found on the server (negative: taken back)."""
        with self.lock:
            if path in self.progress:
                self.progress[path] = max(0, self.progress[path] + n)

    def end_file(self, path: str, verified_size: int | None = None) -> None:
        """``path`` is finished; if it was verified, its ``verified_size`` bytes now count
        as verified."""
        with self.lock:
            self.in_flight.pop(path, None)
            self.progress.pop(path, None)
            if verified_size is not None:
                self.files_verified += 1
                self.bytes_verified += verified_size

    def done(self) -> int:
        """Bytes verified plus bytes of the files in flight already sent or resumed."""
        with self.lock:
            return self.bytes_verified + sum(self.progress.values())

    def files_in_flight(self) -> list[tuple[str, int, int]]:
        """(path, bytes done, size) of each file being sent."""
        with self.lock:
            return [(p, self.progress.get(p, 0), size) for p, size in self.in_flight.items()]

    def rate(self) -> float:
        """Wire bytes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.bytes_wire / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds until the queue is sent at the rate so far, or None before any byte."""
        rate = self.rate()
        left = max(self.bytes_queued - self.done(), 0)
        return left / rate if rate > 0 else None

    def line(self) -> str:
        """One line of stats: files, bytes (in flight included), rate, ETA."""
        done = self.files_verified + self.files_sent_unverified + self.files_failed
        done += self.files_verify_failed
        return (
            f"files {done}/{self.files_queued}  "
            f"{human_bytes(self.done())}/{human_bytes(self.bytes_queued)}  "
            f"{human_bytes(self.rate())}/s  ETA {human_duration(self.eta())}"
        )


LARGE_FILE = 16 * 1024 * 1024  # files this big get their own bar on a terminal


class Reporter:
    """Renders events. ``mode``: ``json``, ``tty`` (live progress bars, rich) or ``lines``
    (a stats line every ``interval`` seconds). ``verbosity``: -1 quiet, 0 normal, 1+ verbose.

    On a terminal one bar shows the whole queue and each file of ``large_file`` bytes or
    more gets a bar of its own while it is sent; messages scroll above the bars.
    """

    def __init__(
        self,
        mode: str = "lines",
        verbosity: int = 0,
        out: TextIO | None = None,
        err: TextIO | None = None,
        interval: float = 30.0,
        large_file: int = LARGE_FILE,
        tick: float = 0.5,
    ) -> None:
        self.mode = mode
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interval = interval
        self.large_file = large_file
        self.tick = tick
        self.stats: Stats | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: ProgressBars | None = None

    @staticmethod
    def auto(json_mode: bool, verbosity: int, interval: float) -> Reporter:
        """JSON if asked, progress bars on a terminal, stats lines otherwise."""
        if json_mode:
            return Reporter("json", verbosity, interval=interval)
        mode = "tty" if sys.stderr.isatty() else "lines"
        return Reporter(mode, verbosity, interval=interval)

    # lifecycle ----------------------------------------------------------------------------

    def start(self, stats: Stats) -> None:
        """Begin periodic progress output for ``stats``."""
        self.stats = stats
        self._stop.clear()
        if self.mode == "tty" and self.verbosity >= 0:
            self._bars = ProgressBars(self.err, self.large_file)
        period = self.tick if self.mode == "tty" else self.interval
        self._thread = threading.Thread(target=self._tick, args=(period,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop periodic output and remove the progress bars."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._bars is not None:
                self._bars.close()
                self._bars = None

    def _tick(self, period: float) -> None:
        while not self._stop.wait(period):
            stats = self.stats
            if stats is None:
                continue
            if self.mode == "json":
                self.event("stats", **_stats_fields(stats))
            elif self._bars is not None:
                with self._lock:
                    self._bars.update(stats)
            elif self.mode == "lines" and self.verbosity >= 0:
                current = ", ".join(
                    f"{p} {human_bytes(d)}/{human_bytes(n)}"
                    for p, d, n in stats.files_in_flight()[:3]
                )
                self.message(stats.line() + (f"  sending {current}" if current else ""))

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
            if self._bars is not None:
                self._bars.print(text)
                return
            self.err.write(text + "\n")
            self.err.flush()


class ProgressBars:
    """Live bars on a terminal (rich): the whole queue, plus one per large file in flight."""

    def __init__(self, stream: TextIO, large_file: int) -> None:
        self.large_file = large_file
        self.console = Console(file=stream, force_terminal=True, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
            transient=True,
        )
        self.total = self.progress.add_task("all files", total=None)
        self.files: dict[str, TaskID] = {}
        self.progress.start()

    def update(self, stats: Stats) -> None:
        """Redraw from ``stats``."""
        done = stats.files_verified + stats.files_sent_unverified + stats.files_failed
        done += stats.files_verify_failed
        self.progress.update(
            self.total,
            total=stats.bytes_queued or None,
            completed=stats.done(),
            description=f"files {done}/{stats.files_queued}",
        )
        current = {p: (d, n) for p, d, n in stats.files_in_flight() if n >= self.large_file}
        for path in list(self.files):
            if path not in current:
                self.progress.remove_task(self.files.pop(path))
        for path, (d, n) in current.items():
            if path not in self.files:
                self.files[path] = self.progress.add_task("  " + _short(path), total=n)
            self.progress.update(self.files[path], completed=d)
        self.progress.refresh()

    def print(self, text: str) -> None:
        """A message above the bars."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        """Remove the bars from the screen."""
        self.progress.stop()


def _short(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3) :]


def _stats_fields(s: Stats) -> dict[str, Any]:
    return {
        "files_queued": s.files_queued,
        "files_verified": s.files_verified,
        "files_sent_unverified": s.files_sent_unverified,
        "files_failed": s.files_failed + s.files_verify_failed,
        "bytes_queued": s.bytes_queued,
        "bytes_verified": s.bytes_verified,
        "bytes_done": s.done(),
        "bytes_wire": s.bytes_wire,
        "bytes_resumed": s.bytes_resumed,
        "in_flight": [{"path": p, "done": d, "size": n} for p, d, n in s.files_in_flight()],
        "rate": round(s.rate(), 1),
    }


def _human(name: str, f: dict[str, Any], verbosity: int) -> str | None:
    always = {
        "failed": "FAILED  {path}: {error}",
        "verify-failed": "VERIFY FAILED  {path}: {error}",
        "error": "error: {message}",
        "note": "note: {message}",
        "changed": "changed while sending, will be re-sent later: {path}",
        "sent": "SENT, NOT VERIFIED  {path}: the server's hash cannot be read back",
        "budget": "stopping: {reason}",
        "post-failed": "post-action failed for {path}: {error}",
        "name-warning": "name warning (sent anyway): {path}: {problem}",
        "name-invalid": "NOT SENT (name invalid on Windows): {path}: {problem}",
        "conflict": "NOT SENT (name clash on the server): {path}: {problem}",
    }
    verbose = {
        "verified": "sent    {path}  ({human_size}, {method}, verified by {verified_by})",
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
        return verbose[name].format(human_size=human_bytes(f.get("size", 0)), **f)
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
