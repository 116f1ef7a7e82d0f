"""Helpers for driving the syncclient CLI against the session's real davserver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORDS, digest_client
from tests.support.server import DavServer

CLIENT_TIMEOUT_S = 240


@dataclass
class ClientResult:
    """A finished client process."""

    code: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """The JSON events printed with --json."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def summary(self) -> dict[str, Any]:
        """The final summary event."""
        return [e for e in self.events() if e["event"] == "summary"][-1]


def client_cmd(*args: str) -> list[str]:
    """The command line running the client with this interpreter."""
    return [sys.executable, "-m", "syncclient.cli", *args]


def client_env(tmp: Path) -> dict[str, str]:
    """An environment with the client's per-user folders inside ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCCLIENT_")}
    env["XDG_STATE_HOME"] = str(tmp / "xdg-state")
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg-config")
    return env


def run_client(tmp: Path, *args: str, env: dict[str, str] | None = None) -> ClientResult:
    """Run ``syncclient ARGS`` to completion."""
    proc = subprocess.run(
        client_cmd(*args),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        env={**client_env(tmp), **(env or {})},
        check=False,
    )
    return ClientResult(proc.returncode, proc.stdout, proc.stderr)


def password_file(tmp: Path, user: str = "alice") -> Path:
    """A 0600 file holding ``user``'s password."""
    path = tmp / f"{user}.pw"
    path.write_text(PASSWORDS[user] + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture()
def target(server: DavServer) -> str:
    """URL of a not-yet-existing collection in alice's home (the client creates it)."""
    return server.files_url("alice", f"sync-{uuid.uuid4().hex[:10]}/")


@pytest.fixture()
def alice_http() -> Any:
    """alice's Digest httpx client."""
    with digest_client("alice") as client:
        yield client


@pytest.fixture()
def sync(tmp_path: Path) -> Callable[..., ClientResult]:
    """``sync(source, url, *flags)`` runs ``syncclient run --once`` as alice with --json."""
    pw = password_file(tmp_path)

    def go(source: Path, url: str, *flags: str, command: str = "run") -> ClientResult:
        extra = ["--once"] if command == "run" else []
        return run_client(
            tmp_path,
            command,
            *extra,
            str(source),
            url,
            "--user",
            "alice",
            "--password-file",
            str(pw),
            "--state-dir",
            str(tmp_path / "state"),
            "--json",
            *flags,
        )

    return go


def remote_inventory(client: httpx.Client, url: str) -> dict[str, dict[str, Any]]:
    """path -> inventory entry of every file below ``url``."""
    r = client.get(url + "?inventory")
    assert r.status_code == 200, r.text
    lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    return {e["path"]: e for e in lines[1:-1] if e.get("type") == "file"}


def write_tree(root: Path, files: dict[str, bytes], mtime: float | None = None) -> None:
    """Create ``files`` below ``root``; set their mtime (default: an hour ago)."""
    import time

    when = mtime if mtime is not None else time.time() - 3600
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (when, when))
