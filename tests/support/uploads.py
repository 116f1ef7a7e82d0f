"""Helpers for the resumable-upload tests: servers that accept Basic over loopback HTTP (so
raw sockets and tuspy can authenticate) and small WebDAV helpers."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx

from interop.accounts import basic_client
from tests.conftest import PASSWORDS
from tests.support.server import DavServer, add_user

BASIC_HTTP = "auth:\n  basic_over_http: true\n"


def start_server(
    tmp: Path, extra_config: str = "", users: tuple[str, ...] = ("alice", "bob")
) -> DavServer:
    """A plain-HTTP server accepting Basic auth, with ``users`` and extra YAML config."""
    root = tmp / "root"
    for user in users:
        add_user(root, user, PASSWORDS[user])
    cfg = tmp / "config.yaml"
    cfg.write_text(BASIC_HTTP + extra_config, encoding="utf-8")
    return DavServer(root, ["--config", str(cfg)]).start()


def restart(server: DavServer) -> DavServer:
    """A new server process over the same root and arguments (after ``kill``/``stop``)."""
    return DavServer(server.root, server.extra_args).start()


def basic(user: str) -> str:
    """The Authorization header value for ``user``."""
    return "Basic " + base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()


def client(user: str) -> httpx.Client:
    """An httpx client authenticating ``user`` with Basic."""
    return basic_client(user, timeout=120.0)


def uploads_url(server: DavServer, user: str, rest: str = "") -> str:
    """URL below ``user``'s uploads area."""
    return f"{server.url}remote.php/dav/uploads/{user}/{rest}"


_HREF = re.compile(r"<D:href>([^<]*)</D:href>")
_LENGTH = re.compile(r"<D:getcontentlength>([0-9]+)</D:getcontentlength>")


def propfind_members(c: httpx.Client, url: str) -> dict[str, int | None]:
    """Names (last segment) of the members a Depth-1 PROPFIND lists, with their lengths."""
    r = c.request("PROPFIND", url, headers={"Depth": "1"})
    assert r.status_code == 207, (r.status_code, r.text)
    own = httpx.URL(url).path.rstrip("/")
    members: dict[str, int | None] = {}
    for response in r.text.split("<D:response>")[1:]:
        href = _HREF.search(response)
        assert href is not None
        path = href.group(1).rstrip("/")
        if path == own:
            continue
        length = _LENGTH.search(response)
        name = httpx.URL("http://x" + path).path.rsplit("/", 1)[-1]
        members[name] = int(length.group(1)) if length else None
    return members
