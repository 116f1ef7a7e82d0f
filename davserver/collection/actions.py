"""Carrying out one queued job: run a command, POST a webhook, copy/move a file, send mail.

Each function either returns (success) or raises ``ActionError`` with a message for the
operator; the worker turns that into a retry or a dead letter. Nothing here runs a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import select
import signal
import smtplib
import socket
import subprocess
import threading
import time
from email.message import EmailMessage
from typing import Any

import httpx

from davserver.collection.origin import Origin, origin_scope
from davserver.errors import DavserverError
from providers import paths
from providers.base import Provider
from providers.errors import AlreadyExistsError, ProviderError

KILL_GRACE_S = 2.0
CANCEL_POLL_S = 0.2
OUTPUT_TAIL_BYTES = 2000
ENV_FIELDS = ("user", "path", "file", "size", "sha256", "sha1", "md5", "protocol")
TRIGGER_ORIGIN = Origin(actor=None, method="@trigger", client=None)


class ActionError(DavserverError):
    """The action failed; the message says why (retried, then dead-lettered)."""


class ActionCancelledError(DavserverError):
    """The server is stopping; the action was interrupted and should simply run again."""


def command_environment(event: dict[str, Any]) -> dict[str, str]:
    """The process environment of a command: the server's, less every ``DAVSYNC_*`` variable
    it had, plus ``DAVSYNC_<FIELD>`` for the event's fields (and folder/trigger if present)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAVSYNC_")}
    for key in (*ENV_FIELDS, "trigger", "folder", "folder_file"):
        if key in event and event[key] is not None:
            env["DAVSYNC_" + key.upper()] = str(event[key])
    return env


def run_command(
    spec: dict[str, Any],
    event: dict[str, Any],
    timeout: float,
    cancel: threading.Event | None = None,
) -> None:
    """Run ``spec["argv"]`` (plus the local file path when ``pass_file``) in its own process
    group; kill the whole group at ``timeout``. Non-zero exit or a kill raises ActionError;
    ``cancel`` being set kills it too and raises ActionCancelledError.

    Standard output and error are read through a pipe and only their last
    ``OUTPUT_TAIL_BYTES`` are kept (for the error message), however much the command prints.
    """
    argv = [str(a) for a in spec["argv"]]
    if spec.get("pass_file", True):
        argv.append(str(event.get("file") or ""))
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=command_environment(event),
            cwd=spec.get("cwd") or None,
            start_new_session=True,
        )
    except OSError as exc:
        raise ActionError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    assert proc.stdout is not None
    tail = _OutputTail(proc.stdout)
    try:
        code = _wait(proc, timeout, cancel)
    finally:
        _kill_group(proc, only_leftovers=True)
        tail.finish()
    if code != 0:
        raise ActionError(f"exit status {code}: {tail.text()}")


class _OutputTail:
    """Drains a command's output pipe in a thread, keeping only its last bytes."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._fd = pipe.fileno()
        os.set_blocking(self._fd, False)
        self._kept = bytearray()
        self._done = threading.Event()
        self._stop_at = 0.0
        self._thread = threading.Thread(target=self._drain, name="trigger-output", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        # poll, not select: a busy server's descriptors go past select's limit of 1024
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        with contextlib.suppress(OSError, ValueError):
            while not (self._done.is_set() and time.monotonic() > self._stop_at):
                ready = poller.poll(CANCEL_POLL_S * 1000)
                if not ready:
                    if self._done.is_set():
                        return  # a process outside the group still holds the pipe open
                    continue
                try:
                    chunk = os.read(self._fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                self._kept += chunk
                if len(self._kept) > 2 * OUTPUT_TAIL_BYTES:
                    del self._kept[:-OUTPUT_TAIL_BYTES]

    def finish(self) -> None:
        """Read what is left (briefly: a process that left the group may keep the pipe open),
        then close the pipe."""
        self._stop_at = time.monotonic() + KILL_GRACE_S
        self._done.set()
        self._thread.join(KILL_GRACE_S + 2 * CANCEL_POLL_S)
        with contextlib.suppress(OSError):
            self._pipe.close()

    def text(self) -> str:
        """The last ``OUTPUT_TAIL_BYTES`` of the output as text, ``(no output)`` if none."""
        data = bytes(self._kept[-OUTPUT_TAIL_BYTES:])
        return one_line(data.decode("utf-8", "replace").strip()) or "(no output)"


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines, tabs, terminal escapes,
    NUL, bidi overrides) written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``), so
    a command's output stays one line in the log and on the status page."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _wait(proc: subprocess.Popen[bytes], timeout: float, cancel: threading.Event | None) -> int:
    """The exit status of ``proc``; kills its group at ``timeout`` or when cancelled."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return proc.wait(timeout=max(0.0, min(left, CANCEL_POLL_S)))
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            _kill_group(proc)
            raise ActionCancelledError("the server is stopping")
        if time.monotonic() >= deadline:
            _kill_group(proc)
            raise ActionError(f"killed after {timeout:g} s (timeout)")


def _kill_group(proc: subprocess.Popen[bytes], *, only_leftovers: bool = False) -> None:
    """SIGTERM then SIGKILL the process group of ``proc`` (its children included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL if only_leftovers else signal.SIGTERM)
    if only_leftovers:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)


def signed_body(body: dict[str, Any], secret: str | None) -> tuple[bytes, dict[str, str]]:
    """The JSON bytes of ``body`` and the headers to send with them (the signature is
    ``sha256=<hex HMAC-SHA256 of the exact bytes>`` when ``secret`` is set)."""
    data = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "davsync"}
    if secret:
        digest = hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
        headers["X-Davsync-Signature"] = "sha256=" + digest
    return data, headers


def post_webhook(spec: dict[str, Any], body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON to ``spec["url"]``; a non-2xx answer raises ActionError.

    Only the status line and headers are awaited (the answer's body is not read), and
    ``timeout`` bounds the whole exchange, not each read: a peer that trickles its answer
    cannot hold a worker longer.
    """
    data, headers = signed_body(body, spec.get("secret"))
    url = spec["url"]
    try:
        status = asyncio.run(asyncio.wait_for(_post(url, data, headers, timeout), timeout))
    except TimeoutError as exc:
        raise ActionError(f"webhook {url}: no answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise ActionError(f"webhook {url}: {exc}") from exc
    if not 200 <= status < 300:
        raise ActionError(f"webhook {url} answered {status}")


async def _post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> int:
    """The status of a POST of ``data`` to ``url`` (the body of the answer is not read)."""
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream("POST", url, content=data, headers=headers) as response,
    ):
        return response.status_code


def place_file(storage: Provider, spec: dict[str, Any], event: dict[str, Any], move: bool) -> None:
    """Copy (or move) the arrived file into collection ``spec["to"]`` (created if missing),
    replacing a file of the same name. Raises ActionError."""
    source = f"{event['user']}/{event['path']}"
    try:
        target_dir = paths.normalize(spec["to"])
        with origin_scope(TRIGGER_ORIGIN):
            _make_collections(storage, target_dir)
            target = paths.join(target_dir, paths.name_of(source))
            if move:
                storage.move(source, target, overwrite=True)
            else:
                storage.copy(source, target, overwrite=True)
    except ProviderError as exc:
        raise ActionError(f"cannot {'move' if move else 'copy'} {source!r}: {exc}") from exc


def _make_collections(storage: Provider, path: str) -> None:
    current = ""
    for segment in path.split("/") if path else []:
        current = paths.join(current, segment) if current else segment
        with contextlib.suppress(AlreadyExistsError):
            storage.mkdir(current)


def send_mail(spec: dict[str, Any], subject: str, text: str, timeout: float) -> None:
    """Send one message through the SMTP relay of ``spec``. Raises ActionError."""
    message = EmailMessage()
    message["From"] = spec["sender"]
    message["To"] = ", ".join(spec["to"])
    message["Subject"] = subject
    message.set_content(text)
    relay = f"{spec['smtp_host']}:{spec['smtp_port']}"
    smtp = smtplib.SMTP(timeout=timeout)
    deadline = threading.Timer(timeout, _cut_off, [smtp])  # the socket timeout is per read
    deadline.start()
    try:
        smtp.connect(spec["smtp_host"], int(spec["smtp_port"]))
        if spec.get("starttls"):
            smtp.starttls()
        if spec.get("username"):
            smtp.login(spec["username"], spec.get("password") or "")
        smtp.send_message(message)
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()  # the message is accepted; a lost QUIT changes nothing
    except (OSError, smtplib.SMTPException) as exc:
        if not deadline.is_alive():
            raise ActionError(f"mail via {relay}: no answer within {timeout:g} s") from exc
        raise ActionError(f"mail via {relay}: {exc}") from exc
    finally:
        deadline.cancel()
        smtp.close()


def _cut_off(smtp: smtplib.SMTP) -> None:
    """End ``smtp``'s connection at its deadline (a read blocked in another thread returns)."""
    sock = smtp.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
