"""Finding the tools the lab drives, and small helpers shared by the harnesses.

Every ``find_*`` returns the path of the tool or raises ``Unavailable`` with a sentence a test
can pass to ``pytest.skip``: the lab never pretends a client passed when it could not run.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

INSTALL_HINT = "make tools installs it from Debian (needs root)"


class Unavailable(Exception):
    """A tool or facility the test needs is not available here; the message says why."""


def find_tool(name: str, *, package: str | None = None, sbin: bool = False) -> str:
    """The path of executable ``name`` (also looked up in /usr/sbin and /sbin if ``sbin``)."""
    path = shutil.which(name)
    if path is None and sbin:
        for folder in ("/usr/sbin", "/sbin"):
            candidate = Path(folder) / name
            if candidate.exists() and os.access(candidate, os.X_OK):
                path = str(candidate)
                break
    if path is None:
        raise Unavailable(
            f"{name} is not installed (Debian package {package or name}; {INSTALL_HINT})"
        )
    return path


def venv_tool(name: str) -> str:
    """An executable installed next to this Python (the project's virtualenv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    path = shutil.which(name)
    if path is None:
        raise Unavailable(f"{name} is not installed in the virtualenv (pip install -e '.[test]')")
    return path


def require_root(what: str) -> None:
    """Raise Unavailable unless running as root (mounting, binding as another user)."""
    if os.geteuid() != 0:
        raise Unavailable(f"{what} needs root here (tests run unprivileged)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float = 30.0) -> bool:
    """True once something accepts connections on host:port, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    """Call ``predicate`` until it returns True (then True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
