"""The floor of the fixed stack: how many 4 KiB PUTs per second cheroot itself can answer.

davserver must run on cheroot (a pure-Python HTTP/1.1 server). This measures, in one run,
the same 4 KiB PUTs to new names (from 1 client, then from ``--clients`` clients at once;
separate processes, one keep-alive connection each, Basic auth on every request) against:

- ``cheroot-empty``: cheroot with davserver's default thread count and an application that
  compares the ``Authorization`` header, reads the body and answers ``201``: no path
  handling, no file, no hash, no fsync. Nothing written on this stack can be faster;
- ``davserver``: the real server (three digests, fsync of file and folder, a metadata row);
- ``nginx-dav``: nginx's DAV module (C, no hash, no fsync), when ``make tools`` installed it.

It prints files/s and the server's CPU milliseconds per PUT (user + system, all threads,
from ``/proc/<pid>/stat``), then the ratios to the empty cheroot. Every status is checked;
any failure prints what failed, no table, and exits 1.

Run: ``.venv/bin/python -m bench.stack_floor [--small-one 1000] [--small-many 4000]``
(part of ``make bench``).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.checks import Verdict, run_checked
from bench.hot_path import (
    PASSWORD,
    SMALL_SIZE,
    USER,
    Kind,
    Server,
    ServerFactory,
    davserver,
    launch,
    nginx,
    run_clients,
    start_servers,
)
from interop.processes import terminate
from interop.tools import free_port

THREADS = 16
"""davserver's default ``server.threads``."""


def empty_app(expected_auth: str) -> Any:
    """The WSGI application of ``cheroot-empty``: 401 without the expected credentials, else
    the body is read and discarded and the answer is ``201 Created``."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != expected_auth:
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]
        while length > 0:
            block = stream.read(min(length, 65536))
            if not block:
                break
            length -= len(block)
        start_response("201 Created", [("Content-Length", "0")])
        return [b""]

    return app


def serve_empty(port: int) -> None:
    """Serve ``empty_app`` on 127.0.0.1:``port`` until terminated."""
    from cheroot import wsgi

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    server = wsgi.Server(("127.0.0.1", port), empty_app(f"Basic {token}"), numthreads=THREADS)
    server.safe_start()


@contextmanager
def cheroot_empty(tmp: Path) -> Iterator[Server]:
    """``serve_empty`` in its own process."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.stack_floor", "--serve", str(port)]
    proc = launch(cmd, port, tmp / "cheroot-empty.log")
    try:
        yield Server(f"http://127.0.0.1:{port}/", proc.pid)
    finally:
        terminate(proc, grace_s=15)


SERVERS: list[tuple[str, ServerFactory]] = [
    ("cheroot-empty", cheroot_empty),
    ("davserver", davserver),
    ("nginx-dav", nginx),
]


def render(rows: dict[str, dict[int, tuple[float, float]]], left_out: list[str]) -> str:
    """The table (files/s and server CPU ms per PUT for each client count) and the ratios."""
    counts = sorted({c for per in rows.values() for c in per})
    head = "| server | " + " | ".join(
        f"{c} client{'s' if c > 1 else ''}: files/s | CPU ms/PUT" for c in counts
    )
    lines = [head + " |", "|---|" + "---|---|" * len(counts)]
    for name, per in rows.items():
        cells = " | ".join(f"{per[c][0]:,.0f} | {per[c][1]:.2f}" for c in counts)
        lines.append(f"| {name} | {cells} |")
    floor = rows.get("cheroot-empty")
    if floor:
        for name, per in rows.items():
            if name != "cheroot-empty":
                ratios = ", ".join(f"{c} client(s) {per[c][0] / floor[c][0]:.2f}x" for c in counts)
                lines.append(f"{name} vs cheroot-empty: {ratios} (files/s; 1.00 = the floor)")
    lines.append(
        "4 KiB PUTs to new names; plain HTTP on loopback, Basic auth on every request, "
        f"keep-alive; cheroot-empty: {THREADS} threads, reads the body, answers 201"
    )
    lines += [f"left out: {line}" for line in left_out]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-one", type=int, default=1000)
    parser.add_argument("--small-many", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_empty(args.serve)
        return 0
    verdict = Verdict()
    payload = os.urandom(SMALL_SIZE)
    kind = Kind("small PUTs", "PUT", payload, (200, 201, 204))
    rows: dict[str, dict[int, tuple[float, float]]] = {}
    with ExitStack() as stack:
        running, left_out = start_servers(stack, SERVERS, "bench-floor", verdict)
        for name, server in running.items():
            for clients, count in ((1, args.small_one), (args.clients, args.small_many)):
                names = [f"c{clients}-f{i:05d}" for i in range(count)]
                rate, user, system = run_clients(
                    server.url, kind, names, clients, verdict, server.pid
                )
                rows.setdefault(name, {})[clients] = (rate, user + system)
            print(f"{name}: done", file=sys.stderr, flush=True)
    print(verdict.ratios(lambda: render(rows, left_out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_checked(main))
