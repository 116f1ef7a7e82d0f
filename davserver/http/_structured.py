"""A parser for Structured Field Dictionaries (RFC 8941 section 4.2), as used by RFC 9530.

It follows the RFC's parsing algorithms with one leniency: keys are matched
case-insensitively and returned in lower case. Values are Python objects: ``bytes`` (Byte
Sequence), ``int``, ``float`` (Decimal), ``str`` (String), ``Token``, ``bool`` and
``list`` of items (Inner List). Parameters are parsed and returned but carry no meaning here.
"""

from __future__ import annotations

import base64
import binascii
import re

from davserver.errors import DavserverError

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*", re.ASCII | re.IGNORECASE)
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*", re.ASCII)
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):", re.ASCII)
_BOOLEAN = re.compile(r"\?([01])", re.ASCII)


class StructuredFieldError(DavserverError, ValueError):
    """The field value is not a valid Structured Field Dictionary."""


class Token(str):
    """A Structured Field Token (as opposed to a String)."""

    __slots__ = ()


Params = dict[str, object]
Member = tuple[object, Params]


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse ``text`` as a Dictionary: key -> (value, parameters).

    A key without ``=`` has the value True. A repeated key keeps its last value, as the RFC
    says. Raises StructuredFieldError when ``text`` is not a valid Dictionary.
    """
    return _Parser(text).dictionary()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text.strip(" ")
        self.pos = 0

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _fail(self, why: str) -> StructuredFieldError:
        return StructuredFieldError(f"{why} at offset {self.pos}")

    def _skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def _match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        return match

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        while self.pos < len(self.text):
            key = self._key()
            if self._peek() == "=":
                self.pos += 1
                members[key] = self._item_or_inner_list()
            else:
                members[key] = (True, self._params())
            self._skip(" \t")
            if self.pos >= len(self.text):
                break
            if self._peek() != ",":
                raise self._fail("expected ','")
            self.pos += 1
            self._skip(" \t")
            if self.pos >= len(self.text):
                raise self._fail("trailing ','")
        return members

    def _key(self) -> str:
        match = self._match(_KEY)
        if match is None:
            raise self._fail("expected a key")
        return match.group().lower()

    def _item_or_inner_list(self) -> Member:
        if self._peek() == "(":
            return self._inner_list()
        return self._item()

    def _item(self) -> Member:
        value = self._bare_item()
        return value, self._params()

    def _inner_list(self) -> Member:
        self.pos += 1
        items: list[Member] = []
        while self.pos < len(self.text):
            self._skip(" ")
            if self._peek() == ")":
                self.pos += 1
                return items, self._params()
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise self._fail("expected ' ' or ')' in inner list")
        raise self._fail("unterminated inner list")

    def _params(self) -> Params:
        params: Params = {}
        while self._peek() == ";":
            self.pos += 1
            self._skip(" ")
            key = self._key()
            value: object = True
            if self._peek() == "=":
                self.pos += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _bare_item(self) -> object:
        first = self._peek()
        if first == "-" or first.isdigit():
            return self._number()
        if first == '"':
            return self._string()
        if first == ":":
            return self._bytes()
        if first == "?":
            return self._boolean()
        match = self._match(_TOKEN)
        if match is None:
            raise self._fail("expected an item")
        return Token(match.group())

    def _number(self) -> int | float:
        match = self._match(_NUMBER)
        if match is None:
            raise self._fail("invalid number")
        text = match.group()
        whole, _, fraction = text.lstrip("-").partition(".")
        if not fraction and len(whole) <= 15:
            return int(text)
        if fraction and len(whole) <= 12 and len(fraction) <= 3:
            return float(text)
        raise self._fail("number out of range")

    def _string(self) -> str:
        chars: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\":
                escaped = self._peek()
                if escaped not in ('"', "\\"):
                    raise self._fail("invalid escape in string")
                chars.append(escaped)
                self.pos += 1
            elif ch == '"':
                return "".join(chars)
            elif not " " <= ch <= "~":
                raise self._fail("invalid character in string")
            else:
                chars.append(ch)
        raise self._fail("unterminated string")

    def _bytes(self) -> bytes:
        match = self._match(_BYTES)
        if match is None:
            raise self._fail("invalid byte sequence")
        encoded = match.group(1)
        encoded += "=" * (-len(encoded) % 4)
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self._fail("invalid base64 in byte sequence") from exc

    def _boolean(self) -> bool:
        match = self._match(_BOOLEAN)
        if match is None:
            raise self._fail("invalid boolean")
        return match.group(1) == "1"
