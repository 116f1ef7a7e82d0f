"""Group commit: the staged writes that arrive together land together.

Landing one write costs a metadata transaction (the SQLite write lock, taken by one connection
at a time) and an fsync of the target's directory. Done request by request, concurrent
writers queue on the write lock and each pays a directory fsync; with several clients the
server gets *slower* than with one. A ``CommitQueue`` turns that queue into batches:

1. a request whose staging file is complete and fsynced ``submit``\\ s its commit;
2. if no commit is running, it becomes the *leader*; otherwise it waits;
3. the leader takes every commit submitted so far (the batch) and runs ``apply`` on it once:
   the provider takes the batch's path locks, opens one metadata transaction, checks each
   commit's preconditions and renames it into place, commits the transaction, then fsyncs
   every touched directory once;
4. only then are the batch's requests woken with their own outcome (an entry, or the error
   of that one commit: a failed precondition does not fail its neighbours);
5. commits that arrived meanwhile form the next batch; the leader hands leadership to one of
   their requests and returns, so no request serves others for longer than one batch.

So nothing is answered before it is durable, and N requests that arrive together cost one
transaction and one fsync per directory instead of N. A request alone sees no added wait:
it leads a batch of one at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass(eq=False)
class Ticket(Generic[Job, Result]):
    """One submitted commit and, once its batch ran, its outcome."""

    job: Job
    result: Result | None = None
    error: BaseException | None = None
    done: bool = False
    lead: bool = False
    wake: threading.Event = field(default_factory=threading.Event)

    def succeed(self, result: Result) -> None:
        """Record the outcome of this commit (the batch runner calls this)."""
        self.result = result

    def fail(self, error: BaseException) -> None:
        """Record that this commit failed with ``error`` (the batch runner calls this)."""
        self.error = error


BatchRunner = Callable[[Sequence[Ticket[Job, Result]]], None]
"""Runs a batch: calls ``succeed`` or ``fail`` on every ticket before returning. An exception
it raises fails every ticket of the batch that has no outcome yet."""


class CommitQueue(Generic[Job, Result]):
    """Batches concurrent commits in one process (see the module docstring)."""

    def __init__(self, apply: BatchRunner[Job, Result], *, max_batch: int = 64) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[Ticket[Job, Result]] = []
        self._leading = False
        self.batches = 0
        """Batches run so far (for tests and diagnostics)."""

    def submit(self, job: Job) -> Result:
        """Commit ``job`` together with whatever else is being submitted; returns its result
        once its batch is durable, or raises the error of this one commit."""
        ticket: Ticket[Job, Result] = Ticket(job)
        with self._lock:
            self._pending.append(ticket)
            if not self._leading:
                self._leading = ticket.lead = True
        while not ticket.done:
            if ticket.lead:
                self._lead(ticket)
            else:
                ticket.wake.wait()
                ticket.wake.clear()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _lead(self, own: Ticket[Job, Result]) -> None:
        """Run batches until ``own`` is done, then pass leadership on (or give it up)."""
        try:
            while not own.done:
                with self._lock:
                    batch = self._pending[: self._max_batch]
                    del self._pending[: self._max_batch]
                self._run(batch)
        finally:
            with self._lock:
                if self._pending:
                    successor = self._pending[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _run(self, batch: list[Ticket[Job, Result]]) -> None:
        try:
            self._apply(batch)
        except BaseException as exc:
            for ticket in batch:
                if ticket.result is None and ticket.error is None:
                    ticket.fail(exc)
            raise
        finally:
            self.batches += 1
            for ticket in batch:
                if ticket.result is None and ticket.error is None:
                    ticket.fail(RuntimeError("the batch gave this commit no outcome"))
                ticket.done = True
                ticket.wake.set()
