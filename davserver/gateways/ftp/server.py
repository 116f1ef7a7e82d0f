"""The FTP/FTPS listener: a pyftpdlib server in its own thread, in the ``serve`` process.

``FtpGateway(settings, wsgi_app).start()`` binds ``gateways.ftp.host`` (default: the HTTP
host) and ``gateways.ftp.port`` (0 picks a free port) and returns the bound address;
``stop()`` closes the listener and every session and joins the thread. Each FTP connection
runs in a thread of its own (uploads block on the in-process PUT, never on other clients).

With ``tls.cert``/``tls.key`` configured, the gateway speaks explicit FTPS with the same
certificate and requires TLS on the control connection before USER/PASS and on data
connections (PROT P), unless ``allow_plain_login``. Without a certificate it can only run
with ``allow_plain_login`` (refused at start-up otherwise).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pyftpdlib.servers import ThreadedFTPServer

from davserver.gateways.ftp.auth import DavAuthorizer
from davserver.gateways.ftp.fs import DavFS
from davserver.gateways.ftp.handler import GatewayFTPHandler, GatewayTLSHandler
from davserver.gateways.inprocess import InProcessClient
from davserver.http.environ import WSGIApp
from davserver.settings import Settings, SettingsError

_POLL_S = 0.2
_JOIN_S = 15.0


def _handler_class(settings: Settings, client: InProcessClient) -> type[Any]:
    ftp = settings.gateways.ftp
    tls = settings.tls
    if not tls.enabled and not ftp.allow_plain_login:
        raise SettingsError(
            "the FTP gateway needs tls.cert and tls.key (FTPS), or "
            "gateways.ftp.allow_plain_login: true"
        )
    base: type[Any] = GatewayTLSHandler if tls.enabled else GatewayFTPHandler
    attrs: dict[str, Any] = {
        "authorizer": DavAuthorizer(
            client,
            allow_plain_login=ftp.allow_plain_login,
            max_put_bytes=settings.limits.max_put_bytes,
        ),
        "abstracted_fs": DavFS,
        "banner": "davsync FTP gateway ready.",
        "auth_failed_timeout": ftp.login_failure_delay_s,
        "timeout": ftp.idle_timeout_s,
        "masquerade_address": ftp.masquerade_address,
        "passive_ports": (
            list(range(ftp.passive_ports[0], ftp.passive_ports[1] + 1))
            if ftp.passive_ports
            else None
        ),
        "permit_foreign_addresses": False,
    }
    if tls.enabled:
        attrs.update(
            certfile=str(tls.cert),
            keyfile=str(tls.key),
            ssl_context=None,
            tls_control_required=not ftp.allow_plain_login,
            tls_data_required=not ftp.allow_plain_login,
        )
    handler: type[Any] = type("DavsyncFTPHandler", (base,), attrs)
    if tls.enabled:
        handler.prepare_contexts()  # a bad certificate fails here, at start-up
    return handler


class FtpGateway:
    """The FTP gateway of one server process (see the module docstring)."""

    def __init__(self, settings: Settings, app: WSGIApp) -> None:
        self.settings = settings
        self.client = InProcessClient(app, host=settings.host, port=settings.port)
        self._server: ThreadedFTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> tuple[str, int]:
        """Bind and serve in a background thread; returns ``(host, port)``."""
        ftp = self.settings.gateways.ftp
        handler = _handler_class(self.settings, self.client)
        host = ftp.host or self.settings.host
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        server = ThreadedFTPServer((host, ftp.port), handler)
        server.max_cons = ftp.max_connections
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="ftp-gateway", daemon=True)
        self._thread.start()
        bound = server.socket.getsockname()
        return str(bound[0]), int(bound[1])

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            self._server.serve_forever(timeout=_POLL_S, blocking=False, handle_exit=False)
        self._server.close_all()

    def stop(self) -> None:
        """Close the listener and all sessions (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)
            self._thread = None
