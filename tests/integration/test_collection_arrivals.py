"""The arrival journal against a real server: every way in records exactly one arrival with
its protocol; the daily manifest and the diff against a real syncclient run."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.collection_support import arrivals, client, mkcols, serve
from tests.support.configured import USERS
from tests.support.server import run_cli

pytestmark = pytest.mark.integration

LOCKINFO = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "<D:owner>t</D:owner></D:lockinfo>"
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_each_way_in_is_one_arrival_with_its_protocol(tmp_path: Path) -> None:
    srv = serve(tmp_path, "")
    files = lambda p: srv.files_url("alice", p)  # noqa: E731
    one, two = b"first version", b"second version"
    chunks = [b"A" * 3000, b"B" * 2000]
    tus_body = b"tus payload" * 100
    try:
        with client() as c:
            assert c.put(files("a.bin"), content=one).status_code == 201
            assert c.put(files("a.bin"), content=two).status_code == 204
            # Nextcloud chunking v2: MKCOL with Destination, numbered chunks, MOVE .file
            session = f"{srv.url}remote.php/dav/uploads/alice/s1/"
            dest = {"Destination": files("c.bin"), "OC-Total-Length": "5000"}
            assert c.request("MKCOL", session, headers=dest).status_code == 201
            for n, chunk in enumerate(chunks, 1):
                assert c.put(f"{session}{n}", content=chunk, headers=dest).status_code == 201
            assert c.request("MOVE", session + ".file", headers=dest).status_code == 201
            # Nextcloud chunking without Destination (v1 naming): MKCOL, ranges, MOVE .file
            v1 = f"{srv.url}remote.php/dav/uploads/alice/s2/"
            assert c.request("MKCOL", v1).status_code == 201
            assert c.put(v1 + f"{0:015d}-{2:015d}", content=b"v1!").status_code == 201
            move_v1 = {"Destination": files("v1.bin")}
            assert c.request("MOVE", v1 + ".file", headers=move_v1).status_code == 201
            # tus: create, then one PATCH with every byte
            name = base64.b64encode(b"t.bin").decode()
            r = c.post(
                files(""),
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Length": str(len(tus_body)),
                    "Upload-Metadata": f"filename {name}",
                },
            )
            assert r.status_code == 201, r.text
            r = c.patch(
                r.headers["location"],
                content=tus_body,
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert r.status_code == 204, r.text
            # MOVE and COPY into place; a whole folder renamed into place
            mkcols(c, srv, "alice", "in")
            moved = {"Destination": files("in/a.bin")}
            assert c.request("MOVE", files("a.bin"), headers=moved).status_code == 201
            copied = {"Destination": files("in/c-copy.bin")}
            assert c.request("COPY", files("c.bin"), headers=copied).status_code == 201
            mkcols(c, srv, "alice", "batch.tmp")
            assert c.put(files("batch.tmp/x.csv"), content=b"x").status_code == 201
            renamed = {"Destination": files("batch")}
            assert c.request("MOVE", files("batch.tmp"), headers=renamed).status_code == 201
            tree = {"Destination": files("batch-copy"), "Depth": "infinity"}
            assert c.request("COPY", files("batch"), headers=tree).status_code == 201
            # a LOCK on an unmapped URL creates an empty placeholder: not an arrival
            assert c.request("LOCK", files("locked.bin"), content=LOCKINFO).status_code == 201
    finally:
        srv.stop()
    got = arrivals(srv.root, "--user", "alice")
    assert [(a["protocol"], a["path"]) for a in got] == [
        ("put", "a.bin"),
        ("put", "a.bin"),
        ("chunked", "c.bin"),
        ("chunked", "v1.bin"),
        ("tus", "t.bin"),
        ("move", "in/a.bin"),
        ("copy", "in/c-copy.bin"),
        ("put", "batch.tmp/x.csv"),
        ("move", "batch/x.csv"),
        ("copy", "batch-copy/x.csv"),
    ]
    by_path = {a["path"]: a for a in got}
    assert got[0]["previous_sha256"] is None and got[1]["previous_sha256"] == _sha(one)
    assert by_path["c.bin"]["sha256"] == _sha(b"".join(chunks))
    assert by_path["c.bin"]["size"] == 5000
    assert by_path["t.bin"]["sha256"] == _sha(tus_body)
    assert by_path["in/a.bin"]["sha256"] == _sha(two)
    assert by_path["in/c-copy.bin"]["md5"] == hashlib.md5(b"".join(chunks)).hexdigest()
    assert {a["user"] for a in got} == {"alice"} and {a["client"] for a in got} == {"127.0.0.1"}


def _syncclient(tmp: Path, source: Path, url: str, manifest: Path) -> None:
    pw = tmp / "alice.pw"
    pw.write_text(USERS["alice"] + "\n", encoding="utf-8")
    pw.chmod(0o600)
    env = {"XDG_STATE_HOME": str(tmp / "xdg-state"), "XDG_CONFIG_HOME": str(tmp / "xdg-cfg")}
    cmd = [sys.executable, "-m", "syncclient.cli", "run", "--once", str(source), url]
    cmd += ["--user", "alice", "--password-file", str(pw), "--state-dir", str(tmp / "state")]
    cmd += ["--manifest", str(manifest), "--chunk-threshold", "1MiB", "--chunk-size", "512KiB"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _arrivals_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "davserver.cli", "arrivals", "--root", str(root), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_daily_manifest_and_diff_against_syncclient(tmp_path: Path) -> None:
    source = tmp_path / "site"
    (source / "day1").mkdir(parents=True)
    blobs = {
        "day1/small.csv": b"a,b\n1,2\n",
        "day1/big.bin": bytes(range(256)) * 6000,  # 1.5 MB: sent in chunks
        "notes with space.txt": b"n",
    }
    for rel, data in blobs.items():
        (source / rel).write_bytes(data)
        hour_ago = time.time() - 3600  # settled: the client sends only files at rest
        os.utime(source / rel, (hour_ago, hour_ago))
    srv = serve(tmp_path, "")
    manifest = tmp_path / "client-manifest.jsonl"
    try:
        _syncclient(tmp_path, source, srv.files_url("alice", "sync/"), manifest)
    finally:
        srv.stop()
    root = srv.root
    today = time.strftime("%Y-%m-%d", time.gmtime())
    daily = run_cli("arrivals", "--manifest", "--user", "alice", "--day", today, root=root)
    lines = [json.loads(line) for line in daily.splitlines()]
    assert {line["path"]: line["sha256"] for line in lines} == {
        f"sync/{rel}": _sha(data) for rel, data in blobs.items()
    }
    assert {line["protocol"] for line in lines if line["path"].endswith("big.bin")} == {"chunked"}
    clean = _arrivals_cli(root, "--diff", str(manifest), "--user", "alice", "--day", today)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "3 matched, 0 missing, 0 different" in clean.stdout
    with manifest.open("a", encoding="utf-8") as fh:
        record = {"path": "lost.csv", "sha256": _sha(b"lost"), "size": 4}
        record["url"] = srv.files_url("alice", "sync/lost.csv")
        fh.write(json.dumps(record) + "\n")
    dirty = _arrivals_cli(root, "--diff", str(manifest), "--user", "alice")
    assert dirty.returncode == 1
    assert "missing    'sync/lost.csv'" in dirty.stdout
