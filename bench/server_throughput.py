"""Side-by-side server benchmark: davserver vs stock WsgiDAV 4.4 vs nginx's DAV module.

The same work runs against each server on a loopback port, one after the other:

- PUT of one large file (default 200 MB) and GET of it back;
- PUT of many small files (default 500 x 4 KB), sequentially over one keep-alive connection;
- one Depth-1 PROPFIND listing of those files (and, for davserver, the ?inventory endpoint,
  which also carries every file's hashes);

and prints seconds and MB/s per server plus the ratio of davserver to each peer. davserver
does more work per byte than the peers (three digests, fsync, atomic replace), so the ratios
show what that safety costs.

Run: ``.venv/bin/python -m bench.server_throughput [--big-mb 200] [--small 500]``
(nginx is used when /usr/sbin/nginx and its dav_ext module are installed; otherwise skipped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

USER, PASSWORD = "bench", "bench-password"


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
    subprocess.run(
        [
            sys.executable,
            "-m",
            "davserver.cli",
            "user",
            "add",
            USER,
            "--password-stdin",
            "--root",
            str(root),
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "davserver.cli", "serve", "--root", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "x"},
    )
    auth = httpx.DigestAuth(USER, PASSWORD)
    url = f"http://127.0.0.1:{port}/remote.php/dav/files/{USER}/"
    try:
        wait_up(url, auth)
        yield url, auth
    finally:
        stop(proc)


@contextmanager
def stock_wsgidav(tmp: Path) -> Iterator[tuple[str, httpx.Auth]]:
    root = tmp / "wsgidav"
    root.mkdir()
    port = free_port()
    conf = tmp / "wsgidav.yaml"
    conf.write_text(
        f"host: 127.0.0.1\nport: {port}\nprovider_mapping:\n  '/': '{root}'\n"
        "http_authenticator:\n  accept_basic: true\n  accept_digest: true\n"
        "  default_to_digest: true\n"
        f"simple_dc:\n  user_mapping:\n    '*':\n      {USER}:\n        password: {PASSWORD}\n"
        "verbose: 2\n",
        encoding="utf-8",
    )
    exe = Path(sys.executable).parent / "wsgidav"
    proc = subprocess.Popen(
        [str(exe), "--config", str(conf)],
        stdout=open(tmp / "wsgidav.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    auth = httpx.DigestAuth(USER, PASSWORD)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_up(url, auth)
        yield url, auth
    finally:
        stop(proc)


def nginx_available() -> bool:
    return Path("/usr/sbin/nginx").exists() and any(
        Path(d, "ngx_http_dav_ext_module.so").exists() for d in ("/usr/lib/nginx/modules",)
    )


@contextmanager
def nginx(tmp: Path) -> Iterator[tuple[str, httpx.Auth | None]]:
    root = tmp / "nginx-root"
    root.mkdir()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        "load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;\n"
        f"pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log; daemon off;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + "events { worker_connections 256; }\n"
        "http { access_log off; client_max_body_size 0; client_body_temp_path "
        f"{tmp}/nginx-body;\n"
        f" server {{ listen 127.0.0.1:{port}; root {root};\n"
        "  location / { dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS;"
        " create_full_put_path on; } } }\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_up(url, None)
        yield url, None
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process is still there after 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def big_body(size: int) -> Iterator[bytes]:
    block = os.urandom(1024 * 1024)
    sent = 0
    while sent < size:
        n = min(len(block), size - sent)
        sent += n
        yield block[:n]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_work(url: str, auth: httpx.Auth | None, big_mb: int, small: int) -> dict[str, float]:
    size = big_mb * 1024 * 1024
    results: dict[str, float] = {}
    with httpx.Client(auth=auth, timeout=300) as c:
        c.request("MKCOL", url + "bench/")
        results["put_big_s"] = timed(
            lambda: c.put(
                url + "bench/big.bin",
                content=big_body(size),
                headers={"Content-Length": str(size)},
            ).raise_for_status()
        )

        def get_big() -> None:
            with c.stream("GET", url + "bench/big.bin") as r:
                r.raise_for_status()
                for _ in r.iter_raw(1024 * 1024):
                    pass

        results["get_big_s"] = timed(get_big)
        c.request("MKCOL", url + "bench/small/")
        payload = os.urandom(4096)
        results["put_small_s"] = timed(
            lambda: [
                c.put(url + f"bench/small/f{i:05d}.dat", content=payload).raise_for_status()
                for i in range(small)
            ]
        )
        results["propfind_s"] = timed(
            lambda: c.request(
                "PROPFIND", url + "bench/small/", headers={"Depth": "1"}
            ).raise_for_status()
        )
        if "remote.php" in url:
            results["inventory_s"] = timed(
                lambda: c.get(url + "bench/small/?inventory").raise_for_status()
            )
    results["put_big_mbps"] = big_mb / results["put_big_s"]
    results["get_big_mbps"] = big_mb / results["get_big_s"]
    results["small_per_s"] = small / results["put_small_s"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=500)
    args = parser.parse_args()
    servers: list[tuple[str, Callable[[Path], object]]] = [
        ("davserver", davserver),
        ("wsgidav-4.4", stock_wsgidav),
    ]
    if nginx_available():
        servers.append(("nginx-dav", nginx))
    table: dict[str, dict[str, float]] = {}
    for name, factory in servers:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        try:
            with factory(tmp) as (url, auth):  # type: ignore[attr-defined]
                table[name] = run_work(url, auth, args.big_mb, args.small)
        finally:
            if (tmp / "wsgidav.log").exists():
                print((tmp / "wsgidav.log").read_text()[-3000:])
            shutil.rmtree(tmp, ignore_errors=True)
    keys = ["put_big_mbps", "get_big_mbps", "small_per_s", "propfind_s", "inventory_s"]
    print(f"{'server':<14}" + "".join(f"{k:>15}" for k in keys))
    for name, row in table.items():
        print(f"{name:<14}" + "".join(f"{row.get(k, float('nan')):>15.2f}" for k in keys))
    ours = table["davserver"]
    for name, row in table.items():
        if name == "davserver":
            continue
        ratios = ", ".join(f"{k}={ours[k] / row[k]:.2f}x" for k in keys[:3] if row.get(k))
        print(f"davserver / {name}: {ratios} (higher is better for davserver)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
