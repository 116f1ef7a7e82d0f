"""A throwaway PostgreSQL cluster on a free loopback port, for tests and trials.

``postgres_cluster(folder)`` runs ``initdb`` (trust authentication, C locale) in a new folder,
starts ``postgres`` on 127.0.0.1 with its socket in that folder, yields a ``Cluster`` (its
``url`` is ``postgresql://dav@127.0.0.1:PORT/dav``), and stops the server by its PID at the
end. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user
(the folder is handed to it). The binaries live in /usr/lib/postgresql/<version>/bin, which
is not on PATH: ``find_postgres_bin`` looks there.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from interop.tools import CI_PACKAGES, UnavailableError, free_port, wait_for_port

PG_LIB = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres`` (the newest installed version)."""
    candidates = sorted(
        PG_LIB.glob("*/bin/initdb"), key=lambda p: _version_key(p.parent.parent.name)
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise UnavailableError(
        f"PostgreSQL not found in {PG_LIB}/*/bin (Debian package {CI_PACKAGES['initdb']}; "
        "make tools installs it from Debian (needs root))",
        CI_PACKAGES["initdb"],
        "initdb",
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


@dataclass
class Cluster:
    """A running throwaway cluster."""

    folder: Path
    port: int
    bin_dir: Path
    run_as: str | None
    pid: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://dav@127.0.0.1:{self.port}/dav"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def start(self) -> None:
        """Start the server (again) on the same port; waits until it accepts connections."""
        log = self.folder / "postgres.log"
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.folder),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
            "-c",
            "fsync=off",
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.run_as,
                start_new_session=True,
            )
        self.pid = process.pid
        if not wait_for_port("127.0.0.1", self.port, START_TIMEOUT_S) or not self._ready():
            self.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start on port {self.port}:\n{tail}")

    def _ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown), killing it if it does not exit."""
        if not self.pid:
            return
        pid, self.pid = self.pid, 0
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if _reaped(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        _reaped(pid, block=True)

    def restart(self) -> None:
        """Stop and start the server: every open connection is cut."""
        self.stop()
        self.start()


def _reaped(pid: int, *, block: bool = False) -> bool:
    try:
        done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@contextmanager
def postgres_cluster(folder: Path | None = None) -> Iterator[Cluster]:
    """A running cluster with a superuser ``dav`` and a database ``dav``, stopped at the end.

    ``folder`` (created; must be empty) holds it and must be reachable by the ``postgres``
    user when running as root; by default a new folder in the system's temporary directory,
    removed at the end.
    """
    bin_dir = find_postgres_bin()
    run_as = SERVICE_USER if os.geteuid() == 0 else None
    owned = folder is None
    folder = Path(tempfile.mkdtemp(prefix="davsync-pg-")) if folder is None else folder
    try:
        with _cluster_in(folder, bin_dir, run_as) as cluster:
            yield cluster
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _cluster_in(folder: Path, bin_dir: Path, run_as: str | None) -> Iterator[Cluster]:
    folder.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        try:
            account = pwd.getpwnam(run_as)
        except KeyError as exc:
            raise UnavailableError(f"running as root and there is no {run_as} user") from exc
        os.chown(folder, account.pw_uid, account.pw_gid)
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "dav",
            "--no-locale",
            "-E",
            "UTF8",
        ],
        capture_output=True,
        text=True,
        user=run_as,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    cluster = Cluster(folder=folder, port=free_port(), bin_dir=bin_dir, run_as=run_as)
    cluster.start()
    try:
        subprocess.run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(cluster.port),
                "-U",
                "dav",
                "dav",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        yield cluster
    finally:
        cluster.stop()
