"""``davserver serve|user|check-config``.

Every subcommand accepts ``--root DIR`` and ``--config FILE``. ``serve`` prints the URL it
listens on, on a line of its own (``URL: http://127.0.0.1:8080/``), so scripts can read it
when ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import faulthandler
import getpass
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from davserver.settings import Settings, SettingsError, load_settings

ADMIN_USER = "admin"
ADMIN_PASSWORD_ENV = "DAVSYNC_ADMIN_PASSWORD"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config file")
    p.add_argument("--root", type=Path, help="data folder (files and, by default, state)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="davserver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (0 picks a free one)")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate (enables HTTPS)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key")
    serve.add_argument(
        "--ftp-port", type=int, help="enable the FTP/FTPS gateway on this port (0: a free one)"
    )

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd = user_sub.add_parser("passwd", help="change a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    lst = user_sub.add_parser("list", help="list users")
    rm = user_sub.add_parser("remove", help="remove a user (their files stay)")
    rm.add_argument("name")
    for p in (add, passwd, lst, rm):
        _common(p)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path, nargs="?", help="the YAML file (or --config)")
    _common(check)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"root": getattr(args, "root", None)}
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port)
        if args.tls_cert or args.tls_key:
            overrides["tls"] = {"cert": args.tls_cert, "key": args.tls_key}
    return load_settings(getattr(args, "config", None), overrides)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat: "):
        raise SystemExit("passwords do not match")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """User management; exit 0 on success, 1 with a message on error."""
    from davserver.app import build_context, open_user_store
    from davserver.auth.errors import AuthError

    settings = _settings(args)
    users = open_user_store(settings)
    realm = settings.auth.realm if settings.auth.digest else None
    try:
        if args.user_command == "add":
            users.add(args.name, _read_password(args.password_stdin), digest_realm=realm)
            build_context(settings).ensure_home(args.name)
            print(f"added user {args.name}")
        elif args.user_command == "passwd":
            users.set_password(args.name, _read_password(args.password_stdin), digest_realm=realm)
            print(f"changed password of {args.name}")
        elif args.user_command == "list":
            for name in users.list_names():
                print(name)
        elif args.user_command == "remove":
            users.remove(args.name)
            print(f"removed user {args.name} (files kept)")
    except (AuthError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _bootstrap_admin(settings: Settings) -> None:
    from davserver.app import build_context, open_user_store

    users = open_user_store(settings)
    if users.list_names():
        return
    password = os.environ.get(ADMIN_PASSWORD_ENV) or secrets.token_urlsafe(12)
    realm = settings.auth.realm if settings.auth.digest else None
    users.add(ADMIN_USER, password, digest_realm=realm)
    build_context(settings).ensure_home(ADMIN_USER)
    shown = "(from " + ADMIN_PASSWORD_ENV + ")" if ADMIN_PASSWORD_ENV in os.environ else password
    print(f"Created user '{ADMIN_USER}' with password: {shown}")
    print("This password is shown only once. Add users with: davserver user add NAME")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM."""
    from davserver.app import build_app
    from davserver.server import make_server

    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _bootstrap_admin(settings)
    app = build_app(settings)
    ftp_gateway = _start_ftp(settings, app.wsgi, args.ftp_port)
    server = make_server(settings, app.wsgi)
    server.prepare()
    host, port = server.bind_addr[:2]
    shown_host = f"[{host}]" if ":" in host else host
    base = f"{settings.scheme}://{shown_host}:{port}"
    print(f"Serving {settings.files_dir} (state in {settings.state_path})")
    print(f"Your files: {base}/remote.php/dav/files/<user>/  (also {base}/dav/files/<user>/)")
    auth_note = "Digest, or Basic over HTTPS" if settings.scheme == "http" else "Basic or Digest"
    print(
        f"Log in as '{ADMIN_USER}' (password shown at first start) or any user added with "
        f"'davserver user add NAME --root {settings.root}' ({auth_note})."
    )
    print(f"URL: {base}/", flush=True)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # leaves serve(); stop() then runs outside the selector loop

    signal.signal(signal.SIGTERM, _stop)
    if hasattr(signal, "SIGUSR1"):  # operators: `kill -USR1 <pid>` prints every thread's stack
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        server.stop()
    finally:
        if ftp_gateway is not None:
            ftp_gateway.stop()
    return 0


def _start_ftp(settings: Settings, wsgi: Any, port_flag: int | None) -> Any:
    """Start the FTP gateway when configured or ``--ftp-port`` is given; prints ``FTP:``."""
    ftp = settings.gateways.ftp
    if port_flag is not None:
        ftp = ftp.model_copy(update={"enabled": True, "port": port_flag})
        gateways = settings.gateways.model_copy(update={"ftp": ftp})
        settings = settings.model_copy(update={"gateways": gateways})
    if not ftp.enabled:
        return None
    from davserver.gateways.ftp.server import FtpGateway

    gateway = FtpGateway(settings, wsgi)
    host, port = gateway.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"FTP: ftp://{shown}:{port}/", flush=True)
    return gateway


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file; exit 0 if valid, 2 with the error otherwise."""
    path = args.file or args.config
    if path is None:
        print("error: check-config needs a file (positional or --config)", file=sys.stderr)
        return 2
    load_settings(path, {"root": args.root})
    print(f"{path}: OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``davserver`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "user":
            return cmd_user(args)
        return cmd_check_config(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
