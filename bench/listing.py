"""PROPFIND Depth:1 of one large folder: davserver against rclone serve and stock WsgiDAV.

Every server gets the same folder (``--files`` 4 KiB files PUT over ``--clients`` keep-alive
connections), then the listing is asked for in turns (davserver, the peers, davserver, ...)
``--repeat`` times, so that a machine busy with other work slows every server alike. The
request body is the one of ``bench.hot_path`` (size, ETag, mtime, resource type and
``oc:checksums``). Each answer is checked before a time is printed: every file listed with
its size, and for davserver the SHA-1 of every file in ``oc:checksums``.

Reported per server: median seconds, best seconds, peak RSS (``VmHWM``) before and after the
listings, and davserver's ratio to each peer (above 1: davserver ahead).

    .venv/bin/python -m bench.listing --files 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from contextlib import ExitStack

import httpx

from bench.checks import Verdict, run_checked
from bench.hot_path import (
    PASSWORD,
    PROPFIND_BODY,
    SMALL_SIZE,
    USER,
    Server,
    ServerFactory,
    davserver,
    listing,
    peak_rss_mib,
    rclone_serve,
    small_puts,
    start_servers,
    stock_wsgidav,
)

PEERS: list[tuple[str, ServerFactory]] = [
    ("rclone-serve", rclone_serve),
    ("wsgidav-4.4", stock_wsgidav),
]
FOLDER = "listing/"


def fill(
    name: str,
    server: Server,
    names: list[str],
    args: argparse.Namespace,
    payload: bytes,
    verdict: Verdict,
) -> None:
    """Create the folder on ``server`` and PUT every file into it."""
    with httpx.Client(auth=httpx.BasicAuth(USER, PASSWORD), timeout=600) as c:
        c.request("MKCOL", server.url + FOLDER).raise_for_status()
    small_puts(server.url + FOLDER, names, args.clients, payload, verdict)
    print(f"{name}: filled", file=sys.stderr, flush=True)


def timed_listing(
    name: str,
    server: Server,
    client: httpx.Client,
    names: list[str],
    payload: bytes,
    verdict: Verdict,
) -> float:
    """Seconds for one PROPFIND Depth:1 of the folder; its answer is checked."""
    started = time.perf_counter()
    r = client.request(
        "PROPFIND",
        server.url + FOLDER,
        headers={"Depth": "1", "Content-Type": "application/xml"},
        content=PROPFIND_BODY,
    )
    body = r.content
    elapsed = time.perf_counter() - started
    if r.status_code != 207:
        verdict.fail(f"{name}: PROPFIND answered {r.status_code}")
        return elapsed
    found = listing(body)
    verdict.equal(
        f"{name}: files listed with their size",
        dict.fromkeys(names, SMALL_SIZE),
        {n: length for n, (length, _) in found.items()},
    )
    if name == "davserver":
        sha1 = "SHA1:" + hashlib.sha1(payload).hexdigest()
        wrong = [n for n, (_, sums) in found.items() if sha1 not in sums]
        verdict.equal(f"{name}: listed files with a wrong or missing SHA-1", [], wrong[:3])
    return elapsed


def render(
    times: dict[str, list[float]],
    before: dict[str, float],
    rss: dict[str, float],
    args: argparse.Namespace,
    left_out: list[str],
) -> str:
    """The table (Markdown) and the ratios."""
    lines = [
        f"| PROPFIND Depth:1 of {args.files} files | median s | best s | first s "
        "| peak RSS before the listings, MiB | peak RSS after, MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, samples in times.items():
        lines.append(
            f"| {name} | {statistics.median(samples):.3f} | {min(samples):.3f} "
            f"| {samples[0]:.3f} | {before[name]:,.0f} | {rss[name]:,.0f} |"
        )
    ours = statistics.median(times["davserver"])
    for name, samples in times.items():
        if name != "davserver":
            lines.append(
                f"davserver vs {name}: {statistics.median(samples) / ours:.2f}x "
                "(median; above 1: davserver ahead)"
            )
    lines.append(
        f"listings asked for in turns, {args.repeat} per server; plain HTTP on loopback, "
        "Basic auth, one keep-alive client; body: getcontentlength, getetag, "
        "getlastmodified, resourcetype, oc:checksums (only davserver answers the last); "
        "first: the first listing after the fill (davserver has kept no listing of the folder "
        "yet; later ones find it kept while nothing in the folder changed)"
    )
    lines.extend(f"left out: {reason}" for reason in left_out)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", help="comma-separated peer names (default: all)")
    args = parser.parse_args()
    peers = PEERS
    if args.only:
        wanted = set(args.only.split(","))
        peers = [p for p in PEERS if p[0] in wanted]
    verdict = Verdict()
    payload = os.urandom(SMALL_SIZE)
    names = [f"f{i:05d}.dat" for i in range(args.files)]
    with ExitStack() as stack:
        running, left_out = start_servers(
            stack, [("davserver", davserver), *peers], "bench-listing", verdict
        )
        for name, server in running.items():
            fill(name, server, names, args, payload, verdict)
        verdict.check()
        before = {name: peak_rss_mib(server.pid) for name, server in running.items()}
        times: dict[str, list[float]] = {name: [] for name in running}
        with httpx.Client(auth=httpx.BasicAuth(USER, PASSWORD), timeout=600) as client:
            for _ in range(args.repeat):
                for name, server in running.items():
                    times[name].append(timed_listing(name, server, client, names, payload, verdict))
        rss = {name: peak_rss_mib(server.pid) for name, server in running.items()}
    print(verdict.ratios(lambda: render(times, before, rss, args, left_out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_checked(main))
