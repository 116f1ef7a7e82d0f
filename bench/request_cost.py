"""Server CPU per request: what davserver spends on one small request of each common kind.

For PUT of 4 KiB to a new name, PUT over an existing 4 KiB file, GET of it and PROPFIND
Depth:0 of it, from 1 client and from ``--clients`` clients at once (separate processes, one
keep-alive connection each, Basic auth on every request), it prints the rate and the server
process's user and system CPU milliseconds per request (from ``/proc/<pid>/stat``, all of
its threads). Every status is checked (and every GET's length); any failure prints what
failed, no table, and exits 1.

Run: ``.venv/bin/python -m bench.request_cost [--requests 2000] [--clients 8]`` (part of
``make bench``).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.checks import Verdict, run_checked
from bench.hot_path import PASSWORD, SMALL_SIZE, USER, basic_header, davserver

PROPFIND_BODY = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getcontentlength/>'
    b"<d:getetag/><d:getlastmodified/><d:resourcetype/></d:prop></d:propfind>"
)


@dataclass(frozen=True)
class Kind:
    """One kind of request: method, body, expected statuses, the length a GET must return."""

    name: str
    method: str
    body: bytes
    ok: tuple[int, ...]
    depth0: bool = False
    length: int | None = None


def _client(url: str, kind: Kind, names: list[str], barrier: Barrier, queue: object) -> None:
    """One client process: ``kind`` on every name over one keep-alive connection after the
    start barrier; puts the list of problems on ``queue``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=300)
    headers = {"Authorization": basic_header(), "Content-Type": "application/octet-stream"}
    if kind.depth0:
        headers = {**headers, "Depth": "0", "Content-Type": "application/xml"}
    bad: list[str] = []
    barrier.wait()
    for name in names:
        try:
            conn.request(kind.method, parts.path + name, body=kind.body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status not in kind.ok:
                bad.append(f"{kind.method} {name}: {resp.status}")
            elif kind.length is not None and len(data) != kind.length:
                bad.append(f"{kind.method} {name}: {len(data)} bytes")
        except (OSError, http.client.HTTPException) as exc:
            bad.append(f"{kind.method} {name}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=300)
    conn.close()
    queue.put(bad)  # type: ignore[attr-defined]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid`` so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def measure(
    url: str, pid: int, kind: Kind, names: list[str], clients: int, verdict: Verdict
) -> tuple[float, float, float]:
    """(requests/s, user ms/request, system ms/request) for ``kind`` on ``names``."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(url, kind, names[i::clients], barrier, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    user0, sys0 = cpu_seconds(pid)
    start = time.perf_counter()
    bad: list[str] = []
    for _ in procs:
        bad.extend(queue.get(timeout=1800))
    elapsed = time.perf_counter() - start
    user1, sys1 = cpu_seconds(pid)
    for p in procs:
        p.join(timeout=60)
    if bad:
        verdict.fail(f"{len(bad)} of {len(names)} {kind.name} failed, e.g. {bad[0]}")
    n = len(names)
    return n / elapsed, 1000 * (user1 - user0) / n, 1000 * (sys1 - sys0) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=8, help="clients of the parallel runs")
    args = parser.parse_args()
    payload = os.urandom(SMALL_SIZE)
    kinds = [
        Kind("PUT new 4 KiB", "PUT", payload, (201,)),
        Kind("PUT overwrite 4 KiB", "PUT", payload, (204,)),
        Kind("GET 4 KiB", "GET", b"", (200,), length=SMALL_SIZE),
        Kind("PROPFIND Depth:0", "PROPFIND", PROPFIND_BODY, (207,), depth0=True),
    ]
    verdict = Verdict()
    rows: list[tuple[str, int, float, float, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="request-cost-") as tmp,
        davserver(Path(tmp)) as srv,
        httpx.Client(auth=(USER, PASSWORD), timeout=120) as client,
    ):
        for clients in (1, args.clients):
            folder = f"c{clients}/"
            client.request("MKCOL", srv.url + folder).raise_for_status()
            names = [f"{folder}f{i:05d}" for i in range(args.requests)]
            for kind in kinds:
                rate, user, system = measure(srv.url, srv.pid, kind, names, clients, verdict)
                rows.append((kind.name, clients, rate, user, system))

    def render() -> str:
        lines = [
            "davserver: server CPU per request (all threads; ms) and rate",
            f"{'request':22} {'clients':>7} {'req/s':>8} {'user':>7} {'sys':>7} {'total':>7}",
        ]
        for name, clients, rate, user, system in rows:
            lines.append(
                f"{name:22} {clients:7d} {rate:8.0f} {user:7.2f} {system:7.2f} {user + system:7.2f}"
            )
        return "\n".join(lines)

    print(verdict.ratios(render), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_checked(main))
