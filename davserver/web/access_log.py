"""One record per request, and the access log written from it.

``RequestWatch`` is the outermost WSGI layer. It counts the bytes read from ``wsgi.input``
and the bytes of the response body, and when the response is finished (its iterable closed)
hands a ``RequestRecord`` to each observer: the access log, the refusal tracker, the metrics.
The client address and the user are read from the environ at that moment, so they are the
ones the inner layers settled on (``RequestGuard`` resolves trusted proxies, WsgiDAV's
authenticator sets the user). An observer that raises is logged and never breaks a response.

``AccessLogger`` writes one line per request to the ``davserver.access`` logger: date and
time (ISO 8601 with the zone), client address, user (``-`` if none), method, the request
target exactly as sent (path and query), status, bytes sent, bytes received and duration;
as text or as one JSON object per line (``log.format: json``, ``--log-format json``).
``configure_logging`` sets up the process's log handlers accordingly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any, Literal

from davserver.auth.domain_controller import ENV_ATTEMPTED_USER, ENV_THROTTLED
from davserver.http.environ import authenticated_user
from davserver.http.sendfile import SENT_KEY
from davserver.web.wsgi import StartResponse, WSGIApp

ACCESS_LOGGER = "davserver.access"
LogFormat = Literal["text", "json"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """What happened to one request.

    ``user``: the authenticated user; ``attempted_user``: the name credentials were checked
    for (set even when they were wrong); ``auth_failed``: credentials were checked and refused
    (not a plain challenge, not throttling); ``target``: the request target as sent.
    """

    time: float
    client: str | None
    user: str | None
    attempted_user: str | None
    auth_failed: bool
    method: str
    target: str
    protocol: str
    status: int
    bytes_in: int
    bytes_out: int
    duration_s: float


Observer = Callable[[RequestRecord], None]


class _CountingInput:
    """``wsgi.input`` that counts what the application reads."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.count = 0

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self.count += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._stream.readline(*args)
        self.count += len(data)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        self.count += sum(len(x) for x in lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.count += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _target(environ: dict[str, Any]) -> str:
    uri = environ.get("REQUEST_URI")
    if uri:
        return str(uri)
    query = environ.get("QUERY_STRING")
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return path + ("?" + str(query) if query else "")


class RequestWatch:
    """See the module docstring. ``observers`` are called in order for every request."""

    def __init__(self, app: WSGIApp, observers: Sequence[Observer]) -> None:
        self.app = app
        self.observers = tuple(observers)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.time()
        clock = time.monotonic()
        counter = _CountingInput(environ.get("wsgi.input"))
        environ["wsgi.input"] = counter
        status = [0]

        def watch(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(status_line.split(" ", 1)[0])
            if exc_info is None:
                return start_response(status_line, headers)
            return start_response(status_line, headers, exc_info)

        def finish(sent: int) -> None:
            record = RequestRecord(
                time=started,
                client=environ.get("REMOTE_ADDR") or None,
                user=authenticated_user(environ) or None,
                attempted_user=environ.get(ENV_ATTEMPTED_USER) or None,
                auth_failed=status[0] == 401
                and ENV_ATTEMPTED_USER in environ
                and not environ.get(ENV_THROTTLED)
                and not authenticated_user(environ),
                method=str(environ.get("REQUEST_METHOD", "?")),
                target=_target(environ),
                protocol=str(environ.get("SERVER_PROTOCOL", "")),
                status=status[0] or 500,
                bytes_in=counter.count,
                bytes_out=sent + int(environ.get(SENT_KEY, 0)),  # + what sendfile sent
                duration_s=time.monotonic() - clock,
            )
            for observer in self.observers:
                try:
                    observer(record)
                except Exception:
                    _log.exception("request observer %r failed", observer)

        try:
            result = self.app(environ, watch)
        except BaseException:
            status[0] = status[0] or 500
            finish(0)
            raise
        return _Body(result, finish)


class _Body:
    """The response iterable, counted; reports when closed (the response is complete)."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._inner = inner
        self._done: Callable[[int], None] | None = done
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done(self._sent)


def iso_time(ts: float) -> str:
    """``ts`` as local ISO 8601 with milliseconds and the UTC offset."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).astimezone().isoformat(timespec="milliseconds")


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def format_text(r: RequestRecord) -> str:
    """One access-log line: ``<time> <client> <user> "<method> <target> <proto>" <status>
    <bytes out> <bytes in> <seconds>`` (the request part JSON-quoted, so nothing a client sends
    can break the line)."""
    request = _quoted(f"{r.method} {r.target} {r.protocol}".strip())
    return (
        f"{iso_time(r.time)} {r.client or '-'} {_quoted(r.user) if r.user else '-'} {request} "
        f"{r.status} {r.bytes_out} {r.bytes_in} {r.duration_s:.3f}"
    )


def format_json(r: RequestRecord) -> str:
    """One access-log line as a JSON object (``time`` ISO 8601; other fields as recorded)."""
    fields = asdict(r)
    fields["time"] = iso_time(r.time)
    fields["duration_s"] = round(r.duration_s, 6)
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class AccessLogger:
    """The access-log observer (one INFO record per request on ``davserver.access``)."""

    def __init__(self, fmt: LogFormat = "text") -> None:
        self._format = format_json if fmt == "json" else format_text
        self._logger = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, record: RequestRecord) -> None:
        self._logger.info("%s", self._format(record))


class AuthFailureLogger:
    """Logs a WARNING with the client address for every refused login."""

    def __call__(self, record: RequestRecord) -> None:
        if record.auth_failed:
            logging.getLogger("davserver.auth").warning(
                "login failed for user %r from %s (%s %s)",
                record.attempted_user,
                record.client or "?",
                record.method,
                record.target,
            )


class JsonLogFormatter(logging.Formatter):
    """Log records as one JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


MAX_MESSAGE_CHARS = 2000
"""Longest message logged; the rest is cut (a claimed user name or a path may be 48 KB)."""


class MessageCap(logging.Filter):
    """Cuts a record's message to ``MAX_MESSAGE_CHARS``, noting how long it was. Without it
    a failed login with a 40 KB user name wrote 80 KB of log lines (WsgiDAV's and ours), so
    unauthenticated requests could fill the disk with logs 400 times faster than usual."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE_CHARS:
            record.msg = f"{message[:MAX_MESSAGE_CHARS]}... [{len(message)} characters]"
            record.args = None
        return True


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)


def configure_logging(fmt: LogFormat, stream: IO[str] | None = None) -> None:
    """Log INFO and above to ``stream`` (stderr): access lines as they are, everything else
    with time and level (text), or every record as JSON (``json``); no message longer than
    ``MAX_MESSAGE_CHARS``."""
    out = stream or sys.stderr
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        JsonLogFormatter()
        if fmt == "json"
        else _TextFormatter("%(asctime)s %(levelname)s %(message)s")
    )
    handler.addFilter(MessageCap())
    root.addHandler(handler)
    access = logging.getLogger(ACCESS_LOGGER)
    access.propagate = False
    for h in list(access.handlers):
        access.removeHandler(h)
    access_handler = logging.StreamHandler(out)
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access_handler.addFilter(MessageCap())
    access.addHandler(access_handler)
    access.setLevel(logging.INFO)
