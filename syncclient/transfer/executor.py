"""The executor: sends the planned files, verifies each against the server's hash, then
records it (journal, manifest) and applies its post-action.

Guarantees:

- nothing half-sent counts as sent: a file is ``verified`` only when the server's hash
  (commit response, else PROPFIND ``oc:checksums``, else a download hashed locally) equals
  the local one; a mismatch is re-sent up to ``verify_retries`` times, then reported;
- a transport that cannot read the server's hash back (``verifies`` False: mail without
  receipts) makes a file ``sent``, recorded apart from verified files and never followed by
  a post-action; a transport that cannot list the server (``lists_files`` False) does not
  send again what the journal shows delivered with the same content;
- a file that changes while it is sent is never recorded (its stat is compared before and
  after, its bytes are hashed while they stream, and the server checks ``OC-Checksum``);
- uploads start in plan order (the budget is checked at each start); ``parallel`` run at once;
- a hard cut-off stops in-flight transfers, leaving chunk sessions resumable.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from syncclient.journal import Journal
from syncclient.model import Action, ActionKind, Digests, LocalFile, Plan, PostAction, SentRecord
from syncclient.output import Reporter, Stats
from syncclient.post import Manifest, PostActionError, Receipt, apply_post_action, run_hook
from syncclient.rules import RuleSet
from syncclient.scan import hash_file
from syncclient.transfer import FileChangedError, StopRequestedError
from syncclient.transfer.bandwidth import TokenBucket
from syncclient.transfer.body import FileBody
from syncclient.transfer.budget import Budget
from syncclient.transfer.chunking import ChunkedUpload, ChunkingUnsupportedError
from syncclient.transfer.retry import RetryPolicy, call_with_retry
from syncclient.transports import (
    AuthError,
    PutResult,
    SetupError,
    StatusError,
    Transport,
    TransportError,
)

T = TypeVar("T")
MiB = 1024 * 1024


class Outcome(StrEnum):
    """How one file's transfer ended."""

    VERIFIED = "verified"
    SENT = "sent"  # handed over, but the transport cannot read the server's hash back
    FAILED = "failed"
    VERIFY_FAILED = "verify-failed"
    CHANGED = "changed"
    NOT_STARTED = "not-started"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one planned upload or post-action."""

    path: str
    outcome: Outcome
    size: int = 0
    error: str = ""
    method: str = ""
    verified_by: str = ""


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """How files are sent. Files of ``chunk_threshold`` bytes or more use chunk sessions."""

    parallel: int = 4
    chunk_threshold: int = 16 * MiB
    chunk_size: int = 10 * MiB
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_retries: int = 2
    download_verify: bool = True


@dataclass(frozen=True, slots=True)
class Hooks:
    """Shell commands run after each verified file and after each run (empty = none)."""

    after_file: str = ""
    after_run: str = ""


@dataclass
class ExecutorContext:
    """Everything the executor works with."""

    root: Path
    transport: Transport
    journal: Journal
    manifest: Manifest
    reporter: Reporter
    stats: Stats
    budget: Budget
    bucket: TokenBucket
    settings: TransferSettings
    files: dict[str, LocalFile]
    remote_dirs: set[str]
    url: str
    rules: RuleSet
    chunking: bool
    hooks: Hooks = Hooks()
    clock: Callable[[], float] = time.time
    fatal: list[TransportError] = field(default_factory=list)


class Executor:
    """Runs the upload and post-action parts of a plan (see the module docstring)."""

    def __init__(self, ctx: ExecutorContext) -> None:
        self.ctx = ctx
        self._dir_lock = threading.Lock()
        self._chunk_note = threading.Lock()
        self._sent: dict[str, SentRecord] = {}

    def run(self, plan: Plan) -> list[FileResult]:
        """Apply due post-actions, then send the upload queue. Never raises TransportError:
        failures are results; an auth or connectivity failure stops the queue and is kept in
        ``ctx.fatal``."""
        self._sent = dict(self.ctx.journal.view().sent)
        results = [self._post_only(a) for a in plan.of_kind(ActionKind.POST)]
        uploads = plan.uploads
        st = self.ctx.stats
        st.files_queued, st.bytes_queued = len(uploads), sum(a.size for a in uploads)
        timer = self._start_timer()
        try:
            results += self._dispatch(uploads)
        finally:
            timer.set()
        return results

    def _start_timer(self) -> threading.Event:
        done = threading.Event()
        budget = self.ctx.budget

        def tick() -> None:
            while not done.wait(0.5):
                budget.check()

        threading.Thread(target=tick, daemon=True).start()
        return done

    def _dispatch(self, uploads: tuple[Action, ...]) -> list[FileResult]:
        ctx = self.ctx
        slots = threading.Semaphore(max(1, ctx.settings.parallel))
        futures: list[Future[FileResult]] = []
        held: list[FileResult] = []
        announced = False
        with ThreadPoolExecutor(max_workers=max(1, ctx.settings.parallel)) as pool:
            for action in uploads:
                slots.acquire()
                if ctx.fatal or ctx.budget.stop.is_set() or not ctx.budget.may_start(action.size):
                    slots.release()
                    held.append(FileResult(action.path, Outcome.NOT_STARTED, action.size))
                    if ctx.budget.ended and not announced:
                        ctx.reporter.event("budget", reason=ctx.budget.ended)
                        announced = True
                    continue
                futures.append(pool.submit(self._task, action, slots))
            results = [fut.result() for fut in futures]
        ctx.stats.add(files_not_started=len(held))
        return results + held

    # one file -----------------------------------------------------------------------------

    def _task(self, action: Action, slots: threading.Semaphore) -> FileResult:
        ctx = self.ctx
        f = ctx.files[action.path]
        ctx.stats.begin_file(f.path, f.size)
        ctx.reporter.event("start", path=f.path, size=f.size, reason=action.reason.value)
        try:
            result = self._send(f, action)
        except StopRequestedError:
            result = FileResult(f.path, Outcome.STOPPED, f.size, "stopped by cut-off")
        except (AuthError, SetupError) as exc:
            ctx.fatal.append(exc)
            result = FileResult(f.path, Outcome.FAILED, f.size, str(exc))
        except TransportError as exc:
            if exc.transient:
                ctx.fatal.append(exc)
            result = FileResult(f.path, Outcome.FAILED, f.size, str(exc))
        except OSError as exc:
            result = FileResult(f.path, Outcome.FAILED, f.size, f"local read: {exc}")
        finally:
            slots.release()
        self._account(result)
        return result

    def _account(self, r: FileResult) -> None:
        st, rep = self.ctx.stats, self.ctx.reporter
        st.end_file(r.path, r.size if r.outcome is Outcome.VERIFIED else None)
        if r.outcome is Outcome.VERIFIED:
            rep.event(
                "verified", path=r.path, size=r.size, method=r.method, verified_by=r.verified_by
            )
        elif r.outcome is Outcome.SENT:
            st.add(files_sent_unverified=1)
            rep.event("sent", path=r.path, size=r.size, method=r.method, verified="no")
        elif r.outcome is Outcome.VERIFY_FAILED:
            st.add(files_verify_failed=1)
            rep.event("verify-failed", path=r.path, error=r.error)
        elif r.outcome is Outcome.CHANGED:
            st.add(files_changed=1)
            rep.event("changed", path=r.path)
        elif r.outcome is Outcome.FAILED:
            st.add(files_failed=1)
            rep.event("failed", path=r.path, error=r.error)
        else:
            rep.event("stopped", path=r.path)

    def _send(self, f: LocalFile, action: Action) -> FileResult:
        if f.digests is None:
            return FileResult(f.path, Outcome.FAILED, f.size, "not hashed")
        if not self._unchanged(f):
            return FileResult(f.path, Outcome.CHANGED, f.size, "changed since the scan")
        earlier = self._delivered_before(f)
        if earlier is not None:
            return earlier
        self._ensure_parent(f.path)
        last = ""
        for attempt in range(1 + self.ctx.settings.verify_retries):
            try:
                result, method = self._upload_once(f)
            except FileChangedError as exc:
                return FileResult(f.path, Outcome.CHANGED, f.size, str(exc))
            if not result.hashes and not getattr(self.ctx.transport, "verifies", True):
                return self._record_sent(f, method)
            ok, by, etag = self._verify(f, result)
            if ok:
                self._record(f, action, replace(result, etag=etag), method, by)
                return FileResult(f.path, Outcome.VERIFIED, f.size, method=method, verified_by=by)
            last = f"server hash ({by}) differs from the local hash"
            if ok is None:
                last = "the server reports no hash and download verification is off"
                break
            self.ctx.reporter.event(
                "verify-mismatch", path=f.path, attempt=attempt + 1, verified_by=by
            )
        return FileResult(f.path, Outcome.VERIFY_FAILED, f.size, last)

    def _delivered_before(self, f: LocalFile) -> FileResult | None:
        """For a transport that cannot list the server (mail): the same content delivered
        by an earlier run is not sent again (its outcome stays what it was)."""
        if getattr(self.ctx.transport, "lists_files", True) or f.digests is None:
            return None
        earlier = self.ctx.journal.delivered(f.path)
        if earlier is None or earlier[:2] != (f.size, f.digests.sha256):
            return None
        outcome = Outcome.VERIFIED if earlier[2] else Outcome.SENT
        return FileResult(f.path, outcome, f.size, verified_by="journal")

    def _record_sent(self, f: LocalFile, method: str) -> FileResult:
        assert f.digests is not None
        ctx = self.ctx
        ctx.journal.record_sent(
            f.path, f.size, f.mtime_ns, f.digests.sha256, ctx.url + f.path, ctx.clock()
        )
        return FileResult(f.path, Outcome.SENT, f.size, method=method, verified_by="none")

    def _unchanged(self, f: LocalFile) -> bool:
        try:
            st = (self.ctx.root / f.path).stat()
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns, st.st_ino) == (f.size, f.mtime_ns, f.inode)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        ctx = self.ctx

        def on_retry(attempt: int, exc: TransportError, wait: float) -> None:
            ctx.stats.add(retries=1)
            ctx.reporter.event(
                "retry",
                what=what,
                attempt=attempt,
                wait=round(wait, 2),
                error=str(exc),
                retry_after=exc.retry_after,
            )

        return call_with_retry(fn, ctx.settings.retry, ctx.budget.stop, on_retry)

    def _ensure_parent(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if not parent:
            return
        parts = parent.split("/")
        with self._dir_lock:
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                if prefix not in self.ctx.remote_dirs:
                    self._make_dir(prefix)
                    self.ctx.remote_dirs.add(prefix)

    def _make_dir(self, prefix: str) -> None:
        transport = self.ctx.transport
        self._call(f"MKCOL {prefix}", lambda: transport.make_dir(prefix))

    def _body(self, f: LocalFile, offset: int, size: int) -> FileBody:
        ctx = self.ctx

        def on_bytes(n: int) -> None:
            ctx.stats.add(bytes_wire=n)
            ctx.budget.charge(n)

        def on_progress(n: int) -> None:
            ctx.stats.file_progress(f.path, n)

        return FileBody(
            ctx.root / f.path,
            offset,
            size,
            ctx.bucket,
            ctx.budget.stop,
            on_bytes,
            on_progress=on_progress,
        )

    def _upload_once(self, f: LocalFile) -> tuple[PutResult, str]:
        ctx = self.ctx
        ctx.stats.begin_file(f.path, f.size)  # an attempt after a mismatch starts over
        if ctx.chunking and f.size >= ctx.settings.chunk_threshold:
            up = ChunkedUpload(
                transport=ctx.transport,
                journal=ctx.journal,
                f=f,
                chunk_size=ctx.settings.chunk_size,
                call=self._call,
                body=lambda off, size: self._body(f, off, size),
                emit=ctx.reporter.event,
                unchanged=lambda: self._unchanged(f),
                on_present=lambda n: ctx.stats.file_progress(f.path, n),
            )
            try:
                result = up.run()
                return result, "chunks"
            except ChunkingUnsupportedError as exc:
                with self._chunk_note:
                    if ctx.chunking:
                        ctx.chunking = False
                        ctx.reporter.event(
                            "note",
                            message=f"server refused an upload session ({exc}); "
                            "large files go by plain PUT",
                        )
            finally:
                ctx.stats.add(chunks_sent=up.chunks_sent, bytes_resumed=up.bytes_resumed)
        return self._put(f), "put"

    def _put(self, f: LocalFile) -> PutResult:
        assert f.digests is not None
        d = f.digests
        body = self._body(f, 0, f.size)
        mtime = f.mtime_ns // 1_000_000_000
        try:
            result = self._call(
                f"PUT {f.path}", lambda: self.ctx.transport.put(f.path, body, f.size, d.sha1, mtime)
            )
        except StatusError as exc:
            if exc.status == 400 and (
                body.hashers.digests().sha1 != d.sha1 or not self._unchanged(f)
            ):
                raise FileChangedError(f"{f.path} changed while being sent") from exc
            raise
        if body.hashers.digests().sha1 != d.sha1 or not self._unchanged(f):
            raise FileChangedError(f"{f.path} changed while being sent")
        return result

    def _verify(self, f: LocalFile, result: PutResult) -> tuple[bool | None, str, str | None]:
        """(hashes equal, or None if nothing could be compared; how it was checked; the ETag
        to record). After a PROPFIND the recorded ETag is the one listings show: a server may
        change it after answering the PUT (stock WsgiDAV applies ``X-OC-Mtime`` afterwards)."""
        assert f.digests is not None
        ok = compare_hashes(result.hashes, f.digests)
        if ok is not None:
            return ok, "commit-response", result.etag
        transport = self.ctx.transport
        remote = self._call(f"PROPFIND {f.path}", lambda: transport.stat(f.path))
        etag = result.etag
        if remote is not None:
            etag = remote.etag or etag
            if remote.size != f.size:
                return False, "propfind", etag
            same = remote.hash_matches(f.digests)
            if same is not None:
                return same, "propfind", etag
        if not self.ctx.settings.download_verify:
            return None, "none", etag
        got = self._call(f"GET {f.path}", lambda: transport.download_digests(f.path))
        return got.get("sha256") == f.digests.sha256, "download", etag

    # after verification -------------------------------------------------------------------

    def _record(
        self, f: LocalFile, action: Action, result: PutResult, method: str, by: str
    ) -> None:
        ctx = self.ctx
        assert f.digests is not None
        now = ctx.clock()
        url = ctx.url + f.path
        ctx.journal.record_verified(f.path, f.size, f.mtime_ns, f.digests, result.etag, url, now)
        receipt = Receipt(f.path, f.size, f.mtime_ns, f.digests, url, result.etag, by, now)
        immediate = action.post.action in (PostAction.DELETE, PostAction.MOVE)
        ctx.manifest.append(receipt, action.post.action.value)
        if immediate:
            self._apply_post(f, action)
        self._hook_file(f, f.digests, url)

    def _apply_post(self, f: LocalFile, action: Action) -> None:
        ctx = self.ctx
        marker = ctx.rules.rule_for(f.path).done_suffix
        try:
            done = apply_post_action(ctx.root, f.path, action.post, f.size, f.mtime_ns, marker)
        except PostActionError as exc:
            ctx.reporter.event("post-failed", path=f.path, error=str(exc))
            return
        ctx.journal.mark_post_done(f.path)
        ctx.reporter.event("post", path=f.path, done=done)

    def _post_only(self, action: Action) -> FileResult:
        """A post-action for a file the server already holds with the same hash.

        The file is hashed again first: its hash came from the cache, keyed by size, mtime
        and inode, which a file rewritten in place with its old size and time restored
        keeps; such a file is neither deleted nor moved, its cache entry is dropped (the
        next run hashes and sends it) and it counts as changed."""
        ctx = self.ctx
        f = ctx.files[action.path]
        assert f.digests is not None
        try:
            now_sha256 = hash_file(ctx.root / f.path).sha256
        except OSError as exc:
            ctx.reporter.event("post-failed", path=f.path, error=f"cannot read it again: {exc}")
            return FileResult(f.path, Outcome.FAILED, 0, f"local read: {exc}")
        if now_sha256 != f.digests.sha256:
            ctx.journal.cache_forget(f.path)
            error = (
                "its content changed since it was hashed (same size and time); kept, sent next run"
            )
            ctx.reporter.event("post-failed", path=f.path, error=error)
            return FileResult(f.path, Outcome.CHANGED, f.size, error)
        sent = self._sent.get(f.path)
        url = ctx.url + f.path
        if sent is None or sent.sha256 != f.digests.sha256:
            now = ctx.clock()
            ctx.journal.record_verified(f.path, f.size, f.mtime_ns, f.digests, None, url, now)
            ctx.manifest.append(
                Receipt(f.path, f.size, f.mtime_ns, f.digests, url, None, "inventory", now),
                action.post.action.value,
            )
        post = action.post
        if post.action is PostAction.DELETE_AFTER:
            post = type(post)(PostAction.DELETE)
        self._apply_post(f, Action(action.kind, action.path, action.reason, post=post))
        return FileResult(f.path, Outcome.VERIFIED, 0, method="none", verified_by="inventory")

    def _hook_file(self, f: LocalFile, d: Digests, url: str) -> None:
        cmd = self.ctx.hooks.after_file
        if not cmd:
            return
        env = {
            "SYNCCLIENT_PATH": f.path,
            "SYNCCLIENT_FILE": str(self.ctx.root / f.path),
            "SYNCCLIENT_SIZE": str(f.size),
            "SYNCCLIENT_SHA256": d.sha256,
            "SYNCCLIENT_URL": url,
        }
        code, _out = run_hook(cmd, env)
        self.ctx.reporter.event("hook", hook="after_file", path=f.path, code=code)


def compare_hashes(hashes: dict[str, Any], d: Digests) -> bool | None:
    """Compare the strongest hash the server reported; None if it reported none we know."""
    for name in ("sha256", "sha1", "md5"):
        value = hashes.get(name)
        if value:
            return bool(str(value).lower() == getattr(d, name))
    return None
