"""FTP logins checked by the server itself: a PROPFIND of the user's home with Basic.

USER/PASS become one in-process ``PROPFIND Depth: 0`` of ``/dav/files/<user>/`` from the
FTP client's address. The server's authentication and login throttle answer it, so a wrong
password counts against that address exactly as over HTTP, and once the address is
throttled the FTP login is refused (``530`` with the reason) like the HTTP one (``429``).
On success the handler gets a ``DavSession`` (``handler.dav``) used for every later command.
"""

from __future__ import annotations

import re
from typing import Any

from pyftpdlib.authorizers import AuthenticationFailed

from davserver.gateways.ftp.dav import FILES_PREFIX, DavSession
from davserver.gateways.inprocess import Credentials, InProcessClient

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
PERMISSIONS = "elradfmwT"
"""What pyftpdlib may attempt; the server decides per request (grants, locks, limits)."""


class DavAuthorizer:
    """pyftpdlib authorizer backed by the server's users (see the module docstring)."""

    def __init__(
        self, client: InProcessClient, *, allow_plain_login: bool, max_put_bytes: int | None = None
    ) -> None:
        self.client = client
        self.allow_plain_login = allow_plain_login
        self.max_put_bytes = max_put_bytes

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        """Accept the login or raise ``AuthenticationFailed`` with the reason for 530."""
        if not _USER_NAME.match(username or ""):
            raise AuthenticationFailed("Authentication failed.")
        encrypted = bool(getattr(handler, "_ssl_established", False))
        if not encrypted and not self.allow_plain_login:
            raise AuthenticationFailed("Log in over TLS (AUTH TLS) first.")
        dav = DavSession(
            self.client,
            Credentials(username, password),
            client_addr=str(handler.remote_ip),
            # The gateway vouches for the channel: TLS, or plain logins explicitly allowed.
            secure=True,
            max_put_bytes=self.max_put_bytes,
        )
        answer = dav.request("PROPFIND", FILES_PREFIX + username + "/", headers={"Depth": "0"})
        if answer.status == 207:
            handler.dav = dav
            return
        if answer.status == 429:
            raise AuthenticationFailed("Too many failed logins from your address; try again later.")
        if answer.status in (401, 403, 404):
            raise AuthenticationFailed("Authentication failed.")
        raise AuthenticationFailed(f"Login could not be checked (HTTP {answer.status}).")

    def get_home_dir(self, username: str) -> str:
        """The FTP root: the user's files folder as a WebDAV path."""
        return FILES_PREFIX + username

    def has_user(self, username: str) -> bool:
        return True

    def get_msg_login(self, username: str) -> str:
        return f"Logged in as {username}."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def get_perms(self, username: str) -> str:
        return PERMISSIONS

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in PERMISSIONS

    def impersonate_user(self, username: str, password: str) -> None:
        return None

    def terminate_impersonation(self, username: str) -> None:
        return None
