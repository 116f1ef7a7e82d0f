"""syncclient against a real davserver on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.syncclient.conftest import (
    CLIENT_TIMEOUT_S,
    ClientResult,
    client_cmd,
    client_env,
    password_file,
    remote_inventory,
    run_client,
    write_tree,
)

pytestmark = pytest.mark.integration

Sync = Callable[..., ClientResult]
MiB = 1024 * 1024


def _blob(seed: int, size: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def _sent(r: ClientResult) -> list[str]:
    return [e["path"] for e in r.events() if e["event"] == "verified"]


def test_mixed_tree_syncs_verified_and_second_run_sends_nothing(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    files = {f"small/{i:02d}.txt": f"line {i}\n".encode() * (i + 1) for i in range(20)}
    files.update(
        {
            "a/b/c/deep.csv": b"x,y\n" * 1000,
            "empty.dat": b"",
            "name with spaces & ümlaut.txt": b"unicode",
            "large/one.bin": _blob(1, 9 * MiB),
            "large/two.bin": _blob(2, 3 * MiB + 17),
            "Thumbs.db": b"ignored by default",
            "~$lock.docx": b"ignored by default",
        }
    )
    src = tmp_path / "src"
    write_tree(src, files)
    flags = ("--chunk-threshold", "2MiB", "--chunk-size", "1MiB")
    r = sync(src, target, *flags)
    assert r.code == 0, r.stderr + r.stdout
    inv = remote_inventory(alice_http, target)
    expected = {k: v for k, v in files.items() if k not in ("Thumbs.db", "~$lock.docx")}
    assert set(inv) == set(expected)
    for rel, data in expected.items():
        assert inv[rel]["sha256"] == hashlib.sha256(data).hexdigest(), rel
        assert inv[rel]["size"] == len(data)
    methods = {e["path"]: e["method"] for e in r.events() if e["event"] == "verified"}
    assert methods["large/one.bin"] == "chunks" and methods["small/00.txt"] == "put"
    s = r.summary()
    assert s["files"]["verified"] == len(expected) and s["files"]["ignored"] == 2
    assert s["server"]["listing"] == "inventory"
    again = sync(src, target, *flags)
    assert again.code == 0, again.stderr + again.stdout
    s2 = again.summary()
    assert s2["nothing_transferred"] is True and s2["bytes"]["wire"] == 0
    assert s2["files"]["unchanged"] == len(expected)
    assert s2["exit_reason"] == "nothing to transfer: everything is up to date"
    # human output says so too
    human = run_client(
        tmp_path,
        "run",
        "--once",
        str(src),
        target,
        "--user",
        "alice",
        "--password-file",
        str(password_file(tmp_path)),
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert human.code == 0 and "nothing transferred" in human.stderr


def test_nfd_named_file_is_sent_once_and_verifies(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    """A name written in NFD (as macOS writes it) is stored by the server in NFC: the next
    run must find it there and send nothing, and verify must find it too."""
    nfd_folder = unicodedata.normalize("NFD", "Messungen-Größe")
    nfd_name = unicodedata.normalize("NFD", "café-Ærø.csv")
    rel = f"{nfd_folder}/{nfd_name}"
    assert rel != unicodedata.normalize("NFC", rel)
    src = tmp_path / "src"
    write_tree(src, {rel: b"a,b\n1,2\n"})
    first = sync(src, target)
    assert first.code == 0, first.stderr + first.stdout
    assert _sent(first) == [rel]
    inv = remote_inventory(alice_http, target)
    assert set(inv) == {unicodedata.normalize("NFC", rel)}
    second = sync(src, target)
    assert second.code == 0, second.stderr + second.stdout
    assert _sent(second) == [], "the NFD-named file was sent again"
    assert second.summary()["files"]["unchanged"] == 1
    checked = sync(src, target, command="verify")
    assert checked.code == 0, checked.stderr + checked.stdout
    assert json.loads(checked.stdout)["counts"] == {"OK": 1}


def test_name_that_is_not_utf8_is_skipped_and_the_rest_is_sent(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    """A file or folder whose name is not UTF-8 (Latin-1 from an old instrument or share)
    is reported as not sendable; it does not stop the other files."""
    src = tmp_path / "src"
    write_tree(src, {"good.txt": b"good\n", "sub/fine.txt": b"fine\n"})
    for raw in (b"Messung-\xe9t\xe9.txt", b"Ordner-\xfc/inner.txt"):
        path = src / os.fsdecode(raw)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"latin-1 name\n")
        os.utime(path, (time.time() - 3600,) * 2)
    r = sync(src, target)
    assert r.code == 0, r.stderr + r.stdout
    assert sorted(_sent(r)) == ["good.txt", "sub/fine.txt"]
    assert set(remote_inventory(alice_http, target)) == {"good.txt", "sub/fine.txt"}
    assert r.summary()["files"]["ignored"] == 2
    plan = sync(src, target, command="plan")
    assert plan.code == 0, plan.stderr + plan.stdout
    skipped = {a["path"]: a for a in json.loads(plan.stdout)["actions"] if a["reason"] == "ignored"}
    assert set(skipped) == {"Messung-\ufffdt\ufffd.txt", "Ordner-\ufffd"}
    assert all("not valid UTF-8" in a["detail"] for a in skipped.values())


def test_two_names_one_on_the_server_are_not_sent_nor_deleted(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    """café.txt in NFC and in NFD are two files here and one name on the server: sending
    both kept only the second there, and the delete post-action then removed both copies
    of the first. Neither is sent nor deleted; the run says why (exit 2)."""
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    src = tmp_path / "src"
    write_tree(src, {nfc: b"the NFC one\n", nfd: b"the NFD one, longer\n", "ok.txt": b"ok\n"})
    r = sync(src, target, "--post-action", "delete")
    assert r.code == 2, r.stderr + r.stdout
    assert _sent(r) == ["ok.txt"]
    assert sorted(e["path"] for e in r.events() if e["event"] == "conflict") == sorted([nfc, nfd])
    assert (src / nfc).read_bytes() == b"the NFC one\n"
    assert (src / nfd).read_bytes() == b"the NFD one, longer\n"
    assert set(remote_inventory(alice_http, target)) == {"ok.txt"}
    assert "clash" in r.summary()["exit_reason"]


def test_file_rewritten_in_place_with_its_time_restored_is_not_deleted(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    """A file already on the server is rewritten in place (same inode and size) and its
    mtime restored, so the hash cache still says "as sent". The delete post-action must
    not remove it on the strength of that stale hash; the next run sends the new content."""
    src = tmp_path / "src"
    write_tree(src, {"scan.dat": b"first version\n"})
    first = sync(src, target)
    assert first.code == 0 and _sent(first) == ["scan.dat"], first.stderr + first.stdout
    path = src / "scan.dat"
    before = path.stat()
    with path.open("r+b") as fh:
        fh.write(b"NEW!!")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    second = sync(src, target, "--post-action", "delete")
    assert path.read_bytes() == b"NEW!! version\n", "deleted although never sent"
    assert second.code == 9, second.stderr + second.stdout
    third = sync(src, target, "--post-action", "delete")
    assert third.code == 0, third.stderr + third.stdout
    assert _sent(third) == ["scan.dat"] and not path.exists()
    inv = remote_inventory(alice_http, target)
    assert inv["scan.dat"]["sha256"] == hashlib.sha256(b"NEW!! version\n").hexdigest()


def test_plan_lists_reasons_and_writes_nothing(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"same.txt": b"same", "size.txt": b"12345", "hash.txt": b"aaaa"})
    assert sync(src, target).code == 0
    time.sleep(2.5)  # changes count as settled 2 s after the last scan that saw the old state
    write_tree(src, {"size.txt": b"123456", "hash.txt": b"bbbb", "new.txt": b"n", "x.part": b""})
    (src / "fresh.txt").write_bytes(b"still being written")
    # still being written: a writer keeps moving its mtime; one a minute ahead keeps it unsettled
    # however long the plan below takes to start on a loaded machine
    ahead = time.time() + 60
    os.utime(src / "fresh.txt", (ahead, ahead))
    before = remote_inventory(alice_http, target)
    r = sync(src, target, "--stable-seconds", "2", command="plan")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    reasons = {a["path"]: a["reason"] for a in doc["actions"]}
    assert reasons == {
        "same.txt": "unchanged",
        "size.txt": "changed-size",
        "hash.txt": "changed-hash",
        "new.txt": "new",
        "x.part": "ignored",
        "fresh.txt": "waiting-for-stability",
    }
    assert remote_inventory(alice_http, target) == before


def test_stability_gate_holds_back_a_growing_file(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"settled.log": b"done\n"})
    growing = src / "growing.log"
    growing.write_bytes(b"start\n")
    stop = threading.Event()

    def writer() -> None:
        for _ in range(200):  # bounded: at most 40 s
            if stop.wait(0.2):
                return
            with growing.open("ab") as fh:
                fh.write(b"more\n")

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        r = sync(src, target, "--stable-seconds", "3")
    finally:
        stop.set()
        t.join(timeout=10)
    assert r.code == 9, r.stderr + r.stdout
    assert _sent(r) == ["settled.log"]
    assert set(remote_inventory(alice_http, target)) == {"settled.log"}
    assert r.summary()["files"]["waiting"] == 1
    time.sleep(1.5)
    later = sync(src, target, "--stable-seconds", "1")
    assert later.code == 0, later.stderr + later.stdout
    assert _sent(later) == ["growing.log"]
    inv = remote_inventory(alice_http, target)
    assert inv["growing.log"]["sha256"] == hashlib.sha256(growing.read_bytes()).hexdigest()


def test_done_marker_releases_a_fresh_file_and_is_consumed(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run1.dat").write_bytes(b"fresh data")
    (src / "run2.dat").write_bytes(b"no marker yet")
    (src / "run1.dat.done").write_bytes(b"")
    r = sync(
        src, target, "--stable-seconds", "600", "--done-marker", ".done", "--post-action", "delete"
    )
    assert r.code == 9, r.stderr + r.stdout
    assert _sent(r) == ["run1.dat"]
    assert set(remote_inventory(alice_http, target)) == {"run1.dat"}
    assert sorted(p.name for p in src.iterdir()) == ["run2.dat"]


def _mtime_tree(src: Path, names: list[str], size: int) -> None:
    base = time.time() - 10_000
    for i, name in enumerate(names):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_blob(i, size))
        os.utime(p, (base + i * 60, base + i * 60))


def test_newest_first_with_byte_budget_sends_the_newest_first(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    names = [f"f{i}.bin" for i in range(6)]  # f5 is the newest
    _mtime_tree(src, names, 100_000)
    r = sync(
        src,
        target,
        "--order",
        "newest-first",
        "--max-bytes",
        "300000",
        "--cutoff",
        "cautious",
        "--parallel",
        "1",
    )
    assert r.code == 8, r.stderr + r.stdout
    starts = [e["path"] for e in r.events() if e["event"] == "start"]
    assert starts == ["f5.bin", "f4.bin", "f3.bin"]
    assert set(remote_inventory(alice_http, target)) == {"f5.bin", "f4.bin", "f3.bin"}
    s = r.summary()
    assert s["files"]["not-started"] == 3 and "budget" in s["budget_ended"]
    rest = sync(src, target, "--order", "oldest-first", "--parallel", "1")
    assert [e["path"] for e in rest.events() if e["event"] == "start"] == [
        "f0.bin",
        "f1.bin",
        "f2.bin",
    ]


def test_latest_only_sends_the_n_newest_per_folder(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _mtime_tree(
        src, [f"cam1/{i}.mp4" for i in range(5)] + [f"cam2/{i}.mp4" for i in range(3)], 1000
    )
    r = sync(src, target, "--order", "latest-only:2", "--parallel", "1")
    assert r.code == 0, r.stderr + r.stdout
    assert [e["path"] for e in r.events() if e["event"] == "start"] == [
        "cam2/2.mp4",
        "cam2/1.mp4",
        "cam1/4.mp4",
        "cam1/3.mp4",
    ]
    assert set(remote_inventory(alice_http, target)) == {
        "cam1/4.mp4",
        "cam1/3.mp4",
        "cam2/2.mp4",
        "cam2/1.mp4",
    }


def test_move_after_verification_writes_the_manifest(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = {"x/1.csv": b"1", "2.csv": b"22"}
    write_tree(src, files)
    manifest = tmp_path / "manifest.jsonl"
    r = sync(
        src, target, "--post-action", "move", "--archive-dir", "sent", "--manifest", str(manifest)
    )
    assert r.code == 0, r.stderr + r.stdout
    assert (src / "sent" / "x" / "1.csv").read_bytes() == b"1"
    assert not (src / "x" / "1.csv").exists() and not (src / "2.csv").exists()
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert {ln["path"]: ln["sha256"] for ln in lines} == {
        k: hashlib.sha256(v).hexdigest() for k, v in files.items()
    }
    assert all(ln["url"].startswith(target) and ln["post_action"] == "move" for ln in lines)
    again = sync(src, target, "--post-action", "move", "--archive-dir", "sent")
    assert again.code == 0 and again.summary()["nothing_transferred"] is True


def test_https_with_ca_bundle_and_basic_auth(
    tls_server: Any,
    ca_file: Path,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"over tls"})
    url = tls_server.files_url("alice", "tls-target/")
    pw = password_file(tmp_path)
    common = (
        "--user",
        "alice",
        "--password-file",
        str(pw),
        "--state-dir",
        str(tmp_path / "s"),
        "--json",
    )
    r = run_client(tmp_path, "run", "--once", str(src), url, "--ca-bundle", str(ca_file), *common)
    assert r.code == 0, r.stderr + r.stdout
    untrusted = run_client(tmp_path, "run", "--once", str(src), url, *common)
    assert untrusted.code == 3
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)
    denied = run_client(
        tmp_path,
        "plan",
        str(src),
        url,
        "--ca-bundle",
        str(ca_file),
        "--user",
        "alice",
        "--password-file",
        str(wrong),
    )
    assert denied.code == 3 and "401" in denied.stderr
    assert "nope" not in denied.stderr + denied.stdout


def test_config_file_from_init_drives_a_run(
    target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    write_tree(src, {"cfg.txt": b"via config"})
    cfg = tmp_path / "conf" / "syncclient.toml"
    pw = password_file(tmp_path)
    r = run_client(
        tmp_path,
        "init",
        "--config",
        str(cfg),
        "--url",
        target,
        "--user",
        "alice",
        "--password-file",
        str(pw),
        "--source",
        str(src),
    )
    assert r.code == 0, r.stderr
    text = cfg.read_text()
    assert "alice-pw" not in text and "# " in text
    run = run_client(
        tmp_path,
        "run",
        "--once",
        "--config",
        str(cfg),
        "--json",
        "--state-dir",
        str(tmp_path / "st"),
    )
    assert run.code == 0, run.stderr + run.stdout
    assert set(remote_inventory(alice_http, target)) == {"cfg.txt"}
    ci = run_client(tmp_path, "check-ignore", "--config", str(cfg), "sub/~$report.xlsx")
    assert ci.code == 0 and ci.stdout.startswith("defaults: ~$*")
    assert run_client(tmp_path, "check-ignore", "report.xlsx").code == 1


def test_killed_client_resumes_and_resends_at_most_one_chunk(
    target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    size = 12 * MiB
    data = _blob(7, size)
    write_tree(src, {"video.bin": data})
    state = tmp_path / "state"
    pw = password_file(tmp_path)
    args = [
        str(src),
        target,
        "--user",
        "alice",
        "--password-file",
        str(pw),
        "--state-dir",
        str(state),
        "--json",
        "--chunk-size",
        "1MiB",
        "--chunk-threshold",
        "1MiB",
    ]
    proc = subprocess.Popen(
        client_cmd("run", "--once", *args, "--bwlimit", "1MiB"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(tmp_path),
    )
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(acked) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            if event["event"] == "chunk":
                acked.append(event["n"])
    finally:
        proc.kill()  # SIGKILL: no clean-up runs
        proc.wait(timeout=30)
    assert acked == [1, 2, 3], proc.stderr.read() if proc.stderr else ""
    journal = state / next(p.name for p in state.iterdir()) / "journal.sqlite"
    with sqlite3.connect(journal) as db:
        (session,) = db.execute("SELECT session_url FROM sessions").fetchone()
        journaled = {n for (n,) in db.execute("SELECT n FROM chunks")}
    assert {1, 2, 3} <= journaled
    uploads = target.split("/remote.php/")[0] + f"/remote.php/dav/uploads/alice/{session}/"
    listing = alice_http.request("PROPFIND", uploads, headers={"Depth": "1"})
    assert listing.status_code == 207, listing.text
    on_server = _chunk_numbers(listing.text)
    assert {1, 2, 3} <= on_server
    resumed = run_client(tmp_path, "run", "--once", *args)
    assert resumed.code == 0, resumed.stderr + resumed.stdout
    sent_again = [e["n"] for e in resumed.events() if e["event"] == "chunk"]
    assert not set(sent_again) & on_server, "a chunk the server already had was sent again"
    assert sorted(sent_again) == sorted(set(range(1, 13)) - on_server)
    # at most one chunk (the one in flight at the kill) goes over the wire twice
    assert len(sent_again) <= 12 - len(acked)
    wire = resumed.summary()["bytes"]["wire"]
    assert wire == len(sent_again) * MiB <= size - len(acked) * MiB
    assert resumed.summary()["bytes"]["resumed"] == len(on_server) * MiB
    inv = remote_inventory(alice_http, target)
    assert inv["video.bin"]["sha256"] == hashlib.sha256(data).hexdigest()


def _chunk_numbers(xml: str) -> set[int]:
    hrefs = re.findall(r"<(?:\w+:)?href>([^<]*)</(?:\w+:)?href>", xml)
    return {
        int(h.rstrip("/").rsplit("/", 1)[-1])
        for h in hrefs
        if h.rstrip("/").rsplit("/", 1)[-1].isdigit()
    }


def test_hooks_daemon_cycles_and_closed_window(
    sync: Sync, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"h1.txt": b"1", "h2.txt": b"2"})
    log = tmp_path / "hook.log"
    r = sync(
        src,
        target,
        "--after-file",
        f'echo "$SYNCCLIENT_PATH $SYNCCLIENT_SHA256" >> {log}',
        "--after-run",
        f'echo "run exit $SYNCCLIENT_EXIT" >> {log}',
    )
    assert r.code == 0, r.stderr + r.stdout
    lines = sorted(log.read_text().splitlines())
    assert lines == sorted(
        [
            f"h1.txt {hashlib.sha256(b'1').hexdigest()}",
            f"h2.txt {hashlib.sha256(b'2').hexdigest()}",
            "run exit 0",
        ]
    )
    (src / "h3.txt").write_bytes(b"3")
    os.utime(src / "h3.txt", (time.time() - 3600,) * 2)
    daemon = sync(src, target, "--max-cycles", "2", "--interval", "0.2", command="daemon")
    assert daemon.code == 0, daemon.stderr + daemon.stdout
    summaries = [e for e in daemon.events() if e["event"] == "summary"]
    assert [s["transferred"] for s in summaries] == [["h3.txt"], []]
    now = time.localtime()
    closed = f"daily {(now.tm_hour + 2) % 24:02d}:00-{(now.tm_hour + 3) % 24:02d}:00"
    (src / "h4.txt").write_bytes(b"4")
    outside = sync(src, target, "--window", closed)
    assert outside.code == 8
    assert "outside the sync windows" in outside.stdout
    assert "h4.txt" not in remote_inventory(alice_http, target)
