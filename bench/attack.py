"""A legitimate client's latency under availability attacks, davsync beside stock WsgiDAV.

Starts davsync (default settings, Basic allowed on loopback HTTP so the raw attackers can log
in) and stock WsgiDAV 4.4 (``interop.stock``) on loopback ports, then for each attack of
``tests.support.attacks`` — 64 trickling unauthenticated PUTs, 40 slow PUTs of one user,
100 slowloris connections, 4 PUTs announcing 10 TB — times ``--requests`` GETs of a small file
by another user (stock WsgiDAV has one account, which then does both) and prints p50, p99 and
failures (a request that fails or takes longer than ``--timeout`` counts as that long).

Everything runs on 127.0.0.1, every attack for a bounded time.

Run: ``.venv/bin/python -m bench.attack [--requests 10] [--timeout 5] [--only slowloris]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from interop.stock import start_stock_wsgidav
from tests.support import attacks
from tests.support.configured import USERS, start_server

DAVSYNC_CONFIG = "auth: {basic_over_http: true}\n"
FILE_BODY = b"legitimate\n" * 100


@dataclass
class Subject:
    """A server under attack: where the victim's file is and who may do what."""

    name: str
    target: attacks.Target
    victim_url: str  # a small file the legitimate client GETs
    put_path: Callable[[int], str]  # where attacker i PUTs
    attacker: tuple[str, str]  # user, password of the authenticated attacker
    victim: tuple[str, str]


@contextmanager
def davsync(work: Path) -> Iterator[Subject]:
    """davsync with default settings."""
    srv = start_server(work, DAVSYNC_CONFIG)
    try:
        victim_url = srv.files_url("bob", "victim.txt")
        with httpx.Client(auth=("bob", USERS["bob"])) as c:
            c.put(victim_url, content=FILE_BODY).raise_for_status()
        yield Subject(
            "davsync",
            attacks.Target.of(srv.url),
            victim_url,
            lambda i: f"/remote.php/dav/files/alice/a{i}.bin",
            ("alice", USERS["alice"]),
            ("bob", USERS["bob"]),
        )
    finally:
        srv.stop()


@contextmanager
def stock(work: Path) -> Iterator[Subject]:
    """Stock WsgiDAV (one account: it is both the attacker and the victim)."""
    srv = start_stock_wsgidav(work, "alice", USERS["alice"])
    try:
        (srv.root / "victim.txt").write_bytes(FILE_BODY)
        yield Subject(
            "stock WsgiDAV",
            attacks.Target.of(srv.url),
            srv.url + "victim.txt",
            lambda i: f"/dav/a{i}.bin",
            ("alice", USERS["alice"]),
            ("alice", USERS["alice"]),
        )
    finally:
        srv.stop()


ATTACKS: dict[str, Callable[[Subject], attacks.Attack]] = {
    "none": lambda s: attacks.Attack(s.target, 0, lambda i: b"", lambda i: b""),
    "64 trickling unauthenticated PUTs": lambda s: attacks.trickle_puts(s.target, s.put_path),
    "40 slow PUTs of one user": lambda s: attacks.slow_puts(s.target, s.put_path, *s.attacker),
    "100 slowloris connections": lambda s: attacks.slowloris(s.target, "/"),
    "4 PUTs announcing 10 TB": lambda s: attacks.huge_puts(s.target, s.put_path, *s.attacker),
}


def measure(subject: Subject, attack_name: str, requests: int, timeout: float) -> str:
    """One table cell: p50/p99 (and failures) of the victim's GETs under ``attack_name``."""
    attack = ATTACKS[attack_name](subject)
    with httpx.Client(auth=subject.victim, timeout=timeout) as client:
        client.get(subject.victim_url)  # the victim was already working: a warm login
        with attacks.running(attack, settle_s=2.0):
            lat = attacks.time_requests(
                lambda c: c.get(subject.victim_url), client, requests, timeout_s=timeout
            )
    failed = lat.failures + sum(1 for s in lat.statuses if s != 200)
    cell = f"{lat.quantile(0.5):6.3f} / {lat.quantile(0.99):6.3f}"
    return cell + (f" ({failed} failed)" if failed else "")


def main(argv: list[str] | None = None) -> int:
    """Run every attack against both servers and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10, help="victim GETs per attack")
    ap.add_argument("--timeout", type=float, default=5.0, help="victim request timeout (s)")
    ap.add_argument("--only", default=None, help="run the attacks whose name contains this")
    ap.add_argument("--davsync-only", action="store_true", help="skip stock WsgiDAV")
    args = ap.parse_args(argv)
    names = [n for n in ATTACKS if args.only is None or args.only in n or n == "none"]
    subjects = [davsync] if args.davsync_only else [davsync, stock]
    results: dict[str, dict[str, str]] = {n: {} for n in names}
    columns: list[str] = []
    with tempfile.TemporaryDirectory(prefix="davsync-attack-") as tmp:
        for i, start in enumerate(subjects):
            for name in names:  # a fresh server per attack: one cannot weaken the next
                work = Path(tmp) / f"{i}-{len(results[name])}-{names.index(name)}"
                work.mkdir()
                with start(work) as subject:
                    if subject.name not in columns:
                        columns.append(subject.name)
                    print(f"... {subject.name}: {name}", file=sys.stderr, flush=True)
                    results[name][subject.name] = measure(
                        subject, name, args.requests, args.timeout
                    )
    width = max(len(n) for n in names)
    print(f"victim GET latency p50 / p99 in seconds ({args.requests} requests per cell)")
    print(f"{'attack':<{width}}  " + "  ".join(f"{c:<28}" for c in columns))
    for name in names:
        print(f"{name:<{width}}  " + "  ".join(f"{results[name].get(c, '-'):<28}" for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
