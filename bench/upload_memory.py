"""Server memory while assembling a large Nextcloud-style chunked upload.

Starts ``davserver`` on a loopback port, uploads a file of ``--mb`` MiB (default 1024) as
chunks of ``--chunk-mb`` MiB into an upload session (the bytes are generated while they are
sent; the client never holds more than one block), then assembles it with ``MOVE .file`` and
an ``OC-Checksum``. The server process's resident memory is read from ``/proc/<pid>/status``:

- ``VmRSS`` just before the MOVE, and sampled every 20 ms while it runs (the maximum is shown);
- ``VmHWM`` (peak RSS) after the MOVE; the peak is reset just before the MOVE through
  ``/proc/<pid>/clear_refs`` where the kernel allows it, so it covers the assembly alone.
  (The peak during the chunk uploads is dominated by argon2id password verification of
  Basic auth, which uses 64 MiB per check by design; it is shown for comparison.)

Assembly that streams in constant memory shows an RSS growth that is a small fraction of the
file size. Not part of ``make test``.

Run: ``.venv/bin/python -m bench.upload_memory [--mb 1024] [--chunk-mb 16]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.checks import Verdict, run_checked
from interop.accounts import BENCH_PASSWORD, BENCH_USER, DAVSERVER_CLI, add_user

USER, PASSWORD = BENCH_USER, BENCH_PASSWORD
MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` value 5); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    """``davserver serve`` on a free port with Basic allowed over loopback HTTP."""
    config = root.parent / "bench-config.yaml"
    config.write_text("auth:\n  basic_over_http: true\n", encoding="utf-8")
    cli = DAVSERVER_CLI
    add_user(root, USER, PASSWORD)
    proc = subprocess.Popen(
        [*cli, "serve", "--root", str(root), "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DAVSYNC_ADMIN_PASSWORD": "unused-admin-password"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("URL: "):
            threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
            return proc, line[5:].strip()
    raise RuntimeError("server did not start")


def blocks(size: int, sha1: hashlib._Hash) -> Iterator[bytes]:
    """``size`` random bytes in 1 MiB blocks, fed to ``sha1`` as they are produced."""
    left = size
    while left:
        block = os.urandom(min(MIB, left))
        sha1.update(block)
        left -= len(block)
        yield block


def sample_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    while not stop.wait(0.02):
        try:
            out.append(status_kib(pid, "VmRSS"))
        except (OSError, KeyError):
            return


def run(total: int, chunk: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="davsync-upload-mem-"))
    proc, url = start_server(tmp / "root")
    try:
        auth = (USER, PASSWORD)
        session = f"{url}remote.php/dav/uploads/{USER}/bench-session/"
        target = f"{url}remote.php/dav/files/{USER}/assembled.bin"
        sha1 = hashlib.sha1()
        with httpx.Client(auth=auth, timeout=600) as c:
            assert c.request("MKCOL", session).status_code == 201
            baseline = status_kib(proc.pid, "VmRSS")
            started = time.monotonic()
            for start in range(0, total, chunk):
                size = min(chunk, total - start)
                name = f"{start:015d}-{start + size - 1:015d}"
                r = c.put(
                    session + name,
                    content=blocks(size, sha1),
                    headers={"Content-Length": str(size)},
                )
                assert r.status_code == 201, r.text
            upload_s = time.monotonic() - started
            before = status_kib(proc.pid, "VmRSS")
            hwm_upload = status_kib(proc.pid, "VmHWM")
            reset = reset_peak(proc.pid)
            samples: list[int] = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_rss, args=(proc.pid, stop, samples))
            sampler.start()
            started = time.monotonic()
            r = c.request(
                "MOVE",
                session + ".file",
                headers={"Destination": target, "OC-Checksum": f"SHA1:{sha1.hexdigest()}"},
            )
            assemble_s = time.monotonic() - started
            stop.set()
            sampler.join()
            assert r.status_code == 201, r.text
            hwm = status_kib(proc.pid, "VmHWM")
            verdict = Verdict()
            verdict.equal(
                "stored SHA-1 of the assembled file",
                f"SHA1:{sha1.hexdigest()}",
                c.head(target).headers.get("OC-Checksum"),
            )
            verdict.check()  # no numbers for a file that was not stored as sent
        mib = total / MIB
        print(f"file: {mib:.0f} MiB in {total // chunk} chunks of {chunk // MIB} MiB")
        print(f"upload of the chunks: {upload_s:.1f} s ({mib / upload_s:.0f} MiB/s)")
        print(f"assembly (MOVE .file, SHA-1 verified): {assemble_s:.1f} s "
              f"({mib / assemble_s:.0f} MiB/s)")  # fmt: skip
        print(f"server VmRSS after start-up and MKCOL: {baseline / 1024:.1f} MiB")
        print(f"server VmRSS before MOVE:              {before / 1024:.1f} MiB")
        print(f"server VmHWM after the chunk uploads:  {hwm_upload / 1024:.1f} MiB")
        print(
            f"server VmRSS max sampled during MOVE:  {max(samples, default=before) / 1024:.1f} MiB"
        )
        label = "reset before MOVE" if reset else "since start (reset refused)"
        print(f"server VmHWM ({label}):   {hwm / 1024:.1f} MiB")
        growth = max(hwm if reset else 0, max(samples, default=before)) - before
        print(f"RSS growth during assembly: {growth / 1024:.1f} MiB "
              f"({100 * growth * 1024 / total:.2f}% of the file)")  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--chunk-mb", type=int, default=16, help="chunk size in MiB (default 16)")
    args = parser.parse_args()
    run(args.mb * MIB, args.chunk_mb * MIB)
    return 0


if __name__ == "__main__":
    sys.exit(run_checked(main))
