"""Typed server settings: one model, built once; the only code that reads config files and env.

Precedence: command-line flags > environment (``DAVSYNC_*``) > YAML file > defaults.
A bad file raises ``SettingsError`` whose message names the key and the problem.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from davserver import settings_errors
from davserver.collection.config import (
    AlertSettings,
    ArrivalSettings,
    SiteSettings,
    TriggerSettings,
)
from davserver.errors import DavserverError
from davserver.gateways.config import GatewaySettings
from providers.statedb import is_postgres_url, redact_url


class SettingsError(DavserverError):
    """The configuration is unreadable or invalid; the message says where and why."""


def _check_networks(items: list[str]) -> list[str]:
    """``items`` unchanged if each is an IP address or network, else ValueError naming it."""
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {item!r}") from exc
    return items


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSSettings(_Strict):
    """Certificate and key (PEM) for HTTPS; both or neither."""

    cert: Path | None = None
    key: Path | None = None

    @property
    def enabled(self) -> bool:
        """True when both files are configured."""
        return self.cert is not None and self.key is not None


class ThrottleSettings(_Strict):
    """Failed-login throttling per (account, address), per address, and a per-account
    backstop that only affects addresses that failed (``davserver.auth.throttle``)."""

    max_failures: int = Field(10, ge=1)
    window_s: float = Field(300.0, gt=0)
    lockout_s: float = Field(60.0, gt=0)
    address_max_failures: int | None = Field(None, ge=1)  # default: 3 * max_failures
    account_max_failures: int | None = Field(None, ge=1)  # default: 10 * max_failures


class AuthSettings(_Strict):
    """How clients authenticate."""

    realm: str = "davsync"
    basic_over_http: bool = False
    digest: bool = True
    throttle: ThrottleSettings = ThrottleSettings()


class Grant(_Strict):
    """Grants ``user`` access to other users' homes (``homes``: names, or ``*`` for all)."""

    user: str
    homes: list[str] = ["*"]
    mode: Literal["read", "read-write"] = "read"


class LimitSettings(_Strict):
    """Resource limits a hostile client cannot push past."""

    max_xml_body_bytes: int = Field(1024 * 1024, ge=1024)
    propfind_infinity: bool = False
    max_put_bytes: int | None = None
    max_xml_depth: int = Field(64, ge=8, le=1000)
    max_propfind_results: int = Field(10_000, ge=1)
    max_if_conditions: int = Field(64, ge=1)
    max_lock_timeout_s: int = Field(24 * 3600, ge=60)
    max_locks_per_user: int = Field(1000, ge=1)
    max_requests_per_user: int | None = Field(None, ge=1)


class PathSettings(_Strict):
    """Which new names are accepted (``providers.paths.PathPolicy``)."""

    windows_compatible: bool = False


class UploadSettings(_Strict):
    """Resumable upload sessions."""

    session_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    max_sessions_per_user: int = Field(100, ge=1)
    max_upload_bytes: int | None = Field(None, ge=0)


class ServerSettings(_Strict):
    """cheroot tuning and the HTTP front: header limits, slow-client deadlines, and the
    reverse proxies (``trusted_proxies``: addresses or networks) whose ``X-Forwarded-*``
    headers are believed.

    ``max_connections_per_address``: open connections per client address (0: no cap; never
    for ``trusted_proxies``); more are closed at accept, before a byte is read.
    ``linger_s``: a connection answered before its body was read is closed, after discarding
    input for at most this long outside the worker pool (so the client reads the answer
    instead of a reset; 0: close at once).
    """

    threads: int = Field(16, ge=1, le=512)
    timeout_s: int = Field(60, ge=1)
    max_request_header_bytes: int = Field(64 * 1024, ge=1024)
    max_request_headers: int = Field(100, ge=10)
    header_timeout_s: float = Field(10.0, gt=0)
    listen_backlog: int = Field(128, ge=5, le=65535)
    max_connections_per_address: int = Field(256, ge=0)
    linger_s: float = Field(2.0, ge=0, le=60)
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        return _check_networks(v)


class MetricsSettings(_Strict):
    """``GET /metrics``: operators (a read grant on all homes) may always read it; clients in
    ``anonymous_networks`` (addresses or networks, e.g. a Prometheus host) without logging in."""

    enabled: bool = True
    anonymous_networks: list[str] = []

    @field_validator("anonymous_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        return _check_networks(v)


class S3Settings(_Strict):
    """How to reach the object store of ``storage: s3://bucket/prefix`` (``providers.s3``).

    ``endpoint`` (e.g. ``http://127.0.0.1:7480`` for Ceph radosgw; None: AWS, or the
    ``AWS_ENDPOINT_URL`` variable), ``region``; credentials from ``credentials_file`` (AWS INI
    format, section ``profile``) or else the ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
    environment. ``sweep_interval_s``: how often unreferenced objects and stale multipart
    uploads are removed (0: never in this process); ``grace_s``: how old they must be first.
    """

    endpoint: str | None = None
    region: str | None = None
    credentials_file: Path | None = None
    profile: str = "default"
    sweep_interval_s: float = Field(600.0, ge=0)
    grace_s: float = Field(3600.0, ge=0)


class LogSettings(_Strict):
    """Logging: the access log (one line per request) and the line format of all logs."""

    access: bool = True
    format: Literal["text", "json"] = "text"


class Settings(_Strict):
    """Everything the server needs to start."""

    root: Path = Path("data")
    state_dir: Path | None = None
    state: str | None = None  # postgresql://user@host:port/db; None: the embedded SQLite file
    storage: str | None = None  # s3://bucket/prefix; None: files below root (files/)
    s3: S3Settings = S3Settings()
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    tls: TLSSettings = TLSSettings()
    auth: AuthSettings = AuthSettings()
    grants: list[Grant] = []
    limits: LimitSettings = LimitSettings()
    paths: PathSettings = PathSettings()
    uploads: UploadSettings = UploadSettings()
    server: ServerSettings = ServerSettings()
    gateways: GatewaySettings = GatewaySettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    reserve_bytes: int = Field(64 * 1024 * 1024, ge=0)
    verbose: int = Field(2, ge=0, le=5)
    arrivals: ArrivalSettings = ArrivalSettings()
    triggers: list[TriggerSettings] = []
    sites: dict[str, SiteSettings] = {}
    alerts: AlertSettings = AlertSettings()

    @field_validator("state")
    @classmethod
    def _state_url(cls, v: str | None) -> str | None:
        if v is not None and not is_postgres_url(v):
            raise ValueError("must be a postgresql:// URL (leave it out for the SQLite file)")
        return v

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("s3://"):
            raise ValueError("storage must be an s3://bucket/prefix URL (or absent: local files)")
        return v

    @field_validator("tls")
    @classmethod
    def _tls_pair(cls, v: TLSSettings) -> TLSSettings:
        if (v.cert is None) != (v.key is None):
            raise ValueError("tls.cert and tls.key must be given together")
        return v

    @property
    def files_dir(self) -> Path:
        """Where users' homes live: ``<root>/files/<user>/``."""
        return self.root / "files"

    @property
    def state_path(self) -> Path:
        """Where server state lives (SQLite databases, staging, upload sessions)."""
        return self.state_dir if self.state_dir is not None else self.root / ".davsync"

    @property
    def db_path(self) -> Path:
        """The SQLite database shared by all stores and all server processes."""
        return self.state_path / "state.sqlite"

    @property
    def state_target(self) -> Path | str:
        """What every store of server state opens (``providers.statedb.open_db``): the
        ``state`` PostgreSQL URL, or else the embedded SQLite file ``db_path``."""
        return self.state if self.state is not None else self.db_path

    @property
    def state_display(self) -> str:
        """``state_target`` for start-up text and logs (a URL without its password)."""
        return redact_url(self.state) if self.state is not None else str(self.db_path)

    @property
    def scheme(self) -> str:
        """``https`` when TLS is configured, else ``http``."""
        return "https" if self.tls.enabled else "http"


ENV_PREFIX = "DAVSYNC_"
_ENV_KEYS = {
    "ROOT": "root",
    "HOST": "host",
    "PORT": "port",
    "STATE_DIR": "state_dir",
    "STATE": "state",
    "STORAGE": "storage",
}


_FLAGS = {"tls": "--tls-cert/--tls-key"}


def _origins(environ: dict[str, str], overrides: dict[str, Any]) -> dict[str, str]:
    """Top-level keys set by an environment variable or a flag -> its name (flags win)."""
    found = {
        field: ENV_PREFIX + key for key, field in _ENV_KEYS.items() if ENV_PREFIX + key in environ
    }
    for field, value in overrides.items():
        if value is not None:
            found[field] = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return found


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML config file into a dict. SettingsError if unreadable or not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path}: the top level must be a mapping")
    return data


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    return {
        field: environ[ENV_PREFIX + key]
        for key, field in _ENV_KEYS.items()
        if ENV_PREFIX + key in environ
    }


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from file, environment and flag overrides (None values ignored).

    Relative paths in a config file are resolved against the file's folder.
    Raises SettingsError naming the offending key.
    """
    data: dict[str, Any] = {}
    source = "the flags and environment"
    if config_file is not None:
        data = read_config_file(config_file)
        source = str(config_file)
        base = config_file.parent
        for key in ("root", "state_dir"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str(base / data[key])
        tls = data.get("tls")
        if isinstance(tls, dict):
            data["tls"] = tls = dict(tls)
            for key in ("cert", "key"):
                if isinstance(tls.get(key), str) and not Path(tls[key]).is_absolute():
                    tls[key] = str(base / tls[key])
    env = dict(os.environ) if environ is None else environ
    data.update(_env_overrides(env))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            value = {**data[key], **{k: v for k, v in value.items() if v is not None}}
        if value is not None:
            data[key] = value  # a flag for one sub-key (--tls-cert) keeps the file's others
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        origins = _origins(env, overrides or {})
        raise SettingsError(settings_errors.describe(exc, Settings, source, origins)) from exc
