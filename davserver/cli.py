"""``davserver serve|user|check-config|service|version|arrivals|triggers``.

Every subcommand accepts ``--root DIR`` and ``--config FILE``. ``serve`` prints the URL it
listens on, on a line of its own (``URL: http://127.0.0.1:8080/``), so scripts can read it
when ``--port 0`` picks a free port. With the e-mail gateway enabled (``--smtp-port`` or
``gateways.smtp.enabled``) it prints ``SMTP: HOST:PORT`` just before that line.

``serve`` checks the port, the TLS files and the folders before it creates anything; a
problem is one line on stderr naming the file or port, and exit status 2. Exit status 1 means
a failed user command, or the ``server`` extra is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import getpass
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from davserver.cheroot_version import UnsupportedCherootError, check_cheroot, installed_cheroot
from davserver.collection import cli as collection_cli
from davserver.preflight import StartupError, check_folders, check_state, run_checks
from davserver.server_extra import missing_extra_message, missing_server_modules
from davserver.settings import Settings, SettingsError, load_settings
from davserver.startup_text import auth_summary, login_line, operators_hint, program
from davserver.state_files import (
    INITIAL_PASSWORD_FILE,
    prepare_state_dir,
    tighten,
    write_private_file,
)
from davserver.version import package_version

_log = logging.getLogger("davserver")

ADMIN_USER = "admin"
ADMIN_PASSWORD_ENV = "DAVSYNC_ADMIN_PASSWORD"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config file")
    p.add_argument("--root", type=Path, help="data folder (files and, by default, state)")
    p.add_argument(
        "--state",
        help="state database: postgresql://user@host:port/db (default: SQLite under --root)",
    )


def _serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (0 picks a free one)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate (enables HTTPS)")
    p.add_argument("--tls-key", type=Path, help="PEM private key")
    p.add_argument(
        "--log-format", choices=("text", "json"), help="log line format (settings: log.format)"
    )
    p.add_argument(
        "--smtp-port", type=int, help="e-mail gateway port (enables it; 0 picks a free one)"
    )
    p.add_argument(
        "--ftp-port", type=int, help="enable the FTP/FTPS gateway on this port (0: a free one)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="davserver", description=__doc__)
    parser.add_argument("--version", action="version", version=f"davserver {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    _serve_flags(serve)

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

    check = sub.add_parser(
        "check-config",
        help="check what serve would: config, TLS files, folders, port",
    )
    check.add_argument("file", type=Path, nargs="?", help="the YAML file (or --config)")
    _common(check)
    _serve_flags(check)
    check.add_argument(
        "--skip-port-check",
        action="store_true",
        help="do not try to bind the port (e.g. while the server is running)",
    )

    service = sub.add_parser("service", help="install or remove the systemd unit")
    service_sub = service.add_subparsers(dest="service_command", required=True)
    install = service_sub.add_parser("install", help="write davserver.service")
    uninstall = service_sub.add_parser("uninstall", help="remove davserver.service")
    for p in (install, uninstall):
        p.add_argument("--systemd", action="store_true", required=True, help="a systemd unit")
        p.add_argument("--output", help="unit file (default /etc/systemd/system/...; - prints)")
        p.add_argument("--now", action="store_true", help="also start (install) / stop it")
    _common(install)
    install.add_argument("--account", default="davsync", help="user the server runs as")
    install.add_argument("--enable", action="store_true", help="run systemctl enable")

    sub.add_parser("version", help="print the version")
    collection_cli.add_commands(sub, _common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "root": getattr(args, "root", None),
        "state": getattr(args, "state", None),
    }
    if args.command in ("serve", "check-config"):
        overrides.update(host=args.host, port=args.port)
        if args.tls_cert or args.tls_key:
            overrides["tls"] = {"cert": args.tls_cert, "key": args.tls_key}
    config = getattr(args, "file", None) or getattr(args, "config", None)
    settings = load_settings(config, overrides)
    log_format = getattr(args, "log_format", None)
    if log_format is not None:
        log = settings.log.model_copy(update={"format": log_format})
        settings = settings.model_copy(update={"log": log})
    ftp_port = getattr(args, "ftp_port", None)
    if ftp_port is not None:
        ftp = settings.gateways.ftp.model_copy(update={"enabled": True, "port": ftp_port})
        gateways = settings.gateways.model_copy(update={"ftp": ftp})
        settings = settings.model_copy(update={"gateways": gateways})
    smtp_port = getattr(args, "smtp_port", None)
    if smtp_port is not None:
        smtp = settings.gateways.smtp.model_dump() | {"enabled": True, "port": smtp_port}
        try:
            gateways = settings.gateways.model_validate(
                settings.gateways.model_dump() | {"smtp": smtp}
            )
        except ValueError as exc:
            raise SettingsError(f"--smtp-port: {exc}") from exc
        settings = settings.model_copy(update={"gateways": gateways})
    return settings


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
    check_folders(settings)
    check_state(settings)
    prepare_state_dir(settings.state_path)
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
    finally:
        tighten(settings.state_path)  # what the stores and the provider just created
    return 0


def _bootstrap_admin(settings: Settings) -> bool:
    """Create the user ``admin`` when there is no user yet; True if it was created.

    A generated password goes to ``<state>/initial-admin-password`` (0600) and, on a
    terminal only, to stdout (a service's output ends up in a log others may read)."""
    from davserver.app import build_context, open_user_store

    users = open_user_store(settings)
    if users.list_names():
        return False
    chosen = os.environ.get(ADMIN_PASSWORD_ENV)
    password = chosen or secrets.token_urlsafe(12)
    realm = settings.auth.realm if settings.auth.digest else None
    users.add(ADMIN_USER, password, digest_realm=realm)
    build_context(settings).ensure_home(ADMIN_USER)
    if chosen:
        print(f"Created user '{ADMIN_USER}' with the password from {ADMIN_PASSWORD_ENV}.")
        return True
    secret_file = settings.state_path / INITIAL_PASSWORD_FILE
    write_private_file(secret_file, password + "\n")
    if sys.stdout.isatty():
        print(f"Created user '{ADMIN_USER}' with password: {password}")
    else:
        print(f"Created user '{ADMIN_USER}' with a random password.")
    print(
        f"The password is in {secret_file} (readable by this account only); delete that "
        f"file after '{program()} user passwd {ADMIN_USER} --root {settings.root}'."
    )
    return True


def _check_cheroot() -> None:
    """Refuse a cheroot outside the range cheroot_guard supports; warn about an untested one."""
    try:
        warning = check_cheroot(installed_cheroot())
    except UnsupportedCherootError as exc:
        raise StartupError(str(exc)) from exc
    if warning:
        _log.warning(warning)


def _not_started(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Placeholder WSGI app while the port is bound and the state not yet opened."""
    start_response("503 Service Unavailable", [("Content-Length", "0")])
    return []


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM. Nothing is created before the configuration,
    the TLS files, the folders and the port were checked and the port is bound."""
    from davserver.server import make_server
    from davserver.web.access_log import configure_logging

    settings = _settings(args)
    configure_logging(settings.log.format)
    _check_cheroot()
    for warning in run_checks(settings):
        _log.warning(warning)
    server = make_server(settings, _not_started)
    try:
        server.prepare()
    except OSError as exc:
        raise StartupError(
            f"port {settings.port} on {settings.host} cannot be bound: {exc}"
        ) from exc
    try:
        return _serve_bound(settings, server)
    finally:
        server.stop()


def _serve_bound(settings: Settings, server: Any) -> int:
    from davserver.app import build_app
    from davserver.gc_tuning import tune_for_serving

    _stop_on_signals(server)
    prepare_state_dir(settings.state_path)
    created = _bootstrap_admin(settings)
    app = build_app(settings)
    tighten(settings.state_path)  # files the stores just created
    server.wsgi_app = app.wsgi
    ftp_gateway = _start_ftp(settings, app.wsgi)
    host, port = server.bind_addr[:2]
    shown_host = f"[{host}]" if ":" in host else host
    base = f"{settings.scheme}://{shown_host}:{port}"
    files_at = settings.storage or settings.files_dir  # s3://bucket/prefix or a folder
    print(f"Serving {files_at} (state in {settings.state_path}, private: 0700/0600)")
    if settings.state is not None:
        print(f"State database: {settings.state_display}")
    print(f"Your files: {base}/remote.php/dav/files/<user>/  (also {base}/dav/files/<user>/)")
    users = app.users.list_names()
    print(login_line(settings, admin=ADMIN_USER, created=created, user_count=len(users)))
    secret_file = settings.state_path / INITIAL_PASSWORD_FILE
    if not created and secret_file.exists():
        print(f"The first admin password is in {secret_file} (delete it once changed).")
    print(f"Authentication: {auth_summary(settings)}.")
    print(f"In a browser: {base}/ (your home after login); {operators_hint(settings, base)}")
    mail = _start_mail_gateway(settings, app.wsgi, host, port)
    print(f"URL: {base}/", flush=True)

    if hasattr(signal, "SIGUSR1"):  # operators: `kill -USR1 <pid>` prints every thread's stack
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    tune_for_serving()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve()
    finally:
        if mail is not None:
            mail.stop()
        if ftp_gateway is not None:
            ftp_gateway.stop()
    return 0


def _stop_on_signals(server: Any) -> None:
    """SIGTERM and SIGINT stop ``server``: a helper thread sets cheroot's ``interrupt``
    (which stops the server, as a worker thread's fatal error does); ``serve()`` then raises
    it in the main thread. A signal before ``serve()`` stops it on entry.

    The handler only sets an event. An exception raised from a signal handler lands in
    whatever code runs at that moment; in a finalizer or ``__del__`` (the collector runs
    them, e.g. while start-up tunes it) Python ignores it, and the stop was lost: the server
    kept serving after SIGTERM."""
    requested = threading.Event()

    def _stopper() -> None:
        requested.wait()
        server.interrupt = KeyboardInterrupt()

    threading.Thread(target=_stopper, name="davserver-stop", daemon=True).start()

    def _stop(signum: int, frame: Any) -> None:
        requested.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def _start_mail_gateway(settings: Settings, wsgi: Any, host: str, port: int) -> Any:
    """Start the e-mail gateway if enabled (printing ``SMTP: HOST:PORT``); None if not."""
    if not settings.gateways.smtp.enabled:
        return None
    from davserver.gateways.mail.server import MailGateway

    gateway = MailGateway(settings, wsgi, http_host=host, http_port=port)
    gateway.start()
    smtp_host, smtp_port = gateway.address
    shown = f"[{smtp_host}]" if ":" in smtp_host else smtp_host
    print(f"SMTP: {shown}:{smtp_port}", flush=True)
    return gateway


def _start_ftp(settings: Settings, wsgi: Any) -> Any:
    """Start the FTP gateway when enabled (``gateways.ftp`` or ``--ftp-port``); prints
    ``FTP: ftp://HOST:PORT/`` (before the ``URL:`` line)."""
    ftp = settings.gateways.ftp
    if not ftp.enabled:
        return None
    from davserver.gateways.ftp.server import FtpGateway

    gateway = FtpGateway(settings, wsgi)
    host, port = gateway.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"FTP: ftp://{shown}:{port}/", flush=True)
    return gateway


def cmd_check_config(args: argparse.Namespace) -> int:
    """Check what ``serve`` would with the same arguments: the config, the cheroot version,
    the TLS files, the folders and (unless skipped) the port. Exit 0 if all is well, 2 with
    one line naming the problem otherwise."""
    settings = _settings(args)
    _check_cheroot()
    for warning in run_checks(settings, check_port_free=not args.skip_port_check):
        print(f"warning: {warning}", file=sys.stderr)
    source = args.file or args.config or "defaults"
    checked = ["settings", "data and state folders writable"]
    if settings.tls.enabled:
        checked.append("TLS certificate and key match")
    if not args.skip_port_check:
        checked.append(f"port {settings.port} on {settings.host} free")
    print(f"{source}: OK ({', '.join(checked)})")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    """``service install|uninstall --systemd``: exit 0, or 1 when a step failed."""
    from davserver import systemd_unit as su

    target = su.UNIT_PATH if args.output in (None, "") else Path(args.output)
    if args.service_command == "uninstall":
        return _service_uninstall(target, now=args.now)
    config = args.config.absolute() if args.config else None
    root = args.root if args.root or config else su.DEFAULT_ROOT
    settings = load_settings(config, {"root": root.absolute() if root else None})
    spec, warnings = su.build_spec(
        config=config,
        root=settings.root.absolute(),
        state_dir=settings.state_path.absolute(),
        port=settings.port,
        account=args.account,
    )
    text = su.render_unit(spec)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        verb = su.write_unit(text, target)
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror} (run as root?)", file=sys.stderr)
        return 1
    print(f"{verb} {target}: runs '{' '.join(spec.command)}' as user {spec.account}")
    enabled = args.enable or args.now
    if enabled:
        enable = ["systemctl", "enable", *(["--now"] if args.now else []), su.UNIT_NAME]
        if not _systemctl(["systemctl", "daemon-reload"], enable):
            return 1
    print("next:")
    for step in su.install_steps(spec, enabled=enabled):
        print(f"  {step}")
    return 0


def _systemctl(*commands: list[str]) -> bool:
    """Run each command in turn; False (with a message) at the first that fails."""
    from davserver.systemd_unit import run_command

    for argv in commands:
        if run_command(argv) != 0:
            print(f"error: {' '.join(argv)} failed", file=sys.stderr)
            return False
    return True


def _service_uninstall(target: Path, *, now: bool) -> int:
    from davserver.systemd_unit import UNIT_NAME

    if now and not _systemctl(["systemctl", "disable", "--now", UNIT_NAME]):
        return 1
    if target.exists():
        target.unlink()
        print(f"removed {target} (the data and its state folder are kept)")
    else:
        print(f"{target} does not exist; nothing removed")
    if now:
        return 0 if _systemctl(["systemctl", "daemon-reload"]) else 1
    print(f"next: systemctl disable --now {UNIT_NAME}; systemctl daemon-reload")
    return 0


_NO_EXTRA_NEEDED = {"--version", "version", "-h", "--help"}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``davserver`` console script."""
    arguments = sys.argv[1:] if argv is None else argv
    missing = missing_server_modules()
    if missing and not _NO_EXTRA_NEEDED & set(arguments[:1]):
        print(missing_extra_message(missing), file=sys.stderr)
        return 1
    args = build_parser().parse_args(arguments)
    try:
        if args.command == "version":
            print(f"davserver {package_version()}")
            return 0
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "user":
            return cmd_user(args)
        if args.command == "service":
            return cmd_service(args)
        if args.command in collection_cli.COMMANDS:
            return collection_cli.run(args, _settings(args))
        return cmd_check_config(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
