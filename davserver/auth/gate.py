"""WSGI middleware in front of WsgiDAV's ``HTTPAuthenticator``: throttling and Basic policy.

For every request that carries ``Authorization: Basic`` or ``Digest`` credentials,
:class:`ThrottleGate`

1. refuses Basic credentials on plain HTTP unless ``davsync.basic_over_http`` is true: it
   removes the ``Authorization`` header, so ``HTTPAuthenticator`` answers 401 with its default
   challenge: Digest, if ``http_authenticator.accept_digest`` is on (``default_to_digest``
   must then be on as well, which is checked); with Digest off, only HTTPS clients can log in.
   The attempt is not counted as a failure, since no password was checked;
2. answers ``429 Too Many Requests`` with ``Retry-After`` (whole seconds) while
   :meth:`LoginThrottle.check` says the account named in the header or the client address
   (``REMOTE_ADDR``) is locked;
3. removes an undecodable Basic header (bad base64, not UTF-8, no ``:``) and a Digest
   header that is not a plain list of ``name=token`` / ``name="quoted"`` parameters
   (``digest_well_formed``), so the authenticator answers 401 with a challenge instead of
   failing with 500, and never runs its parameter expressions on such a header: they
   backtrack quadratically on an unclosed quoted value full of commas (one request with a
   60 KB header held the interpreter for 4 s, every other request waiting);
4. answers ``503 Service Unavailable`` with ``Retry-After: 1`` instead of the 401 when the
   domain controller did not check Basic credentials because too many other password checks
   were running (``davserver.auth.credential_cache``; not counted as a failure);
5. records the outcome once the response starts: a success when ``HTTPAuthenticator``
   authenticated the request (``davserver.http.environ.authenticated_user``; recorded only
   when the check in step 2 saw failures of that account from that address, since a success
   only clears those); a failure when the
   response is 401 after :class:`DavsyncDomainController` was consulted for the credentials
   (so a wrong password or unknown user, for Basic and Digest alike; not a malformed Digest
   header, a logout request or a path that needs no authentication).

Requests without credentials pass through untouched (they get the usual 401 challenge).

Place it in ``middleware_stack`` after ``ErrorPrinter`` and before ``HTTPAuthenticator``, with
:class:`DavsyncDomainController` as the domain controller; both (and that HTTPAuthenticator
comes after the gate) are checked at start-up.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.auth.domain_controller import (
    ENV_ASSESSED,
    ENV_ATTEMPTED_USER,
    ENV_CHECKS_BUSY,
    ENV_THROTTLED,
    DavsyncAuthConfig,
    DavsyncDomainController,
    basic_allowed,
)
from davserver.auth.errors import AuthConfigError
from davserver.auth.throttle import Assessment
from davserver.http.environ import authenticated_user

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from _typeshed import OptExcInfo
    from wsgidav.wsgidav_app import WsgiDAVApp

__all__ = ["Credentials", "ThrottleGate", "parse_authorization"]

_logger = logging.getLogger(__name__)

# The same expressions HTTPAuthenticator uses, so both read the same user name from a header.
_SCHEME_RE = re.compile(r"^([\w]+)")
_DIGEST_PARAM_RE = re.compile(r"\b([\w]+)=([^,]*),")
_DIGEST_PARAM_FIX_RE = re.compile(r'\b([\w]+)=("[^"]*,[^"]*"),')
_PARAM_NAME_RE = re.compile(r"[\w-]+=")

_BODY_429 = b"Too many failed logins; retry later.\n"
_BODY_503 = b"Too many logins are being checked; retry shortly.\n"
_BODY_BASIC_REFUSED = (
    b"Basic credentials are refused over plain HTTP (the password would cross the network"
    b" readable). Log in with Digest (curl --digest), or use HTTPS.\n"
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an ``Authorization`` header claims.

    Attributes:
        scheme: the lower-cased scheme name (``"basic"``, ``"digest"``, ...), ``""`` if none.
        user: the user name, or ``None`` if absent or undecodable.
        malformed: True for a Basic header that cannot be decoded, or a Digest header that
            is not well-formed (``digest_well_formed``).
    """

    scheme: str
    user: str | None
    malformed: bool = False


def parse_authorization(header: str) -> Credentials:
    """Read the scheme and user name of an ``Authorization`` header value; never raises.

    Digest parameters are parsed exactly as WsgiDAV's ``HTTPAuthenticator`` does.
    """
    match = _SCHEME_RE.search(header)
    scheme = match.group(1).lower() if match else ""
    if scheme == "basic":
        try:
            raw = base64.b64decode(header[len("Basic ") :].strip(), validate=True)
            user, sep, _password = raw.decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return Credentials(scheme, None, malformed=True)
        if not sep:
            return Credentials(scheme, None, malformed=True)
        return Credentials(scheme, user or None)
    if scheme == "digest":
        if not digest_well_formed(header[len("Digest") :]):
            return Credentials(scheme, None, malformed=True)
        text = header + ","
        params: dict[str, str] = {}
        pairs = _DIGEST_PARAM_RE.findall(text) + _DIGEST_PARAM_FIX_RE.findall(text)
        for key, value in pairs:
            params[key] = value.strip().strip('"')
        name = params.get("username") or None
        if name is not None and r"\\" in name:
            name = name.replace("\\\\", "\\")
        return Credentials(scheme, name)
    return Credentials(scheme, None)


def digest_well_formed(params: str) -> bool:
    """True if ``params`` (a Digest header after the scheme) is a comma-separated list of
    ``name=token`` or ``name="quoted"`` parameters, each quoted value followed at once by
    the comma (or the end; a quote always ends a value, as for those expressions): then the
    parameter expressions used here and by WsgiDAV run in linear time. Checked in linear
    time."""
    text = params.strip()
    at, end = 0, len(text)
    while at < end:
        while at < end and text[at] in " \t":
            at += 1
        match = _PARAM_NAME_RE.match(text, at)
        if match is None:
            return False
        at = match.end()
        if at < end and text[at] == '"':
            close = text.find('"', at + 1)
            if close < 0:
                return False
            at = close + 1
            if at < end and text[at] != ",":
                return False
        else:
            comma = text.find(",", at)
            stop = end if comma < 0 else comma
            if '"' in text[at:stop]:
                return False
            at = stop
        at += 1  # the comma
    return True


def _discard(data: bytes) -> None:
    """The ``write`` callable of a response that is replaced."""


class ThrottleGate(BaseMiddleware):
    """Throttling and Basic-over-HTTP policy in front of ``HTTPAuthenticator``.

    See the module docstring for the behavior. Constructed by WsgiDAV from ``middleware_stack``
    as ``(wsgidav_app, next_app, config)``; reads ``config["davsync"]``.

    Raises:
        AuthConfigError: (from the constructor) invalid ``davsync`` configuration, no
            ``HTTPAuthenticator`` after the gate, a domain controller other than
            :class:`DavsyncDomainController`, or Basic refused on HTTP while
            ``http_authenticator.accept_digest`` is on but ``default_to_digest`` is off.
    """

    def __init__(
        self, wsgidav_app: WsgiDAVApp, next_app: WSGIApplication, config: dict[str, Any]
    ) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.settings = DavsyncAuthConfig.from_wsgidav_config(config)
        # WsgiDAV builds the stack from the end, so an HTTPAuthenticator placed after the gate
        # already exists.
        authenticator = getattr(wsgidav_app, "http_authenticator", None)
        if authenticator is None:
            raise AuthConfigError("ThrottleGate must come before HTTPAuthenticator in the stack")
        if not isinstance(authenticator.get_domain_controller(), DavsyncDomainController):
            raise AuthConfigError(
                "ThrottleGate needs http_authenticator.domain_controller = DavsyncDomainController"
            )
        auth_conf = config.get("http_authenticator") or {}
        accept_digest = bool(auth_conf.get("accept_digest", True))
        default_to_digest = bool(auth_conf.get("default_to_digest", True))
        if not self.settings.basic_over_http:
            if accept_digest and not default_to_digest:
                raise AuthConfigError(
                    "basic_over_http=False with accept_digest needs"
                    " http_authenticator.default_to_digest: plain-HTTP clients would only be"
                    " offered Basic, which is refused"
                )
            if not accept_digest:
                _logger.warning(
                    "Digest is off and Basic is refused over plain HTTP: only HTTPS clients"
                    " can authenticate"
                )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one request (see the module docstring)."""
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            return self._next(environ, start_response)
        creds = parse_authorization(str(header))
        if creds.scheme not in ("basic", "digest"):
            return self._next(environ, start_response)
        addr: str | None = environ.get("REMOTE_ADDR") or None

        if creds.scheme == "basic" and not basic_allowed(self.settings, environ):
            _logger.warning("Refused Basic credentials over plain HTTP from %s", addr)
            del environ["HTTP_AUTHORIZATION"]
            return self._explain_basic_refused(environ, start_response)

        assessment = self.settings.throttle.assess(creds.user, addr)
        environ[ENV_ASSESSED] = (creds.user, addr, assessment)
        wait = assessment.wait
        if wait is not None:
            _logger.warning("Throttled login of %r from %s for %.0f s", creds.user, addr, wait)
            start_response(
                "429 Too Many Requests",
                [
                    ("Retry-After", str(max(1, math.ceil(wait)))),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_BODY_429))),
                ],
            )
            return [_BODY_429]

        if creds.malformed:
            _logger.warning("Ignored malformed %s credentials from %s", creds.scheme, addr)
            del environ["HTTP_AUTHORIZATION"]
            return self._next(environ, start_response)

        recorded = False

        def observe(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal recorded
            if environ.get(ENV_CHECKS_BUSY):
                return _discard  # no password was checked: the 503 below replaces the 401
            if not recorded:
                recorded = True
                self._record(environ, status, creds, addr, assessment)
            return start_response(status, headers, exc_info)

        result = self._next(environ, observe)
        if not environ.get(ENV_CHECKS_BUSY):
            return result
        close = getattr(result, "close", None)
        if close is not None:
            close()
        _logger.warning("Answered 503: too many password checks at once (login from %s)", addr)
        start_response(
            "503 Service Unavailable",
            [
                ("Retry-After", "1"),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(_BODY_503))),
            ],
        )
        return [_BODY_503]

    def _explain_basic_refused(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """The response without the refused credentials; its 401 (the Digest challenge) gets
        a body that says why the password was not even checked."""
        replaced = False

        def explain(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal replaced
            if status.startswith("401"):
                replaced = True
                kept = [
                    (k, v)
                    for k, v in headers
                    if k.lower() not in ("content-length", "content-type")
                ]
                headers = [
                    *kept,
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_BODY_BASIC_REFUSED))),
                ]
            return start_response(status, headers, exc_info)

        result = self._next(environ, explain)
        return _replace_body(result, lambda: replaced, environ.get("REQUEST_METHOD") != "HEAD")

    def _next(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        result: Iterable[bytes] = self.next_app(environ, start_response)
        return result

    def _record(
        self,
        environ: WSGIEnvironment,
        status: str,
        creds: Credentials,
        addr: str | None,
        assessment: Assessment,
    ) -> None:
        if ENV_ATTEMPTED_USER not in environ:
            return  # the domain controller was not asked: no password was checked
        throttle = self.settings.throttle
        authenticated = authenticated_user(environ)
        if authenticated:
            # Nothing to clear (no write) when the check just saw no failures of this pair.
            if assessment.pair_failures > 0 or authenticated != creds.user:
                throttle.record_success(authenticated, addr)
        elif status.startswith("401") and not environ.get(ENV_THROTTLED):
            user = environ.get(ENV_ATTEMPTED_USER) or creds.user
            throttle.record_failure(str(user) if user else None, addr)


def _replace_body(
    result: Iterable[bytes], replaced: Callable[[], bool], with_body: bool
) -> Iterator[bytes]:
    """``result``'s chunks, or, once ``replaced()`` says the status was a refused Basic login,
    ``_BODY_BASIC_REFUSED`` instead of them (nothing for HEAD); ``result`` is closed."""
    try:
        for chunk in result:
            if not replaced():
                yield chunk
        if replaced() and with_body:
            yield _BODY_BASIC_REFUSED
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
