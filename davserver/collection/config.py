"""Settings of the collection back end: arrival retention, triggers, site expectations, alerts.

These models are fields of ``davserver.settings.Settings`` (``arrivals``, ``triggers``,
``sites``, ``alerts``). Durations accept seconds (``90``) or a number with a unit
(``500ms``, ``10s``, ``15m``, ``24h``, ``7d``, ``2w``).
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from wcmatch import glob

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
GLOB_FLAGS = glob.GLOBSTAR | glob.DOTGLOB
"""``**`` spans folders (also none); ``*`` and ``?`` stay inside one name and match dotfiles."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: object) -> float:
    """Seconds of ``value`` (a number, or a string such as ``10s`` or ``24h``).

    Raises ValueError naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 30s, 15m, 24h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h or 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ArrivalSettings(_Strict):
    """The arrival journal: how long events (and finished trigger runs) are kept."""

    retention: Duration = 400 * 86400.0
    done_runs_retention: Duration = 7 * 86400.0


class TriggerMatch(_Strict):
    """Which arrivals a trigger reacts to; every given field must match.

    ``path`` is a glob relative to the user's home (``in/**/*.csv``); ``protocol`` one or more
    of ``put``, ``chunked``, ``tus``, ``move``, ``copy``, ...; sizes in bytes.
    """

    user: str | list[str] | None = None
    path: str = "**"
    protocol: str | list[str] | None = None
    min_size: int | None = Field(None, ge=0)
    max_size: int | None = Field(None, ge=0)

    @field_validator("path")
    @classmethod
    def _glob(cls, v: str) -> str:
        try:
            glob.translate(v.strip("/"), flags=GLOB_FLAGS)
        except Exception as exc:  # wcmatch raises several types for a malformed pattern
            raise ValueError(f"invalid glob {v!r}: {exc}") from exc
        return v.strip("/")


class TriggerWhen(_Strict):
    """Extra conditions: ``marker``: the trigger fires only for an arrival with this name (a
    done-marker such as ``_DONE``); ``count``: fires once per folder when the N-th distinct
    matching file has arrived in it (a complete set), then counts afresh."""

    marker: str | None = None
    count: int | None = Field(None, ge=1)


class WebhookAction(_Strict):
    """POST the event as JSON; signed with HMAC-SHA256 when ``secret`` is set."""

    url: str
    secret: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("the webhook url must be http:// or https://")
        return v


class PlaceAction(_Strict):
    """Copy or move the file into collection ``to`` (a storage path: ``<home>/folder``)."""

    to: str


class TriggerSettings(_Strict):
    """One trigger: a match, optional conditions, and at least one action.

    ``run``: argv list (never a shell), the file's local path appended as the last argument
    unless ``pass_file`` is false. Each action is queued, retried and dead-lettered on its own.
    """

    name: str = Field(min_length=1)
    match: TriggerMatch = TriggerMatch()
    when: TriggerWhen = TriggerWhen()
    run: list[str] | None = Field(None, min_length=1)
    pass_file: bool = True
    cwd: str | None = None
    webhook: WebhookAction | None = None
    copy_to: PlaceAction | None = Field(None, alias="copy")
    move_to: PlaceAction | None = Field(None, alias="move")
    timeout: Duration = 60.0
    attempts: int = Field(5, ge=1, le=100)
    backoff: Duration = 10.0

    @model_validator(mode="after")
    def _has_action(self) -> TriggerSettings:
        if not self.actions():
            raise ValueError(f"trigger {self.name!r} needs run, webhook, copy or move")
        if self.copy_to is not None and self.move_to is not None:
            raise ValueError(f"trigger {self.name!r}: copy and move exclude each other")
        return self

    def actions(self) -> list[str]:
        """The configured action kinds, in execution-independent order."""
        present = {
            "run": self.run,
            "webhook": self.webhook,
            "copy": self.copy_to,
            "move": self.move_to,
        }
        return [kind for kind, value in present.items() if value is not None]


class WeeklySchedule(_Strict):
    """At least one arrival on each of ``days`` by ``by`` (local time in ``timezone``)."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    ]
    by: clock_time = clock_time(12, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class SiteSettings(_Strict):
    """What a site (a user's home) is expected to send: every ``expect_every``, or weekly."""

    expect_every: Duration | None = None
    weekly: WeeklySchedule | None = None

    @model_validator(mode="after")
    def _one(self) -> SiteSettings:
        if (self.expect_every is None) == (self.weekly is None):
            raise ValueError("give exactly one of expect_every and weekly")
        return self


class EmailChannel(_Strict):
    """Alerts by e-mail through an SMTP relay."""

    smtp_host: str
    smtp_port: int = Field(25, ge=1, le=65535)
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: Duration = 30.0


class FailureThreshold(_Strict):
    """Alert when a user's uploads fail ``count`` times within ``window``."""

    count: int = Field(5, ge=1)
    window: Duration = 3600.0


class AlertSettings(_Strict):
    """Where alerts go (both channels if both are set) and when failures become one."""

    webhook: WebhookAction | None = None
    email: EmailChannel | None = None
    failed_uploads: FailureThreshold = FailureThreshold()
    check_interval: Duration | None = None
    attempts: int = Field(8, ge=1, le=100)
    backoff: Duration = 30.0
    timeout: Duration = 30.0
