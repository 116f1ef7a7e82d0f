"""Data roots with users and a config file, prepared in-process (fast), for real servers."""

from __future__ import annotations

from pathlib import Path

from davserver.auth.users import UserStore
from davserver.settings import load_settings
from interop.accounts import PASSWORDS
from tests.support.server import DavServer

USERS = dict(PASSWORDS)
"""The users of a prepared root: every account of ``interop.accounts.PASSWORDS``."""


def prepare_root(
    tmp: Path, config: str, users: dict[str, str] | None = None, *, root: Path | None = None
) -> Path:
    """Write ``tmp/config.yaml`` and create ``users`` (default ``USERS``) with their homes
    under ``root`` (default ``tmp/root``); returns the root."""
    root = root or tmp / "root"
    cfg = tmp / "config.yaml"
    cfg.write_text(config, encoding="utf-8")
    settings = load_settings(cfg, {"root": root})
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    store = UserStore(settings.state_target)
    realm = settings.auth.realm if settings.auth.digest else None
    for name, password in (users or USERS).items():
        store.add(name, password, digest_realm=realm)
        (settings.files_dir / name).mkdir(exist_ok=True)
    return root


def start_server(
    tmp: Path,
    config: str,
    users: dict[str, str] | None = None,
    *,
    extra: list[str] | None = None,
    root: Path | None = None,
    module: str = "davserver.cli",
    env: dict[str, str] | None = None,
) -> DavServer:
    """Prepare a root (in ``tmp`` unless given) and start a server on it with ``config``."""
    root = prepare_root(tmp, config, users, root=root)
    args = ["--config", str(tmp / "config.yaml"), *(extra or [])]
    return DavServer(root, args, env=env or {}, module=module).start()
