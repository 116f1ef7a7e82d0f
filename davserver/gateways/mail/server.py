"""The SMTP listener (aiosmtpd) in its own thread: STARTTLS, AUTH, size limit, no relay.

``MailGateway(settings, wsgi, http_host, http_port).start()`` binds
``gateways.smtp.host``/``port`` (0 picks a free port; ``address`` tells which) and serves
until ``stop()``. Policy:
- STARTTLS with the server's certificate (``tls.cert``/``tls.key``); AUTH and every command
  but EHLO/STARTTLS/NOOP/QUIT are refused before it unless ``allow_plain_login``;
- MAIL/RCPT/DATA need AUTH (530): an unauthenticated session can deliver nothing, so the
  gateway is no relay; any recipient is accepted after AUTH, the files always go to the
  authenticated user's area;
- a message over ``max_message_bytes`` gets 552 (aiosmtpd's ``data_size_limit``);
- more than ``max_connections`` open sessions: the next connection gets 421 and is closed;
- each message is processed in a worker thread (``MessageProcessor``), its outcome is the
  reply at the end of DATA.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from collections.abc import Awaitable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from davserver.gateways.inprocess import InProcessClient
from davserver.gateways.mail.auth import MailAuthenticator
from davserver.gateways.mail.deliver import Deliverer, Login
from davserver.gateways.mail.process import MessageProcessor
from davserver.http.environ import WSGIApp
from davserver.settings import Settings, SettingsError

log = logging.getLogger(__name__)

SESSION_LOG = "mail.log"
"""aiosmtpd's logger: a line per connection and command (and a deprecation warning per AUTH);
kept to errors."""

SESSION_TIMEOUT_S = 300.0


class MailHandler:
    """aiosmtpd handler: refuses unauthenticated envelopes, processes each message."""

    def __init__(self, processor: MessageProcessor) -> None:
        self.processor = processor

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data
        if not session.authenticated or not isinstance(login, Login):
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 Message content unreadable"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, self.processor.process, login, envelope.mail_from or "", raw
        )


TOO_MANY = b"421 4.7.0 Too many connections; try again later\r\n"


class ConnectionSlots:
    """How many SMTP sessions are open, against a cap (used on the listener's loop only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class CappedSMTP(SMTP):
    """aiosmtpd's SMTP protocol that answers ``421`` and closes when ``slots`` is full:
    without a cap, idle connections (no login needed) pile up until the process runs out
    of file descriptors, which would stop the HTTP server in the same process too."""

    def __init__(self, handler: Any, *, slots: ConnectionSlots, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._slots = slots
        self._counted = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._counted and not self._refused:  # STARTTLS calls this again: count once
            if self._slots.open >= self._slots.limit:
                self._refused = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(TOO_MANY)
                transport.close()
                return
            self._slots.open += 1
            self._counted = True
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        return False if self._refused else super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted:
            self._counted = False
            self._slots.open -= 1
        super().connection_lost(error)


class FreePortController(Controller):
    """aiosmtpd's threaded controller, able to bind port 0 (the chosen port is kept), whose
    sessions share ``slots`` (no cap when None)."""

    slots: ConnectionSlots | None = None

    def factory(self) -> SMTP:
        if self.slots is None:
            return SMTP(self.handler, **self.SMTP_kwargs)
        return CappedSMTP(self.handler, slots=self.slots, **self.SMTP_kwargs)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        async def bind() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


class MailGateway:
    """The e-mail gateway of one server process."""

    def __init__(
        self, settings: Settings, wsgi: WSGIApp, *, http_host: str, http_port: int
    ) -> None:
        cfg = settings.gateways.smtp
        logging.getLogger(SESSION_LOG).setLevel(logging.ERROR)
        if not settings.tls.enabled and not cfg.allow_plain_login:
            raise SettingsError(
                "gateways.smtp needs tls.cert/tls.key for STARTTLS "
                "(or gateways.smtp.allow_plain_login: true)"
            )
        if cfg.allow_plain_login:  # the operator's choice: say it once, not per connection
            log.warning("gateways.smtp.allow_plain_login: passwords may cross the network in clear")
            warnings.filterwarnings(
                "ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning
            )
        client = InProcessClient(wsgi, host=http_host, port=http_port)
        deliverer = Deliverer(client)
        self.processor = MessageProcessor(
            deliverer, cfg, settings.state_path / "mail", reserve_bytes=settings.reserve_bytes
        )
        self.processor.clear_assembly()
        tls = _tls_context(settings) if settings.tls.enabled else None
        self.controller = FreePortController(
            MailHandler(self.processor),
            hostname=cfg.host or settings.host,
            port=cfg.port,
            server_hostname=cfg.host or settings.host,
            tls_context=tls,
            require_starttls=tls is not None and not cfg.allow_plain_login,
            auth_required=True,
            auth_require_tls=not cfg.allow_plain_login,
            authenticator=MailAuthenticator(client, plain_allowed=cfg.allow_plain_login),
            data_size_limit=cfg.max_message_bytes,
            timeout=SESSION_TIMEOUT_S,
        )
        self.controller.slots = ConnectionSlots(cfg.max_connections)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the listener is bound to."""
        return str(self.controller.hostname), int(self.controller.port)

    def start(self) -> None:
        """Bind and serve in a background thread."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening and end the thread (messages in flight are abandoned unstored);
        stopping a stopped gateway does nothing."""
        if self.controller._thread is not None:
            self.controller.stop()


def _tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert settings.tls.cert is not None and settings.tls.key is not None
    context.load_cert_chain(str(settings.tls.cert), str(settings.tls.key))
    return context
