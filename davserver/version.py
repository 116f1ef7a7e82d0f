"""The installed davsync version, read from the package metadata (pyproject.toml is the one
place it is written)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "davsync"


def package_version() -> str:
    """``davsync``'s installed version, or ``"unknown (not installed)"`` when the code runs
    from a source tree that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed)"
