"""The accounts tests, benchmarks and interop drivers create on a davserver: one password
table, one way to add a user to a data root, one authenticated client.

``PASSWORDS`` is the only password table of the test suites (``tests.conftest.PASSWORDS`` and
``tests.support.configured.USERS`` are views of it); ``BENCH_USER``/``BENCH_PASSWORD`` is the
benchmarks' account.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "BENCH_PASSWORD",
    "BENCH_USER",
    "DAVSERVER_CLI",
    "PASSWORDS",
    "add_user",
    "basic_client",
]

PASSWORDS: Mapping[str, str] = {
    "alice": "alice-pw-1",
    "bob": "bob-pw-2",
    "carol": "carol-pw-3",
    "oper": "oper-pw-4",
}
"""The test users and their passwords (``oper`` is the operator the test configs grant reads)."""

BENCH_USER, BENCH_PASSWORD = "bench", "bench-password"

DAVSERVER_CLI = [sys.executable, "-m", "davserver.cli"]
"""The command line of ``davserver`` with this Python."""


def add_user(
    root: Path,
    user: str,
    password: str,
    *,
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """``davserver user add USER --password-stdin --root ROOT [--config CONFIG]`` (creates the
    user and its home). Raises RuntimeError with the command's output when it fails."""
    argv = [*DAVSERVER_CLI, "user", "add", user, "--password-stdin", "--root", str(root)]
    if config is not None:
        argv += ["--config", str(config)]
    proc = subprocess.run(
        argv,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env} if env else None,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"davserver user add {user} failed:\n{proc.stdout}{proc.stderr}")


def basic_client(user: str, password: str | None = None, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` sending Basic credentials of ``user`` (password from ``PASSWORDS``
    unless given); ``kwargs`` go to the client (``base_url``, ``verify``, ``timeout``...)."""
    secret = PASSWORDS[user] if password is None else password
    return httpx.Client(auth=httpx.BasicAuth(user, secret), **kwargs)
