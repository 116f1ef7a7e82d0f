"""The in-process client runs requests through the whole server application."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.app import App, build_app
from davserver.gateways.inprocess import Credentials, InProcessClient
from davserver.settings import load_settings
from tests.support.configured import USERS, prepare_root

pytestmark = pytest.mark.integration

ALICE = Credentials("alice", USERS["alice"])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    root = prepare_root(tmp_path, "auth: {throttle: {max_failures: 3}}\n")
    built = build_app(load_settings(tmp_path / "config.yaml", {"root": root}))
    yield built
    if built.context.uploads is not None:
        built.context.uploads.stop_maintenance()


def _client(app: App) -> InProcessClient:
    return InProcessClient(app.wsgi, host="127.0.0.1", port=8080)


def test_put_then_get_with_digests(app: App) -> None:
    client = _client(app)
    data = b"gateway bytes\n" * 1000
    put = client.request(
        "PUT",
        "/dav/files/alice/a b.csv",
        credentials=ALICE,
        client_addr="127.0.0.9",
        protocol="ftp",
        secure=True,
        body=io.BytesIO(data),
    )
    assert put.status == 201, put
    got = client.request(
        "GET",
        "/dav/files/alice/a b.csv",
        credentials=ALICE,
        client_addr="127.0.0.9",
        protocol="ftp",
        secure=True,
    )
    assert got.status == 200
    assert got.body == data
    assert hashlib.sha256(data).hexdigest() in got.headers["oc-checksum"].lower() or (
        hashlib.sha1(data).hexdigest() in got.headers["oc-checksum"].lower()
    )


def test_wrong_password_is_refused_and_counted_per_address(app: App) -> None:
    client = _client(app)
    bad = Credentials("alice", "nope")
    statuses = [
        client.request(
            "PROPFIND",
            "/dav/files/alice/",
            credentials=bad,
            client_addr="127.0.0.7",
            protocol="ftp",
            secure=True,
            headers={"Depth": "0"},
        ).status
        for _ in range(6)
    ]
    assert statuses[0] == 401
    assert 429 in statuses


def test_other_users_home_is_forbidden(app: App) -> None:
    client = _client(app)
    put = client.request(
        "PUT",
        "/dav/files/bob/x.txt",
        credentials=ALICE,
        client_addr="127.0.0.9",
        protocol="ftp",
        secure=True,
        body=b"x",
    )
    assert put.status == 403
    assert not (app.context.settings.files_dir / "bob" / "x.txt").exists()


def test_basic_needs_the_gateway_to_vouch_for_tls(app: App) -> None:
    client = _client(app)
    answer = client.request(
        "PROPFIND",
        "/dav/files/alice/",
        credentials=ALICE,
        client_addr="127.0.0.9",
        protocol="ftp",
        secure=False,
        headers={"Depth": "0"},
    )
    assert answer.status == 401


def test_commit_is_journalled_with_the_gateway_protocol(app: App) -> None:
    client = _client(app)
    put = client.request(
        "PUT",
        "/dav/files/alice/journalled.txt",
        credentials=ALICE,
        client_addr="127.0.0.9",
        protocol="ftp",
        secure=True,
        body=b"journalled\n",
    )
    assert put.status == 201
    assert app.context.collection is not None
    arrivals = app.context.collection.recent_arrivals(user="alice")
    assert [(a.path, a.protocol, a.client) for a in arrivals] == [
        ("journalled.txt", "ftp", "127.0.0.9")
    ]
    assert arrivals[0].sha256 == hashlib.sha256(b"journalled\n").hexdigest()
