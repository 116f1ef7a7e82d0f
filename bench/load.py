"""Bounded load test (``make soak``): many concurrent clients against one real davserver.

Starts a davserver on a loopback port over a fresh data root (unless ``--url`` names one
already running with the same users), then runs ``--clients`` threads for ``--duration``
seconds. Each client belongs to one of ``--users`` accounts (Digest auth) and works in its own
folder with a random mix of:

- uploads (40 %): a new file or an overwrite of one of its files, 1 KiB - 1 MiB (now and then
  4 MiB), with ``OC-Checksum: SHA1:...`` so the server verifies every byte;
- downloads (35 %): one of its files, whose body must hash to what it last uploaded there;
- listings (25 %): PROPFIND Depth 1 of its folder (now and then of the user's home).

Every answer other than the expected one counts as an error, except 429 (the per-user request
cap or the login throttle), which is counted separately and retried after ``Retry-After``.
At the end every file any client wrote is verified three ways: the server's ``oc:checksums``
SHA-256, the SHA-256 of a GET, and (for a server it started) the file on disk. It prints
operation counts, p50/p99 latency per operation, errors, 429s and corrupted files, and exits
1 if there was any error or corruption.

Run: ``.venv/bin/python -m bench.load [--clients 50] [--duration 60] [--users 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from interop.processes import terminate

REQUEST_TIMEOUT_S = 120.0
STARTUP_TIMEOUT_S = 60.0
SERVER_CONFIG = """\
server: {threads: 32, timeout_s: 60}
auth: {throttle: {max_failures: 50, lockout_s: 5}}
reserve_bytes: 0
"""
PROPFIND_HASH = (
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop>'
    b"<oc:checksums/></D:prop></D:propfind>"
)


@dataclass
class Stats:
    """What all clients measured (guarded by ``lock``)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, seconds: float) -> None:
        with self.lock:
            self.latencies[op].append(seconds)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def throttle(self) -> None:
        with self.lock:
            self.throttled += 1


@dataclass
class Client:
    """One simulated client: its account, its folder and what it last stored per file."""

    index: int
    base: str
    user: str
    password: str
    folder: str = ""
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256 of last upload

    def __post_init__(self) -> None:
        self.folder = f"{self.base}remote.php/dav/files/{self.user}/load-c{self.index:03d}/"


def _body(rng: random.Random) -> bytes:
    size = 4 * 1024 * 1024 if rng.random() < 0.02 else rng.randint(1024, 1024 * 1024)
    return rng.randbytes(size)


def _request(
    http: httpx.Client, stats: Stats, op: str, method: str, url: str, ok: set[int], **kw: object
) -> httpx.Response | None:
    """Send one request, retrying after 429; None (and an error) for anything unexpected."""
    for _ in range(20):
        started = time.perf_counter()
        try:
            r = http.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            stats.error(f"{op} {url}: {type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - started
        if r.status_code == 429:
            stats.throttle()
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        stats.record(op, elapsed)
        if r.status_code not in ok:
            stats.error(f"{op} {url}: {r.status_code} {r.text[:200]!r}")
            return None
        return r
    stats.error(f"{op} {url}: still 429 after 20 attempts")
    return None


def _upload(http: httpx.Client, c: Client, stats: Stats, rng: random.Random) -> None:
    name = (
        rng.choice(sorted(c.files))
        if c.files and rng.random() < 0.5
        else f"f{rng.randrange(10**9)}.bin"
    )
    body = _body(rng)
    headers = {"OC-Checksum": "SHA1:" + hashlib.sha1(body).hexdigest()}
    r = _request(
        http, stats, "upload", "PUT", c.folder + name, {201, 204}, content=body, headers=headers
    )
    if r is not None:
        c.files[name] = hashlib.sha256(body).hexdigest()


def _download(http: httpx.Client, c: Client, stats: Stats, rng: random.Random) -> None:
    if not c.files:
        return
    name = rng.choice(sorted(c.files))
    r = _request(http, stats, "download", "GET", c.folder + name, {200})
    if r is not None and hashlib.sha256(r.content).hexdigest() != c.files[name]:
        stats.error(f"download {c.folder}{name}: content differs from the last upload")


def _listing(http: httpx.Client, c: Client, stats: Stats, rng: random.Random) -> None:
    url = c.folder if rng.random() < 0.9 else c.folder.rsplit("/", 2)[0] + "/"
    _request(http, stats, "listing", "PROPFIND", url, {207}, headers={"Depth": "1"})


def run_client(c: Client, stats: Stats, deadline: float, seed: int) -> None:
    """The loop of one client until ``deadline``."""
    rng = random.Random(seed)
    auth = httpx.DigestAuth(c.user, c.password)
    with httpx.Client(auth=auth, timeout=REQUEST_TIMEOUT_S) as http:
        if _request(http, stats, "mkcol", "MKCOL", c.folder, {201, 405}) is None:
            return
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.40:
                _upload(http, c, stats, rng)
            elif roll < 0.75:
                _download(http, c, stats, rng)
            else:
                _listing(http, c, stats, rng)


def verify(clients: list[Client], root: Path | None, stats: Stats) -> tuple[int, int]:
    """Check every stored file three ways; returns (files checked, corrupted files)."""
    checked = corrupted = 0
    for c in clients:
        with httpx.Client(
            auth=httpx.DigestAuth(c.user, c.password), timeout=REQUEST_TIMEOUT_S
        ) as http:
            for name, expected in sorted(c.files.items()):
                checked += 1
                url = c.folder + name
                got = hashlib.sha256(http.get(url).content).hexdigest()
                r = http.request("PROPFIND", url, headers={"Depth": "0"}, content=PROPFIND_HASH)
                match = re.search(r"SHA256:([0-9a-f]{64})", r.text)
                reported = match.group(1) if match else None
                on_disk = expected
                if root is not None:
                    path = root / "files" / c.user / f"load-c{c.index:03d}" / name
                    on_disk = hashlib.sha256(path.read_bytes()).hexdigest()
                if not (got == reported == on_disk == expected):
                    corrupted += 1
                    stats.error(f"corrupted {url}: get={got} reported={reported} disk={on_disk}")
    return checked, corrupted


def _prepare_users(root: Path, config: Path, users: dict[str, str]) -> None:
    for name, password in users.items():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "davserver.cli",
                "user",
                "add",
                name,
                "--password-stdin",
                "--root",
                str(root),
                "--config",
                str(config),
            ],
            input=password + "\n",
            text=True,
            capture_output=True,
            check=True,
            timeout=120,
        )


@contextmanager
def local_server(users: dict[str, str], log: Path | None = None) -> Iterator[tuple[str, Path]]:
    """A davserver on a free loopback port over a temporary root; yields (url, root)."""
    with tempfile.TemporaryDirectory(prefix="davsync-load-") as tmp:
        root = Path(tmp) / "root"
        config = Path(tmp) / "config.yaml"
        config.write_text(SERVER_CONFIG, encoding="utf-8")
        _prepare_users(root, config, users)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "davserver.cli",
                "serve",
                "--root",
                str(root),
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--config",
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "load-admin"},
        )
        try:
            url = _wait_for_url(proc)
            threading.Thread(target=_drain, args=(proc, log), daemon=True).start()
            yield url, root
        finally:
            terminate(proc, grace_s=20)


def _drain(proc: subprocess.Popen[str], log: Path | None) -> None:
    """Read the server's output (into ``log`` if given) so it never blocks on a full pipe."""
    assert proc.stdout is not None
    with open(log or os.devnull, "a", encoding="utf-8") as sink:
        for line in proc.stdout:
            sink.write(line)


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("URL: "):
            return line[5:].strip()
    raise RuntimeError("the server did not start")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(stats: Stats, duration: float, checked: int, corrupted: int) -> None:
    """Print the results."""
    total = sum(len(v) for v in stats.latencies.values())
    print(f"operations: {total} in {duration:.1f} s ({total / duration:.1f}/s)")
    print(f"{'operation':<10} {'count':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    everything: list[float] = []
    for op, values in sorted(stats.latencies.items()):
        everything += values
        print(
            f"{op:<10} {len(values):>7} {statistics.median(values) * 1000:>9.1f} "
            f"{_percentile(values, 0.99) * 1000:>9.1f} {max(values) * 1000:>9.1f}"
        )
    if everything:
        print(
            f"{'all':<10} {len(everything):>7} {statistics.median(everything) * 1000:>9.1f} "
            f"{_percentile(everything, 0.99) * 1000:>9.1f} {max(everything) * 1000:>9.1f}"
        )
    print(f"429 answers (retried): {stats.throttled}")
    print(f"errors: {len(stats.errors)}")
    for message in stats.errors[:20]:
        print(f"  {message}")
    print(f"files verified: {checked}, corrupted: {corrupted}")


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit status 1 on any error or corrupted file."""
    parser = argparse.ArgumentParser(prog="bench.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running server (loopback) with users load0..loadN")
    parser.add_argument("--server-log", type=Path, help="append the started server's output here")
    args = parser.parse_args(argv)
    users = {f"load{i}": f"load-password-{i}" for i in range(args.users)}
    stats = Stats()

    def run(url: str, root: Path | None) -> int:
        clients = [
            Client(i, url, f"load{i % args.users}", users[f"load{i % args.users}"])
            for i in range(args.clients)
        ]
        started = time.monotonic()
        deadline = started + args.duration
        threads = [
            threading.Thread(
                target=run_client, args=(c, stats, deadline, args.seed * 1000 + c.index)
            )
            for c in clients
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.duration + REQUEST_TIMEOUT_S * 2)
        elapsed = time.monotonic() - started
        checked, corrupted = verify(clients, root, stats)
        report(stats, elapsed, checked, corrupted)
        return 1 if stats.errors or corrupted else 0

    if args.url:
        host = httpx.URL(args.url).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("--url must be a loopback address")
        return run(args.url if args.url.endswith("/") else args.url + "/", None)
    with local_server(users, args.server_log) as (url, root):
        print(f"server: {url} ({args.clients} clients, {args.users} users, {args.duration:.0f} s)")
        return run(url, root)


if __name__ == "__main__":
    raise SystemExit(main())
