"""``python -m interop.scaleout up|down``: a multi-node davsync to try on one machine.

``up`` starts, on loopback: PostgreSQL (state) and a single-node Ceph radosgw (file bytes),
two ``davserver serve`` nodes sharing them, and nginx in front (TLS with a certificate of a
new local CA, round-robin); creates a user and prints ``URL: <load balancer>``, one
``NODE: <url>`` per node, the credentials and the CA file to trust. When PostgreSQL or Ceph
cannot run here it says why and falls back to shared local disk + SQLite (``--local`` asks
for that directly). Everything lives in the run folder (default ``.scaleout/``), with the PID
of every process started in ``state.json``.

``down`` stops exactly those processes (by PID, after checking each is still the program
that was started) and removes the run folder. Exit status: 0 on success, 1 on failure, with
one line saying why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trustme

from interop.cluster import Backend, engines_backend, local_backend, start_lb, start_nodes
from interop.cluster import add_user as add_cluster_user
from interop.tools import UnavailableError

DEFAULT_RUN_DIR = Path(".scaleout")
STATE_FILE = "state.json"
USER = "demo"
STOP_TIMEOUT_S = 20.0


def _tls(run: Path) -> tuple[Path, Path, Path]:
    """A new CA and a certificate for 127.0.0.1/localhost: (ca, cert, key) PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = (run / "ca.pem", run / "lb-cert.pem", run / "lb-key.pem")
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    os.chmod(paths[2], 0o600)
    return paths


def _backend(run: Path, local: bool) -> tuple[Backend, str]:
    """The engines backend, or local disk + SQLite (with the reason) when asked or needed."""
    if local:
        return local_backend(run / "root"), "asked for (--local)"
    try:
        return engines_backend(run / "engines"), ""
    except (UnavailableError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        return local_backend(run / "root"), (f"{exc}".splitlines() or [repr(exc)])[0]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _program(pid: int) -> str:
    """The file name of the program ``pid`` runs ('' if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return Path(raw.split(b"\0", 1)[0].decode(errors="replace")).name


def _record(pid: int) -> dict[str, Any]:
    return {"pid": pid, "program": _program(pid)}


def up(run: Path, nodes: int, local: bool) -> int:
    """Start everything (see the module docstring); 0 on success."""
    state_file = run / STATE_FILE
    if state_file.exists():
        print(f"error: {state_file} exists: run `make scaleout-down` first", file=sys.stderr)
        return 1
    run.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _tls(run)
    backend, fallback = _backend(run, local)
    started: list[tuple[str, int]] = list(backend.pids.items())
    try:
        config, cluster_nodes = start_nodes(run / "cluster", backend, nodes, detached=True)
        started += [(f"node-{n.index}", n.pid) for n in cluster_nodes]
        lb = start_lb(run / "cluster", cluster_nodes, cert, key, detached=True)
        assert lb.proc is not None
        started.append(("nginx", lb.proc.pid))
        password = secrets.token_urlsafe(12)
        add_cluster_user(backend, config, USER, password)
    except BaseException as exc:
        for _name, pid in reversed(started):
            _stop(pid)
        backend.stop()
        shutil.rmtree(run, ignore_errors=True)
        print(f"error: scale-out did not start: {exc}", file=sys.stderr)
        return 1
    state = {
        "processes": {name: _record(pid) for name, pid in started},
        "backend": backend.name,
        "folders": [str(folder) for folder in backend.folders],
    }
    state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")
    if fallback:
        print(f"Backend: {backend.name} (PostgreSQL + Ceph radosgw not used: {fallback})")
    else:
        print(f"Backend: {backend.name}")
    print(f"URL: {lb.url}")
    for node in cluster_nodes:
        print(f"NODE: {node.url}")
    print(f"USER: {USER}")
    print(f"PASSWORD: {password}")
    print(f"CA: {ca.resolve()}  (trust it, e.g. curl --cacert)")
    print(f"Files: {lb.url}remote.php/dav/files/{USER}/")
    print("Stop with: make scaleout-down")
    sys.stdout.flush()
    # The engines' context managers would stop them when this process ends: leave at once.
    os._exit(0)


def _stop(pid: int, program: str | None = None) -> bool:
    """Stop ``pid`` (SIGTERM, then SIGKILL) if it still runs ``program`` (when given);
    True once it is gone."""
    if not _alive(pid) or (program is not None and _program(pid) != program):
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        _reap(pid)
    return not _alive(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# nginx first (no new requests), then the nodes, then the engines they use
_STOP_ORDER = ("nginx", "node-", "ceph-rgw", "ceph-osd", "ceph-mon", "postgres")


def _order(name: str) -> int:
    return next((i for i, p in enumerate(_STOP_ORDER) if name.startswith(p)), len(_STOP_ORDER))


def down(run: Path) -> int:
    """Stop what ``up`` started and remove the run folder; 0 on success."""
    state_file = run / STATE_FILE
    if not state_file.exists():
        print(f"nothing to stop: {state_file} does not exist")
        return 0
    state = json.loads(state_file.read_text(encoding="utf-8"))
    processes: dict[str, dict[str, Any]] = state["processes"]
    failed = []
    for name in sorted(processes, key=_order):
        entry = processes[name]
        if _stop(int(entry["pid"]), str(entry["program"])):
            print(f"stopped {name} (PID {entry['pid']})")
        else:
            failed.append(name)
    if failed:
        print(f"error: still running: {', '.join(failed)}", file=sys.stderr)
        return 1
    for folder in state["folders"]:
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m interop.scaleout", description=__doc__)
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--local", action="store_true", help="shared local disk + SQLite")
    args = parser.parse_args(argv)
    run = args.run_dir.resolve()
    if args.command == "up":
        return up(run, args.nodes, args.local)
    return down(run)


if __name__ == "__main__":
    sys.exit(main())
