"""A throwaway single-node Ceph cluster (one mon, one osd, one radosgw) on loopback.

``start_ceph(work)`` builds everything below ``work`` (config, monitor store, a sparse
BlueStore file, logs, admin sockets), starts the three daemons on free 127.0.0.1 ports with
authentication off, creates an S3 user with random keys and returns a ``CephCluster`` whose
``endpoint``, ``access_key`` and ``secret_key`` reach radosgw. ``CephCluster.stop()`` stops
exactly the processes it started (by PID: SIGTERM, then SIGKILL). From a shell:
``python -m interop.ceph start DIR`` / ``python -m interop.ceph stop DIR``. ``stop_rgw`` and
``start_rgw`` restart only radosgw, for tests of an object store that goes away and comes back.

Start-up is bounded (``STARTUP_TIMEOUT_S`` overall): on time-out or a daemon exiting early the
cluster is stopped and ``CephStartError`` carries the tail of every daemon log.
The Debian packages ``ceph-mon ceph-osd radosgw ceph-common`` provide the binaries
(``make tools``); a missing one raises ``interop.tools.UnavailableError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interop.tools import find_tool, free_port, wait_for_port

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 60.0
BINARIES = ("monmaptool", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph")
PACKAGE_OF = {  # the package of .ci/install-tools that brings each binary
    "monmaptool": "ceph-mon",
    "ceph-mon": "ceph-mon",
    "ceph-osd": "ceph-osd",
    "radosgw": "radosgw",
    "radosgw-admin": "ceph-common",
    "ceph": "ceph-common",
}
RGW_NAME = "client.rgw.a"


class CephStartError(RuntimeError):
    """The cluster did not come up in time; the message holds the daemon logs' tails."""


@dataclass
class CephCluster:
    """A running single-node cluster below ``work``; ``endpoint`` is radosgw's S3 URL."""

    work: Path
    conf: Path
    rgw_port: int
    access_key: str
    secret_key: str
    tools: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` of radosgw."""
        return f"http://{HOST}:{self.rgw_port}"

    @property
    def pids(self) -> list[int]:
        """PIDs of the daemons this cluster started and that still run."""
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def env(self) -> dict[str, str]:
        """``AWS_*`` variables naming this cluster's keys, region and endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    # ------------------------------------------------------------------ daemons

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.work / "log" / f"{name}.out"
        with log.open("ab") as sink:
            self.procs[name] = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _stop_proc(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)

    def start_rgw(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Start radosgw (again) and wait until it accepts connections. CephStartError."""
        self._spawn("rgw", [self.tools["radosgw"], "-c", str(self.conf), "-n", RGW_NAME, "-f"])
        if not wait_for_port(HOST, self.rgw_port, timeout_s):
            raise CephStartError(f"radosgw did not listen in {timeout_s:.0f} s\n{self.logs()}")

    def stop_rgw(self, *, kill: bool = False) -> None:
        """Stop radosgw only (SIGKILL if ``kill``), leaving mon and osd running."""
        self._stop_proc("rgw", signal.SIGKILL if kill else signal.SIGTERM)

    def stop(self) -> None:
        """Stop every daemon this cluster started (radosgw, osd, mon), by PID."""
        for name in ("rgw", "osd", "mon"):
            self._stop_proc(name)

    def ceph(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        """Run the ``ceph`` CLI against this cluster; its stdout. CalledProcessError."""
        return _run([self.tools["ceph"], "-c", str(self.conf), *args], timeout_s)

    def logs(self, tail_chars: int = 4000) -> str:
        """The tail of every daemon log, for failure messages."""
        parts = []
        for path in sorted((self.work / "log").glob("*")):
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {path.name} ---\n{text[-tail_chars:]}")
        return "\n".join(parts)


def find_binaries() -> dict[str, str]:
    """Paths of every Ceph binary the cluster needs; ``UnavailableError`` names a missing one."""
    return {name: find_tool(name, package=PACKAGE_OF[name]) for name in BINARIES}


def _run(argv: list[str], timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    done = subprocess.run(
        argv, capture_output=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout.decode("utf-8", errors="replace")


def _config(work: Path, fsid: str, mon_v2: int, mon_v1: int, rgw_port: int) -> str:
    run = work / "run"
    return f"""[global]
fsid = {fsid}
mon host = [v2:{HOST}:{mon_v2},v1:{HOST}:{mon_v1}]
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = {run}
admin socket = {run}/$name.asok
log file = {work}/log/$name.log
pid file = {run}/$name.pid
mon data = {work}/mon/$id
keyring = {work}/keyring
[osd]
osd data = {work}/osd/$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 21474836480
osd memory target = 1073741824
[{RGW_NAME}]
rgw frontends = beast endpoint={HOST}:{rgw_port}
rgw data = {work}/rgw
rgw dns name = {HOST}
"""


def _wait(predicate: Callable[[], bool], deadline: float, what: str, cluster: CephCluster) -> None:
    while time.monotonic() < deadline:
        dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
        if dead:
            raise CephStartError(f"{', '.join(dead)} exited while {what}\n{cluster.logs()}")
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if predicate():
                return
        time.sleep(0.5)
    raise CephStartError(f"timed out while {what}\n{cluster.logs()}")


def start_ceph(work: Path, timeout_s: float = STARTUP_TIMEOUT_S) -> CephCluster:
    """Create and start a single-node cluster below ``work`` (see the module docstring).

    Raises UnavailableError (a binary is missing) or CephStartError (not up within ``timeout_s``;
    everything started is stopped again).
    """
    tools = find_binaries()
    deadline = time.monotonic() + timeout_s
    for sub in ("run", "log", "mon", "osd", "rgw"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    fsid = str(uuid.uuid4())
    mon_v2, mon_v1, rgw_port = free_port(HOST), free_port(HOST), free_port(HOST)
    conf = work / "ceph.conf"
    conf.write_text(_config(work, fsid, mon_v2, mon_v1, rgw_port), encoding="utf-8")
    cluster = CephCluster(
        work=work,
        conf=conf,
        rgw_port=rgw_port,
        access_key=secrets.token_hex(10).upper(),
        secret_key=secrets.token_urlsafe(30),
        tools=tools,
    )
    try:
        _bootstrap(cluster, fsid, mon_v2, mon_v1, deadline)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _bootstrap(cluster: CephCluster, fsid: str, mon_v2: int, mon_v1: int, deadline: float) -> None:
    tools, conf, work = cluster.tools, str(cluster.conf), cluster.work
    monmap = str(work / "monmap")
    addr = f"[v2:{HOST}:{mon_v2},v1:{HOST}:{mon_v1}]"
    _run([tools["monmaptool"], "--create", "--fsid", fsid, "--addv", "a", addr, monmap])
    _run([tools["ceph-mon"], "-c", conf, "--mkfs", "-i", "a", "--monmap", monmap])
    cluster._spawn("mon", [tools["ceph-mon"], "-c", conf, "-i", "a", "-f"])

    def mon_up() -> bool:
        cluster.ceph("mon", "stat", timeout_s=10)
        return True

    _wait(mon_up, deadline, "waiting for ceph-mon", cluster)
    osd_uuid = str(uuid.uuid4())
    osd_id = cluster.ceph("osd", "new", osd_uuid).strip()
    (work / "osd" / osd_id).mkdir(parents=True, exist_ok=True)
    _run([tools["ceph-osd"], "-c", conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], 120)
    cluster._spawn("osd", [tools["ceph-osd"], "-c", conf, "-i", osd_id, "-f"])

    def osd_up() -> bool:
        return '"num_up_osds":1' in cluster.ceph("osd", "stat", "-f", "json", timeout_s=10)

    _wait(osd_up, deadline, "waiting for ceph-osd", cluster)
    cluster.start_rgw(max(1.0, deadline - time.monotonic()))

    def user_created() -> bool:
        _run(
            [
                tools["radosgw-admin"],
                "-c",
                conf,
                "user",
                "create",
                "--uid=davsync",
                "--display-name=davsync",
                f"--access-key={cluster.access_key}",
                f"--secret={cluster.secret_key}",
            ],
            30,
        )
        return True

    _wait(user_created, deadline, "creating the S3 user", cluster)


@contextlib.contextmanager
def running_ceph(work: Path, timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[CephCluster]:
    """``start_ceph`` as a context manager that always stops the cluster."""
    cluster = start_ceph(work, timeout_s)
    try:
        yield cluster
    finally:
        cluster.stop()


PIDS_FILE = "pids"


def save_pids(cluster: CephCluster) -> Path:
    """Write ``<work>/pids`` (one ``name pid`` per line) so another process can stop the
    cluster later (``stop_saved``)."""
    path = cluster.work / PIDS_FILE
    lines = [f"{name} {proc.pid}\n" for name, proc in cluster.procs.items()]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def stop_saved(work: Path, timeout_s: float = STOP_TIMEOUT_S) -> list[int]:
    """Stop the daemons listed in ``<work>/pids`` (radosgw, osd, mon) that still run this
    cluster's configuration (a reused PID is left alone); returns the PIDs signalled."""
    path = work / PIDS_FILE
    if not path.exists():
        return []
    conf = str(work / "ceph.conf")
    pids = dict(line.split() for line in path.read_text(encoding="utf-8").splitlines() if line)
    stopped = []
    for name in ("rgw", "osd", "mon"):
        if name not in pids:
            continue
        pid = int(pids[name])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if conf.encode() not in cmdline:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
        deadline = time.monotonic() + timeout_s
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    """``python -m interop.ceph start DIR``: start a cluster below DIR, print ``S3:``,
    ``ACCESS_KEY:``, ``SECRET_KEY:`` and ``REGION:`` lines and leave it running;
    ``python -m interop.ceph stop DIR``: stop exactly the daemons that start left there."""
    import argparse
    import sys

    from interop.tools import UnavailableError

    parser = argparse.ArgumentParser(prog="python -m interop.ceph")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.action == "stop":
        print(f"stopped: {' '.join(map(str, stop_saved(args.dir))) or 'nothing'}")
        return 0
    try:
        cluster = start_ceph(args.dir)
    except (UnavailableError, CephStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    save_pids(cluster)
    print(f"S3: {cluster.endpoint}")
    print(f"ACCESS_KEY: {cluster.access_key}")
    print(f"SECRET_KEY: {cluster.secret_key}")
    print(f"REGION: {cluster.region}")
    print(f"PIDS: {' '.join(map(str, cluster.pids))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
