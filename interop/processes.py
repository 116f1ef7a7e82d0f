"""Stopping the processes a harness started."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def terminate(proc: subprocess.Popen[Any] | None, grace_s: float = 10.0) -> None:
    """SIGTERM ``proc`` (if it still runs) and wait ``grace_s``; then SIGKILL and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
