"""The middleware composition of ``davserver.app``: plain WSGI middlewares mounted into
WsgiDAV's stack in the documented order, each built around the next application."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from davserver.app import App
from davserver.dav.stack import mount
from davserver.http.environ import Environ, StartResponse, WSGIApp
from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.integration

DOCUMENTED_ORDER = [
    "ErrorPrinter",
    "StateUnavailable",
    "ThrottleGate",
    "DigestNonceGuard",
    "HTTPAuthenticator",
    "WebdavAlias",
    "DavLimits",
    "NextcloudEndpoints",
    "AccessControl",
    "FormUploads",
    "OperatorPages",
    "RequestQuirks",
    "DavsyncExtensions",
    "Listing",
    "RequestResolver",
]
"""docs/ARCHITECTURE.md, "Middleware stack", from ``ErrorPrinter`` to ``RequestResolver``."""


class _Tagging:
    """A plain middleware: adds ``X-Tag: <label>`` to every response."""

    def __init__(self, next_app: WSGIApp, *, label: str) -> None:
        self.next_app = next_app
        self.label = label

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def tagged(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            return start_response(status, [*headers, ("X-Tag", self.label)], *exc)

        return self.next_app(environ, tagged)


def _hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with inprocess_app(tmp_path) as built:
        yield built


def _stack_names(app: App) -> list[str]:
    names: list[str] = []
    layer: Any = app.dav.application
    while layer is not app.dav and len(names) < 50:
        names.append(type(layer).__name__)
        layer = layer.next_app
    return names


def test_the_stack_runs_in_the_documented_order(app: App) -> None:
    assert _stack_names(app) == DOCUMENTED_ORDER


def test_mounted_middlewares_are_plain_wsgi_callables_around_the_next_layer(app: App) -> None:
    layer: Any = app.dav.application
    mounted = 0
    while layer is not app.dav:
        inner = getattr(layer, "inner", None)
        if inner is not None:  # a mount: the plain middleware wraps the same next application
            assert not hasattr(inner, "wsgidav_app") and not hasattr(inner, "config")
            assert getattr(inner, "next_app", getattr(inner, "app", None)) is layer.next_app
            mounted += 1
        layer = layer.next_app
    assert mounted == 11


def test_mount_builds_the_factory_around_the_next_app_and_passes_requests() -> None:
    entry = mount("Tagging", partial(_Tagging, label="one"))
    layer = entry(None, _hello, {})
    assert type(layer).__name__ == "Tagging"
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    body = layer({"REQUEST_METHOD": "GET"}, lambda s, h, *e: seen.append((s, h)))
    assert b"".join(body) == b"hello"
    assert seen == [("200 OK", [("Content-Length", "5"), ("X-Tag", "one")])]


def test_a_request_crosses_the_mounted_layers(app: App) -> None:
    """Authentication, the alias, access control and the listing all answer through the
    composed stack: the Nextcloud alias reaches alice's home, bob's home is refused."""
    with client_for(app, "alice") as alice:
        put = alice.put("/remote.php/webdav/note.txt", content=b"x")
        assert put.status_code == 201, put.text
        listed = alice.request("PROPFIND", "/remote.php/webdav/", headers={"Depth": "1"})
        assert listed.status_code == 207 and b"note.txt" in listed.content
        refused = alice.get("/remote.php/dav/files/bob/")
        assert refused.status_code == 403
    transport = httpx.WSGITransport(app=app.wsgi)
    with httpx.Client(transport=transport, base_url="http://dav.test") as anonymous:
        assert anonymous.get("/remote.php/dav/files/alice/note.txt").status_code == 401
