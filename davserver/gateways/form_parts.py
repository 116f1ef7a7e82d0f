"""Reading a ``multipart/form-data`` body into staged files and small text fields.

``read_form`` feeds the request body, block by block, to python-multipart's streaming
parser. Each file part is written to its own temporary file in ``staging_dir`` as it
arrives (the body is never held in memory); text fields are kept in memory up to
``max_field_bytes`` each. Bounds, all answered with ``FormError`` (the caller's 4xx):

- at most ``max_parts`` parts (fields and files) and ``max_files`` file parts;
- a text field longer than ``max_field_bytes``: 413; a file part larger than ``max_file_bytes``
  (when set): 413; staging that would eat into the disk's last ``reserve_bytes``: 507 (also
  for a chunked body, whose size nobody announced);
- a part's headers: python-multipart's own limits (count and size);
- a boundary the parser cannot use (too long), a body that is not valid multipart, or one
  that ends before the closing boundary: 400.

On any error every staged file is removed before ``FormError`` propagates; on success the
caller owns the ``StagedFile`` paths and removes them (``FormContent.discard``).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from davserver.errors import DavserverError
from providers.errors import InsufficientStorageError
from providers.local.space import SpaceGuard, WriteBudget

READ_BLOCK = 256 * 1024


class FormError(DavserverError):
    """A form body refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass
class StagedFile:
    """One file part: its form field name, the file name it was sent with (base name only),
    where its bytes are staged and how many there are."""

    field: str
    filename: str
    path: Path
    size: int = 0


@dataclass
class FormContent:
    """Everything a form carried, in body order."""

    files: list[StagedFile] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        """Every value of the text field ``name``, in order."""
        return [v for k, v in self.fields if k == name]

    def discard(self) -> None:
        """Remove the staged files (idempotent)."""
        for f in self.files:
            f.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class FormLimits:
    """Bounds of one form (see the module docstring)."""

    max_parts: int = 1000
    max_files: int = 100
    max_field_bytes: int = 64 * 1024
    max_file_bytes: int | None = None
    reserve_bytes: int = 0


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` Content-Type, or None if it is not one."""
    kind, params = parse_options_header(content_type)
    if kind.lower() != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    return boundary or None


_WINDOWS_PATH = re.compile(r"^([A-Za-z]:\\|\\\\)")


def base_name(raw: str) -> str:
    """The last segment of a client's file name: after the last ``/``, and after the last
    ``\\`` of a Windows path (old browsers send ``C:\\dir\\x.txt``); a backslash elsewhere
    is part of the name."""
    name = raw.rsplit("/", 1)[-1]
    if _WINDOWS_PATH.match(raw):
        name = name.rsplit("\\", 1)[-1]
    return name


class _Collector:
    """python-multipart callbacks that build a FormContent."""

    def __init__(self, staging_dir: Path, limits: FormLimits) -> None:
        self.staging_dir = staging_dir
        self.limits = limits
        self.content = FormContent()
        self.parts = 0
        self.ended = False
        self.error: FormError | None = None
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._field: str | None = None
        self._value = bytearray()
        self._file: StagedFile | None = None
        self._out: BinaryIO | None = None
        self._budget = WriteBudget(SpaceGuard(staging_dir, limits.reserve_bytes))

    # parser callbacks ------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise FormError(413, f"more than {self.limits.max_parts} parts in one form")
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_name).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition", b"")
        kind, params = parse_options_header(disposition)
        if kind.lower() != b"form-data" or b"name" not in params:
            raise FormError(400, "a part without Content-Disposition: form-data; name=...")
        name = _text(params[b"name"], "field name")
        if b"filename" not in params:
            self._field, self._value = name, bytearray()
            return
        if len(self.content.files) >= self.limits.max_files:
            raise FormError(413, f"more than {self.limits.max_files} files in one form")
        filename = base_name(_text(params[b"filename"], "file name"))
        fd, tmp = tempfile.mkstemp(prefix="form-", suffix=".part", dir=self.staging_dir)
        self._out = os.fdopen(fd, "wb")
        self._file = StagedFile(name, filename, Path(tmp))
        self.content.files.append(self._file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None and self._out is not None:
            self._file.size += end - start
            limit = self.limits.max_file_bytes
            if limit is not None and self._file.size > limit:
                raise FormError(413, f"a file is larger than the limit of {limit} bytes")
            try:
                self._budget.charge(end - start)
            except InsufficientStorageError as exc:
                raise FormError(507, "no room left on the server's disk for the upload") from exc
            self._out.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > self.limits.max_field_bytes:
            raise FormError(413, f"a form field is longer than {self.limits.max_field_bytes} bytes")

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out, self._file = None, None
        elif self._field is not None:
            self.content.fields.append((self._field, _text(bytes(self._value), "form field")))
            self._field = None

    def on_end(self) -> None:
        self.ended = True

    def callbacks(self) -> dict[str, Any]:
        names = (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
            "on_end",
        )
        return {n: getattr(self, n) for n in names}

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(400, f"{what} is not UTF-8") from exc


def read_form(
    body: _Readable,
    length: int | None,
    boundary: bytes,
    staging_dir: Path,
    limits: FormLimits,
) -> FormContent:
    """Parse the whole body (``length`` bytes, or until EOF when None); see the module
    docstring. Raises FormError; framing errors of the body itself (a malformed chunked
    encoding, a disconnect) propagate as the server's input layer raises them."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    collector = _Collector(staging_dir, limits)
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:  # a boundary the parser refuses (longer than it allows)
        raise FormError(400, f"unusable multipart boundary: {exc}") from exc
    left = length
    try:
        while left is None or left > 0:
            block = body.read(READ_BLOCK if left is None else min(READ_BLOCK, left))
            if not block:
                break
            if left is not None:
                left -= len(block)
            try:
                parser.write(block)
            except MultipartParseError as exc:
                raise FormError(400, f"malformed multipart body: {exc}") from exc
        if left or not collector.ended:
            raise FormError(400, "the multipart body ended before its closing boundary")
    except BaseException:
        collector.close()
        collector.content.discard()
        raise
    collector.close()
    return collector.content
