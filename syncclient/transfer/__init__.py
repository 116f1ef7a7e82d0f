"""Transfer stage: the executor and what it is made of (retry/backoff, bandwidth limiting,
budgets and cut-off modes, file bodies that hash while they stream, chunk sessions)."""

from __future__ import annotations

from syncclient import SyncClientError


class StopRequestedError(SyncClientError):
    """A hard cut-off (budget or window) stopped the transfer; resumable state is kept."""


class FileChangedError(SyncClientError):
    """The local file changed while it was being read for sending."""
