"""Authentication of the WebDAV server: accounts, login throttling and WsgiDAV integration.

- :class:`UserStore`: accounts in SQLite, argon2 password hashes, optional Digest ``HA1``.
- :class:`LoginThrottle`: failed-login counting per account and client address.
- :class:`DavsyncDomainController`: the WsgiDAV domain controller.
- :class:`ThrottleGate`: middleware before ``HTTPAuthenticator`` (429 responses, Basic policy,
  recording of login outcomes).
"""

from davserver.auth.domain_controller import DavsyncAuthConfig, DavsyncDomainController
from davserver.auth.errors import (
    AuthConfigError,
    AuthError,
    InvalidUserNameError,
    UnknownUserError,
    UserExistsError,
)
from davserver.auth.gate import ThrottleGate
from davserver.auth.throttle import LoginThrottle
from davserver.auth.users import UserStore

__all__ = [
    "AuthConfigError",
    "AuthError",
    "DavsyncAuthConfig",
    "DavsyncDomainController",
    "InvalidUserNameError",
    "LoginThrottle",
    "ThrottleGate",
    "UnknownUserError",
    "UserExistsError",
    "UserStore",
]
