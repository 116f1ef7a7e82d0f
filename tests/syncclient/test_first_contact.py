"""What a new user meets first: errors that name the cause and the fix (real servers: a TLS
server with a private CA, the plain server, a misbehaving peer for 429), retries at start,
usage errors, ``--version``, the default config, human sizes and zoned times."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug import Response

from tests.conftest import PASSWORDS
from tests.support.server import DavServer
from tests.syncclient.conftest import password_file, run_client, write_tree
from tests.syncclient.fakedav import FakeDav

pytestmark = pytest.mark.integration


def _login(tmp: Path, user: str = "alice") -> list[str]:
    return ["--user", user, "--password-file", str(password_file(tmp, user))]


def _run(tmp: Path, url: str, *flags: str) -> Any:
    write_tree(tmp / "src", {"a.txt": b"a", "b.txt": b"bb", "c.txt": b"ccc"})
    return run_client(
        tmp,
        "run",
        "--once",
        str(tmp / "src"),
        url,
        "--state-dir",
        str(tmp / "state"),
        "--parallel",
        "1",
        *flags,
    )


def test_self_signed_server_names_ca_bundle(tls_server: DavServer, tmp_path: Path) -> None:
    started = time.monotonic()
    r = _run(tmp_path, tls_server.files_url("alice", "t/"), *_login(tmp_path))
    assert r.code == 3, r.stderr
    assert "not trusted" in r.stderr and "--ca-bundle FILE" in r.stderr
    assert 'ca_bundle = "FILE" under [server]' in r.stderr
    assert "_ssl.c" not in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - started < 30, "a certificate problem is not worth retrying"


def test_http_to_a_tls_port_says_use_https(tls_server: DavServer, tmp_path: Path) -> None:
    https = tls_server.files_url("alice", "t/")
    r = _run(tmp_path, https.replace("https://", "http://"), *_login(tmp_path))
    assert r.code == 3, r.stderr
    assert "speaks TLS (HTTPS) on this port" in r.stderr
    assert f"use {https}" in r.stderr
    assert "Server disconnected" not in r.stderr


def test_https_to_a_plain_port_says_use_http(server: DavServer, tmp_path: Path) -> None:
    plain = server.files_url("alice", "t/")
    r = _run(tmp_path, plain.replace("http://", "https://"), *_login(tmp_path))
    assert r.code == 3, r.stderr
    assert f"does not speak TLS on this port; use {plain}" in r.stderr


def test_server_root_is_detected_once(server: DavServer, tmp_path: Path) -> None:
    r = _run(tmp_path, server.url, *_login(tmp_path), "--json")
    assert r.code == 1, r.stderr + r.stdout
    summary = r.summary()
    assert "/remote.php/dav/files/alice/<folder>/" in summary["exit_reason"]
    assert summary["files"].get("failed", 0) == 1, "the wrong URL is reported once"
    assert summary["files"]["not-started"] == 2
    assert "HTTP 405" in summary["exit_reason"]


def test_upload_area_url_is_a_usage_error(server: DavServer, tmp_path: Path) -> None:
    """The uploads area (where resumable sessions live) is not a files folder: the run stops
    before sending, naming the folder URL to use, instead of failing every file."""
    url = server.url + "remote.php/dav/uploads/alice/"
    r = _run(tmp_path, url, *_login(tmp_path), "--json")
    assert r.code == 1, r.stderr + r.stdout
    reason = r.summary()["exit_reason"]
    assert "upload sessions" in reason and "/remote.php/dav/files/alice/<folder>/" in reason
    assert not [e for e in r.events() if e["event"] in ("start", "failed")], "files were sent"


def test_nextcloud_legacy_url_is_the_users_home(server: DavServer, tmp_path: Path) -> None:
    """Older Nextcloud clients' /remote.php/webdav/ is the logged-in user's home on davsync."""
    r = _run(tmp_path, server.url + "remote.php/webdav/t/", *_login(tmp_path))
    assert r.code == 0, r.stderr
    listing = httpx.request(
        "PROPFIND",
        server.files_url("alice", "t/"),
        headers={"Depth": "1"},
        auth=httpx.DigestAuth("alice", PASSWORDS["alice"]),
    )
    assert listing.status_code == 207
    sent = sorted(p.name for p in (tmp_path / "src").rglob("*") if p.is_file())
    assert sent and all(name in listing.text for name in sent)


def test_no_password_differs_from_wrong_password(server: DavServer, tmp_path: Path) -> None:
    url = server.files_url("bob", "t/")
    none = _run(tmp_path, url, "--user", "bob")
    assert none.code == 3
    assert "no password is configured" in none.stderr and "--password-file" in none.stderr
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-" + PASSWORDS["bob"] + "\n")
    wrong.chmod(0o600)
    refused = _run(tmp_path, url, "--user", "bob", "--password-file", str(wrong))
    assert refused.code == 3
    assert "refused the password of user 'bob'" in refused.stderr
    assert "no password is configured" not in refused.stderr
    assert PASSWORDS["bob"] not in refused.stderr


def test_other_users_folder_names_the_users_own(server: DavServer, tmp_path: Path) -> None:
    r = _run(tmp_path, server.files_url("bob", "t/"), *_login(tmp_path))
    assert r.code == 3
    assert "no access to this folder (HTTP 403)" in r.stderr
    assert "/remote.php/dav/files/alice/<folder>/" in r.stderr


@pytest.mark.parametrize("url", ["htp://127.0.0.1/dav/", "127.0.0.1/dav/", "https:///dav/"])
def test_malformed_url_is_a_usage_error(tmp_path: Path, url: str) -> None:
    r = _run(tmp_path, url)
    assert r.code == 1, r.stderr
    assert "target URL" in r.stderr and "Traceback" not in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_at_start_is_retried(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/remote.php/dav/files/alice/t/"
    started = time.monotonic()
    r = _run(tmp_path, url, "--retries", "3")
    elapsed = time.monotonic() - started
    assert r.code == 3, r.stderr
    assert len(re.findall(r"retrying PROPFIND \(probe\) in \d+s \(attempt \d\)", r.stderr)) == 2
    assert "cannot connect" in r.stderr
    assert elapsed >= 1.0, "backoff between the attempts"


def too_many(retry_after: int, text: str) -> Any:
    """Answer 429 with Retry-After and a short explanation."""
    return lambda req: Response(text, 429, headers={"Retry-After": str(retry_after)})


def test_429_waits_for_retry_after_and_shows_why(tmp_path: Path, httpserver: Any) -> None:
    fake = FakeDav(httpserver)
    fake.faults["PROPFIND"] = [too_many(2, "maintenance: back in a moment")]
    r = _run(tmp_path, fake.url, "--retries", "3")
    assert r.code == 0, r.stderr
    assert "retrying PROPFIND (probe) in 2s as the server asks" in r.stderr
    assert "server says: maintenance: back in a moment" in r.stderr
    propfinds = [t for t, m, _p, _s in fake.log if m == "PROPFIND"]
    assert propfinds[1] - propfinds[0] >= 2.0, "Retry-After not honoured"
    assert fake.files == {"a.txt": b"a", "b.txt": b"bb", "c.txt": b"ccc"}


def test_retry_after_beyond_the_time_budget_gives_up_at_once(
    tmp_path: Path, httpserver: Any
) -> None:
    fake = FakeDav(httpserver)
    fake.faults["PROPFIND"] = [too_many(600, "closed for backup")]
    started = time.monotonic()
    r = _run(tmp_path, fake.url, "--max-duration", "20s")
    assert r.code == 3, r.stderr
    assert "HTTP 429 (server says: closed for backup)" in r.stderr
    assert time.monotonic() - started < 20


def test_version(tmp_path: Path) -> None:
    r = run_client(tmp_path, "--version")
    assert r.code == 0 and re.fullmatch(r"syncclient \d+\.\d+\.\d+\S*\n", r.stdout)


def test_help_documents_our_exit_codes(tmp_path: Path) -> None:
    r = run_client(tmp_path, "--help")
    assert "exit codes (syncclient's own)" in r.stdout and "rclone" not in r.stdout
    for code in (0, 1, 2, 3, 4, 5, 8, 9):
        assert re.search(rf"^  {code}  \w", r.stdout, re.M), code


def test_commands_read_the_default_config_from_init(
    server: DavServer, target: str, tmp_path: Path
) -> None:
    src = tmp_path / "data"
    write_tree(src, {"big.bin": b"x" * 3000, "small.txt": b"s"})
    init = run_client(
        tmp_path,
        "init",
        "--url",
        target,
        "--user",
        "alice",
        "--password-file",
        str(password_file(tmp_path)),
        "--source",
        str(src),
    )
    assert init.code == 0, init.stderr
    default = tmp_path / "xdg-config" / "syncclient" / "config.toml"
    assert init.stdout.strip() == f"wrote {default}"
    plan = run_client(tmp_path, "plan")
    assert plan.code == 0, plan.stderr
    assert f"using config {default}" in plan.stderr
    assert re.search(r"upload\s+new\s+2\.9 KiB\s+big\.bin", plan.stdout), plan.stdout
    run = run_client(tmp_path, "run", "--once")
    assert run.code == 0, run.stderr
    assert f"using config {default}" in run.stderr
    status = run_client(tmp_path, "status")
    assert status.code == 0, status.stderr
    assert f"using config {default}" in status.stderr
    assert "2 files verified" in status.stdout
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d  exit 0", status.stdout)
    js = run_client(tmp_path, "status", "--json")
    finished = json.loads(js.stdout)[0]["last_runs"][0]["finished"]
    assert isinstance(finished, float), "raw values stay raw in --json"
    quiet = run_client(tmp_path, "status", "-q")
    assert "using config" not in quiet.stderr


def test_without_config_it_says_flags_only(tmp_path: Path) -> None:
    r = run_client(tmp_path, "status", str(tmp_path), "https://dav.example.org/dav/files/a/")
    assert "using no config file (flags only)" in r.stderr
