"""Fixtures shared by every suite: real davserver processes on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from interop.accounts import PASSWORDS as ACCOUNTS
from interop.postgres import Cluster
from tests.support.postgres import fresh_database, running_cluster
from tests.support.server import DavServer, add_user

pytest_plugins = ["tests.support.ceph"]  # the ceph and s3_target fixtures

PASSWORDS = {name: ACCOUNTS[name] for name in ("alice", "bob", "oper")}
"""The session servers' users (from the one table, ``interop.accounts.PASSWORDS``)."""

CONFIG = """\
grants:
  - user: oper
    homes: ["*"]
    mode: read
auth:
  throttle:
    max_failures: 5
    lockout_s: 2
"""


def _prepare_root(tmp: Path) -> Path:
    root = tmp / "root"
    for name, pw in PASSWORDS.items():
        add_user(root, name, pw)
    return root


@pytest.fixture(scope="session")
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with users alice, bob and oper (oper may read every home)."""
    tmp = tmp_path_factory.mktemp("davserver")
    root = _prepare_root(tmp)
    (tmp / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def server(server_root: Path) -> Iterator[DavServer]:
    """One plain-HTTP server for the session (Digest auth; Basic refused over HTTP)."""
    srv = DavServer(server_root, ["--config", str(server_root.parent / "config.yaml")]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throw-away CA for the TLS server."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA) -> Iterator[DavServer]:
    """An HTTPS server (Basic and Digest) with a certificate for 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("davserver-tls")
    root = _prepare_root(tmp)
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    srv = DavServer(root, ["--tls-cert", str(cert_file), "--tls-key", str(key_file)]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA) -> Path:
    """The TLS CA certificate as a PEM file."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


def digest_client(user: str, password: str | None = None) -> httpx.Client:
    """An httpx client authenticating with Digest (what works over plain HTTP)."""
    return httpx.Client(auth=httpx.DigestAuth(user, password or PASSWORDS[user]), timeout=30.0)


@pytest.fixture()
def alice() -> Iterator[httpx.Client]:
    """alice's Digest client."""
    with digest_client("alice") as client:
        yield client


@pytest.fixture()
def bob() -> Iterator[httpx.Client]:
    """bob's Digest client."""
    with digest_client("bob") as client:
        yield client


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole session."""
    yield from running_cluster()


@pytest.fixture
def postgres_url(postgres: Cluster) -> str:
    """A new empty database on the session's PostgreSQL cluster (its URL)."""
    return fresh_database(postgres)
