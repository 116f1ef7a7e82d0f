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
import os
import tempfile
from pathlib import Path

import httpx

from bench.checks import Verdict, run_checked
from bench.hot_path import PASSWORD, SMALL_SIZE, USER, Kind, davserver, run_clients

PROPFIND_BODY = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getcontentlength/>'
    b"<d:getetag/><d:getlastmodified/><d:resourcetype/></d:prop></d:propfind>"
)


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
                rate, user, system = run_clients(srv.url, kind, names, clients, verdict, srv.pid)
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
