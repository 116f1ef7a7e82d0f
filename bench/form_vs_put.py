"""Form upload vs PUT on one davserver: what the HTML-form way in costs.

The same bytes go to a davserver on a loopback port both ways, one after the other:

- one large file (default 100 MB) by ``PUT`` and by a ``multipart/form-data`` POST (which
  the server stages, then stores by an in-process PUT: one extra disk copy);
- many small files (default 200 x 16 KB), one request each, over one keep-alive connection.

Every upload is checked against its local hash (the PUT answer's ``OC-Checksum`` SHA-1,
the form answer's SHA-256); any mismatch or refused upload exits non-zero and prints no
ratio. Prints seconds and MB/s (best of ``--rounds``) and the form/PUT throughput ratio.

Run: ``.venv/bin/python -m bench.form_vs_put [--big-mb 100] [--small 200] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench.checks import MismatchError
from bench.server_throughput import davserver

BLOCK = 1024 * 1024


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            yield block


def put(client: httpx.Client, url: str, name: str, path: Path, sha1: str) -> None:
    r = client.put(
        url + name,
        content=_file_chunks(path),
        headers={"Content-Length": str(path.stat().st_size), "OC-Checksum": f"SHA1:{sha1}"},
    )
    if r.status_code not in (200, 201, 204):
        raise MismatchError(f"PUT {name}: HTTP {r.status_code}")
    got = r.headers.get("OC-Checksum", "").partition(":")[2].lower()
    if got != sha1:
        raise MismatchError(f"PUT {name}: server SHA-1 {got} != {sha1}")


def post(client: httpx.Client, url: str, name: str, path: Path, sha256: str) -> None:
    boundary = "bench-" + uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n{sha256}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _file_chunks(path)
        yield tail

    length = len(head) + path.stat().st_size + len(tail)
    r = client.post(
        url,
        content=body(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
            "Accept": "application/json",
        },
    )
    if r.status_code != 201:
        raise MismatchError(f"POST {name}: HTTP {r.status_code}: {r.text[:200]}")
    got = r.json()["files"][0].get("sha256")
    if got != sha256:
        raise MismatchError(f"POST {name}: server SHA-256 {got} != {sha256}")


def _best(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--small-kb", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-form-") as tmp_name:
        tmp = Path(tmp_name)
        big = tmp / "big.bin"
        with big.open("wb") as fh:
            for _ in range(a.big_mb):
                fh.write(os.urandom(BLOCK))
        smalls = []
        for i in range(a.small):
            p = tmp / f"small-{i:04d}.bin"
            p.write_bytes(os.urandom(a.small_kb * 1024))
            smalls.append(p)
        sums = {
            p: (
                hashlib.sha1(p.read_bytes()).hexdigest(),
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
            for p in [big, *smalls]
        }
        big_bytes = big.stat().st_size
        small_bytes = sum(p.stat().st_size for p in smalls)
        with davserver(tmp) as (url, auth), httpx.Client(auth=auth, timeout=600) as c:
            c.request("MKCOL", url + "put/")
            c.request("MKCOL", url + "form/")
            put_url, form_url = url + "put/", url + "form/"

            def put_smalls() -> None:
                for p in smalls:
                    put(c, put_url, p.name, p, sums[p][0])

            def post_smalls() -> None:
                for p in smalls:
                    post(c, form_url, p.name, p, sums[p][1])

            try:
                results = {
                    "big PUT": _best(
                        a.rounds, lambda: put(c, put_url, "big.bin", big, sums[big][0])
                    ),
                    "big form": _best(
                        a.rounds, lambda: post(c, form_url, "big.bin", big, sums[big][1])
                    ),
                    "small PUT": _best(a.rounds, put_smalls),
                    "small form": _best(a.rounds, post_smalls),
                }
            except MismatchError as exc:
                print(f"FAILED: {exc}", file=sys.stderr)
                return 1
    mb = 1024 * 1024
    print(f"{'case':<12} {'seconds':>8} {'MB/s':>8}")
    for case, seconds in results.items():
        size = big_bytes if case.startswith("big") else small_bytes
        print(f"{case:<12} {seconds:8.2f} {size / mb / seconds:8.1f}")
    for kind in ("big", "small"):
        ratio = results[f"{kind} PUT"] / results[f"{kind} form"]
        print(f"{kind}: form/PUT throughput ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
