"""Scale-out benchmark: 1 vs 2 davserver nodes behind the nginx TLS load balancer, on shared
local disk + SQLite and on PostgreSQL + S3 (Ceph radosgw), in one run.

For each configuration (backend x node count) the same work goes through the balancer from
``--clients`` concurrent clients (one keep-alive HTTPS connection each, Basic auth):

- each client PUTs one large file (``--big-mb``, default 16 MB), then GETs it back: aggregate
  PUT and GET throughput (MB/s of all clients together);
- each client PUTs ``--small`` files of 4 KiB: aggregate PUT rate (files/s).

Then it checks what was stored: every large file's SHA-256 as read back, and every small
file's presence and size in a Depth-1 PROPFIND listing plus a sample read back. If any request
failed or any check does not match, it prints what failed and no number (``bench.checks``).
Otherwise it prints the table and the ratios 2 nodes / 1 node per backend and S3 / local per
node count. Without PostgreSQL or Ceph the S3 rows are left out and the output says why.

Run: ``.venv/bin/python -m bench.scaleout [--clients 8] [--big-mb 16] [--small 100]``
(nginx from ``make tools``; PostgreSQL and Ceph radosgw too).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import httpx
import trustme

from bench.checks import Verdict, run_checked
from interop.accounts import BENCH_PASSWORD, BENCH_USER
from interop.cluster import Backend, Cluster, engines_backend, local_backend, start_cluster
from interop.tools import UnavailableError

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
KIB4 = 4096
MB = 1024 * 1024
NODE_COUNTS = (1, 2)
SAMPLE = 20  # small files read back per client
# enough workers and per-user concurrency for every client at once on one node
SETTINGS = {"server": {"threads": 32}, "limits": {"max_requests_per_user": 64}}


@dataclass
class Row:
    """Timings of one configuration."""

    backend: str
    nodes: int
    put_s: float = 0.0
    get_s: float = 0.0
    small_s: float = 0.0


@dataclass
class Work:
    """What each configuration does: per client, one big file and ``small`` small ones."""

    clients: int
    big: list[bytes]
    small: int

    @property
    def big_bytes(self) -> int:
        return sum(len(b) for b in self.big)


def _clients(work: Work, context: ssl.SSLContext) -> list[httpx.Client]:
    return [
        httpx.Client(auth=(USER, PASSWORD), verify=context, timeout=300.0)
        for _ in range(work.clients)
    ]


def _parallel(work: Work, job: Callable[[int], None]) -> float:
    """Run ``job(i)`` for every client at once; the wall-clock seconds."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=work.clients) as pool:
        list(pool.map(job, range(work.clients)))
    return time.perf_counter() - start


def _listing(client: httpx.Client, url: str) -> dict[str, int]:
    r = client.request("PROPFIND", url, headers={"Depth": "1"})
    if r.status_code != 207:
        return {}
    own = httpx.URL(url).path.rstrip("/")
    found: dict[str, int] = {}
    for response in ElementTree.fromstring(r.content).iter("{DAV:}response"):
        path = unquote(response.findtext("{DAV:}href", "")).rstrip("/")
        length = response.findtext(".//{DAV:}getcontentlength")
        if path != own and length is not None:
            found[path.rsplit("/", 1)[-1]] = int(length)
    return found


def measure(cluster: Cluster, row: Row, work: Work, verdict: Verdict, ca: Path) -> None:
    """Run the work through ``cluster``'s balancer, timing into ``row``, checking into
    ``verdict``."""
    context = ssl.create_default_context(cafile=str(ca))
    clients = _clients(work, context)
    base = cluster.files_url(USER, f"{row.backend.split()[0].lower()}-{row.nodes}/")
    what = f"{row.backend}, {row.nodes} node(s)"
    try:
        r = clients[0].request("MKCOL", base)
        verdict.equal(f"{what}: MKCOL", 201, r.status_code)
        for i, c in enumerate(clients):
            verdict.equal(
                f"{what}: MKCOL c{i}", 201, c.request("MKCOL", f"{base}c{i}/").status_code
            )

        def put_big(i: int) -> None:
            r = clients[i].put(f"{base}big-{i}.bin", content=work.big[i])
            verdict.equal(f"{what}: PUT big-{i}", 201, r.status_code)

        def get_big(i: int) -> None:
            r = clients[i].get(f"{base}big-{i}.bin")
            got = hashlib.sha256(r.content).hexdigest()
            verdict.equal(
                f"{what}: big-{i} read back", hashlib.sha256(work.big[i]).hexdigest(), got
            )

        def put_small(i: int) -> None:
            for n in range(work.small):
                data = _small(i, n)
                r = clients[i].put(f"{base}c{i}/s-{n}.bin", content=data)
                if r.status_code != 201:
                    verdict.fail(f"{what}: PUT c{i}/s-{n}.bin answered {r.status_code}")

        row.put_s = _parallel(work, put_big)
        row.get_s = _parallel(work, get_big)
        row.small_s = _parallel(work, put_small)
        for i, c in enumerate(clients):
            listing = _listing(c, f"{base}c{i}/")
            expected = {f"s-{n}.bin": KIB4 for n in range(work.small)}
            if listing != expected:
                verdict.fail(f"{what}: c{i} lists {len(listing)} of {work.small} small files")
            for n in range(0, work.small, max(1, work.small // SAMPLE)):
                got = c.get(f"{base}c{i}/s-{n}.bin").content
                if got != _small(i, n):
                    verdict.fail(f"{what}: c{i}/s-{n}.bin read back differs")
    finally:
        for c in clients:
            c.close()


def _small(client: int, n: int) -> bytes:
    head = f"{client}:{n}:".encode()
    return head + b"x" * (KIB4 - len(head))


def render(rows: list[Row], work: Work) -> str:
    """The table and the ratios."""
    lines = [
        f"{work.clients} clients through nginx (TLS) at once; {work.big_bytes // MB} MB in "
        f"{work.clients} large files; {work.clients * work.small} PUTs of 4 KiB",
        f"{'backend':32} {'nodes':>5} {'PUT MB/s':>9} {'GET MB/s':>9} {'4K PUT/s':>9}",
    ]
    total_small = work.clients * work.small
    for r in rows:
        lines.append(
            f"{r.backend:32} {r.nodes:>5} {work.big_bytes / MB / r.put_s:>9.1f} "
            f"{work.big_bytes / MB / r.get_s:>9.1f} {total_small / r.small_s:>9.0f}"
        )
    by = {(r.backend, r.nodes): r for r in rows}
    for backend in dict.fromkeys(r.backend for r in rows):
        one, two = by.get((backend, 1)), by.get((backend, 2))
        if one and two:
            lines.append(
                f"2 nodes / 1 node, {backend}: PUT x{one.put_s / two.put_s:.2f}, "
                f"GET x{one.get_s / two.get_s:.2f}, 4K PUT x{one.small_s / two.small_s:.2f}"
            )
    backends = list(dict.fromkeys(r.backend for r in rows))
    if len(backends) == 2:
        for nodes in NODE_COUNTS:
            local, s3 = by.get((backends[0], nodes)), by.get((backends[1], nodes))
            if local and s3:
                lines.append(
                    f"{backends[1]} / {backends[0]}, {nodes} node(s): "
                    f"PUT x{local.put_s / s3.put_s:.2f}, GET x{local.get_s / s3.get_s:.2f}, "
                    f"4K PUT x{local.small_s / s3.small_s:.2f}"
                )
    lines.append(
        f"this machine has {os.cpu_count()} cores for nginx, the nodes, the engines and the "
        "clients together: a second node adds workers, not CPU"
    )
    return "\n".join(lines)


def _run_backend(
    backend: Backend,
    tmp: Path,
    work: Work,
    rows: list[Row],
    verdict: Verdict,
    tls: tuple[Path, Path, Path],
) -> None:
    ca, cert, key = tls
    for nodes in NODE_COUNTS:
        cluster = start_cluster(
            tmp / f"{backend.name[:5]}-{nodes}", backend, cert, key, nodes=nodes, settings=SETTINGS
        )
        try:
            if nodes == NODE_COUNTS[0]:
                cluster.add_user(USER, PASSWORD)
            row = Row(backend.name, nodes)
            measure(cluster, row, work, verdict, ca)
            rows.append(row)
        finally:
            cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--big-mb", type=int, default=16)
    parser.add_argument("--small", type=int, default=100)
    args = parser.parse_args()
    work = Work(
        args.clients, [os.urandom(args.big_mb * MB) for _ in range(args.clients)], args.small
    )
    verdict = Verdict()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp_name:
        tmp = Path(tmp_name)
        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1", "localhost")
        tls = (tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem")
        authority.cert_pem.write_to_path(str(tls[0]))
        issued.private_key_and_cert_chain_pem.write_to_path(str(tls[1]))
        issued.private_key_pem.write_to_path(str(tls[2]))
        _run_backend(local_backend(tmp / "local"), tmp, work, rows, verdict, tls)
        try:
            engines = engines_backend(tmp / "engines")
        except (UnavailableError, RuntimeError) as exc:
            print(f"PostgreSQL + S3 rows left out: {str(exc).splitlines()[0]}")
        else:
            try:
                _run_backend(engines, tmp, work, rows, verdict, tls)
            finally:
                engines.stop()
    print(verdict.ratios(lambda: render(rows, work)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_checked(main))
