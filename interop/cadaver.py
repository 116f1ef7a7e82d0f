"""Run a scripted cadaver session (Debian ``cadaver``, built on neon like davfs2 and litmus).

cadaver reads its credentials from ``~/.netrc`` (``HOME`` is pointed at a private folder) and
its commands from standard input. Over HTTPS it verifies the certificate against the system
store only (GnuTLS; no option or variable names another CA) and, when that fails, asks
"Do you wish to accept the certificate? (y/n)" -- but only on a terminal: with commands on a
pipe it rejects the certificate. ``accept_certificate=True`` therefore runs cadaver on a
pseudo-terminal, answers ``y`` and then types the commands one prompt at a time.

``run`` returns each command with the output it produced.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from interop.tools import find_tool

PROMPT = re.compile(r"^dav:[^\n]*?[>?] ", re.MULTILINE)
TRAILING_PROMPT = re.compile(r"dav:[^\n]*?[>?] $")
CERT_QUESTION = "(y/n)"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


@dataclass(frozen=True)
class Result:
    """One command of the session and what cadaver printed for it."""

    command: str
    output: str

    @property
    def succeeded(self) -> bool:
        """cadaver ends most command reports with "succeeded." or "failed:"."""
        return "succeeded." in self.output and "failed" not in self.output


@dataclass(frozen=True)
class Session:
    """The whole transcript and the per-command results."""

    transcript: str
    banner: str
    results: list[Result]

    def result(self, command: str) -> Result:
        """The first result whose command is ``command``."""
        for r in self.results:
            if r.command == command:
                return r
        raise KeyError(command)


def write_netrc(home: Path, host: str, user: str, password: str) -> None:
    """``home/.netrc`` with the credentials for ``host`` (mode 600)."""
    home.mkdir(parents=True, exist_ok=True)
    netrc = home / ".netrc"
    netrc.write_text(f"machine {host}\nlogin {user}\npassword {password}\n", encoding="utf-8")
    netrc.chmod(0o600)


def _parse(transcript: str, commands: list[str]) -> Session:
    text = ANSI.sub("", transcript).replace("\r\n", "\n").replace("\r", "")
    parts = PROMPT.split(text)
    banner, segments = parts[0], parts[1:]
    results: list[Result] = []
    for segment in segments:
        line, _, output = segment.partition("\n")
        results.append(Result(line.strip(), output))
    known = [r for r in results if r.command in commands]
    return Session(text, banner, known)


def run(
    url: str,
    commands: list[str],
    *,
    home: Path,
    cwd: Path,
    accept_certificate: bool = False,
    timeout_s: float = 180.0,
) -> Session:
    """Run ``commands`` (then ``quit``) against ``url``; HOME=``home`` holds the .netrc."""
    binary = find_tool("cadaver")
    env = {**os.environ, "HOME": str(home), "TERM": "dumb", "LANG": "C.UTF-8", "COLUMNS": "4000"}
    if not accept_certificate:
        proc = subprocess.run(
            [binary, url],
            input="\n".join([*commands, "quit"]) + "\n",
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=cwd,
            check=False,
        )
        return _parse(proc.stdout + proc.stderr, commands)
    return _parse(_run_on_pty(binary, url, commands, env, cwd, timeout_s), commands)


def _run_on_pty(
    binary: str, url: str, commands: list[str], env: dict[str, str], cwd: Path, timeout_s: float
) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [binary, url], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)
    pending = [*commands, "quit"]
    transcript = ""
    answered = False
    consumed = 0  # the transcript up to here has been answered already
    deadline = time.monotonic() + timeout_s
    poller = select.poll()  # not select(): a long test session may hold descriptors > 1023
    poller.register(master, select.POLLIN | select.POLLHUP | select.POLLERR)
    try:
        while time.monotonic() < deadline:
            ready = bool(poller.poll(500))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                transcript += chunk.decode("utf-8", errors="replace")
            fresh = ANSI.sub("", transcript[consumed:]).replace("\r", "")
            if not answered and fresh.rstrip().endswith(CERT_QUESTION):
                os.write(master, b"y\n")
                answered = True
                consumed = len(transcript)
            elif pending and TRAILING_PROMPT.search(fresh):
                os.write(master, pending.pop(0).encode("utf-8") + b"\n")
                consumed = len(transcript)
            elif proc.poll() is not None and not ready:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(master)
    return transcript
