"""Exceptions raised by the authentication package.

Every exception derives from :class:`AuthError`, so callers can catch the whole family at once.
Some also derive from a built-in exception (``ValueError``, ``LookupError``) so generic handlers
keep working.
"""

from __future__ import annotations

from davserver.errors import DavserverError


class AuthError(DavserverError):
    """Root of all authentication errors."""


class InvalidUserNameError(AuthError, ValueError):
    """A user name does not follow the naming rules (see :data:`davserver.auth.users.NAME_RULE`)."""


class UserExistsError(AuthError, ValueError):
    """A user with this name already exists."""


class UnknownUserError(AuthError, LookupError):
    """No user with this name exists."""


class AuthConfigError(AuthError, ValueError):
    """The ``davsync`` section of the WsgiDAV configuration is missing or invalid."""
