"""``python -m interop.scaleout up`` (``make scaleout``) starts PostgreSQL, Ceph radosgw, two
nodes and nginx, prints the URLs and credentials that work; ``down`` (``make
scaleout-down``) stops exactly the processes it recorded and removes its folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from interop.ceph import find_binaries
from interop.postgres import find_postgres_bin
from interop.tools import require, require_tool

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _scaleout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interop.scaleout", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )


def _lines(out: str, key: str) -> list[str]:
    return [
        line[len(key) + 2 :].split()[0] for line in out.splitlines() if line.startswith(key + ": ")
    ]


def test_up_prints_working_urls_and_down_stops_exactly_what_up_started(tmp_path: Path) -> None:
    require(find_postgres_bin)
    require(find_binaries)
    require_tool("nginx")
    run = tmp_path / "run"
    up = _scaleout("up", "--run-dir", str(run))
    state_file = run / "state.json"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Backend: PostgreSQL + S3 (Ceph radosgw)\n" in up.stdout, up.stdout
        [url], nodes = _lines(up.stdout, "URL"), _lines(up.stdout, "NODE")
        [user], [password], [ca] = (_lines(up.stdout, k) for k in ("USER", "PASSWORD", "CA"))
        assert url.startswith("https://") and len(nodes) == 2
        state = json.loads(state_file.read_text(encoding="utf-8"))
        pids = {name: entry["pid"] for name, entry in state["processes"].items()}
        assert set(pids) == {
            "postgres", "ceph-mon", "ceph-osd", "ceph-rgw", "node-0", "node-1", "nginx",
        }  # fmt: skip
        with httpx.Client(auth=(user, password), verify=ca, timeout=60) as client:
            target = f"{url}remote.php/dav/files/{user}/hello.txt"
            assert client.put(target, content=b"hello\n").status_code == 201
            assert client.get(target).content == b"hello\n"
        with httpx.Client(auth=httpx.DigestAuth(user, password), timeout=60) as client:
            for node in nodes:
                r = client.get(f"{node}remote.php/dav/files/{user}/hello.txt")
                assert r.content == b"hello\n"
    finally:
        down = _scaleout("down", "--run-dir", str(run))
    assert down.returncode == 0, down.stdout + down.stderr
    for name, pid in pids.items():
        assert f"stopped {name} (PID {pid})" in down.stdout
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), name
    assert not run.exists()
    assert _scaleout("down", "--run-dir", str(run)).returncode == 0  # nothing left to stop


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def test_up_refuses_while_a_previous_run_is_recorded(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"processes": {}, "folders": []}))
    up = _scaleout("up", "--run-dir", str(run), "--local")
    assert up.returncode == 1 and "make scaleout-down" in up.stderr
    assert os.listdir(run) == ["state.json"]
