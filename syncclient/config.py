"""Client settings: one typed model, built once from flags > environment > TOML file >
defaults. The only module that reads the config file and ``SYNCCLIENT_*`` variables.

Secrets: the password is never stored in the config file. It comes from a file
(``--password-file``, ``SYNCCLIENT_PASSWORD_FILE`` or ``server.password_file``; it should be
readable by the service account only) or from the environment (``SYNCCLIENT_PASSWORD``, or
the variable named by ``server.password_env``). It is kept out of ``repr`` and logs.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from syncclient import UsageError
from syncclient.model import PostAction, PostPolicy, Rule
from syncclient.rules import RuleSet, parse_order
from syncclient.schedule import Window, parse_window
from syncclient.units import parse_duration, parse_size

ENV_PREFIX = "SYNCCLIENT_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    """Where to send and how to log in."""

    url: str | None = None
    user: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    ca_bundle: Path | None = None
    auth: Literal["auto", "basic", "digest"] = "auto"
    transport: Literal["auto", "webdav", "form"] = "auto"


class RepositoryConfig(_Strict):
    """A local folder and the server collection it goes to (absolute URL, or relative to
    ``server.url``)."""

    root: Path
    url: str | None = None


class RuleConfig(_Strict):
    """Per-rule settings; see ``model.Rule``. ``order`` is a policy string (see --order)."""

    name: str = "rule"
    match: list[str] = ["*"]
    stable_seconds: float = Field(30.0, ge=0)
    done_marker: str = ""
    flag_file: str = ""
    order: str = "path"
    priority: int = 0
    post_action: Literal["keep", "delete", "move", "delete-after"] = "keep"
    archive_dir: str = ""
    delete_after_days: float = Field(0.0, ge=0)

    @field_validator("order")
    @classmethod
    def _order_ok(cls, v: str) -> str:
        parse_order(v)
        return v


class TransferConfig(_Strict):
    """How files are sent."""

    parallel: int = Field(4, ge=1, le=64)
    chunk_size: str | int = "10MiB"
    chunk_threshold: str | int = "16MiB"
    bwlimit: str | int = 0
    retries: int = Field(8, ge=1, le=100)
    stall_timeout: float = Field(60.0, gt=0)
    download_verify: bool = True


class MailConfig(_Strict):
    """The ``mail`` transport (``smtp://``/``smtps://`` URLs; see syncclient.transports.mail):
    recipient (if not in the URL), sender address, piece size, receipts folder URL."""

    to: str | None = None
    sender: str | None = None
    part_size: str | int = "16MiB"
    receipts_url: str | None = None


class BudgetConfig(_Strict):
    """Per-run limits and the cut-off mode."""

    max_bytes: str | int | None = None
    max_duration: str | float | None = None
    cutoff: Literal["hard", "soft", "cautious"] = "soft"


class ScheduleConfig(_Strict):
    """Weekly windows (``Mon-Fri 19:00-07:00 [bw=RATE]``) and the daemon's poll interval."""

    windows: list[str] = []
    interval: float = Field(300.0, gt=0)

    @field_validator("windows")
    @classmethod
    def _windows_ok(cls, v: list[str]) -> list[str]:
        for w in v:
            parse_window(w)
        return v


class OutputConfig(_Strict):
    """Where results go."""

    manifest: Path | None = None
    summary_file: Path | None = None
    stats_interval: float = Field(30.0, gt=0)


class HooksConfig(_Strict):
    """Shell commands run after each verified file and after each run."""

    after_file: str = ""
    after_run: str = ""


class Config(_Strict):
    """Everything a run needs."""

    server: ServerConfig = ServerConfig()
    repository: list[RepositoryConfig] = []
    ignore: list[str] = []
    default_ignores: bool = True
    rule: list[RuleConfig] = []
    default_rule: RuleConfig = RuleConfig(name="default")
    transfer: TransferConfig = TransferConfig()
    mail: MailConfig = MailConfig()
    budget: BudgetConfig = BudgetConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    output: OutputConfig = OutputConfig()
    hooks: HooksConfig = HooksConfig()
    state_dir: Path | None = None
    windows_names: Literal["report", "skip", "off"] = "report"
    password: SecretStr | None = Field(None, exclude=True, repr=False)

    # derived views ------------------------------------------------------------------------

    def rules(self, order_override: str | None = None) -> RuleSet:
        """The rule set (with ``--order`` applied to every rule if given)."""
        rs = RuleSet([_rule(r) for r in self.rule], _rule(self.default_rule, match_all=True))
        return rs.with_order(parse_order(order_override)) if order_override else rs

    def windows(self) -> list[Window]:
        """Parsed sync windows."""
        return [parse_window(w) for w in self.schedule.windows]

    def repositories(self) -> list[tuple[Path, str]]:
        """(source folder, collection URL) pairs."""
        out = []
        for repo in self.repository:
            url = repo.url or self.server.url
            if url is None:
                raise UsageError(f"repository {repo.root}: no URL (set server.url or url)")
            if self.server.url and not url.lower().startswith(("http://", "https://")):
                url = self.server.url.rstrip("/") + "/" + url.lstrip("/")
            out.append((repo.root, check_url(url)))
        return out


def check_url(url: str) -> str:
    """``url`` with a trailing ``/`` if it is an ``http(s)://`` URL (or ``smtp(s)://`` for the
    mail transport) with a host; else UsageError saying what is wrong and what a target URL
    looks like."""
    split = urlsplit(url)
    example = "https://dav.example.org/remote.php/dav/files/<user>/<folder>/"
    if split.scheme.lower() not in ("http", "https", "smtp", "smtps"):
        scheme = f"scheme {split.scheme + '://'!r}" if split.scheme else "no scheme"
        raise UsageError(f"target URL {url!r} has {scheme}; use https:// (e.g. {example})")
    if not split.hostname:
        raise UsageError(f"target URL {url!r} names no server; e.g. {example}")
    return url if url.endswith("/") else url + "/"


def _rule(r: RuleConfig, match_all: bool = False) -> Rule:
    return Rule(
        name=r.name,
        match=("*",) if match_all else tuple(r.match),
        stable_seconds=r.stable_seconds,
        done_suffix=r.done_marker,
        flag_file=r.flag_file,
        order=parse_order(r.order),
        post=PostPolicy(PostAction(r.post_action), r.archive_dir, r.delete_after_days),
        priority=r.priority,
    )


def default_config_path() -> Path:
    """``%APPDATA%\\syncclient\\config.toml`` on Windows, else XDG config home."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "syncclient" / "config.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "syncclient" / "config.toml"


def default_state_root() -> Path:
    """``%LOCALAPPDATA%\\syncclient`` on Windows, else XDG state home."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "syncclient"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "syncclient"


def state_dir_for(cfg: Config, root: Path, url: str) -> Path:
    """The state folder of one (source, URL) pair: journal, manifest, last summary."""
    base = cfg.state_dir or default_state_root()
    key = hashlib.sha256(f"{root.resolve()}|{url}".encode()).hexdigest()[:16]
    return base / key


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML config file. Raises UsageError naming the file and the problem."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc


_ENV_MAP: dict[str, tuple[str, ...]] = {
    "URL": ("server", "url"),
    "USER": ("server", "user"),
    "PASSWORD_FILE": ("server", "password_file"),
    "CA_BUNDLE": ("server", "ca_bundle"),
    "AUTH": ("server", "auth"),
    "TRANSPORT": ("server", "transport"),
    "STATE_DIR": ("state_dir",),
    "WINDOWS_NAMES": ("windows_names",),
    "PARALLEL": ("transfer", "parallel"),
    "BWLIMIT": ("transfer", "bwlimit"),
    "CHUNK_SIZE": ("transfer", "chunk_size"),
    "MAX_BYTES": ("budget", "max_bytes"),
    "MAX_DURATION": ("budget", "max_duration"),
    "CUTOFF": ("budget", "cutoff"),
}


def _set(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def _resolve_relative(data: dict[str, Any], base: Path) -> None:
    server = data.get("server", {})
    for key in ("password_file", "ca_bundle"):
        if isinstance(server.get(key), str) and not Path(server[key]).is_absolute():
            server[key] = str(base / server[key])
    for repo in data.get("repository", []):
        if isinstance(repo.get("root"), str) and not Path(repo["root"]).is_absolute():
            repo["root"] = str(base / repo["root"])


def load_config(
    path: Path | None,
    overrides: dict[tuple[str, ...], Any],
    environ: dict[str, str] | None = None,
) -> Config:
    """Build the Config: file < environment < ``overrides`` (flag values; None = unset).

    Raises UsageError naming the bad key.
    """
    env = dict(os.environ) if environ is None else environ
    data: dict[str, Any] = {}
    source = "flags and environment"
    if path is not None:
        data = read_toml(path)
        source = str(path)
        _resolve_relative(data, path.parent)
    for name, keys in _ENV_MAP.items():
        if ENV_PREFIX + name in env:
            _set(data, keys, env[ENV_PREFIX + name])
    for keys, value in overrides.items():
        if value is not None:
            _set(data, keys, value)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"invalid configuration ({source}):"]
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {key}: {err['msg']}")
        raise UsageError("\n".join(lines)) from exc
    _check_units(cfg)
    password = _password(cfg, env, password_flag=overrides.get(("server", "password_file")))
    return cfg.model_copy(update={"password": password})


def _check_units(cfg: Config) -> None:
    parse_size(cfg.transfer.chunk_size)
    parse_size(cfg.transfer.chunk_threshold)
    parse_size(cfg.transfer.bwlimit)
    parse_size(cfg.mail.part_size)
    if cfg.budget.max_bytes is not None:
        parse_size(cfg.budget.max_bytes)
    if cfg.budget.max_duration is not None:
        parse_duration(cfg.budget.max_duration)


def _password(cfg: Config, env: dict[str, str], password_flag: Any) -> SecretStr | None:
    """flag file > SYNCCLIENT_PASSWORD > SYNCCLIENT_PASSWORD_FILE / config file >
    the variable named by server.password_env."""
    if password_flag is None and ENV_PREFIX + "PASSWORD" in env:
        return SecretStr(env[ENV_PREFIX + "PASSWORD"])
    if cfg.server.password_file is not None:
        return SecretStr(read_password_file(cfg.server.password_file))
    if cfg.server.password_env:
        value = env.get(cfg.server.password_env)
        if value is None:
            raise UsageError(f"server.password_env names {cfg.server.password_env}, which is unset")
        return SecretStr(value)
    return None


def read_password_file(path: Path) -> str:
    """The first line of ``path``. Raises UsageError if it is unreadable or empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read password file {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise UsageError(f"password file {path} is empty")
    return lines[0]


def password_file_warning(path: Path | None) -> str | None:
    """A warning if the password file can be read by group or others (POSIX only)."""
    if path is None or os.name != "posix":
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"password file {path} is readable by others; chmod 600 it"
    return None
