"""Is the ``server`` extra installed? A client-only install (``pip install davsync``) has the
``davserver`` command but not the libraries it serves with."""

from __future__ import annotations

from importlib.util import find_spec

#: Import names of the ``server`` extra's distributions (pyproject.toml, ``[server]``).
SERVER_MODULES = ("wsgidav", "cheroot", "lxml", "argon2")

INSTALL_HINT = "pip install 'davsync[server]'"


def missing_server_modules() -> list[str]:
    """The server modules that cannot be imported here (empty when the extra is installed)."""
    return [name for name in SERVER_MODULES if find_spec(name) is None]


def missing_extra_message(missing: list[str]) -> str:
    """The one line ``davserver`` prints when the server extra is missing."""
    return (
        f"davserver needs the server extra: install davsync[server] "
        f"({INSTALL_HINT}); missing: {', '.join(missing)}"
    )
