"""The whole server application in-process, driven by httpx over WSGI (no socket, no
subprocess): for dav behaviour tests. cheroot, TLS and the hostile suites keep using the real
server of ``tests.support.server``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from davserver.app import App, build_app
from davserver.http.environ import Environ, StartResponse, WSGIApp
from davserver.settings import load_settings
from interop.accounts import basic_client
from tests.support.configured import prepare_root

BASE_URL = "http://dav.test"


@contextmanager
def inprocess_app(tmp: Path, config: str = "") -> Iterator[App]:
    """The application over a fresh root below ``tmp`` with the users of ``USERS`` (Basic
    allowed over plain HTTP); its maintenance threads are stopped on exit."""
    root = prepare_root(tmp, "auth:\n  basic_over_http: true\n" + config)
    app = build_app(load_settings(tmp / "config.yaml", {"root": root}))
    try:
        yield app
    finally:
        if app.context.uploads is not None:
            app.context.uploads.stop_maintenance()


def client_for(app: App, user: str) -> httpx.Client:
    """An httpx client that talks to ``app`` in-process as ``user`` (its password from
    ``interop.accounts.PASSWORDS``)."""
    transport = httpx.WSGITransport(app=pep3333_path(app.wsgi), remote_addr="127.0.0.1")
    return basic_client(user, transport=transport, base_url=BASE_URL)


def pep3333_path(app: WSGIApp) -> WSGIApp:
    """``app`` behind a host that keeps PEP 3333: httpx's WSGI transport hands ``PATH_INFO``
    over as decoded text (``café``), where a WSGI host passes the UTF-8 bytes one character
    per byte (``cafÃ©``), as cheroot does. Like several real hosts, it sets no
    ``REQUEST_URI``."""

    def host(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        environ["PATH_INFO"] = environ["PATH_INFO"].encode("utf-8").decode("latin-1")
        return app(environ, start_response)

    return host
