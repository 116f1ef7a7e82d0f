"""Which rule a file falls under, and parsing of order-policy strings. Pure, no I/O.

A file gets the first rule whose gitignore-style ``match`` patterns match it; a catch-all
default rule (the last one) takes the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pathspec

from syncclient import UsageError
from syncclient.model import GroupBy, OrderBy, OrderPolicy, Rule


class RuleSet:
    """Rules in order; ``rule_for(path)`` is the first whose patterns match."""

    def __init__(self, rules: Sequence[Rule], default: Rule | None = None) -> None:
        self.rules = (*tuple(rules), default or Rule())
        self._specs = [pathspec.GitIgnoreSpec.from_lines(list(r.match)) for r in self.rules]

    def rule_for(self, path: str) -> Rule:
        """The rule that applies to ``path`` (never fails: the default catches all)."""
        for rule, spec in zip(self.rules, self._specs, strict=True):
            if spec.match_file(path):
                return rule
        return self.rules[-1]

    def with_order(self, order: OrderPolicy) -> RuleSet:
        """The same rules with ``order`` replacing every rule's order policy."""
        return RuleSet(
            [replace(r, order=order) for r in self.rules[:-1]], replace(self.rules[-1], order=order)
        )

    def done_suffixes(self) -> tuple[str, ...]:
        """Every configured done-marker suffix."""
        return tuple(sorted({r.done_suffix for r in self.rules if r.done_suffix}))

    def flag_files(self) -> tuple[str, ...]:
        """Every configured flag-file name."""
        return tuple(sorted({r.flag_file for r in self.rules if r.flag_file}))


def parse_order(text: str) -> OrderPolicy:
    """Parse an order policy: ``newest-first``, ``oldest-first``, ``smallest-first``,
    ``largest-first``, ``path``, ``latest-only:N`` (N newest per folder, rest skipped),
    ``classes:GLOB,GLOB,...``; several joined with ``+``, e.g.
    ``classes:*.csv,*.log+newest-first`` or ``latest-only:3+later``.

    Raises UsageError for anything else.
    """
    policy = OrderPolicy()
    for part in filter(None, (p.strip() for p in text.split("+"))):
        name, _, arg = part.partition(":")
        name = name.lower()
        if name in {o.value for o in OrderBy}:
            policy = replace(policy, by=OrderBy(name))
        elif name == "latest-only":
            policy = replace(policy, latest_only=_positive_int(arg, part), by=OrderBy.NEWEST_FIRST)
        elif name == "classes":
            classes = tuple(c.strip() for c in arg.split(",") if c.strip())
            if not classes:
                raise UsageError(f"order policy {part!r}: give at least one glob")
            policy = replace(policy, classes=classes)
        elif name in ("later", "skip"):
            policy = replace(policy, rest=name)
        elif name in ("per-folder", "per-rule"):
            policy = replace(policy, group_by=GroupBy(name.removeprefix("per-")))
        else:
            raise UsageError(
                f"unknown order policy {part!r} (use newest-first, oldest-first, "
                "smallest-first, largest-first, path, latest-only:N, classes:GLOB,...)"
            )
    return policy


def _positive_int(arg: str, part: str) -> int:
    try:
        value = int(arg)
    except ValueError:
        raise UsageError(f"order policy {part!r}: N must be a whole number") from None
    if value < 1:
        raise UsageError(f"order policy {part!r}: N must be at least 1")
    return value
