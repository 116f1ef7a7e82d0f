"""Fixtures of the compatibility lab: davserver endpoints as each client meets them, and stock
WebDAV servers for the sync client's harness.

Endpoints (``endpoint`` fixture, parametrize indirectly with their names):

- ``http-digest``: plain HTTP; the server challenges with Digest and refuses Basic (what a
  LAN server without a certificate offers; Explorer's default ``BasicAuthLevel`` 1 then uses
  Digest);
- ``https-basic``: HTTPS with Digest turned off in the config, so the challenge is Basic (what
  Explorer, litmus, cadaver and davfs2 use when given a certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from interop.stock import StockServer, start_nginx_dav, start_stock_wsgidav
from interop.tools import require
from tests.conftest import PASSWORDS, _prepare_root
from tests.support.server import DavServer

BASIC_ONLY_CONFIG = "auth:\n  digest: false\n"


@pytest.fixture(scope="session")
def tls_basic_server(
    tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA
) -> Iterator[DavServer]:
    """HTTPS with Digest disabled: the server's 401 challenge is Basic."""
    tmp = tmp_path_factory.mktemp("davserver-tls-basic")
    root = _prepare_root(tmp)
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    config = tmp / "config.yaml"
    config.write_text(BASIC_ONLY_CONFIG, encoding="utf-8")
    args = ["--config", str(config), "--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    srv = DavServer(root, args).start()
    yield srv
    srv.stop()


@dataclass(frozen=True)
class Endpoint:
    """A davserver as one client configuration meets it."""

    name: str
    server: DavServer
    scheme: str  # "digest" or "basic": what the server's 401 challenge asks for
    ca: Path | None
    user: str = "alice"

    @property
    def password(self) -> str:
        """The user's password."""
        return PASSWORDS[self.user]

    @property
    def origin(self) -> str:
        """``scheme://host:port`` without a trailing slash."""
        return self.server.url.rstrip("/")

    def files_url(self, path: str = "") -> str:
        """URL of ``path`` in the user's home."""
        return self.server.files_url(self.user, path)

    def auth(self) -> httpx.Auth:
        """httpx credentials matching the challenge."""
        if self.scheme == "digest":
            return httpx.DigestAuth(self.user, self.password)
        return httpx.BasicAuth(self.user, self.password)

    @property
    def verify(self) -> str | bool:
        """What httpx should verify the certificate against."""
        return str(self.ca) if self.ca is not None else True

    def client(self) -> httpx.Client:
        """An authenticated httpx client (no redirects followed)."""
        return httpx.Client(auth=self.auth(), verify=self.verify, timeout=60.0)


ENDPOINTS = ("http-digest", "https-basic")


@pytest.fixture()
def endpoint(request: pytest.FixtureRequest, ca_file: Path) -> Endpoint:
    """The endpoint named by the (indirect) parameter."""
    name = request.param
    if name == "http-digest":
        return Endpoint(name, request.getfixturevalue("server"), "digest", None)
    if name == "https-basic":
        return Endpoint(name, request.getfixturevalue("tls_basic_server"), "basic", ca_file)
    raise ValueError(name)


@pytest.fixture(scope="module")
def stock_wsgidav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StockServer]:
    """Stock WsgiDAV 4.4 (FilesystemProvider) at ``/dav/`` on a loopback port."""
    work = tmp_path_factory.mktemp("stock-wsgidav")
    srv = require(lambda: start_stock_wsgidav(work, "alice", "alice-pw-1"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def nginx_dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StockServer]:
    """nginx with its DAV and dav-ext modules at ``/dav/`` on a loopback port."""
    work = tmp_path_factory.mktemp("nginx-dav")
    srv = require(lambda: start_nginx_dav(work, "alice", "alice-pw-1"))
    yield srv
    srv.stop()
