"""verify, pause/resume/status and Windows naming against a real davserver on loopback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.syncclient.conftest import (
    ClientResult,
    password_file,
    remote_inventory,
    run_client,
    write_tree,
)

pytestmark = pytest.mark.integration

Sync = Callable[..., ClientResult]


def _verify(tmp: Path, src: Path, url: str, *flags: str) -> ClientResult:
    pw = tmp / "alice.pw"
    if not pw.exists():
        password_file(tmp)
    return run_client(
        tmp,
        "verify",
        str(src),
        url,
        "--user",
        "alice",
        "--password-file",
        str(pw),
        "--state-dir",
        str(tmp / "state"),
        *flags,
    )


def test_verify_reports_tampered_and_missing_files(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    files = {"keep.txt": b"keep\n", "tamper.txt": b"original\n", "gone/deleted.txt": b"bye\n"}
    src = tmp_path / "src"
    write_tree(src, files)
    r = sync(src, target)
    assert r.code == 0, r.stderr + r.stdout
    ok = _verify(tmp_path, src, target, "--json")
    assert ok.code == 0, ok.stderr + ok.stdout
    doc = json.loads(ok.stdout)
    assert doc["counts"] == {"OK": 3}
    assert {f["server_by"] for f in doc["files"]} == {"sha256"}

    put = alice_http.put(target + "tamper.txt", content=b"tampered!\n")
    assert put.status_code in (201, 204), put.text
    gone = alice_http.delete(target + "gone/deleted.txt")
    assert gone.status_code in (200, 204), gone.text

    bad = _verify(tmp_path, src, target, "--json")
    assert bad.code == 4, bad.stderr + bad.stdout
    by_path = {f["path"]: f for f in json.loads(bad.stdout)["files"]}
    assert by_path["keep.txt"]["status"] == "OK"
    assert by_path["tamper.txt"]["status"] == "HASH-MISMATCH"
    assert by_path["gone/deleted.txt"]["status"] == "MISSING-ON-SERVER"
    assert by_path["tamper.txt"]["local"] == "same"

    text = _verify(tmp_path, src, target)
    assert text.code == 4
    assert "HASH-MISMATCH      tamper.txt" in text.stdout
    assert "MISSING-ON-SERVER  gone/deleted.txt" in text.stdout
    assert "3 verified files re-checked, 1 OK, 2 not" in text.stdout


def test_verify_notices_a_changed_local_copy(sync: Sync, target: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"one\n"})
    assert sync(src, target).code == 0
    (src / "a.txt").write_bytes(b"two\n")
    r = _verify(tmp_path, src, target, "--json")
    assert r.code == 4, r.stderr + r.stdout
    (f,) = json.loads(r.stdout)["files"]
    assert f["status"] == "HASH-MISMATCH" and f["local"] == "changed"
    assert "next run re-sends it" in f["detail"]


def test_verify_with_nothing_recorded_is_ok(target: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    r = _verify(tmp_path, src, target)
    assert r.code == 0, r.stderr + r.stdout
    assert "no files recorded as verified yet" in r.stdout


def test_pause_blocks_run_and_daemon_until_resume(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"a\n", "b.txt": b"b\n"})
    state = str(tmp_path / "state")
    p = run_client(tmp_path, "pause", "--state-dir", state, "--reason", "maintenance")
    assert p.code == 0 and "paused" in p.stdout

    r = sync(src, target)
    assert r.code == 8, r.stderr + r.stdout
    s = r.summary()
    assert s["paused"] is True and s["exit_reason"] == "paused, backlog left"
    assert alice_http.request("PROPFIND", target, headers={"Depth": "0"}).status_code == 404

    d = sync(src, target, "--max-cycles", "2", "--interval", "0.1", command="daemon")
    assert d.code == 8, d.stderr + d.stdout
    assert not [e for e in d.events() if e["event"] == "verified"]

    st = sync(src, target, command="status")
    assert st.code == 0, st.stderr
    (item,) = json.loads(st.stdout)
    assert item["paused"] is True and item["pause_reason"] == "maintenance"
    text = run_client(tmp_path, "status", str(src), target, "--state-dir", state)
    assert text.stdout.startswith("PAUSED since ") and "maintenance" in text.stdout

    assert run_client(tmp_path, "resume", "--state-dir", state).stdout.strip() == "resumed"
    assert run_client(tmp_path, "resume", "--state-dir", state).stdout.strip() == "was not paused"
    ok = sync(src, target)
    assert ok.code == 0, ok.stderr + ok.stdout
    assert set(remote_inventory(alice_http, target)) == {"a.txt", "b.txt"}
    st2 = sync(src, target, command="status")
    assert json.loads(st2.stdout)[0]["paused"] is False


WINDOWS_BAD = {
    "ok.txt": b"ok",
    "CON.txt": b"device",
    "trailing.": b"dot",
    "a/B.txt": b"upper",
    "a/b.txt": b"lower",
    "12:00.csv": b"colon",
}


def test_windows_names_report_sends_everything_with_warnings(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, WINDOWS_BAD)
    r = sync(src, target)
    assert r.code == 0, r.stderr + r.stdout
    warned = {e["path"]: e["problem"] for e in r.events() if e["event"] == "name-warning"}
    assert set(warned) == {"CON.txt", "trailing.", "a/b.txt", "12:00.csv"}
    assert "differs only in case from 'a/B.txt'" in warned["a/b.txt"]
    s = r.summary()
    assert s["files"]["name_warning"] == 4 and s["files"]["name_invalid"] == 0
    inv = remote_inventory(alice_http, target)
    assert set(inv) == set(WINDOWS_BAD)
    assert inv["CON.txt"]["sha256"] == hashlib.sha256(b"device").hexdigest()


def test_windows_names_skip_sends_none_of_them_and_exits_partial(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, WINDOWS_BAD)
    plan = sync(src, target, "--windows-names", "skip", command="plan")
    assert plan.code == 0, plan.stderr
    actions = {a["path"]: a for a in json.loads(plan.stdout)["actions"]}
    assert actions["CON.txt"]["action"] == "skip"
    assert actions["CON.txt"]["reason"] == "name-invalid"
    assert "reserved device name 'CON'" in actions["CON.txt"]["detail"]

    r = sync(src, target, "--windows-names", "skip")
    assert r.code == 2, r.stderr + r.stdout
    s = r.summary()
    assert s["files"]["name_invalid"] == 4
    assert {n["path"] for n in s["names"]} == {"CON.txt", "trailing.", "a/b.txt", "12:00.csv"}
    assert set(remote_inventory(alice_http, target)) == {"ok.txt", "a/B.txt"}
    invalid = [e for e in r.events() if e["event"] == "name-invalid"]
    assert len(invalid) == 4


def test_windows_names_text_plan_and_summary(target: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"nul.log": b"x", "fine.log": b"y"})
    pw = password_file(tmp_path)
    common = ("--user", "alice", "--password-file", str(pw), "--state-dir", str(tmp_path / "s"))
    plan = run_client(tmp_path, "plan", str(src), target, *common)
    assert plan.code == 0, plan.stderr
    assert "name-warning: reserved device name 'NUL'" in plan.stdout
    assert "name-warning: 1" in plan.stdout
    run = run_client(
        tmp_path, "run", "--once", str(src), target, *common, "--windows-names", "skip"
    )
    assert run.code == 2
    assert "NOT SENT (name invalid on Windows): nul.log" in run.stderr + run.stdout
    assert "1 not sent (name invalid on Windows)" in run.stderr + run.stdout
