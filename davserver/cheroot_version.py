"""The cheroot releases ``davserver.cheroot_guard`` is tested against.

The guard replaces cheroot internals (header reader, connection hand-off, TLS adapter), so a
cheroot outside the pinned range may break it silently. pyproject.toml pins the same range
(``cheroot>=11.1.2,<12``); ``check_cheroot`` refuses a version outside it and warns about a
version inside it that was not the one tested.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from davserver.errors import DavserverError

TESTED = "11.1.2"
MINIMUM = (11, 1, 2)
BELOW = (12,)


class UnsupportedCherootError(DavserverError):
    """The installed cheroot is outside the range the guard supports."""


def _parse(text: str) -> tuple[int, ...]:
    """``"11.1.2"`` -> ``(11, 1, 2)``; anything after the numeric release is ignored."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise UnsupportedCherootError(f"cheroot version {text!r} cannot be read")
    return tuple(int(part) for part in match.group(0).split("."))


def installed_cheroot() -> str:
    """The installed cheroot version (UnsupportedCherootError when it is not installed)."""
    try:
        return version("cheroot")
    except PackageNotFoundError as exc:
        raise UnsupportedCherootError("cheroot is not installed") from exc


def check_cheroot(found: str) -> str | None:
    """None when ``found`` is the tested release, a warning text when it is another release
    of the supported range; raises UnsupportedCherootError outside the range."""
    release = _parse(found)
    if not MINIMUM <= release < BELOW:
        raise UnsupportedCherootError(
            f"cheroot {found} is not supported: davserver needs cheroot>=11.1.2,<12 "
            f"(tested with {TESTED}); run: pip install 'cheroot=={TESTED}'"
        )
    if found != TESTED:
        return f"cheroot {found} was not tested with davserver (tested: {TESTED})"
    return None
