"""Helpers for the collection tests: a recording trigger command, polling, the journal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import httpx

from davserver.collection.queue import JobQueue
from interop.accounts import basic_client
from tests.support.configured import start_server
from tests.support.server import DavServer, run_cli

T = TypeVar("T")

BASIC = "auth:\n  basic_over_http: true\n"

RECORDER = """\
import json, os, sys, time
out = os.environ.get("RECORD_DIR") or sys.argv[1]
os.makedirs(out, exist_ok=True)
record = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith("DAVSYNC_")},
    "pid": os.getpid(),
    "time": time.time(),
}
name = os.path.join(out, f"{time.time_ns()}-{os.getpid()}.json")
with open(name + ".tmp", "w", encoding="utf-8") as fh:
    json.dump(record, fh)
os.replace(name + ".tmp", name)
mode = os.environ.get("RECORD_MODE", "ok")
if mode == "fail":
    sys.exit(3)
if mode == "gate" and not os.path.exists(os.environ["RECORD_GATE"]):
    sys.exit(4)
if mode == "hang":
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(os.path.join(out, "child.pid"), "w") as fh:
        fh.write(str(child.pid))
    time.sleep(120)
if mode == "hang-once" and not os.path.exists(os.path.join(out, "hung")):
    open(os.path.join(out, "hung"), "w").close()
    time.sleep(120)
"""


def write_recorder(tmp: Path) -> list[str]:
    """The argv prefix of a command that records its argv and DAVSYNC_* environment as JSON
    files in ``$RECORD_DIR`` (behaviour by ``$RECORD_MODE``: ok, fail, gate, hang, hang-once)."""
    script = tmp / "recorder.py"
    script.write_text(RECORDER, encoding="utf-8")
    return [sys.executable, str(script)]


def records(folder: Path) -> list[dict[str, Any]]:
    """What the recorder wrote, oldest first."""
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, step: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def serve(tmp: Path, config: str, env: dict[str, str] | None = None) -> DavServer:
    """A real server with Basic auth over loopback HTTP and ``config``."""
    return start_server(tmp, BASIC + config, env=env)


def restart(srv: DavServer, env: dict[str, str] | None = None) -> DavServer:
    """Another server process on ``srv``'s root, with its arguments (after a stop or kill)."""
    return type(srv)(srv.root, srv.extra_args, env=env or {}).start()


def command_trigger(name: str, path: str, argv: list[str], **options: object) -> str:
    """The ``triggers:`` config of one trigger running ``argv`` for arrivals matching
    ``path``; ``options`` are further keys of the trigger (``timeout="6s"``, ``attempts=1``)."""
    lines = [
        "triggers:",
        f"  - name: {name}",
        f"    match: {{path: {json.dumps(path)}}}",
        f"    run: {json.dumps(argv)}",
    ]
    lines += [f"    {key}: {value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def client(user: str = "alice") -> httpx.Client:
    """An httpx client logged in as ``user``."""
    return basic_client(user, timeout=60.0)


def arrivals(root: Path, *args: str) -> list[dict[str, Any]]:
    """The journal as ``davserver arrivals --json`` prints it, oldest first."""
    out = run_cli("arrivals", "--json", *args, root=root)
    return [json.loads(line) for line in reversed(out.splitlines()) if line.strip()]


def trigger_failures(root: Path) -> list[dict[str, Any]]:
    """Failed and dead trigger runs, read from the server's state database (what
    ``davserver triggers --json`` prints; polled, so read in-process)."""
    return [asdict(f) for f in JobQueue(root / ".davsync" / "state.sqlite").failures()]


def mkcols(c: httpx.Client, srv: DavServer, user: str, path: str) -> None:
    """Create every collection of ``path`` in ``user``'s home."""
    current = ""
    for segment in path.strip("/").split("/"):
        current += segment + "/"
        r = c.request("MKCOL", srv.files_url(user, current))
        assert r.status_code in (201, 405), r.text
