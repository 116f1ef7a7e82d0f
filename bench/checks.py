"""Benchmarks check their own results before they print a number.

A benchmark collects every failed transfer and every wrong hash in a ``Verdict``. Timings and
ratios are printed only through ``Verdict.ratios``, which refuses (raises ``BenchFailedError``)
while anything failed: a fast run that lost or changed data proves nothing. ``run_checked``
turns ``BenchFailedError`` into the failures on stderr and exit status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class BenchFailedError(Exception):
    """The benchmark's own results are wrong; the message lists what failed."""


class MismatchError(Exception):
    """What a server stored (or the hash it reports) differs from what was sent, or it
    refused the upload."""


def tree_mismatch(expected: Mapping[str, str], got: Mapping[str, str]) -> str | None:
    """None if ``got`` (path -> hash) equals ``expected``; else a one-line description
    starting with ``MISMATCH`` (missing, changed and unexpected paths, with examples)."""
    if dict(got) == dict(expected):
        return None
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    changed = sorted(p for p in expected if p in got and got[p] != expected[p])
    parts = []
    for label, paths in (("missing", missing), ("with another hash", changed), ("extra", extra)):
        if paths:
            parts.append(f"{len(paths)} {label} (e.g. {paths[0]})")
    return "MISMATCH: " + ", ".join(parts)


@dataclass
class Verdict:
    """What went wrong in one benchmark run (empty: every result checked out)."""

    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        """Record a failure."""
        self.failures.append(what)

    def exit_code(self, what: str, code: int, detail: str = "") -> None:
        """Record a failure if a tool run ``what`` exited non-zero."""
        if code != 0:
            self.fail(f"{what} exited {code}" + (f": {detail.strip()[-500:]}" if detail else ""))

    def tree(self, what: str, expected: Mapping[str, str], got: Mapping[str, str]) -> str:
        """Compare a stored tree with the expected one; return "ok (...)" or the mismatch."""
        problem = tree_mismatch(expected, got)
        if problem is None:
            return f"ok ({len(got)} files, every hash matches)"
        self.fail(f"{what}: {problem}")
        return problem

    def equal(self, what: str, expected: object, got: object) -> None:
        """Record a failure unless ``got == expected``."""
        if got != expected:
            self.fail(f"{what}: expected {expected!r}, got {got!r}")

    @property
    def ok(self) -> bool:
        """True while nothing failed."""
        return not self.failures

    def check(self) -> None:
        """Raise BenchFailedError (listing every failure) unless every result checked out."""
        if self.failures:
            raise BenchFailedError("; ".join(self.failures))

    def ratios(self, render: Callable[[], str]) -> str:
        """``render()`` (the table and ratios) if every result checked out; otherwise raise
        BenchFailedError without calling it."""
        self.check()
        return render()


def run_checked(main: Callable[[], int]) -> int:
    """Run a benchmark's ``main``; BenchFailedError becomes a message on stderr and status 1."""
    try:
        return main()
    except BenchFailedError as exc:
        print(f"BENCHMARK FAILED, no ratio printed: {exc}", file=sys.stderr, flush=True)
        return 1
