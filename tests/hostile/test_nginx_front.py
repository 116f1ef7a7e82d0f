"""The nginx front documented in docs/SECURITY.md, run exactly as written (ports and
certificate paths replaced) in front of a real server: TLS terminated at nginx, Basic
accepted because nginx says HTTPS, WebDAV methods and Destination URLs work through it, and
the login throttle sees each client's own address.

A documented block nginx refuses (or that never listens) fails the tests with nginx's own
error output. A missing nginx skips them on a developer machine and fails them under CI=true
(``interop.tools.require_tool``)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from interop.tools import require_tool
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"
CONFIG = """\
server: {trusted_proxies: [127.0.0.1]}
auth:
  basic_over_http: false
  throttle: {max_failures: 3, address_max_failures: 3, window_s: 60, lockout_s: 60}
"""


def documented_block() -> str:
    """The nginx block of docs/SECURITY.md, between its BEGIN and END markers."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"# BEGIN davsync-nginx\n(.*?)# END davsync-nginx", text, re.S)
    assert match, "the nginx block is missing from docs/SECURITY.md"
    return match.group(1)


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"docs/SECURITY.md no longer contains {old!r}"
    return text.replace(old, new)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    nginx = require_tool("nginx")
    tmp = tmp_path_factory.mktemp("nginx")
    srv: DavServer = start_server(tmp, CONFIG)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "chain.pem"))
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    port = _free_port()
    block = documented_block()
    block = _replace(block, "server 127.0.0.1:8080;", f"server {srv.url.split('/')[2]};")
    block = _replace(block, "listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    block = _replace(block, "/etc/ssl/davsync/fullchain.pem", str(tmp / "chain.pem"))
    block = _replace(block, "/etc/ssl/davsync/privkey.pem", str(tmp / "key.pem"))
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir()
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{block}
}}
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_listening(proc, port, tmp / "error.log")
        yield f"https://127.0.0.1:{port}/", tmp / "ca.pem"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        srv.stop()


def _wait_listening(proc: subprocess.Popen[str], port: int, error_log: Path) -> None:
    """Return once nginx accepts connections on ``port``; fail the test with nginx's error
    output if it exits first or is not listening within 20 s (the documented block is broken)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    stderr = ""
    if proc.poll() is not None and proc.stderr is not None:
        stderr = proc.stderr.read()
    log = error_log.read_text(encoding="utf-8", errors="replace") if error_log.exists() else ""
    pytest.fail(
        "nginx did not start with the block published in docs/SECURITY.md "
        f"(exit status {proc.poll()}):\n{stderr}{log}",
        pytrace=False,
    )


def _client(
    ca: Path, user: str, source: str = "127.0.0.1", password: str | None = None
) -> httpx.Client:
    return httpx.Client(
        auth=(user, password or USERS[user]),
        verify=str(ca),
        transport=httpx.HTTPTransport(verify=str(ca), local_address=source),
        timeout=30,
    )


def test_webdav_through_the_front(front: tuple[str, Path]) -> None:
    base, ca = front
    home = f"{base}remote.php/dav/files/alice/"
    with _client(ca, "alice") as c:
        assert c.put(home + "via-nginx.txt", content=b"through the proxy").status_code == 201
        assert c.get(home + "via-nginx.txt").content == b"through the proxy"
        r = c.request("MOVE", home + "via-nginx.txt", headers={"Destination": home + "moved.txt"})
        assert r.status_code == 201
        r = c.request("PROPFIND", home, headers={"Depth": "1"})
        assert r.status_code == 207 and "moved.txt" in r.text
        assert c.request("PROPFIND", home, headers={"Depth": "infinity"}).status_code == 403


def test_front_does_not_let_clients_spoof_their_address(front: tuple[str, Path]) -> None:
    base, ca = front
    url = f"{base}remote.php/dav/files/bob/"
    for i in range(3):
        with _client(ca, "bob", "127.0.0.2", password="wrong") as guesser:
            r = guesser.request(
                "PROPFIND", url, headers={"Depth": "0", "X-Forwarded-For": f"10.0.0.{i}"}
            )
            assert r.status_code == 401
    with _client(ca, "oper", "127.0.0.2") as same_address:
        assert same_address.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 429
    with _client(ca, "oper", "127.0.0.3") as other_client:
        r = other_client.request(
            "PROPFIND", f"{base}remote.php/dav/files/oper/", headers={"Depth": "0"}
        )
        assert r.status_code == 207
