"""interop/scripts/dav_inventory.py, the PROPFIND inventory example for users, run as a user
would run it (a separate process) against davserver over HTTP + Digest and HTTPS + Basic."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop]

SCRIPT = Path(__file__).resolve().parents[2] / "interop" / "scripts" / "dav_inventory.py"

TREE: dict[str, bytes] = {
    "a.txt": b"alpha\n",
    "empty.dat": b"",
    "sub/b.bin": bytes(range(256)) * 64,
    "sub/deeper/c d ü.csv": b"x,y\n1,2\n",
}


def _seed(endpoint: Endpoint, folder: str) -> str:
    url = endpoint.files_url(folder + "/")
    with endpoint.client() as http:
        http.request("DELETE", url)
        assert http.request("MKCOL", url).status_code == 201
        for d in ("sub/", "sub/deeper/", "empty-dir/"):
            assert http.request("MKCOL", url + d).status_code == 201
        for rel, data in TREE.items():
            assert http.put(url + rel, content=data).status_code == 201
    return url


def _run(endpoint: Endpoint, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), url, "--user", endpoint.user, *args]
    if endpoint.scheme == "digest":
        cmd.append("--digest")
    if endpoint.ca is not None:
        cmd += ["--ca-file", str(endpoint.ca)]
    env = {**os.environ, "DAV_PASSWORD": endpoint.password}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_inventory_json(endpoint: Endpoint) -> None:
    url = _seed(endpoint, f"inventory-{endpoint.name}")
    proc = _run(endpoint, url, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["path"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {*TREE, "sub", "sub/deeper", "empty-dir"}
    for rel, data in TREE.items():
        row = rows[rel]
        assert row["type"] == "file"
        assert row["size"] == len(data)
        assert row["sha1"] == hashlib.sha1(data).hexdigest()
        assert row["md5"] == hashlib.md5(data).hexdigest()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["mtime"].endswith("Z") and row["etag"]
    assert rows["sub"]["type"] == "dir" and rows["sub"]["size"] is None
    assert "4 files, 3 folders" in proc.stderr


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_inventory_csv_to_file(endpoint: Endpoint, tmp_path: Path) -> None:
    url = _seed(endpoint, f"inventory-csv-{endpoint.name}")
    out = tmp_path / "inventory.csv"
    proc = _run(endpoint, url.rstrip("/"), "--format", "csv", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    by_path = {r["path"]: r for r in rows}
    assert by_path["sub/deeper/c d ü.csv"]["sha1"] == hashlib.sha1(b"x,y\n1,2\n").hexdigest()
    assert by_path["empty-dir"]["size"] == ""


@pytest.mark.parametrize("endpoint", ["http-digest"], indirect=True)
def test_inventory_errors(endpoint: Endpoint) -> None:
    proc = _run(endpoint, endpoint.files_url("no-such-folder/"))
    assert proc.returncode == 1
    assert "HTTP 404" in proc.stderr
    env_less = subprocess.run(
        [sys.executable, str(SCRIPT), endpoint.files_url(), "--user", "alice"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DAV_PASSWORD"},
        check=False,
    )
    assert env_less.returncode == 2 and "DAV_PASSWORD" in env_less.stderr
