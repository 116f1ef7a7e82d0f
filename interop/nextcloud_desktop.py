"""Driving the Nextcloud and ownCloud desktop clients' command-line sync tools.

``nextcloudcmd`` (Debian ``nextcloud-desktop-cmd``) and ``owncloudcmd`` (Debian
``owncloud-client-cmd``) run one two-way sync of a local folder against a server and exit.
They are the same sync engine as the desktop apps sites install, so a scenario passing here
is what a site PC would do.

Each run gets its own ``HOME`` (the tools read a desktop client's configuration from there),
an empty exclude list (the Debian ``owncloudcmd`` ships none), ``--trust`` for the test CA's
certificate (the tools' certificate store is Qt's view of the system store, which a test must
not change), and a small chunk size through ``OWNCLOUD_CHUNK_SIZE`` so that a few megabytes
already exercise chunked uploads.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from interop.tools import find_tool

CLIENTS = {
    "nextcloud": ("nextcloudcmd", "nextcloud-desktop-cmd"),
    "owncloud": ("owncloudcmd", "owncloud-client-cmd"),
}
"""kind -> (executable, Debian package)."""

CONFLICT_MARKER = "conflicted copy"
"""What both clients put in the name of the copy they keep when both sides changed a file
(``name (conflicted copy <date> <time>).ext``)."""

RUN_TIMEOUT_S = 300.0


class SyncFailedError(Exception):
    """A sync run exited with an error; the message holds the end of its log."""


def find_client(kind: str) -> str:
    """The path of the command-line client of ``kind`` (raises ``UnavailableError``)."""
    name, package = CLIENTS[kind]
    return find_tool(name, package=package)


@dataclass
class DesktopSync:
    """One local folder synced with one user's files by one client."""

    kind: str
    binary: str
    local: Path
    server_url: str
    user: str
    password: str
    work: Path
    chunk_size: int = 1024 * 1024

    def run(self) -> str:
        """Run one sync; return its log. Raises SyncFailedError (non-zero exit) or
        subprocess.TimeoutExpired."""
        home = self.work / "home"
        home.mkdir(parents=True, exist_ok=True)
        exclude = self.work / "exclude.lst"
        exclude.touch()
        self.local.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "OWNCLOUD_CHUNK_SIZE": str(self.chunk_size),
            "OWNCLOUD_MIN_CHUNK_SIZE": str(self.chunk_size),
            "OWNCLOUD_MAX_CHUNK_SIZE": str(self.chunk_size),
        }
        cmd = [
            self.binary,
            "--non-interactive",
            "--trust",
            "--exclude",
            str(exclude),
            "--user",
            self.user,
            "--password",
            self.password,
            str(self.local),
            self.server_url,
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S, check=False
        )
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise SyncFailedError(f"{self.binary} exited with {proc.returncode}:\n{log[-4000:]}")
        return log

    def conflict_copies(self) -> list[Path]:
        """The conflict copies the client left in the local folder."""
        return sorted(p for p in self.local.rglob("*") if p.is_file() and CONFLICT_MARKER in p.name)


_REQUEST_LINE = re.compile(
    r'\] "(?P<method>[A-Z]+) (?P<path>[^"]*)" (?P<extra>.*?)-> (?P<status>\d{3})'
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request from the server's request log (path relative to its share)."""

    method: str
    path: str
    extra: str
    status: int


def parse_request_log(lines: list[str]) -> list[LoggedRequest]:
    """The requests in WsgiDAV's request log lines (``verbose: 3``), in order."""
    out: list[LoggedRequest] = []
    for line in lines:
        match = _REQUEST_LINE.search(line)
        if match:
            out.append(
                LoggedRequest(match["method"], match["path"], match["extra"], int(match["status"]))
            )
    return out
