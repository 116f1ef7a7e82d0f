"""A misbehaving peer (pytest-httpserver): 503 + Retry-After, dropped connections, a server
reporting a wrong hash. The client retries, backs off, and never calls a file verified that
is not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.syncclient.conftest import ClientResult, run_client, write_tree
from tests.syncclient.fakedav import FakeDav, drop, full, trickle, unavailable

pytestmark = pytest.mark.integration


@pytest.fixture()
def fake(httpserver: HTTPServer) -> Iterator[FakeDav]:
    yield FakeDav(httpserver)


def _sync(tmp: Path, fake: FakeDav, *flags: str, command: str = "run") -> ClientResult:
    args = [command] + (["--once"] if command == "run" else [])
    return run_client(
        tmp,
        *args,
        str(tmp / "src"),
        fake.url,
        "--state-dir",
        str(tmp / "state"),
        "--parallel",
        "1",
        "--retries",
        "5",
        "--json",
        *flags,
    )


def test_503_with_retry_after_is_honoured(tmp_path: Path, fake: FakeDav) -> None:
    write_tree(tmp_path / "src", {"a.bin": b"A" * 5000})
    fake.faults["PUT"] = [unavailable(1), unavailable(2)]
    r = _sync(tmp_path, fake)
    assert r.code == 0, r.stderr + r.stdout
    puts = fake.puts()
    assert [s for _, _, s in puts] == [503, 503, 201]
    assert puts[1][0] - puts[0][0] >= 1.0, "Retry-After: 1 not honoured"
    assert puts[2][0] - puts[1][0] >= 2.0, "Retry-After: 2 not honoured"
    assert fake.files["a.bin"] == b"A" * 5000
    retries = [e for e in r.events() if e["event"] == "retry"]
    assert len(retries) == 2 and "503" in retries[0]["error"]
    assert r.summary()["files"]["verified"] == 1


def test_server_out_of_space_says_so(tmp_path: Path, fake: FakeDav) -> None:
    """A 507 that outlasts the retries stops the run with a reason naming the full server,
    not an unreachable one or refused credentials."""
    write_tree(tmp_path / "src", {"a.bin": b"A" * 5000, "b.bin": b"B" * 5000})
    fake.faults["PUT"] = [full] * 4
    r = _sync(tmp_path, fake, "--retries", "2")
    assert r.code == 3, r.stderr + r.stdout
    reason = r.summary()["exit_reason"]
    assert "no room" in reason and "507" in reason and "free space" in reason, reason
    assert "unreachable" not in reason and "credentials" not in reason, reason
    assert fake.files == {}
    assert [s for _, _, s in fake.puts()] == [507, 507], "the queue goes on after a full server"


def test_dropped_connections_are_retried(tmp_path: Path, fake: FakeDav) -> None:
    write_tree(tmp_path / "src", {"d/x.bin": bytes(range(256)) * 100, "y.txt": b"y"})
    fake.faults["PUT"] = [drop, drop]
    fake.faults["MKCOL"] = [drop]
    r = _sync(tmp_path, fake)
    assert r.code == 0, r.stderr + r.stdout
    assert fake.files == {"d/x.bin": bytes(range(256)) * 100, "y.txt": b"y"}
    errors = [e["error"] for e in r.events() if e["event"] == "retry"]
    assert len(errors) == 3 and all("dropped" in e for e in errors)
    # a second run finds everything verified on the server (its oc:checksums) and sends nothing
    again = _sync(tmp_path, fake)
    assert again.code == 0 and again.summary()["nothing_transferred"] is True


def test_wrong_server_hash_is_never_verified(tmp_path: Path, fake: FakeDav) -> None:
    write_tree(tmp_path / "src", {"keep-me.csv": b"1,2,3\n" * 100})
    fake.wrong_hash = True
    manifest = tmp_path / "manifest.jsonl"
    r = _sync(tmp_path, fake, "--post-action", "delete", "--manifest", str(manifest))
    assert r.code == 4, r.stderr + r.stdout
    assert len(fake.puts()) == 3, "one send plus two re-sends on a hash mismatch"
    assert [e["path"] for e in r.events() if e["event"] == "verify-failed"] == ["keep-me.csv"]
    assert not [e for e in r.events() if e["event"] == "verified"]
    assert (tmp_path / "src" / "keep-me.csv").exists(), "deleted although never verified"
    assert not manifest.exists() or manifest.read_text() == ""
    plan = _sync(tmp_path, fake, command="plan")
    actions = json.loads(plan.stdout)["actions"]
    assert [(a["path"], a["reason"]) for a in actions] == [("keep-me.csv", "changed-hash")]


def test_plain_webdav_server_is_detected_and_reported(tmp_path: Path, fake: FakeDav) -> None:
    write_tree(tmp_path / "src", {"big.bin": b"B" * 300_000})
    r = _sync(tmp_path, fake, "--chunk-threshold", "100k")
    assert r.code == 0, r.stderr + r.stdout
    notes = [e["message"] for e in r.events() if e["event"] == "note"]
    assert any("PROPFIND" in n for n in notes) and any("plain PUT" in n for n in notes)
    assert r.summary()["server"] == {"listing": "propfind", "chunking": False, "notes": notes}
    assert fake.files["big.bin"] == b"B" * 300_000


def test_stalled_connection_is_detected_and_retried(tmp_path: Path, fake: FakeDav) -> None:
    import time

    from werkzeug import Request

    def stall(req: Request) -> None:
        req.get_data()
        time.sleep(2.5)  # longer than --stall-timeout; the client gives up on this connection
        return None

    write_tree(tmp_path / "src", {"s.bin": b"S" * 10_000})
    fake.faults["PUT"] = [stall]
    r = _sync(tmp_path, fake, "--stall-timeout", "1")
    assert r.code == 0, r.stderr + r.stdout
    errors = [e["error"] for e in r.events() if e["event"] == "retry"]
    assert errors and "no progress" in errors[0]
    assert fake.files["s.bin"] == b"S" * 10_000


def test_trickling_answer_counts_as_stalled(tmp_path: Path, fake: FakeDav) -> None:
    """A server that sends a byte every tenth of a second never trips the read timeout; the
    client still gives up on it after the stall timeout instead of hanging for the whole
    (here 40 s) answer, and retries on a new connection."""
    import time

    write_tree(tmp_path / "src", {"t.bin": b"T" * 1000})
    fake.faults["PROPFIND"] = [trickle(40.0)]
    started = time.monotonic()
    r = _sync(tmp_path, fake, "--stall-timeout", "2")
    took = time.monotonic() - started
    assert r.code == 0, r.stderr + r.stdout
    assert took < 25, f"the trickling answer held the run for {took:.0f}s"
    errors = [e["error"] for e in r.events() if e["event"] == "retry"]
    assert len(errors) == 1 and "too slowly" in errors[0], errors
    assert fake.files["t.bin"] == b"T" * 1000


def test_commit_of_a_large_file_waits_for_the_assembly(httpserver: HTTPServer) -> None:
    """The server answers a commit (MOVE .file) only once the file is assembled, longer than
    the stall timeout for a large file: the client waits for it instead of calling it
    stalled, retrying into 423 Locked while the first MOVE still runs, and giving up."""
    import time

    from werkzeug import Request, Response

    from syncclient.transports import StalledError
    from syncclient.transports.webdav import WebDAVOptions, WebDAVTransport

    def assemble(req: Request) -> Response:
        time.sleep(2.5)
        return Response("", 201, headers={"OC-Checksum": "SHA1:" + "ab" * 20})

    httpserver.expect_request(
        "/remote.php/dav/uploads/alice/s1/.file", method="MOVE"
    ).respond_with_handler(assemble)
    base = httpserver.url_for("/remote.php/dav/files/alice/t/")
    t = WebDAVTransport(WebDAVOptions(base, stall_timeout=1.0))
    try:
        done = t.session_commit("s1", "big.bin", 200 * 1024 * 1024, "ab" * 20, 0)
        assert done.hashes == {"sha1": "ab" * 20}
        with pytest.raises(StalledError):  # a small file's commit still stalls as before
            t.session_commit("s1", "small.bin", 1000, "ab" * 20, 0)
    finally:
        t.close()
