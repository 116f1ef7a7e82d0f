"""What ``davserver serve`` prints once it listens: true for this configuration."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from davserver.settings import Settings


def program(argv0: str | None = None, which: Callable[[str], str | None] = shutil.which) -> str:
    """How the operator runs this ``davserver`` in the commands we print: ``davserver`` when
    that name on PATH is this program (or it runs as ``python -m``), else the path it was
    started by (``.venv/bin/davserver`` under ``make serve``, which PATH does not find)."""
    started = sys.argv[0] if argv0 is None else argv0
    if Path(started).name != "davserver":
        return "davserver"
    found = which("davserver")
    if found is not None and os.path.realpath(found) == os.path.realpath(started):
        return "davserver"
    return started


def auth_summary(settings: Settings) -> str:
    """How clients can log in with these settings, in one sentence."""
    auth = settings.auth
    if settings.tls.enabled:
        return "Basic or Digest over HTTPS" if auth.digest else "Basic over HTTPS"
    if auth.basic_over_http:
        kinds = "Basic or Digest" if auth.digest else "Basic"
        return (
            f"{kinds} over plain HTTP (auth.basic_over_http: true: Basic passwords cross the "
            "network readable; use TLS beyond a trusted network)"
        )
    proxied = (
        "; Basic also through a trusted proxy that forwards HTTPS (X-Forwarded-Proto: https)"
        if settings.server.trusted_proxies
        else ""
    )
    if auth.digest:
        return (
            "Digest only: Basic is refused over plain HTTP (configure TLS for clients that "
            f"send Basic, such as rclone){proxied}"
        )
    if proxied:
        return "Basic only through a trusted proxy that forwards HTTPS (X-Forwarded-Proto: https)"
    return (
        "NONE: Digest is off and Basic is refused over plain HTTP; configure TLS, "
        "auth.digest: true or auth.basic_over_http: true"
    )


def login_line(settings: Settings, *, admin: str, created: bool, user_count: int) -> str:
    """Who can log in: the new admin on a first start, else the existing users."""
    cmd = program()
    add = f"{cmd} user add NAME --root {settings.root}"
    if created:
        return f"Log in as '{admin}' (created now, see above) or a user added with '{add}'."
    return (
        f"Log in as one of the {user_count} existing user(s) "
        f"('{cmd} user list --root {settings.root}'); add one with '{add}'."
    )


def operators_hint(settings: Settings, base: str) -> str:
    """Where operators find the status page, and that nobody is one yet if so."""
    if any("*" in grant.homes for grant in settings.grants):
        return f"operators: {base}/status"
    return (
        f'operators: {base}/status (no operator yet: add a grants entry with homes: ["*"]'
        " to the config, see docs/OPERATIONS.md)"
    )
