"""``davsync-inventory`` (davtools/inventory.py; interop/scripts/dav_inventory.py runs it too),
the PROPFIND inventory tool for users, run as a user would run it (a separate process)
against davserver over HTTP + Digest and HTTPS + Basic."""

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
CONSOLE_SCRIPT = Path(sys.executable).parent / "davsync-inventory"

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
    # ETags without their quotes: no tripled quotes in the file, the same value as JSON's
    assert '"""' not in out.read_text(encoding="utf-8")
    listed = _run(endpoint, url, "--format", "json")
    etags = {r["path"]: r["etag"] for r in json.loads(listed.stdout)}
    assert etags["a.txt"].startswith('"') and etags["a.txt"].endswith('"')
    assert by_path["a.txt"]["etag"] == etags["a.txt"].strip('"')


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


@pytest.mark.parametrize("endpoint", ["http-digest"], indirect=True)
def test_inventory_401_explains_why(endpoint: Endpoint) -> None:
    url = endpoint.files_url()
    env = {**os.environ, "DAV_PASSWORD": endpoint.password}
    basic = subprocess.run(  # Basic over plain HTTP: refused by davsync whatever the password
        [str(CONSOLE_SCRIPT), url, "--user", endpoint.user],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert basic.returncode == 1
    assert "HTTP 401" in basic.stderr and "https://" in basic.stderr
    assert "--digest" in basic.stderr and "offers Digest" in basic.stderr
    wrong = subprocess.run(
        [str(CONSOLE_SCRIPT), url, "--user", endpoint.user, "--digest"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DAV_PASSWORD": "not-" + endpoint.password},
        check=False,
    )
    assert wrong.returncode == 1
    assert "HTTP 401" in wrong.stderr and "wrong user name or password" in wrong.stderr
    anonymous = subprocess.run(
        [str(CONSOLE_SCRIPT), url], capture_output=True, text=True, timeout=60, check=False
    )
    assert anonymous.returncode == 1 and "pass --user" in anonymous.stderr


@pytest.mark.parametrize("endpoint", ["https-basic"], indirect=True)
def test_inventory_console_script(endpoint: Endpoint) -> None:
    """The installed ``davsync-inventory`` command is the same tool."""
    url = _seed(endpoint, "inventory-console")
    env = {**os.environ, "DAV_PASSWORD": endpoint.password}
    cmd = [str(CONSOLE_SCRIPT), url, "--user", endpoint.user, "--format", "ndjson"]
    assert endpoint.ca is not None
    proc = subprocess.run(
        [*cmd, "--ca-file", str(endpoint.ca)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["path"] for r in rows} == {*TREE, "sub", "sub/deeper", "empty-dir"}
