"""SMTP AUTH (PLAIN, LOGIN) checked against the server's users through the WSGI app.

``MailAuthenticator`` is an aiosmtpd authenticator. It asks the server's own application a
``PROPFIND`` (Depth 0) of the user's home with the offered credentials and the SMTP peer's
address, so the password check, the failed-login throttle (per account and per address) and
the home's existence are exactly those of an HTTP login: a wrong password over SMTP counts
against the same address as one over HTTP, and a throttled address is refused here too.
"""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from davserver.gateways.inprocess import Credentials, InProcessClient
from davserver.gateways.mail.deliver import PROTOCOL, Login

log = logging.getLogger(__name__)

INVALID = "535 5.7.8 Authentication credentials invalid"
THROTTLED = "454 4.7.0 Too many failed logins from this address or for this user; try later"
UNAVAILABLE = "454 4.7.0 Temporary authentication failure"


class MailAuthenticator:
    """Checks AUTH through ``client``; ``plain_allowed``: AUTH without TLS is acceptable."""

    def __init__(self, client: InProcessClient, *, plain_allowed: bool) -> None:
        self.client = client
        self.plain_allowed = plain_allowed

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            user = auth_data.login.decode("utf-8")
            password = auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        if not user or ":" in user or "/" in user or not user.isprintable():
            return AuthResult(success=False, handled=False)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        login = Login(
            Credentials(user, password),
            client_addr=peer,
            secure=session.ssl is not None or self.plain_allowed,
        )
        answer = self.client.request(
            "PROPFIND",
            f"/dav/files/{user}/",
            credentials=login.credentials,
            client_addr=login.client_addr,
            protocol=PROTOCOL,
            secure=login.secure,
            headers={"Depth": "0"},
        )
        if answer.status == 207:
            return AuthResult(success=True, auth_data=login)
        if answer.status == 429:
            return AuthResult(success=False, handled=False, message=THROTTLED)
        if answer.status in (401, 403, 404):
            return AuthResult(success=False, handled=False, message=INVALID)
        log.warning("mail AUTH for %s: unexpected HTTP %s", user, answer.status)
        return AuthResult(success=False, handled=False, message=UNAVAILABLE)
