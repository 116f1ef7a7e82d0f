"""A 300 MB file sent by syncclient's mail transport in 16 MiB pieces arrives whole, with the
same SHA-256 and the same oc:checksums as the same file sent by PUT; memory stays bounded on
both sides (peak RSS of the server and of the client)."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme

from tests.gateways.test_mail_serve import _checksums, _serve
from tests.support.configured import USERS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 300 * 1024 * 1024
PIECE = "16MiB"
RSS_LIMIT_MB = 600  # pieces of 16 MiB: a few copies of one message, never the file


def _write_file(path: Path) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for n in range(SIZE // len(block)):
            chunk = n.to_bytes(8, "big") + block[8:]  # every MiB different
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _wait_bounded(
    child: subprocess.Popen[bytes], timeout_s: float
) -> tuple[int, int, resource.struct_rusage]:
    """``os.wait4`` for ``child`` (its own resource usage), killing it after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        time.sleep(0.2)
    child.kill()
    pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    raise AssertionError(f"syncclient did not finish within {timeout_s} s")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(1800)
def test_300_mb_by_mail_in_pieces_matches_put(tmp_path: Path, tls_ca: trustme.CA) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to measure memory")
    server, target = _serve(tmp_path, tls_ca)
    try:
        src = tmp_path / "src"
        src.mkdir()
        want = _write_file(src / "big.bin")
        config = tmp_path / "client.toml"
        receipts = server.files_url("alice", "mail-in/receipts/")
        config.write_text(
            f'[mail]\npart_size = "{PIECE}"\nto = "drop@example.org"\n'
            f'receipts_url = "{receipts}"\n',
            encoding="utf-8",
        )
        pw = tmp_path / "pw"
        pw.write_text(USERS["alice"] + "\n")
        pw.chmod(0o600)
        out_file, err_file = tmp_path / "client.out", tmp_path / "client.err"
        with out_file.open("wb") as out, err_file.open("wb") as err:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syncclient.cli",
                    "run",
                    "--once",
                    str(src),
                    f"smtp://{target.host}:{target.port}/",
                    "--config",
                    str(config),
                    "--user",
                    "alice",
                    "--password-file",
                    str(pw),
                    "--ca-bundle",
                    str(target.ca_file),
                    "--state-dir",
                    str(tmp_path / "state"),
                    "--json",
                    "--stable-seconds",
                    "0",
                ],
                stdout=out,
                stderr=err,
                env={k: v for k, v in os.environ.items() if not k.startswith("SYNCCLIENT_")},
            )
            # this child's own peak (RUSAGE_CHILDREN would report the largest child so far)
            _, status, usage = _wait_bounded(child, 1500)
        stdout = out_file.read_text(encoding="utf-8", errors="replace")
        stderr = err_file.read_text(encoding="utf-8", errors="replace")
        returncode = os.waitstatus_to_exitcode(status)
        client_mb = usage.ru_maxrss / 1024
        assert returncode == 0, stdout[-3000:] + stderr[-2000:]
        assert '"verified": 1' in stdout
        mail_in = server.root / "files" / "alice" / "mail-in"
        day = next(p for p in mail_in.iterdir() if p.name != "receipts")
        got = hashlib.sha256()
        with (day / "big.bin").open("rb") as stored:
            while block := stored.read(4 * 1024 * 1024):
                got.update(block)
        assert got.hexdigest() == want
        with httpx.Client(
            auth=("alice", USERS["alice"]), verify=str(target.ca_file), timeout=600
        ) as client:
            with (src / "big.bin").open("rb") as body:
                put = client.put(server.files_url("alice", "big-by-put.bin"), content=body)
            assert put.status_code in (201, 204)
            by_mail = _checksums(client, server.files_url("alice", f"mail-in/{day.name}/big.bin"))
            by_put = _checksums(client, server.files_url("alice", "big-by-put.bin"))
        assert by_mail == by_put
        assert want in by_mail.lower()
        assert server.proc is not None
        server_mb = _peak_rss_mb(server.proc.pid)
        print(f"peak RSS: server {server_mb:.0f} MB, client {client_mb:.0f} MB")
        assert server_mb < RSS_LIMIT_MB
        assert client_mb < RSS_LIMIT_MB
    finally:
        server.stop()
