"""One run for one (source folder, collection URL): probe -> remote inventory -> scan ->
plan -> transfer -> summary and exit code. ``cli`` parses flags; this module does the work.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from syncclient import SourceError, UsageError
from syncclient.config import Config, password_file_warning, state_dir_for
from syncclient.ignore import IgnoreRules, build_rules
from syncclient.journal import Journal
from syncclient.lock import RunLock
from syncclient.model import (
    ActionKind,
    ListingMethod,
    LocalInventory,
    Plan,
    PostAction,
    Reason,
    RemoteInventory,
)
from syncclient.output import Reporter, Stats, human_bytes, human_duration
from syncclient.plan import make_plan, worth_hashing
from syncclient.post import Manifest, Receipt, archive_ignore_pattern, run_hook
from syncclient.rules import RuleSet
from syncclient.scan import scan
from syncclient.transfer import StopRequestedError
from syncclient.transfer.bandwidth import TokenBucket
from syncclient.transfer.budget import Budget, Cutoff
from syncclient.transfer.executor import (
    Executor,
    ExecutorContext,
    FileResult,
    Hooks,
    Outcome,
    TransferSettings,
)
from syncclient.transfer.retry import RetryPolicy, call_with_retry
from syncclient.transports import (
    AuthError,
    ServerInfo,
    StatusError,
    TransportError,
    UnreachableError,
    WrongURLError,
    diagnose,
)
from syncclient.transports.form import FormTransport
from syncclient.transports.ftp import FtpOptions, FtpTransport, is_ftp_url
from syncclient.transports.mail import SCHEMES as MAIL_SCHEMES
from syncclient.transports.mail import open_mail_transport
from syncclient.transports.webdav import WebDAVOptions, WebDAVTransport
from syncclient.units import parse_duration, parse_size
from syncclient.winnames import WindowsNames

T = TypeVar("T")
INSUFFICIENT_STORAGE = 507


class ExitCode(IntEnum):
    """Process exit codes (``EXIT_CODES``; README.md and ``syncclient --help`` show them)."""

    OK = 0
    USAGE = 1
    PARTIAL = 2
    UNREACHABLE = 3
    VERIFY = 4
    SOURCE = 5
    BACKLOG = 8
    WAITING = 9


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "every planned file is verified on the server (or nothing needed sending)",
    ExitCode.USAGE: "usage or configuration error: bad flag, config key or URL (also a URL "
    "that is not a folder of the server), unreadable password file",
    ExitCode.PARTIAL: "some files could not be sent (the others are verified)",
    ExitCode.UNREACHABLE: "server unreachable or failing (5xx, out of space) after the retries, "
    "TLS problem, or login refused",
    ExitCode.VERIFY: "a file's server hash differed from the local hash after re-sending",
    ExitCode.SOURCE: "the source folder is missing or unreadable",
    ExitCode.BACKLOG: "budget, window, pause or signal ended the run with a backlog left "
    "(not an error; the next run resumes)",
    ExitCode.WAITING: "everything sendable is verified; some files wait (still changing, locked)",
}
EXIT_CODES_HELP = "exit codes (syncclient's own):\n" + "\n".join(
    f"  {int(code)}  {text}" for code, text in EXIT_CODES.items()
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything known before the first byte is sent."""

    plan: Plan
    info: ServerInfo
    remote: RemoteInventory
    local: LocalInventory
    rules: RuleSet


def open_transport(
    cfg: Config, url: str, notify: Callable[[str], None] | None = None
) -> WebDAVTransport:
    """The transport for ``url`` with the configured credentials; its scheme picks the family:
    ``mail`` for smtp(s), ``ftp`` for ftps (ftp only with ``server.allow_plain_ftp``); for
    http(s) WebDAV, or form upload (``server.transport``: ``form``, or ``auto`` once a proxy
    blocks WebDAV verbs; ``notify`` hears that switch)."""
    password = cfg.password.get_secret_value() if cfg.password is not None else None
    if url.split(":", 1)[0].lower() in MAIL_SCHEMES:
        return open_mail_transport(cfg, url, password)  # type: ignore[return-value]
    if is_ftp_url(url):
        ftp = FtpOptions(
            url=url,
            user=cfg.server.user,
            password=password,
            ca_bundle=cfg.server.ca_bundle,
            allow_plain=cfg.server.allow_plain_ftp,
            timeout=cfg.transfer.stall_timeout,
            connections=cfg.transfer.parallel,
        )
        return FtpTransport(ftp)  # type: ignore[return-value]  # same Transport protocol
    opts = WebDAVOptions(
        url=url,
        user=cfg.server.user,
        password=password,
        ca_bundle=cfg.server.ca_bundle,
        auth=cfg.server.auth,
        stall_timeout=cfg.transfer.stall_timeout,
        connections=cfg.transfer.parallel,
    )
    if cfg.server.transport == "webdav":
        return WebDAVTransport(opts)
    return FormTransport(opts, auto=cfg.server.transport == "auto", notify=notify)


def ignore_rules(cfg: Config, root: Path, rules: RuleSet, excludes: list[str]) -> IgnoreRules:
    """The ignore rules for ``root`` (archive folders of move rules are added)."""
    extra = [
        p
        for r in rules.rules
        if r.post.action is PostAction.MOVE
        for p in [archive_ignore_pattern(r.post.archive_dir)]
        if p
    ]
    return build_rules(root, cfg.ignore, excludes, cfg.default_ignores, extra)


class StartCalls:
    """Runs the requests before the first upload (probe, listing) with the run's retry
    policy, like every later request: a refused connection, a 429/503 (after its
    Retry-After) or a dropped connection is retried; no wait goes past ``deadline``
    (monotonic seconds, the run's time budget), and ``stop`` (a signal) ends the waiting.
    Each retry is reported as a ``retry`` event, with the server's explanation if it sent one.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        reporter: Reporter | None = None,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.policy = policy
        self.reporter = reporter
        self.deadline = deadline
        self.stop = stop or threading.Event()

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retries; raises the last TransportError."""

        def on_retry(attempt: int, exc: TransportError, wait: float) -> None:
            if self.reporter is not None:
                self.reporter.event(
                    "retry",
                    what=what,
                    attempt=attempt,
                    wait=round(wait, 2),
                    error=str(exc),
                    retry_after=exc.retry_after,
                    stage="start",
                )

        try:
            return call_with_retry(fn, self.policy, self.stop, on_retry, deadline=self.deadline)
        except StopRequestedError as exc:
            raise UnreachableError(f"{what}: interrupted while waiting to retry") from exc


def start_calls(cfg: Config, reporter: Reporter | None, deadline_s: float | None) -> StartCalls:
    """The StartCalls of one run: the configured attempts, bounded by the time budget."""
    limit = parse_duration(cfg.budget.max_duration) if cfg.budget.max_duration else None
    if deadline_s is not None:
        limit = min(limit or deadline_s, deadline_s)
    deadline = time.monotonic() + limit if limit is not None else None
    return StartCalls(RetryPolicy(attempts=cfg.transfer.retries), reporter, deadline)


def prepare(
    cfg: Config,
    root: Path,
    transport: WebDAVTransport,
    journal: Journal,
    rules: RuleSet,
    excludes: list[str],
    create: bool,
    call: StartCalls | None = None,
) -> Prepared:
    """Probe, list both sides and plan. Raises TransportError, SourceError."""
    if not root.is_dir():
        raise SourceError(f"source folder {root} does not exist or is not a folder")
    call = call or start_calls(cfg, None, None)
    info = call("PROPFIND (probe)", transport.probe)
    if not info.collection_exists and create:
        call("MKCOL (target collection)", transport.make_collection)
        info = call("PROPFIND (probe)", transport.probe)
        if not info.collection_exists:
            raise WrongURLError(
                diagnose.not_a_folder(
                    transport.base, cfg.server.user, "the folder cannot be created there"
                )
            )
    if info.collection_exists:
        remote = call("listing", transport.inventory)
    else:
        remote = RemoteInventory({}, method=ListingMethod.MISSING, exists=False)
    now = time.time()
    ignore = ignore_rules(cfg, root, rules, excludes)
    local = scan(
        root,
        ignore,
        journal,
        now,
        lambda f, present: worth_hashing(f, rules.rule_for(f.path), present, now),
    )
    plan = make_plan(local, remote, journal.view(), rules, now, WindowsNames(cfg.windows_names))
    return Prepared(plan, info, remote, local, rules)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[list[str]]:
    """SIGTERM/SIGINT set ``stop`` (a hard cut-off that keeps resumable state)."""
    got: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum: int, _frame: Any) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run: where, and the per-run knobs that do not live in Config."""

    root: Path
    url: str
    order: str | None = None
    excludes: tuple[str, ...] = ()
    deadline_s: float | None = None
    bwlimit: int | None = None


def run_once(cfg: Config, req: RunRequest, reporter: Reporter) -> tuple[ExitCode, dict[str, Any]]:
    """Sync ``req.root`` to ``req.url`` once. Returns the exit code and the run summary."""
    started = time.time()
    state = state_dir_for(cfg, req.root, req.url)
    warn = password_file_warning(cfg.server.password_file)
    if warn:
        reporter.event("note", message=warn)
    rules = cfg.rules(req.order)
    lock = RunLock(state / "run.lock")
    summary: dict[str, Any] = {"source": str(req.root), "url": req.url}
    if not lock.acquire():
        reason = "another run of this repository is in progress"
        reporter.event("note", message=reason)
        return ExitCode.BACKLOG, {
            **summary,
            "exit_code": int(ExitCode.BACKLOG),
            "exit_reason": reason,
        }
    journal = Journal(state / "journal.sqlite")
    transport = open_transport(cfg, req.url, lambda note: reporter.event("note", message=note))
    try:
        try:
            call = start_calls(cfg, reporter, req.deadline_s)
            with _stop_on_signals(call.stop):
                prep = prepare(
                    cfg, req.root, transport, journal, rules, list(req.excludes), True, call
                )
        except (AuthError, TransportError) as exc:
            reporter.event("error", message=str(exc))
            code = ExitCode.USAGE if isinstance(exc, WrongURLError) else ExitCode.UNREACHABLE
            return _finish(cfg, req, journal, reporter, summary, started, code, str(exc))
        except SourceError as exc:
            reporter.event("error", message=str(exc))
            return _finish(cfg, req, journal, reporter, summary, started, ExitCode.SOURCE, str(exc))
        for note in prep.info.notes:
            reporter.event("note", message=note)
        summary["server"] = {
            "listing": prep.remote.method.value,
            "chunking": prep.info.chunking,
            "notes": list(prep.info.notes),
        }
        summary["planned"] = prep.plan.counts()
        _report_names(prep.plan, reporter)
        _cleanup_sessions(journal, transport, prep.plan)
        _start_delete_after_clock(cfg, req, journal, prep, state)
        results, stats, budget, signals = _execute(
            cfg, req, prep, transport, journal, reporter, state
        )
        code, reason = _exit_code(prep.plan, results, budget, signals, stats.fatal)
        summary.update(_result_fields(prep.plan, results, stats.stats, budget))
        if stats.fatal:
            reason = f"{reason}: {stats.fatal[0]}"
        return _finish(
            cfg, req, journal, reporter, summary, started, code, reason, wire=stats.stats.bytes_wire
        )
    finally:
        transport.close()
        journal.close()
        lock.release()


@dataclass
class _ExecStats:
    stats: Stats
    fatal: list[TransportError]


def _execute(
    cfg: Config,
    req: RunRequest,
    prep: Prepared,
    transport: WebDAVTransport,
    journal: Journal,
    reporter: Reporter,
    state: Path,
) -> tuple[list[FileResult], _ExecStats, Budget, list[str]]:
    t = cfg.transfer
    max_duration = (
        parse_duration(cfg.budget.max_duration) if cfg.budget.max_duration is not None else None
    )
    if req.deadline_s is not None:
        max_duration = min(max_duration or req.deadline_s, req.deadline_s)
    budget = Budget(
        max_bytes=parse_size(cfg.budget.max_bytes) if cfg.budget.max_bytes is not None else None,
        max_duration=max_duration,
        cutoff=Cutoff(cfg.budget.cutoff),
        rate_hint=journal.measured_rate(),
    )
    bw = req.bwlimit if req.bwlimit is not None else parse_size(t.bwlimit)
    stats = Stats()
    ctx = ExecutorContext(
        root=req.root,
        transport=transport,
        journal=journal,
        manifest=Manifest(cfg.output.manifest or state / "manifest.jsonl"),
        reporter=reporter,
        stats=stats,
        budget=budget,
        bucket=TokenBucket(bw),
        settings=TransferSettings(
            parallel=t.parallel,
            chunk_threshold=parse_size(t.chunk_threshold),
            chunk_size=max(1, parse_size(t.chunk_size)),
            retry=RetryPolicy(attempts=t.retries),
            download_verify=t.download_verify,
        ),
        files=dict(prep.local.files),
        remote_dirs=set(prep.remote.dirs),
        url=req.url,
        rules=prep.rules,
        chunking=prep.info.chunking,
        hooks=Hooks(cfg.hooks.after_file, cfg.hooks.after_run),
    )
    reporter.start(stats)
    try:
        with _stop_on_signals(budget.stop) as signals:
            results = Executor(ctx).run(prep.plan)
    finally:
        reporter.stop()
    return results, _ExecStats(stats, ctx.fatal), budget, signals


def _report_names(plan: Plan, reporter: Reporter) -> None:
    """One event per file whose name Windows cannot hold or that clashes with another name
    on the server (never silently lost)."""
    for a in plan.actions:
        if a.reason is Reason.NAME_INVALID:
            reporter.event("name-invalid", path=a.path, problem=a.detail)
        elif a.reason is Reason.CONFLICT:
            reporter.event("conflict", path=a.path, problem=a.detail)
        elif a.warning:
            reporter.event("name-warning", path=a.path, problem=a.warning)


def _cleanup_sessions(journal: Journal, transport: WebDAVTransport, plan: Plan) -> None:
    """Abort journaled sessions of files that no longer need an upload."""
    uploading = {a.path for a in plan.uploads}
    for path in journal.view().open_sessions - uploading:
        row = journal.session_get(path)
        if row is not None:
            with suppress(TransportError):
                transport.session_abort(row.session_url)
        journal.session_drop(path)


def _start_delete_after_clock(
    cfg: Config, req: RunRequest, journal: Journal, prep: Prepared, state: Path
) -> None:
    """Files already on the server (same hash) under a delete-after rule start their clock."""
    sent = journal.view().sent
    manifest = Manifest(cfg.output.manifest or state / "manifest.jsonl")
    for a in prep.plan.actions:
        if a.reason is not Reason.UNCHANGED or a.post.action is not PostAction.DELETE_AFTER:
            continue
        f = prep.local.files[a.path]
        if f.digests is None or (a.path in sent and sent[a.path].sha256 == f.digests.sha256):
            continue
        now = time.time()
        journal.record_verified(f.path, f.size, f.mtime_ns, f.digests, None, req.url + f.path, now)
        manifest.append(
            Receipt(
                f.path, f.size, f.mtime_ns, f.digests, req.url + f.path, None, "inventory", now
            ),
            a.post.action.value,
        )


def _exit_code(
    plan: Plan,
    results: list[FileResult],
    budget: Budget,
    signals: list[str],
    fatal: list[TransportError],
) -> tuple[ExitCode, str]:
    outcomes = [r.outcome for r in results]
    if fatal and isinstance(fatal[0], WrongURLError):
        return ExitCode.USAGE, "the target URL is not a folder files can be sent to"
    if fatal:
        return ExitCode.UNREACHABLE, _fatal_reason(fatal[0])
    if Outcome.VERIFY_FAILED in outcomes:
        return ExitCode.VERIFY, "a file's server hash did not match after re-sending"
    if Outcome.FAILED in outcomes:
        return ExitCode.PARTIAL, "some files failed"
    if any(a.reason is Reason.NAME_INVALID for a in plan.actions):
        return ExitCode.PARTIAL, "some files were not sent: names invalid on Windows"
    if any(a.reason is Reason.CONFLICT for a in plan.actions):
        return ExitCode.PARTIAL, "some files were not sent: their names clash on the server"
    if Outcome.NOT_STARTED in outcomes or Outcome.STOPPED in outcomes:
        why = budget.ended or (f"interrupted ({signals[0]})" if signals else "stopped")
        return ExitCode.BACKLOG, f"{why}; backlog left for the next run"
    waiting = any(a.kind is ActionKind.WAIT for a in plan.actions)
    if waiting or Outcome.CHANGED in outcomes:
        return ExitCode.WAITING, "files are waiting (still changing or locked)"
    if not plan.uploads:
        return ExitCode.OK, "nothing to transfer: everything is up to date"
    if Outcome.SENT in outcomes:
        return ExitCode.OK, "all files sent; those marked sent are not verified (no receipt)"
    return ExitCode.OK, "all files verified"


def _fatal_reason(exc: TransportError) -> str:
    """What stopped the queue, in words an operator can act on (the error follows it)."""
    if isinstance(exc, StatusError):
        if exc.status == INSUFFICIENT_STORAGE:
            return (
                "the server has no room for the files (HTTP 507): its operator must free space "
                "or raise the quota; the next run resumes"
            )
        return f"the server kept failing (HTTP {exc.status}) after the retries"
    return "server unreachable or credentials refused"


def _result_fields(
    plan: Plan, results: list[FileResult], stats: Stats, budget: Budget
) -> dict[str, Any]:
    by: dict[str, int] = {}
    for r in results:
        by[r.outcome.value] = by.get(r.outcome.value, 0) + 1
    counts = plan.counts()
    return {
        "files": {
            "queued": len(plan.uploads),
            **by,
            "waiting": counts.get("waiting-for-stability", 0) + counts.get("locked", 0),
            "unchanged": counts.get("unchanged", 0),
            "ignored": counts.get("ignored", 0),
            "name_invalid": counts.get("name-invalid", 0),
            "name_warning": counts.get("name-warning", 0),
            "conflict": counts.get("conflict", 0),
        },
        "names": [
            {"path": a.path, "action": a.kind.value, "problem": a.warning or a.detail}
            for a in plan.actions
            if a.warning or a.reason is Reason.NAME_INVALID
        ],
        "bytes": {
            "queued": stats.bytes_queued,
            "verified": stats.bytes_verified,
            "wire": stats.bytes_wire,
            "resumed": stats.bytes_resumed,
        },
        "chunks_sent": stats.chunks_sent,
        "retries": stats.retries,
        "budget_ended": budget.ended,
        "failures": [
            {"path": r.path, "outcome": r.outcome.value, "error": r.error}
            for r in results
            if r.outcome in (Outcome.FAILED, Outcome.VERIFY_FAILED, Outcome.CHANGED)
        ],
        "transferred": [r.path for r in results if r.outcome is Outcome.VERIFIED and r.method],
    }


def _finish(
    cfg: Config,
    req: RunRequest,
    journal: Journal,
    reporter: Reporter,
    summary: dict[str, Any],
    started: float,
    code: ExitCode,
    reason: str,
    wire: int = 0,
) -> tuple[ExitCode, dict[str, Any]]:
    finished = time.time()
    summary.update(
        started=started,
        finished=finished,
        duration_s=round(finished - started, 3),
        exit_code=int(code),
        exit_reason=reason,
    )
    transferred = summary.get("transferred", [])
    summary["nothing_transferred"] = not transferred
    state = state_dir_for(cfg, req.root, req.url)
    _write_json(state / "last-run.json", summary)
    if cfg.output.summary_file is not None:
        _write_json(cfg.output.summary_file, summary)
    journal.record_run(finished, wire, finished - started, summary)
    reporter.event("summary", **summary)
    if reporter.mode != "json":
        reporter.message(_summary_text(summary), error=code not in (ExitCode.OK,))
    if cfg.hooks.after_run:
        hook_env = {
            "SYNCCLIENT_EXIT": str(int(code)),
            "SYNCCLIENT_SUMMARY": str(state / "last-run.json"),
        }
        hook_code, _ = run_hook(cfg.hooks.after_run, hook_env)
        reporter.event("hook", hook="after_run", code=hook_code)
    return code, summary


def _summary_text(s: dict[str, Any]) -> str:
    files = s.get("files", {})
    b = s.get("bytes", {})
    parts = [
        f"{files.get('verified', 0)} verified",
        f"{files.get('failed', 0) + files.get('verify-failed', 0)} failed",
        f"{files.get('not-started', 0) + files.get('stopped', 0)} left for later",
        f"{files.get('waiting', 0) + files.get('changed', 0)} waiting",
        f"{files.get('unchanged', 0)} unchanged",
    ]
    if files.get("name_invalid"):
        parts.append(f"{files['name_invalid']} not sent (name invalid on Windows)")
    if files.get("name_warning"):
        parts.append(f"{files['name_warning']} with Windows name warnings")
    sent = human_bytes(b.get("wire", 0))
    head = "nothing transferred" if s.get("nothing_transferred") else f"sent {sent}"
    if b.get("resumed"):
        head += f" (resumed {human_bytes(b['resumed'])} from an earlier run)"
    return (
        f"{head}; "
        + ", ".join(parts)
        + f"; {human_duration(s.get('duration_s'))}; exit {s['exit_code']}: {s['exit_reason']}"
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def plan_only(
    cfg: Config, req: RunRequest, reporter: Reporter | None = None
) -> tuple[Prepared | None, ExitCode, str]:
    """Build the plan without writing anything to the server (the journal's hash cache is
    updated, so the next run does not hash again). ``reporter`` hears of retries."""
    state = state_dir_for(cfg, req.root, req.url)
    rules = cfg.rules(req.order)
    journal = Journal(state / "journal.sqlite")
    transport = open_transport(cfg, req.url)
    try:
        call = start_calls(cfg, reporter, req.deadline_s)
        prep = prepare(cfg, req.root, transport, journal, rules, list(req.excludes), False, call)
    except WrongURLError as exc:
        return None, ExitCode.USAGE, str(exc)
    except TransportError as exc:
        return None, ExitCode.UNREACHABLE, str(exc)
    except SourceError as exc:
        return None, ExitCode.SOURCE, str(exc)
    except UsageError as exc:
        return None, ExitCode.USAGE, str(exc)
    finally:
        transport.close()
        journal.close()
    return prep, ExitCode.OK, ""
