"""FTPS STOR throughput: davsync's FTP gateway vs plain pyftpdlib writing to local disk.

The same client (Python's ftplib, explicit TLS with PROT P) stores the same files into:

- **gateway**: ``davserver serve --ftp-port 0`` (every STOR streams through the in-process
  WebDAV stack into a staged upload; MD5/SHA-1/SHA-256, fsync and an atomic commit);
- **plain**: pyftpdlib's stock ``TLS_FTPHandler`` with a local-disk home, same certificate.

Work: one large file (default 100 MB) and many small files (default 200 x 16 KB). Each
result is checked before any number is printed: the gateway's ``HASH`` must equal the local
SHA-256 and the stored bytes on disk must match; the plain server's files are hashed on
disk. A mismatch exits 1 without a ratio. Prints seconds and MB/s per server and the
gateway/plain ratio.

Run: ``.venv/bin/python -m bench.ftp_gateway [--big-mb 100] [--small 200]``
"""

from __future__ import annotations

import argparse
import ftplib
import hashlib
import io
import multiprocessing
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

from bench.checks import MismatchError
from interop.accounts import BENCH_PASSWORD, BENCH_USER, DAVSERVER_CLI, add_user

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
SMALL_BYTES = 16 * 1024


def _tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(files[0]))
    cert.private_key_pem.write_to_path(str(files[1]))
    ca.cert_pem.write_to_path(str(files[2]))
    return files


@contextmanager
def gateway(tmp: Path, cert: Path, key: Path) -> Iterator[tuple[int, Path]]:
    """A davserver with the FTP gateway; yields (FTP port, the user's home on disk)."""
    root = tmp / "davsync"
    cli = DAVSERVER_CLI
    add_user(root, USER, PASSWORD)
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    proc = subprocess.Popen(
        [*cli, "serve", "--root", str(root), "--port", "0", "--ftp-port", "0", *tls],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "x"},
    )
    try:
        port = _ftp_port(proc)
        yield port, root / "files" / USER
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _ftp_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("FTP: "):
            return int(line.strip().rstrip("/").rsplit(":", 1)[1])
    raise RuntimeError("davserver did not print its FTP: line")


def _serve_plain(home: str, cert: str, key: str, port_pipe: object) -> None:
    import logging

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, home, perm="elradfmw")
    handler = type(
        "PlainTLS",
        (TLS_FTPHandler,),
        {"authorizer": authorizer, "certfile": cert, "keyfile": key, "tls_data_required": True},
    )
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    port_pipe.send(server.socket.getsockname()[1])  # type: ignore[attr-defined]
    server.serve_forever(handle_exit=False)


@contextmanager
def plain(tmp: Path, cert: Path, key: Path) -> Iterator[tuple[int, Path]]:
    """Stock pyftpdlib (TLS) with a local-disk home, in a process of its own."""
    home = tmp / "plain"
    home.mkdir()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.Process(
        target=_serve_plain, args=(str(home), str(cert), str(key), sender), daemon=True
    )
    proc.start()
    try:
        if not receiver.poll(30):
            raise RuntimeError("plain pyftpdlib did not start")
        yield int(receiver.recv()), home
    finally:
        proc.terminate()
        proc.join(10)


def _client(port: int, ca: Path) -> ftplib.FTP_TLS:
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(ca)), timeout=120)
    ftp.connect("127.0.0.1", port)
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    ftp.voidcmd("TYPE I")
    return ftp


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_one(
    name: str, port: int, home: Path, ca: Path, big: bytes, smalls: list[bytes]
) -> dict[str, float]:
    """Store the files, check them, and return seconds per workload."""
    ftp = _client(port, ca)
    try:
        ftp.mkd("small")
        big_s = _timed(lambda: ftp.storbinary("STOR big.bin", io.BytesIO(big), 1 << 20))

        def store_small() -> None:
            for i, data in enumerate(smalls):
                ftp.storbinary(f"STOR small/{i:05d}.bin", io.BytesIO(data))

        small_s = _timed(store_small)
        if name == "gateway":
            reported = ftp.sendcmd("HASH big.bin").split()[3]
            if reported != hashlib.sha256(big).hexdigest():
                raise MismatchError(f"{name}: HASH of big.bin is {reported}")
    finally:
        ftp.quit()
    if hashlib.sha256((home / "big.bin").read_bytes()).digest() != hashlib.sha256(big).digest():
        raise MismatchError(f"{name}: big.bin on disk differs from what was sent")
    for i, data in enumerate(smalls):
        if (home / "small" / f"{i:05d}.bin").read_bytes() != data:
            raise MismatchError(f"{name}: small/{i:05d}.bin on disk differs")
    return {"big": big_s, "small": small_s}


def main(argv: list[str] | None = None) -> int:
    """Run both servers and print the table; exit 1 on a mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--small", type=int, default=200)
    args = parser.parse_args(argv)
    big = os.urandom(args.big_mb << 20)
    smalls = [os.urandom(SMALL_BYTES) for _ in range(args.small)]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ftp-") as tmp_name:
        tmp = Path(tmp_name)
        cert, key, ca = _tls_files(tmp)
        try:
            with plain(tmp, cert, key) as (port, home):
                results["plain"] = run_one("plain", port, home, ca, big, smalls)
            with gateway(tmp, cert, key) as (port, home):
                results["gateway"] = run_one("gateway", port, home, ca, big, smalls)
        except MismatchError as exc:
            print(f"MISMATCH: {exc}", file=sys.stderr)
            return 1
    big_mb = len(big) / 1e6
    small_mb = len(smalls) * SMALL_BYTES / 1e6
    print(f"{'server':<10}{'big s':>9}{'big MB/s':>10}{'small s':>10}{'files/s':>9}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['big']:>9.2f}{big_mb / r['big']:>10.1f}"
            f"{r['small']:>10.2f}{len(smalls) / r['small']:>9.1f}"
        )
    g, p = results["gateway"], results["plain"]
    print(
        f"ratio gateway/plain: big STOR {p['big'] / g['big']:.2f}x, "
        f"small STOR {p['small'] / g['small']:.2f}x (1.00 = as fast as plain pyftpdlib); "
        f"{big_mb:.0f} MB, {len(smalls)} x {small_mb / max(len(smalls), 1) * 1000:.0f} KB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
