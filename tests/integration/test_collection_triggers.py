"""Triggers against a real server process: command and webhook after a PUT, persistence across
``kill -9``, timeouts, retries and dead letters, awkward names, and refusal alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.integration.collection_support import (
    client,
    command_trigger,
    mkcols,
    records,
    restart,
    serve,
    trigger_failures,
    wait_for,
    write_recorder,
)
from tests.support.server import run_cli

pytestmark = pytest.mark.integration


def _hooks(httpserver: HTTPServer) -> list[Request]:
    return [req for req, _ in httpserver.log if req.path == "/hook"]


def test_put_fires_command_and_webhook_within_two_seconds(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = f"""\
triggers:
  - name: ingest
    match: {{user: alice, path: "in/**/*.csv"}}
    run: {json.dumps([*argv, "--file"])}
  - name: notify
    match: {{path: "**"}}
    webhook: {{url: "{httpserver.url_for("/hook")}", secret: "s3cret"}}
"""
    srv = serve(tmp_path, config, env={"RECORD_DIR": str(out)})
    try:
        data = os.urandom(50_000)
        with client() as c:
            mkcols(c, srv, "alice", "in/2026/12")
            before = time.monotonic()
            assert c.put(srv.files_url("alice", "in/2026/12/run.csv"), content=data).is_success
            assert c.put(srv.files_url("alice", "notes.txt"), content=b"no csv").is_success
        ran = wait_for(lambda: records(out), 2.0, "the command trigger")
        hooks = wait_for(lambda: len(_hooks(httpserver)) >= 2 and _hooks(httpserver), 2.0, "hooks")
        assert time.monotonic() - before < 2.5
    finally:
        srv.stop()
    sha256 = hashlib.sha256(data).hexdigest()
    local = srv.root / "files" / "alice" / "in" / "2026" / "12" / "run.csv"
    assert len(ran) == 1  # notes.txt matches no ingest glob
    assert ran[0]["argv"] == ["--file", str(local)]
    env = ran[0]["env"]
    assert env["DAVSYNC_SHA256"] == sha256
    assert env["DAVSYNC_FILE"] == str(local) and env["DAVSYNC_PATH"] == "in/2026/12/run.csv"
    assert env["DAVSYNC_USER"] == "alice" and env["DAVSYNC_PROTOCOL"] == "put"
    assert env["DAVSYNC_SIZE"] == str(len(data))
    assert env["DAVSYNC_MD5"] == hashlib.md5(data).hexdigest()
    assert env["DAVSYNC_SHA1"] == hashlib.sha1(data).hexdigest()
    assert "DAVSYNC_ADMIN_PASSWORD" not in env  # the server's own DAVSYNC_* are not passed on
    bodies = {json.loads(r.get_data())["path"]: r for r in hooks}
    hook = bodies["in/2026/12/run.csv"]
    body = hook.get_data()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Davsync-Signature"] == "sha256=" + expected
    payload = json.loads(body)
    assert payload["sha256"] == sha256 and payload["size"] == len(data)
    assert payload["user"] == "alice" and payload["protocol"] == "put"
    assert payload["client"] == "127.0.0.1" and payload["trigger"] == "notify"


def test_two_server_processes_on_one_root_share_the_queue(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("each", "**", argv)
    env = {"RECORD_DIR": str(out)}
    first = serve(tmp_path, config, env=env)
    second = restart(first, env)
    try:
        with client() as c:
            for n in range(12):
                srv = (first, second)[n % 2]
                assert c.put(srv.files_url("alice", f"p{n}.txt"), content=b"p").is_success
        wait_for(lambda: len(records(out)) >= 12, 20.0, "twelve runs")
        time.sleep(1.0)
    finally:
        first.stop()
        second.stop()
    paths = sorted(r["env"]["DAVSYNC_PATH"] for r in records(out))
    assert paths == sorted(f"p{n}.txt" for n in range(12))  # each arrival ran once


def test_queued_trigger_survives_kill_and_runs_after_restart(tmp_path: Path) -> None:
    out, gate = tmp_path / "out", tmp_path / "gate"
    argv = write_recorder(tmp_path)
    config = command_trigger("ingest", "**/*.csv", argv, attempts=50, backoff="0.5s")
    env = {"RECORD_DIR": str(out), "RECORD_MODE": "gate", "RECORD_GATE": str(gate)}
    srv = serve(tmp_path, config, env=env)
    try:
        with client() as c:
            assert c.put(srv.files_url("alice", "a.csv"), content=b"x,y\n").is_success
        wait_for(lambda: records(out), 10.0, "a first, failing attempt")
    finally:
        srv.kill()
    attempts_before = len(records(out))
    gate.touch()
    again = restart(srv, env)
    try:
        wait_for(lambda: trigger_failures(again.root) == [], 15.0, "the queued run to succeed")
    finally:
        again.stop()
    assert len(records(out)) > attempts_before
    assert records(out)[-1]["env"]["DAVSYNC_PATH"] == "a.csv"


def test_run_cut_off_by_kill_runs_again_after_restart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("slow", "*.dat", argv, timeout="10m")
    env = {"RECORD_DIR": str(out), "RECORD_MODE": "hang-once"}
    srv = serve(tmp_path, config, env=env)
    try:
        with client() as c:
            assert c.put(srv.files_url("alice", "b.dat"), content=b"1").is_success
        first = wait_for(lambda: records(out), 10.0, "the run to start")
    finally:
        srv.kill()
    os.kill(first[0]["pid"], signal.SIGKILL)  # the orphaned command of the killed server
    again = restart(srv, env)
    try:
        wait_for(lambda: len(records(out)) >= 2, 15.0, "the interrupted run to start again")
    finally:
        again.stop()
    assert [r["env"]["DAVSYNC_PATH"] for r in records(out)] == ["b.dat", "b.dat"]


def test_stopping_server_kills_its_running_command_which_reruns_after_restart(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("slow", "*.dat", argv, timeout="10m", attempts=1)
    env = {"RECORD_DIR": str(out), "RECORD_MODE": "hang-once"}
    srv = serve(tmp_path, config, env=env)
    try:
        with client() as c:
            assert c.put(srv.files_url("alice", "s.dat"), content=b"1").is_success
        first = wait_for(lambda: records(out), 10.0, "the run to start")
    finally:
        srv.stop()
    wait_for(lambda: not _alive(first[0]["pid"]), 5.0, "the command to be killed at stop")
    again = restart(srv, env)
    try:
        wait_for(lambda: len(records(out)) >= 2, 15.0, "the run to start again")
        time.sleep(0.5)
        assert trigger_failures(again.root) == []  # the interrupted attempt did not count
    finally:
        again.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_hanging_command_is_killed_with_its_children_then_dead_lettered(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("hang", "*.bin", argv, timeout="6s", attempts=1)
    config += f'alerts:\n  webhook: {{url: "{httpserver.url_for("/alerts")}"}}\n'
    srv = serve(tmp_path, config, env={"RECORD_DIR": str(out), "RECORD_MODE": "hang"})
    try:
        with client() as c:
            started = time.monotonic()
            assert c.put(srv.files_url("alice", "h.bin"), content=b"1").is_success
            assert time.monotonic() - started < 6.0  # returned before the command was killed
        wait_for(lambda: (out / "child.pid").exists(), 10.0, "the command to start its child")
        child = int((out / "child.pid").read_text())
        command = records(out)[0]["pid"]
        dead = wait_for(lambda: trigger_failures(srv.root), 15.0, "the dead letter")
        alert = wait_for(lambda: [r for r, _ in httpserver.log], 10.0, "the dead-letter alert")
    finally:
        srv.stop()
    assert dead[0]["dead"] is True and "timeout" in dead[0]["error"]
    assert dead[0]["trigger"] == "hang" and dead[0]["path"] == "h.bin"
    wait_for(lambda: not _alive(child) and not _alive(command), 5.0, "the process group to die")
    body = json.loads(alert[0].get_data())
    assert body["event"] == "trigger_dead" and body["trigger"] == "hang"


def test_failing_command_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("flaky", "**", argv, attempts=3, backoff="200ms")
    srv = serve(tmp_path, config, env={"RECORD_DIR": str(out), "RECORD_MODE": "fail"})
    try:
        with client() as c:
            assert c.put(srv.files_url("alice", "f.txt"), content=b"f").is_success
        dead = wait_for(
            lambda: [f for f in trigger_failures(srv.root) if f["dead"]], 15.0, "a dead letter"
        )
        time.sleep(1.0)  # nothing runs after the last attempt
    finally:
        srv.stop()
    assert len(records(out)) == 3
    assert dead[0]["attempts"] == 3 and "exit status 3" in dead[0]["error"]
    listing = run_cli("triggers", root=srv.root)
    assert "1 dead" in listing and "DEAD  flaky" in listing and "'f.txt'" in listing
    assert "queued 1 dead" in run_cli("triggers", "--retry-dead", root=srv.root)
    assert run_cli("triggers", root=srv.root).startswith("trigger runs: 1 queued")
    times = [r["time"] for r in records(out)]
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4  # backoff, doubled


def test_awkward_name_reaches_the_command_as_one_argument(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = write_recorder(tmp_path)
    config = command_trigger("all", "**", [*argv, "--file"])
    name = 'it\'s a "quoted" $(name) ; & `x` é.csv'
    srv = serve(tmp_path, config, env={"RECORD_DIR": str(out)})
    try:
        with client() as c:
            mkcols(c, srv, "alice", "dir with space")
            from urllib.parse import quote

            url = srv.files_url("alice", quote(f"dir with space/{name}"))
            assert c.put(url, content=b"q").is_success
        ran = wait_for(lambda: records(out), 5.0, "the command")
    finally:
        srv.stop()
    local = srv.root / "files" / "alice" / "dir with space" / name
    assert ran[0]["argv"] == ["--file", str(local)]
    assert ran[0]["env"]["DAVSYNC_PATH"] == f"dir with space/{name}"


def test_webhook_that_never_answers_never_blocks_or_fails_uploads(tmp_path: Path) -> None:
    with socket.socket() as black_hole:  # accepts connections (backlog), never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        port = black_hole.getsockname()[1]
        config = f"""\
triggers:
  - name: silent
    match: {{path: "**"}}
    webhook: {{url: "http://127.0.0.1:{port}/hook"}}
    timeout: 3s
    attempts: 1
"""
        srv = serve(tmp_path, config)
        try:
            with client() as c:
                started = time.monotonic()
                for n in range(5):
                    assert c.put(srv.files_url("alice", f"w{n}.txt"), content=b"w").is_success
                assert time.monotonic() - started < 8.0  # waiting for hooks would take 15 s
            dead = wait_for(
                lambda: len([f for f in trigger_failures(srv.root) if f["dead"]]) == 5 or None,
                40.0,
                "five dead letters",
                step=0.5,
            )
        finally:
            srv.stop()
    assert dead


def test_verification_refusal_alerts_by_webhook(tmp_path: Path, httpserver: HTTPServer) -> None:
    def accept(request: Request) -> Response:
        return Response("ok")

    httpserver.expect_request("/alerts", method="POST").respond_with_handler(accept)
    config = f"""\
alerts:
  webhook: {{url: "{httpserver.url_for("/alerts")}", secret: "k"}}
  failed_uploads: {{count: 2, window: 1h}}
"""
    srv = serve(tmp_path, config)
    try:
        with client() as c:
            for n in range(3):
                r = c.put(
                    srv.files_url("alice", f"bad{n}.bin"),
                    content=b"payload",
                    headers={"OC-Checksum": "SHA1:" + "0" * 40},
                )
                assert r.status_code in (400, 412, 415, 422), r.status_code
        got = wait_for(
            lambda: len(httpserver.log) >= 4 and httpserver.log, 10.0, "three refusals + one"
        )
        time.sleep(0.5)
    finally:
        srv.stop()
    events = [json.loads(req.get_data())["event"] for req, _ in got]
    assert events.count("upload_refused") == 3
    assert events.count("uploads_failing") == 1  # once per window, not per failure
    refused = [json.loads(r.get_data()) for r, _ in got]
    refused = [a for a in refused if a["event"] == "upload_refused"]
    assert sorted(a["path"] for a in refused) == ["bad0.bin", "bad1.bin", "bad2.bin"]
    assert {a["user"] for a in refused} == {"alice"} and "SHA1" in refused[0]["reason"].upper()
