"""The WebDAV ``If`` request header (RFC 4918 section 10.4): a strict parser and evaluator.

Grammar (RFC 4918 section 10.4.2, whitespace allowed between tokens)::

    If            = 1*No-tag-list | 1*Tagged-list
    No-tag-list   = List
    Tagged-list   = Resource-Tag 1*List
    List          = "(" 1*Condition ")"
    Condition     = ["Not"] (State-token | "[" entity-tag "]")
    State-token   = Coded-URL                 ; "<" absolute-URI ">"
    Resource-Tag  = "<" Simple-ref ">"

``parse`` returns the header as data or raises ``IfHeaderError`` (the request then gets 400,
RFC 4918 section 10.4.1 and RFC 9110 section 15.5.1). ``evaluate`` applies RFC 4918 section
10.4.3/10.4.4: the header holds for a resource if one of its lists that apply to the resource
holds; a list holds if all its conditions hold; a state token holds if it names a lock the
client may use on the resource; an entity tag holds if it is strong and equal to the current
one (strong comparison). Lists tagged for other resources do not constrain this one; a header
with no list that applies to a resource holds for it.

Limits: at most ``max_conditions`` conditions in all (``IfHeaderError`` beyond), so a header
cannot make evaluation expensive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from davserver.errors import DavserverError

DEFAULT_MAX_CONDITIONS = 64


class IfHeaderError(DavserverError, ValueError):
    """The ``If`` header does not follow the grammar (or exceeds the limits)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition: a state token (``<...>``) or an entity tag (``[...]``), maybe negated.

    ``value`` is the token without angle brackets, or the entity tag as sent (with quotes and
    any ``W/``).
    """

    negated: bool
    kind: str  # "token" | "etag"
    value: str

    def render(self) -> str:
        """The condition in header syntax."""
        body = f"<{self.value}>" if self.kind == "token" else f"[{self.value}]"
        return f"Not {body}" if self.negated else body


@dataclass(frozen=True, slots=True)
class TaggedLists:
    """The lists that follow one Resource-Tag (``resource`` None: the No-tag form)."""

    resource: str | None
    lists: tuple[tuple[Condition, ...], ...]

    def render(self) -> str:
        """The group in header syntax."""
        lists = " ".join("(" + " ".join(c.render() for c in lst) + ")" for lst in self.lists)
        return lists if self.resource is None else f"<{self.resource}> {lists}"


@dataclass(frozen=True, slots=True)
class IfHeader:
    """A parsed ``If`` header: either one untagged group or one group per Resource-Tag."""

    groups: tuple[TaggedLists, ...]

    @property
    def tagged(self) -> bool:
        """True for the Tagged-list form."""
        return self.groups[0].resource is not None

    def tokens(self) -> list[str]:
        """Every state token mentioned (negated or not), in order."""
        return [c.value for g in self.groups for lst in g.lists for c in lst if c.kind == "token"]

    def render(self) -> str:
        """The header value."""
        return " ".join(g.render() for g in self.groups)


_WS = re.compile(r"[ \t]*")
_CODED_URL = re.compile(r"<([^<>\s]+)>")
_ETAG = re.compile(r'\[((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\]')
_NOT = re.compile(r"not(?=[ \t<\[])", re.IGNORECASE)


class _Scanner:
    def __init__(self, text: str, max_conditions: int) -> None:
        self.text = text
        self.pos = 0
        self.budget = max_conditions

    def skip_ws(self) -> None:
        match = _WS.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos : self.pos + 1]

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_ws()
        match = pattern.match(self.text, self.pos)
        if match is None:
            raise IfHeaderError(f"expected {what} at offset {self.pos}")
        self.pos = match.end()
        return match.group(1) if pattern.groups else match.group(0)

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise IfHeaderError(f"expected {char!r} at offset {self.pos}")
        self.pos += 1

    def condition(self) -> Condition:
        self.budget -= 1
        if self.budget < 0:
            raise IfHeaderError("too many conditions in the If header")
        self.skip_ws()
        negated = _NOT.match(self.text, self.pos) is not None
        if negated:
            self.pos += 3
        if self.peek() == "<":
            return Condition(negated, "token", self.take(_CODED_URL, "a state token"))
        return Condition(negated, "etag", self.take(_ETAG, "an entity tag"))

    def one_list(self) -> tuple[Condition, ...]:
        self.expect("(")
        conditions = [self.condition()]
        while self.peek() != ")":
            if self.at_end():
                raise IfHeaderError("unterminated list in the If header")
            conditions.append(self.condition())
        self.pos += 1
        return tuple(conditions)

    def lists(self) -> tuple[tuple[Condition, ...], ...]:
        found = [self.one_list()]
        while self.peek() == "(":
            found.append(self.one_list())
        return tuple(found)


def parse(value: str, *, max_conditions: int = DEFAULT_MAX_CONDITIONS) -> IfHeader:
    """Parse an ``If`` header value. Raises IfHeaderError if it is malformed or too long."""
    scanner = _Scanner(value, max_conditions)
    if scanner.at_end():
        raise IfHeaderError("empty If header")
    if scanner.peek() == "(":
        groups = [TaggedLists(None, scanner.lists())]
        if not scanner.at_end():
            raise IfHeaderError(f"unexpected text at offset {scanner.pos}")
        return IfHeader(tuple(groups))
    groups = []
    while not scanner.at_end():
        resource = scanner.take(_CODED_URL, "a resource tag")
        groups.append(TaggedLists(resource, scanner.lists()))
    return IfHeader(tuple(groups))


def _etag_holds(sent: str, current: str | None) -> bool:
    """Strong comparison of an entity tag as sent with the current unquoted strong tag."""
    return current is not None and not sent.startswith("W/") and sent == f'"{current}"'


def evaluate(
    header: IfHeader,
    *,
    resource: str,
    etag: str | None,
    usable_tokens: Collection[str],
    same_resource: Callable[[str, str], bool] | None = None,
) -> bool:
    """True if ``header`` holds for ``resource`` (see the module docstring).

    ``etag``: the resource's current strong tag, unquoted (None: no entity, e.g. unmapped).
    ``usable_tokens``: lock tokens the client may use on the resource (its own locks that
    cover it). ``same_resource(tag, resource)`` decides whether a Resource-Tag names the
    resource (default: string equality).
    """
    matches = same_resource or (lambda tag, res: tag == res)
    applicable = [
        lst
        for group in header.groups
        if group.resource is None or matches(group.resource, resource)
        for lst in group.lists
    ]
    if not applicable:
        return True
    return any(all(_condition_holds(c, etag, usable_tokens) for c in lst) for lst in applicable)


def _condition_holds(cond: Condition, etag: str | None, usable_tokens: Collection[str]) -> bool:
    holds = cond.value in usable_tokens if cond.kind == "token" else _etag_holds(cond.value, etag)
    return holds != cond.negated
