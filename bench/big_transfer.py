"""Large-file PUT and GET timed with curl, so the numbers measure the server, not the client.

A Python client (httpx) moves a few hundred MiB/s at most on loopback, which caps every
server at the same speed. curl (a C client) uploads a file with ``-T`` and discards a download
with ``-o /dev/null``; its own ``time_total`` is the time of the transfer (not of starting the
process). Without curl the Python client is used, and ``BigTransfer.client`` says so.

The body is written once to a file (in ``/dev/shm`` when it has room, so reading it costs no
disk I/O) and reused for every server; ``sha256`` is its digest, for checking what a server
stored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.server_throughput import big_body

MIB = 1024 * 1024
FAST_TMP = Path("/dev/shm")
WRITE_OUT = "%{http_code} %{size_upload} %{size_download} %{time_total}"


class TransferError(RuntimeError):
    """A large PUT or GET that failed (status, size or curl's own error)."""


@dataclass(frozen=True)
class BigFile:
    """The large body on disk: its path, size and SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str


@contextmanager
def big_file(size: int) -> Iterator[BigFile]:
    """A file of ``size`` random-looking bytes (a 1 MiB random block repeated), removed on
    exit; in ``/dev/shm`` if it has twice ``size`` free, else in the temporary directory."""
    folder: str | None = None
    if FAST_TMP.is_dir() and shutil.disk_usage(FAST_TMP).free > 2 * size:
        folder = str(FAST_TMP)
    fd, name = tempfile.mkstemp(prefix="bench-big-", suffix=".bin", dir=folder)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            for part in big_body(size, os.urandom(MIB)):
                f.write(part)
                digest.update(part)
        yield BigFile(Path(name), size, digest.hexdigest())
    finally:
        Path(name).unlink(missing_ok=True)


class BigTransfer:
    """Times PUTs and GETs of a ``BigFile`` against one URL with Basic credentials."""

    def __init__(self, body: BigFile, user: str, password: str) -> None:
        self.body = body
        self._user, self._password = user, password
        self.curl = shutil.which("curl")

    @property
    def client(self) -> str:
        """What moves the large bodies, for the output."""
        if self.curl:
            return "curl (-T file / -o /dev/null)"
        return "Python httpx (curl is missing: the numbers are capped by the client)"

    def _curl(self, *args: str) -> tuple[int, int, int, float]:
        """Run curl; (status, bytes uploaded, bytes downloaded, seconds). Raises
        TransferError if curl itself failed."""
        assert self.curl is not None
        done = subprocess.run(
            [
                *(self.curl, "--silent", "--show-error", "--http1.1"),
                *("--user", f"{self._user}:{self._password}", "--basic"),
                # No "Expect: 100-continue": the Python client does not send it either.
                *("--header", "Expect:", "--write-out", WRITE_OUT),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if done.returncode != 0:
            raise TransferError(f"curl {args[-1]}: exit {done.returncode}: {done.stderr.strip()}")
        status, up, down, seconds = done.stdout.split()[-4:]
        return int(status), int(up), int(down), float(seconds)

    def put(self, client: httpx.Client, url: str) -> float:
        """PUT the body to ``url``; seconds taken. Raises TransferError unless 2xx with
        every byte sent."""
        if self.curl is None:
            started = time.perf_counter()
            client.put(
                url,
                content=file_blocks(self.body.path),
                headers={"Content-Length": str(self.body.size)},
            ).raise_for_status()
            return time.perf_counter() - started
        status, up, _, seconds = self._curl(
            "--upload-file", str(self.body.path), "--output", os.devnull, url
        )
        if status // 100 != 2 or up != self.body.size:
            raise TransferError(f"PUT {url}: status {status}, {up} of {self.body.size} bytes")
        return seconds

    def get(self, client: httpx.Client, url: str) -> tuple[float, int]:
        """GET ``url`` and throw the body away; (seconds, bytes received). Raises
        TransferError unless 200."""
        if self.curl is None:
            got = 0
            started = time.perf_counter()
            with client.stream("GET", url) as r:
                r.raise_for_status()
                for part in r.iter_raw(MIB):
                    got += len(part)
            return time.perf_counter() - started, got
        status, _, down, seconds = self._curl("--output", os.devnull, url)
        if status != 200:
            raise TransferError(f"GET {url}: status {status}")
        return seconds, down


def file_blocks(path: Path) -> Iterator[bytes]:
    """The content of ``path`` in 1 MiB blocks."""
    with path.open("rb") as f:
        while block := f.read(MIB):
            yield block


def streamed_sha256(client: httpx.Client, url: str) -> str:
    """SHA-256 (hex) of the body of GET ``url``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with client.stream("GET", url) as r:
        r.raise_for_status()
        for part in r.iter_raw(MIB):
            digest.update(part)
    return digest.hexdigest()
