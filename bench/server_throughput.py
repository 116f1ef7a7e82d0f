"""Side-by-side server benchmark: davserver vs stock WsgiDAV 4.4 vs nginx's DAV module.

The same work runs against each server on a loopback port, one after the other, over the same
transport (plain HTTP, one keep-alive connection, sequential requests) and with the same
authentication (Basic, sent with every request; each server checks it):

- PUT of one large file (default 200 MB) and GET of it back;
- PUT of many small files (default 500 x 4 KB);
- one Depth-1 PROPFIND listing of those files (and, for davserver, the ?inventory endpoint,
  which also carries every file's hashes);

then checks what each server stored (the large file's SHA-256 as read back, the listing's
entries and sizes, a sample of small files; for davserver the inventory's SHA-256 of every
small file). If any request failed or any check does not match, it prints what failed and no
numbers, and exits 1 (``bench.checks``). Otherwise it prints seconds and MB/s per server, the
ratio of davserver to each peer, and what the servers do differently per byte (davserver
hashes three ways and fsyncs file and folder; the peers do neither).

Run: ``.venv/bin/python -m bench.server_throughput [--big-mb 200] [--small 500]``
(nginx with its dav-ext module from ``make tools``; without it the nginx row is left out and
the output says so). The stock servers are the ones the interop tests use (``interop.stock``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
from lxml import etree

from bench.checks import Verdict, run_checked
from interop.accounts import BENCH_PASSWORD, BENCH_USER, add_user
from interop.processes import terminate
from interop.stock import start_nginx_dav, start_stock_wsgidav
from interop.tools import UnavailableError

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
DAVSERVER_CONFIG = "auth: {basic_over_http: true, digest: false}\n"  # Basic, like the peers
DIFFERS = {
    "davserver": "MD5, SHA-1 and SHA-256 of every byte, fsync of file and folder, atomic "
    "rename, a SQLite metadata row per file; Basic checked against an argon2id hash "
    "(verified once, then cached for 60 s)",
    "wsgidav-4.4": "FilesystemProvider writes the file in place; no hash, no fsync; Basic "
    "checked against a plain-text password",
    "nginx-dav": "temporary file, then rename; no hash, no fsync; Basic checked against an "
    "htpasswd {SHA} entry",
}

Server = Callable[[Path], AbstractContextManager[tuple[str, httpx.Auth]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, auth: httpx.Auth | None, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            httpx.request("OPTIONS", url, auth=auth, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def davserver(tmp: Path) -> Iterator[tuple[str, httpx.Auth]]:
    root = tmp / "davsync"
    add_user(root, USER, PASSWORD)
    config = tmp / "davsync.yaml"
    config.write_text(DAVSERVER_CONFIG, encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "davserver.cli", "serve", "--root", str(root)),
            *("--port", str(port), "--config", str(config)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "x"},
    )
    auth = httpx.BasicAuth(USER, PASSWORD)
    url = f"http://127.0.0.1:{port}/remote.php/dav/files/{USER}/"
    try:
        wait_up(url, auth)
        yield url, auth
    finally:
        terminate(proc, grace_s=15)


@contextmanager
def stock_wsgidav(tmp: Path) -> Iterator[tuple[str, httpx.Auth]]:
    server = start_stock_wsgidav(tmp, USER, PASSWORD)
    try:
        yield server.url, httpx.BasicAuth(USER, PASSWORD)
    finally:
        server.stop()


@contextmanager
def nginx(tmp: Path) -> Iterator[tuple[str, httpx.Auth]]:
    server = start_nginx_dav(tmp, USER, PASSWORD)
    try:
        yield server.url, httpx.BasicAuth(USER, PASSWORD)
    finally:
        server.stop()


def big_body(size: int, block: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        n = min(len(block), size - sent)
        sent += n
        yield block[:n]


def big_sha256(size: int, block: bytes) -> str:
    digest = hashlib.sha256()
    for part in big_body(size, block):
        digest.update(part)
    return digest.hexdigest()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def listing(body: bytes) -> dict[str, int]:
    """name -> getcontentlength of the members in a Depth-1 PROPFIND answer."""
    out: dict[str, int] = {}
    for resp in etree.fromstring(body).iter("{DAV:}response"):
        href = (resp.findtext("{DAV:}href") or "").rstrip("/")
        length = resp.findtext(".//{DAV:}getcontentlength")
        if length is not None:
            out[href.rsplit("/", 1)[-1]] = int(length)
    return out


def run_work(
    url: str, auth: httpx.Auth, big_mb: int, small: int, verdict: Verdict, name: str
) -> dict[str, float]:
    """Time the work against one server, then check what it stored (into ``verdict``)."""
    size = big_mb * 1024 * 1024
    block = os.urandom(1024 * 1024)
    results: dict[str, float] = {}
    with httpx.Client(auth=auth, timeout=300) as c:
        c.request("MKCOL", url + "bench/").raise_for_status()
        results["put_big_s"] = timed(
            lambda: c.put(
                url + "bench/big.bin",
                content=big_body(size, block),
                headers={"Content-Length": str(size)},
            ).raise_for_status()
        )
        got_big = hashlib.sha256()

        def get_big() -> None:
            with c.stream("GET", url + "bench/big.bin") as r:
                r.raise_for_status()
                for part in r.iter_raw(1024 * 1024):
                    got_big.update(part)

        results["get_big_s"] = timed(get_big)
        expected_big = big_sha256(size, block)
        verdict.equal(f"{name}: SHA-256 of the large file", expected_big, got_big.hexdigest())
        c.request("MKCOL", url + "bench/small/").raise_for_status()
        payload = os.urandom(4096)
        names = [f"f{i:05d}.dat" for i in range(small)]
        results["put_small_s"] = timed(
            lambda: [
                c.put(url + f"bench/small/{n}", content=payload).raise_for_status() for n in names
            ]
        )
        found: dict[str, int] = {}

        def propfind() -> None:
            r = c.request("PROPFIND", url + "bench/small/", headers={"Depth": "1"})
            r.raise_for_status()
            found.update(listing(r.content))

        results["propfind_s"] = timed(propfind)
        verdict.equal(f"{name}: small files listed", dict.fromkeys(names, 4096), found)
        for n in names[:: max(1, small // 10)]:
            verdict.equal(
                f"{name}: content of {n}", payload, c.get(url + f"bench/small/{n}").content
            )
        if "remote.php" in url:
            inventory: list[str] = []

            def get_inventory() -> None:
                r = c.get(url + "bench/small/?inventory")
                r.raise_for_status()
                inventory.append(r.text)

            results["inventory_s"] = timed(get_inventory)
            expected = hashlib.sha256(payload).hexdigest()
            hashes = [line for line in inventory[0].splitlines() if expected in line]
            verdict.equal(f"{name}: inventory entries with the right SHA-256", small, len(hashes))
    results["put_big_mbps"] = big_mb / results["put_big_s"]
    results["get_big_mbps"] = big_mb / results["get_big_s"]
    results["small_per_s"] = small / results["put_small_s"]
    return results


KEYS = ["put_big_mbps", "get_big_mbps", "small_per_s", "propfind_s", "inventory_s"]


def render(table: dict[str, dict[str, float]], left_out: list[str]) -> str:
    """The numbers, the ratios and what differs (only through ``Verdict.ratios``)."""
    lines = [f"{'server':<14}" + "".join(f"{k:>15}" for k in KEYS)]
    for name, row in table.items():
        lines.append(f"{name:<14}" + "".join(f"{row.get(k, float('nan')):>15.2f}" for k in KEYS))
    ours = table["davserver"]
    for name, row in table.items():
        if name != "davserver":
            ratios = ", ".join(f"{k}={ours[k] / row[k]:.2f}x" for k in KEYS[:3] if row.get(k))
            lines.append(f"davserver / {name}: {ratios} (higher is better for davserver)")
    lines.append(
        "same for every server: plain HTTP on loopback, Basic auth on every request, "
        "one keep-alive connection, sequential requests"
    )
    lines.extend(f"{name}: {DIFFERS[name]}" for name in table)
    lines.extend(f"left out: {reason}" for reason in left_out)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=500)
    args = parser.parse_args()
    servers: list[tuple[str, Server]] = [
        ("davserver", davserver),
        ("wsgidav-4.4", stock_wsgidav),
        ("nginx-dav", nginx),
    ]
    verdict = Verdict()
    table: dict[str, dict[str, float]] = {}
    left_out: list[str] = []
    for name, factory in servers:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        try:
            with factory(tmp) as (url, auth):
                table[name] = run_work(url, auth, args.big_mb, args.small, verdict, name)
        except UnavailableError as exc:
            left_out.append(f"{name}: {exc}")
        except (httpx.HTTPError, RuntimeError) as exc:
            verdict.fail(f"{name}: {exc}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(verdict.ratios(lambda: render(table, left_out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_checked(main))
