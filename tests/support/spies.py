"""Counting what a method is asked, while it still does its work."""

from __future__ import annotations

from typing import Any

import pytest


def first_arguments(monkeypatch: pytest.MonkeyPatch, owner: type, method: str) -> list[Any]:
    """Wrap ``owner.method`` for the rest of the test: every call still runs, and its first
    argument after ``self`` is added to the returned list (extended with a list argument's
    items)."""
    asked: list[Any] = []
    original = getattr(owner, method)

    def recording(self: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(first, list):
            asked.extend(first)
        else:
            asked.append(first)
        return original(self, first, *args, **kwargs)

    monkeypatch.setattr(owner, method, recording)
    return asked
