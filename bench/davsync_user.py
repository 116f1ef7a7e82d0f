"""Creating the benchmark's account in a davserver root (before the server starts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DAVSERVER_CLI = [sys.executable, "-m", "davserver.cli"]


def add_user(root: Path, user: str, password: str) -> None:
    """``davserver user add`` for ``user`` in ``root``; raises CalledProcessError on failure."""
    subprocess.run(
        [*DAVSERVER_CLI, "user", "add", user, "--password-stdin", "--root", str(root)],
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
