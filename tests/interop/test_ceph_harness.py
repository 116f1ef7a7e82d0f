"""The Ceph harness from a shell (what ``make scaleout`` style scripts use):
``python -m interop.ceph start DIR`` leaves a working radosgw with the printed keys, and
``python -m interop.ceph stop DIR`` stops exactly those daemons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from interop.ceph import find_binaries
from interop.tools import require
from providers.s3 import S3Access
from providers.s3.location import make_client

pytestmark = [pytest.mark.interop, pytest.mark.s3, pytest.mark.slow]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "interop.ceph", *args],
        capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_start_and_stop_from_a_shell(tmp_path: Path) -> None:
    require(find_binaries)
    work = tmp_path / "ceph"
    try:
        lines = dict(line.split(": ", 1) for line in run("start", str(work)).splitlines())
        pids = [int(p) for p in lines["PIDS"].split()]
        assert len(pids) == 3 and all(Path(f"/proc/{pid}").exists() for pid in pids)
        access = S3Access(lines["S3"], lines["REGION"], lines["ACCESS_KEY"], lines["SECRET_KEY"])
        client = make_client(access)
        client.create_bucket(Bucket="harness")
        client.put_object(Bucket="harness", Key="k", Body=b"v")
        assert client.get_object(Bucket="harness", Key="k")["Body"].read() == b"v"
    finally:
        stopped = run("stop", str(work))
    assert stopped.startswith("stopped: ") and "nothing" not in stopped
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
