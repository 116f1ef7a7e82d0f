"""The hot path side by side: davserver vs stock WsgiDAV 4.4 vs nginx DAV vs rclone serve.

One run, the same work against each server on a loopback port, with the same transport
(plain HTTP, keep-alive connections) and the same authentication (Basic on every request,
checked by each server):

- PUT of one large file (default 1 GiB) and GET of it, each ``--repeat`` times (median),
  in rounds that visit every server in turn (so a change in the machine's load falls on all
  of them alike); timed by curl, a C client, so that the client does not cap the servers
  (``bench.big_transfer``; without curl a Python client, and the output says so);
- then, one server after the other, 4 KiB PUTs, each to a new name: ``--small-one`` of
  them from 1 client, then ``--small-many`` from ``--clients`` clients at once (separate
  processes, one keep-alive connection each);
- PROPFIND Depth:1 of the folder the many clients filled, asking for size, ETag, mtime,
  type and ``oc:checksums`` (``--repeat`` times, median).

Every result is checked before any number is printed (``bench.checks``): every request's
status, the SHA-256 of the large file as read back, every listed name and size, and for
davserver every listed SHA-1. Any failure prints what failed, no table, and exits 1.
Afterwards it prints the table (MiB/s, files/s, seconds), the ratios of davserver to each
peer, each server's peak RSS (``VmHWM`` of its main process, before the PROPFIND and at the
end), and what the servers do differently.

Run: ``.venv/bin/python -m bench.hot_path [--big-mib 1024] [--repeat 3]`` (part of ``make
bench``; nginx with its dav-ext module from ``make tools``, rclone from the test extras; a
peer that is missing is left out and the output says so).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from lxml import etree

from bench.big_transfer import BigTransfer, TransferError, big_file, streamed_sha256
from bench.checks import Verdict, run_checked
from interop.accounts import BENCH_PASSWORD, BENCH_USER, DAVSERVER_CLI, add_user
from interop.processes import terminate
from interop.stock import StockServer, start_nginx_dav, start_stock_wsgidav
from interop.tools import UnavailableError, free_port, venv_tool, wait_for_port

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
MIB = 1024 * 1024
SMALL_SIZE = 4096
DAVSERVER_CONFIG = "auth: {basic_over_http: true, digest: false}\n"
OC_NS = "http://owncloud.org/ns"
PROPFIND_BODY = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    "<d:prop><d:getcontentlength/><d:getetag/><d:getlastmodified/><d:resourcetype/>"
    "<oc:checksums/></d:prop></d:propfind>"
)
DIFFERS = {
    "davserver": "MD5, SHA-1 and SHA-256 of every byte, fsync of file and folder before the "
    "answer, atomic rename, a SQLite metadata row per file; oc:checksums answered",
    "wsgidav-4.4": "writes the file in place; no hash, no fsync; no oc:checksums",
    "nginx-dav": "temporary file, then rename; no hash, no fsync; no oc:checksums",
    "rclone-serve": "temporary file, then rename; no fsync; hashes computed on listing only "
    "where asked (not for oc:checksums)",
}


@dataclass
class Server:
    """A running server: its share URL (ending in ``/``) and main process id."""

    url: str
    pid: int


ServerFactory = Callable[[Path], AbstractContextManager[Server]]


def launch(cmd: list[str], port: int, log: Path, **kw: object) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (output to ``log``) and wait until it accepts connections on ``port``."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    if not wait_for_port("127.0.0.1", port, 60) or proc.poll() is not None:
        terminate(proc, grace_s=15)
        raise RuntimeError(f"{cmd[0]} did not start: {log.read_text(errors='replace')[-2000:]}")
    return proc  # type: ignore[no-any-return]


def start_servers(
    stack: ExitStack, servers: list[tuple[str, ServerFactory]], prefix: str, verdict: Verdict
) -> tuple[dict[str, Server], list[str]]:
    """Start each of ``servers`` in a fresh temporary folder (removed when ``stack`` closes),
    in order; returns the running ones by name and a line for each left out because its tool
    is missing. A server that fails to start is a failure of ``verdict``."""
    running: dict[str, Server] = {}
    left_out: list[str] = []
    for name, factory in servers:
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-{name}-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        try:
            running[name] = stack.enter_context(factory(tmp))
        except UnavailableError as exc:
            left_out.append(f"{name}: {exc}")
        except (RuntimeError, OSError) as exc:
            verdict.fail(f"{name}: {exc}")
    return running, left_out


@contextmanager
def davserver(tmp: Path) -> Iterator[Server]:
    root = tmp / "davsync"
    cli = DAVSERVER_CLI
    add_user(root, USER, PASSWORD)
    config = tmp / "davsync.yaml"
    config.write_text(DAVSERVER_CONFIG, encoding="utf-8")
    port = free_port()
    proc = launch(
        [*cli, "serve", "--root", str(root), "--port", str(port), "--config", str(config)],
        port,
        tmp / "davserver.log",
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "x"},
    )
    try:
        yield Server(f"http://127.0.0.1:{port}/remote.php/dav/files/{USER}/", proc.pid)
    finally:
        terminate(proc, grace_s=15)


@contextmanager
def _stock(start: Callable[[Path, str, str], StockServer], tmp: Path) -> Iterator[Server]:
    server = start(tmp, USER, PASSWORD)
    try:
        assert server.proc is not None
        yield Server(server.url, server.proc.pid)
    finally:
        server.stop()


def stock_wsgidav(tmp: Path) -> AbstractContextManager[Server]:
    return _stock(start_stock_wsgidav, tmp)


def nginx(tmp: Path) -> AbstractContextManager[Server]:
    return _stock(start_nginx_dav, tmp)


@contextmanager
def rclone_serve(tmp: Path) -> Iterator[Server]:
    binary = venv_tool("rclone")
    root = tmp / "rclone-root"
    root.mkdir()
    port = free_port()
    proc = launch(
        [
            *(binary, "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}"),
            *("--user", USER, "--pass", PASSWORD, "--config", str(tmp / "rclone.conf")),
        ],
        port,
        tmp / "rclone.log",
    )
    try:
        yield Server(f"http://127.0.0.1:{port}/", proc.pid)
    finally:
        terminate(proc, grace_s=15)


def basic_header() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass(frozen=True)
class Kind:
    """One kind of request: method, body, expected statuses, the length a GET must return."""

    name: str
    method: str
    body: bytes
    ok: tuple[int, ...]
    depth0: bool = False
    length: int | None = None


def request_names(url: str, kind: Kind, names: list[str], barrier: Barrier, queue: object) -> None:
    """One client (a process): send ``kind`` to every name below ``url`` over one keep-alive
    connection after the start barrier; puts the list of unexpected answers on ``queue``."""
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


def run_clients(
    url: str,
    kind: Kind,
    names: list[str],
    clients: int,
    verdict: Verdict,
    server_pid: int | None = None,
) -> tuple[float, float, float]:
    """Send ``kind`` to ``names`` (below ``url``) spread over ``clients`` processes:
    (requests/s, server user ms/request, server system ms/request); the CPU figures are NaN
    without ``server_pid``. Unexpected answers fail ``verdict``."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=request_names, args=(url, kind, names[i::clients], barrier, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    nan = (float("nan"), float("nan"))
    user0, sys0 = cpu_seconds(server_pid) if server_pid else nan
    start = time.perf_counter()
    bad: list[str] = []
    for _ in procs:
        bad.extend(queue.get(timeout=1800))
    elapsed = time.perf_counter() - start
    user1, sys1 = cpu_seconds(server_pid) if server_pid else nan
    for p in procs:
        p.join(timeout=60)
    if bad:
        verdict.fail(f"{len(bad)} of {len(names)} {kind.name} failed, e.g. {bad[0]}")
    n = len(names)
    return n / elapsed, 1000 * (user1 - user0) / n, 1000 * (sys1 - sys0) / n


def small_puts(url: str, names: list[str], clients: int, payload: bytes, verdict: Verdict) -> float:
    """Files per second for PUTs of ``payload`` to ``names`` (below ``url``) spread over
    ``clients``."""
    kind = Kind("small PUTs", "PUT", payload, (200, 201, 204))
    return run_clients(url, kind, names, clients, verdict)[0]


def listing(body: bytes) -> dict[str, tuple[int, str]]:
    """name -> (getcontentlength, oc:checksums) of the files in a PROPFIND answer."""
    out: dict[str, tuple[int, str]] = {}
    for resp in etree.fromstring(body).iter("{DAV:}response"):
        href = (resp.findtext("{DAV:}href") or "").rstrip("/")
        length = resp.findtext(".//{DAV:}getcontentlength")
        if length and resp.find(".//{DAV:}resourcetype/{DAV:}collection") is None:
            sums = resp.findtext(f".//{{{OC_NS}}}checksums/{{{OC_NS}}}checksum") or ""
            out[href.rsplit("/", 1)[-1]] = (int(length), sums)
    return out


def big_rounds(
    running: dict[str, Server], args: argparse.Namespace, big: BigTransfer, verdict: Verdict
) -> dict[str, dict[str, float]]:
    """The large PUT and GET (MiB/s, median per server), round-robin: each of ``--repeat``
    rounds PUTs and GETs once per server, so a change in the load of a shared machine falls
    on every server alike. Checks the bytes read back and, once, the stored SHA-256."""
    put_s: dict[str, list[float]] = {name: [] for name in running}
    get_s: dict[str, list[float]] = {name: [] for name in running}
    with httpx.Client(auth=httpx.BasicAuth(USER, PASSWORD), timeout=600) as c:
        for server in running.values():
            c.request("MKCOL", server.url + "big/").raise_for_status()
        for _ in range(args.repeat):
            for name, server in running.items():
                put_s[name].append(big.put(c, server.url + "big/big.bin"))
                seconds, got = big.get(c, server.url + "big/big.bin")
                get_s[name].append(seconds)
                verdict.equal(f"{name}: bytes of the large file read back", big.body.size, got)
        for name, server in running.items():
            verdict.equal(
                f"{name}: SHA-256 of the large file",
                big.body.sha256,
                streamed_sha256(c, server.url + "big/big.bin"),
            )
            c.delete(server.url + "big/big.bin")
    return {
        name: {
            "put_big": args.big_mib / statistics.median(put_s[name]),
            "get_big": args.big_mib / statistics.median(get_s[name]),
        }
        for name in running
    }


def run_work(
    name: str, server: Server, args: argparse.Namespace, verdict: Verdict
) -> dict[str, float]:
    """Time the small-file work against one server and check what it stored (into
    ``verdict``)."""
    url = server.url
    payload = os.urandom(SMALL_SIZE)
    results: dict[str, float] = {}
    with httpx.Client(auth=httpx.BasicAuth(USER, PASSWORD), timeout=600) as c:
        for folder in ("bench/", "bench/one/", "bench/many/"):
            c.request("MKCOL", url + folder).raise_for_status()
        propfind_s = []
        one = [f"f{i:05d}.dat" for i in range(args.small_one)]
        results["small_1"] = small_puts(url + "bench/one/", one, 1, payload, verdict)
        many = [f"f{i:05d}.dat" for i in range(args.small_many)]
        results["small_n"] = small_puts(url + "bench/many/", many, args.clients, payload, verdict)

        results["rss_before_propfind_mib"] = peak_rss_mib(server.pid)
        found: dict[str, tuple[int, str]] = {}
        for _ in range(args.repeat):
            started = time.perf_counter()
            r = c.request(
                "PROPFIND",
                url + "bench/many/",
                headers={"Depth": "1", "Content-Type": "application/xml"},
                content=PROPFIND_BODY,
            )
            r.raise_for_status()
            body = r.content
            propfind_s.append(time.perf_counter() - started)
            found = listing(body)
        sizes = {n: length for n, (length, _) in found.items()}
        verdict.equal(
            f"{name}: files listed with their size", dict.fromkeys(many, SMALL_SIZE), sizes
        )
        if name == "davserver":
            sha1 = "SHA1:" + hashlib.sha1(payload).hexdigest()
            wrong = [n for n, (_, sums) in found.items() if sha1 not in sums]
            verdict.equal(f"{name}: listed files with a wrong or missing SHA-1", [], wrong[:3])
        samples = [("many", n) for n in many[:: max(1, len(many) // 20)]]
        samples += [("one", n) for n in one[:: max(1, len(one) // 5)]]
        for folder, n in samples:
            stored = c.get(url + f"bench/{folder}/{n}").content
            verdict.equal(f"{name}: content of {folder}/{n}", payload, stored)
    results["propfind"] = statistics.median(propfind_s)
    results["rss_mib"] = peak_rss_mib(server.pid)
    return results


def peak_rss_mib(pid: int) -> float:
    """``VmHWM`` of process ``pid`` in MiB (NaN if unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


ROWS = [
    ("put_big", "PUT {big} MiB, MiB/s", True),
    ("get_big", "GET {big} MiB, MiB/s", True),
    ("small_1", "4 KiB PUTs/s, 1 client", True),
    ("small_n", "4 KiB PUTs/s, {clients} clients", True),
    ("propfind", "PROPFIND Depth:1 of {many} files, s", False),
    ("rss_before_propfind_mib", "server peak RSS before the PROPFIND, MiB", False),
    ("rss_mib", "server peak RSS, MiB", False),
]


def render(
    table: dict[str, dict[str, float]],
    args: argparse.Namespace,
    left_out: list[str],
    big_client: str,
) -> str:
    """The table (Markdown), the ratios and what differs."""
    names = list(table)
    labels = {
        k: label.format(big=args.big_mib, clients=args.clients, many=args.small_many)
        for k, label, _ in ROWS
    }
    lines = ["| work | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, _, _ in ROWS:
        cells = [
            f"{table[n][key]:,.3f}" if key == "propfind" else f"{table[n][key]:,.0f}" for n in names
        ]
        lines.append(f"| {labels[key]} | " + " | ".join(cells) + " |")
    ours = table["davserver"]
    for name, row in table.items():
        if name == "davserver":
            continue
        ratios = []
        for key, _, higher_better in ROWS[:5]:
            ratio = ours[key] / row[key] if higher_better else row[key] / ours[key]
            ratios.append(f"{key}={ratio:.2f}x")
        lines.append(f"davserver vs {name}: " + ", ".join(ratios) + " (above 1: davserver ahead)")
    lines.append(
        "same for every server: plain HTTP on loopback, Basic auth on every request, "
        f"keep-alive connections; 4 KiB PUTs to new names; PUT/GET/PROPFIND median of {args.repeat}"
    )
    lines.append(f"large PUT and GET by: {big_client}")
    lines.extend(f"{name}: {DIFFERS[name]}" for name in table)
    lines.extend(f"left out: {reason}" for reason in left_out)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small-one", type=int, default=1000)
    parser.add_argument("--small-many", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", help="comma-separated server names (default: all)")
    args = parser.parse_args()
    servers: list[tuple[str, ServerFactory]] = [
        ("davserver", davserver),
        ("wsgidav-4.4", stock_wsgidav),
        ("nginx-dav", nginx),
        ("rclone-serve", rclone_serve),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        servers = [s for s in servers if s[0] in wanted or s[0] == "davserver"]
    verdict = Verdict()
    table: dict[str, dict[str, float]] = {}
    with ExitStack() as stack, big_file(args.big_mib * MIB) as body:
        big = BigTransfer(body, USER, PASSWORD)
        if big.curl is None:
            print(f"note: large PUT and GET by {big.client}", file=sys.stderr, flush=True)
        running, left_out = start_servers(stack, servers, "bench", verdict)
        try:
            table.update(big_rounds(running, args, big, verdict))
        except (httpx.HTTPError, TransferError, RuntimeError, OSError) as exc:
            verdict.fail(f"large PUT/GET: {exc}")
        print("large PUT/GET: done", file=sys.stderr, flush=True)
        for name, server in running.items():
            try:
                table.setdefault(name, {}).update(run_work(name, server, args, verdict))
            except (httpx.HTTPError, RuntimeError, OSError) as exc:
                verdict.fail(f"{name}: {exc}")
            print(f"{name}: done", file=sys.stderr, flush=True)
    print(verdict.ratios(lambda: render(table, args, left_out, big.client)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_checked(main))
