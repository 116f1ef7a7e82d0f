"""The jinja2 environment of the HTML pages (templates ship in ``davserver/web/templates``)
and the filters they use. Everything is escaped unless a template says otherwise."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; bytes below 1 KiB as ``N B``; None -> ``""``."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    value = float(n) / 1024
    for unit in _UNITS[:-1]:
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def local_time(ts: float | None) -> str:
    """POSIX seconds as the server's local time with its UTC offset
    (``2026-12-01 13:05:09 +01:00``); None -> ``""``."""
    if ts is None:
        return ""
    moment = dt.datetime.fromtimestamp(ts, dt.UTC).astimezone()
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


def age(seconds: float | None) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``5 h``, ``3 d``; None -> ``""``."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


@cache
def environment() -> jinja2.Environment:
    """The shared environment (autoescaping on, undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("davserver.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["when"] = local_time
    env.filters["age"] = age
    return env


def render(name: str, **context: Any) -> bytes:
    """Render template ``name`` with ``context`` to UTF-8."""
    return environment().get_template(name).render(**context).encode("utf-8")
