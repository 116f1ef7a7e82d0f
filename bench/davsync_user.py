"""The benchmark's davserver account helpers (they live in ``interop.accounts``)."""

from __future__ import annotations

from interop.accounts import DAVSERVER_CLI, add_user

__all__ = ["DAVSERVER_CLI", "add_user"]
