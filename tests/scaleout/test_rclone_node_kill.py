"""rclone (vendor nextcloud, chunked uploads) copies 200 MB through the TLS load balancer
while one node is killed (SIGKILL) and restarted mid-copy; afterwards ``rclone check``
agrees with the source, hashes included."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from interop.cluster import Cluster
from tests.conftest import PASSWORDS
from tests.interop.rclone_support import Rclone
from tests.interop.test_rclone_uploads import MB, assert_checked, write_random
from tests.scaleout.conftest import USER, lb_client

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]

FILES = 8
FILE_SIZE = 25 * MB  # 200 MB in all, each file in several chunks
RCLONE_FLAGS = [
    "--webdav-nextcloud-chunk-size", "8M", "--transfers", "4",
    "--retries", "3", "--retries-sleep", "2s", "--low-level-retries", "20",
    "--contimeout", "5s", "--timeout", "60s",
]  # fmt: skip


def _sessions(client: httpx.Client, url: str) -> int:
    r = client.request("PROPFIND", url, headers={"Depth": "1"})
    return max(0, r.text.count("<D:href>") - 1) if r.status_code == 207 else 0


def test_rclone_copies_200mb_while_a_node_is_killed_and_restarted(
    cluster_up: Cluster, ca_file: Path, tmp_path: Path
) -> None:
    remote = Rclone(
        tmp_path,
        cluster_up.files_url(USER).rstrip("/"),
        "nextcloud",
        USER,
        PASSWORDS[USER],
        ca_file,
    )
    src = tmp_path / "src"
    for i in range(FILES):
        write_random(src / f"part-{i}.bin", FILE_SIZE)
    victim = cluster_up.nodes[0]
    cmd = [remote.binary, "--config", str(remote.config), "--ca-cert", str(ca_file)]
    cmd += [*RCLONE_FLAGS, "copy", str(src), "dav:killed"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        uploads = f"{cluster_up.url}remote.php/dav/uploads/{USER}/"
        with lb_client(ca_file) as client:
            deadline = time.monotonic() + 120
            while proc.poll() is None and _sessions(client, uploads) < 2:
                assert time.monotonic() < deadline, "rclone never opened two chunk sessions"
                time.sleep(0.1)
        assert proc.poll() is None, "rclone finished before the node could be killed"
        victim.kill()
        time.sleep(1.0)
        victim.start()
        assert proc.poll() is None, "the copy ended while the node was down"
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert_checked(remote, src, "dav:killed")
    listing = remote.lsjson("killed", "--files-only")
    assert sorted(e["Size"] for e in listing) == [FILE_SIZE] * FILES
