"""WsgiDAV domain controller backed by :class:`~davserver.auth.users.UserStore`.

Wiring (WsgiDAV configuration)::

    config = {
        "http_authenticator": {
            "domain_controller": "davserver.auth.domain_controller.DavsyncDomainController",
            "accept_basic": True,
            "accept_digest": True,
            "default_to_digest": True,
        },
        "middleware_stack": [..., ErrorPrinter, ThrottleGate, HTTPAuthenticator, ...],
        "davsync": {
            "user_store": UserStore(...),
            "throttle": LoginThrottle(),
            "realm": "davsync",
            "allow_anonymous_paths": [],
            "basic_over_http": False,
        },
    }

Failed and successful logins are *recorded* by :class:`~davserver.auth.gate.ThrottleGate`
(for Basic and Digest alike), which must therefore be in the middleware stack; this controller
only *refuses* credentials while the throttle says the account or address is locked, and leaves
notes in the WSGI environ (:data:`ENV_ATTEMPTED_USER`, :data:`ENV_THROTTLED`) for the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsgidav.dc.base_dc import BaseDomainController

from davserver.auth.credential_cache import ChecksBusyError, CredentialCache
from davserver.auth.errors import AuthConfigError
from davserver.auth.throttle import LoginThrottle
from davserver.auth.users import UserStore

if TYPE_CHECKING:
    from wsgidav.wsgidav_app import WsgiDAVApp

__all__ = [
    "CONFIG_KEY",
    "ENV_ASSESSED",
    "ENV_ATTEMPTED_USER",
    "ENV_THROTTLED",
    "DavsyncAuthConfig",
    "DavsyncDomainController",
    "basic_allowed",
]

#: Key of the davsync section in the WsgiDAV configuration.
CONFIG_KEY = "davsync"
#: Environ key: the user name the domain controller was asked to authenticate.
ENV_ATTEMPTED_USER = "davsync.auth.attempted_user"
#: Environ key: True when the domain controller refused credentials because of throttling.
ENV_THROTTLED = "davsync.auth.throttled"
#: Environ key: True when Basic credentials were not checked because too many other password
#: checks were running (the gate answers 503 instead of the 401).
ENV_CHECKS_BUSY = "davsync.auth.checks_busy"
#: Environ key: the gate's throttle assessment of this request, ``(user, address, Assessment)``;
#: the controller reuses it for the same user and address instead of asking again.
ENV_ASSESSED = "davsync.auth.assessed"


@dataclass(frozen=True, slots=True)
class DavsyncAuthConfig:
    """The ``davsync`` section of the WsgiDAV configuration, checked.

    Attributes:
        user_store: the accounts.
        throttle: the failed-login throttle (shared by the controller and the gate).
        realm: the one authentication realm of the server.
        allow_anonymous_paths: URL path prefixes served without authentication, normalized
            without trailing ``/`` (except ``"/"`` itself, which makes everything anonymous).
        basic_over_http: accept Basic credentials on plain HTTP (not only HTTPS).
    """

    user_store: UserStore
    throttle: LoginThrottle
    realm: str
    allow_anonymous_paths: tuple[str, ...]
    basic_over_http: bool

    @classmethod
    def from_wsgidav_config(cls, config: Mapping[str, Any]) -> DavsyncAuthConfig:
        """Read and check ``config["davsync"]``.

        Keys: ``user_store`` (UserStore), ``throttle`` (LoginThrottle), ``realm`` (non-empty
        str without ``"`` or ``\\``), ``allow_anonymous_paths`` (list of prefixes starting with
        ``/``; optional, default none), ``basic_over_http`` (bool; optional, default False).

        Raises:
            AuthConfigError: the section is missing or a value is invalid.
        """
        section = config.get(CONFIG_KEY)
        if not isinstance(section, Mapping):
            raise AuthConfigError(f"missing configuration section {CONFIG_KEY!r}")
        store = section.get("user_store")
        if not isinstance(store, UserStore):
            raise AuthConfigError(f"{CONFIG_KEY}.user_store must be a UserStore")
        throttle = section.get("throttle")
        if not isinstance(throttle, LoginThrottle):
            raise AuthConfigError(f"{CONFIG_KEY}.throttle must be a LoginThrottle")
        realm = section.get("realm")
        if not isinstance(realm, str) or not realm or '"' in realm or "\\" in realm:
            raise AuthConfigError(
                f"{CONFIG_KEY}.realm must be a non-empty string without '\"' or '\\'"
            )
        raw_paths = section.get("allow_anonymous_paths") or []
        if isinstance(raw_paths, str) or not all(isinstance(p, str) for p in raw_paths):
            raise AuthConfigError(f"{CONFIG_KEY}.allow_anonymous_paths must be a list of str")
        paths: list[str] = []
        for p in raw_paths:
            if not p.startswith("/"):
                raise AuthConfigError(f"anonymous path prefix {p!r} must start with '/'")
            paths.append(p.rstrip("/") or "/")
        basic_over_http = section.get("basic_over_http", False)
        if not isinstance(basic_over_http, bool):
            raise AuthConfigError(f"{CONFIG_KEY}.basic_over_http must be a bool")
        return cls(store, throttle, realm, tuple(paths), basic_over_http)

    def is_anonymous_path(self, path: str) -> bool:
        """True if the URL path ``path`` lies in one of :attr:`allow_anonymous_paths`.

        Prefixes match whole path segments: ``/pub`` matches ``/pub`` and ``/pub/x`` but not
        ``/public``. Matching is case-sensitive.
        """
        return any(
            p == "/" or path == p or path.startswith(p + "/") for p in self.allow_anonymous_paths
        )


def basic_allowed(settings: DavsyncAuthConfig, environ: Mapping[str, Any]) -> bool:
    """True if Basic credentials may be accepted for this request (HTTPS, or allowed on HTTP).

    The scheme is taken from ``environ["wsgi.url_scheme"]``; behind a TLS-terminating proxy the
    server must be set up so that this is ``"https"``.
    """
    return settings.basic_over_http or environ.get("wsgi.url_scheme") == "https"


def _assessed_wait(
    environ: Mapping[str, Any], user: str, addr: str | None, throttle: LoginThrottle
) -> float | None:
    """The throttle's wait for ``user`` from ``addr``: the gate's assessment of this request
    when it was made for the same user and address (a moment ago), else a fresh check."""
    noted = environ.get(ENV_ASSESSED)
    if noted is not None and noted[0] == user and noted[1] == addr:
        wait: float | None = noted[2].wait
        return wait
    return throttle.check(user, addr)


class DavsyncDomainController(BaseDomainController):
    """Authenticates against a :class:`UserStore`, in one fixed realm, honoring a throttle.

    Constructed by WsgiDAV's ``HTTPAuthenticator`` as ``(wsgidav_app, config)`` and configured by
    ``config["davsync"]`` (see :meth:`DavsyncAuthConfig.from_wsgidav_config`).

    Raises:
        AuthConfigError: (from the constructor) invalid ``davsync`` configuration.
    """

    def __init__(self, wsgidav_app: WsgiDAVApp, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.settings = DavsyncAuthConfig.from_wsgidav_config(config)
        self._verified = CredentialCache()

    def __str__(self) -> str:
        return f"{self.__class__.__name__}(realm={self.settings.realm!r})"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        """Always the configured realm."""
        return self.settings.realm

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        """False for paths under an anonymous prefix, True otherwise.

        The path checked is ``SCRIPT_NAME + PATH_INFO`` (the share is in ``SCRIPT_NAME`` once
        WsgiDAV has resolved it). Without ``environ`` (start-up checks) only the prefix ``/``
        counts as anonymous.
        """
        if environ is None:
            return "/" not in self.settings.allow_anonymous_paths
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        return not self.settings.is_anonymous_path(path or "/")

    def _refuse(self, realm: str, user_name: str, environ: dict[str, Any]) -> bool:
        """Note the attempt; True if the credentials must be refused without checking."""
        environ[ENV_ATTEMPTED_USER] = user_name
        if realm != self.settings.realm:
            return True
        addr = environ.get("REMOTE_ADDR") or None
        if _assessed_wait(environ, user_name, addr, self.settings.throttle) is not None:
            environ[ENV_THROTTLED] = True
            return True
        return False

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any]
    ) -> bool:
        """True if the password is right, Basic is allowed here and nothing is throttled.

        False without a check (and ``ENV_CHECKS_BUSY`` set) while too many other credentials
        are being checked (``CredentialCache``)."""
        if not basic_allowed(self.settings, environ):
            return False
        if self._refuse(realm, user_name, environ):
            return False
        try:
            return self._verified.verify(
                user_name, password, lambda: self.settings.user_store.verify(user_name, password)
            )
        except ChecksBusyError:
            environ[ENV_CHECKS_BUSY] = True
            return False

    def supports_http_digest_auth(self) -> bool:
        """Digest is supported (for accounts that have a stored ``HA1``)."""
        return True

    def digest_auth_user(self, realm: str, user_name: str, environ: dict[str, Any]) -> str | bool:
        """The stored ``HA1`` of ``user_name`` for the realm, or False.

        False when the account is unknown, disabled, has no ``HA1`` for this realm, or the
        account or client address is throttled.
        """
        if self._refuse(realm, user_name, environ):
            return False
        ha1 = self.settings.user_store.digest_ha1(user_name, self.settings.realm)
        return ha1 if ha1 is not None else False
