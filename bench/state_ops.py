"""Store operations on both state engines: the embedded SQLite file and PostgreSQL.

The same store code runs against a SQLite file and against a throwaway PostgreSQL cluster on
a loopback port (``interop.postgres``): LOCK + UNLOCK pairs (one write transaction each, from
one thread and from 8 threads), dead-property writes and reads. Every created lock is checked
to be listed before it is released; a missing one exits non-zero. Prints operations per
second for each engine.

Run: ``.venv/bin/python -m bench.state_ops [--ops 500]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from davserver.dav.lock_store import SQLiteLockStorage
from davserver.dav.prop_store import SQLitePropertyManager
from interop.postgres import postgres_cluster

if TYPE_CHECKING:
    from wsgidav._types import LockDict


def _lock(path: str) -> LockDict:
    return {
        "root": path,
        "type": "write",
        "scope": "exclusive",
        "depth": "0",
        "owner": b"<owner/>",
        "principal": "bench",
        "timeout": 600,
    }


def _lock_cycle(locks: SQLiteLockStorage, path: str) -> None:
    token = str(locks.create(path, _lock(path))["token"])
    if locks.get(token) is None:
        raise SystemExit(f"lock on {path} not found right after it was granted")
    locks.delete(token)


def _rate(count: int, run: Any) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def measure(target: Path | str, ops: int) -> dict[str, float]:
    """Operations per second on ``target`` (a SQLite path or a PostgreSQL URL)."""
    locks, props = SQLiteLockStorage(target), SQLitePropertyManager(target)

    def sequential() -> None:
        for i in range(ops):
            _lock_cycle(locks, f"/seq/{i}")

    def threaded() -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: _lock_cycle(locks, f"/par/{i}"), range(ops)))

    def writes() -> None:
        for i in range(ops):
            props.write_property(f"/p/{i}", "{urn:b}c", b"<c/>")

    def reads() -> None:
        for i in range(ops):
            if props.get_property(f"/p/{i}", "{urn:b}c") != b"<c/>":
                raise SystemExit(f"property of /p/{i} lost")

    return {
        "LOCK+UNLOCK/s (1 thread)": _rate(ops, sequential),
        "LOCK+UNLOCK/s (8 threads)": _rate(ops, threaded),
        "property writes/s": _rate(ops, writes),
        "property reads/s": _rate(ops, reads),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=500, help="operations per measurement")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(Path(folder) / "state.sqlite", args.ops)
        with postgres_cluster() as cluster:
            results["postgresql"] = measure(cluster.url, args.ops)
    for engine, numbers in results.items():
        print(engine + ": " + ", ".join(f"{k} {v:.0f}" for k, v in numbers.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
