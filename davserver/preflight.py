"""Checks ``davserver serve`` runs before it creates anything, and ``check-config`` runs too.

Each check raises ``StartupError`` with one line naming the file, folder or port and what to
do; nothing here writes to disk.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import stat
from pathlib import Path

from davserver.errors import DavserverError
from davserver.settings import Settings


class StartupError(DavserverError):
    """The server cannot start as configured; the message is one line with the fix."""


def check_port(host: str, port: int) -> None:
    """Raise StartupError when ``host:port`` cannot be bound (in use, not an address of this
    machine, privileged port). Port 0 binds any free port, so it is always fine."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"host {host!r} cannot be resolved: {exc.strerror}") from exc
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name != "nt":  # as cheroot does: a port in TIME_WAIT may be reused
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise StartupError(_bind_error(host, port, exc)) from exc


def _bind_error(host: str, port: int, exc: OSError) -> str:
    where = f"port {port} on {host}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is already in use (another server is running there); choose --port"
    if exc.errno == errno.EACCES:
        return (
            f"{where}: permission denied (ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE); use a port of 1024 or more"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine; check --host"
    return f"{where} cannot be bound: {exc.strerror or exc}"


def _readable_file(path: Path, name: str) -> bytes:
    """The bytes of the TLS file ``name`` (``cert`` or ``key``), or StartupError naming it."""
    what = f"TLS {name} {path}"
    try:
        if not path.is_file():
            problem = "is not a file" if path.exists() else "no such file"
            raise StartupError(f"{what}: {problem} (check tls.{name} or --tls-{name})")
        return path.read_bytes()
    except PermissionError as exc:
        raise StartupError(f"{what}: not readable by this user (permission denied)") from exc
    except OSError as exc:
        raise StartupError(f"{what}: cannot be read: {exc.strerror}") from exc


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc.args[-1] if exc.args else exc)


def check_tls(cert: Path, key: Path) -> list[str]:
    """Raise StartupError unless ``cert`` holds a PEM certificate and ``key`` the PEM private
    key that matches it; returns warnings (e.g. a key readable by other users)."""
    cert_pem = _readable_file(cert, "cert")
    key_pem = _readable_file(key, "key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise StartupError(f"TLS cert {cert}: no PEM certificate in it (BEGIN CERTIFICATE)")
    if b"PRIVATE KEY-----" not in key_pem:
        raise StartupError(f"TLS key {key}: no PEM private key in it (BEGIN PRIVATE KEY)")
    if b"ENCRYPTED" in key_pem:
        raise StartupError(f"TLS key {key}: the key is encrypted; give an unencrypted key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=str(cert))
    except ssl.SSLError as exc:
        reason = _ssl_reason(exc)
        raise StartupError(f"TLS cert {cert}: not a valid certificate ({reason})") from exc
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or exc.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"TLS key {key} does not match the certificate {cert}") from exc
        raise StartupError(f"TLS key {key}: not a valid private key ({_ssl_reason(exc)})") from exc
    warnings = []
    if stat.S_IMODE(key.stat().st_mode) & 0o004:
        warnings.append(f"TLS key {key} is readable by every user; chmod 600 (or 640) it")
    return warnings


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(folder: Path, what: str) -> None:
    """Raise StartupError unless ``folder`` is a writable folder or can be created."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise StartupError(f"{what} {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        verb = "is not writable" if existing == folder.absolute() else "cannot be created"
        raise StartupError(
            f"{what} {folder} {verb} by this user ({existing} is not writable); "
            "fix its owner or permissions"
        )


def check_state_entries(state_dir: Path) -> None:
    """Raise StartupError when a file or folder directly in the state folder cannot be read
    and written by this user (e.g. made by root with ``sudo davserver user add`` for a server
    that runs as another account)."""
    if not state_dir.is_dir():
        return
    for entry in sorted(state_dir.iterdir()):
        wanted = os.R_OK | os.W_OK | (os.X_OK if entry.is_dir() else 0)
        if not os.access(entry, wanted, follow_symlinks=False):
            owner = entry.lstat().st_uid
            raise StartupError(
                f"state file {entry} is not readable and writable by this user (owner uid "
                f"{owner}); give the state folder to the server's account "
                f"(chown -R <account> {state_dir})"
            )


def check_folders(settings: Settings) -> None:
    """The data and state folders can be created or written, and so can the state files."""
    check_writable(settings.root, "data folder")
    check_writable(settings.state_path, "state folder")
    check_state_entries(settings.state_path)


def run_checks(settings: Settings, *, check_port_free: bool = True) -> list[str]:
    """Every check ``serve`` needs before creating anything; returns warnings."""
    warnings: list[str] = []
    check_folders(settings)
    if settings.tls.enabled:
        assert settings.tls.cert is not None and settings.tls.key is not None
        warnings += check_tls(settings.tls.cert, settings.tls.key)
    if check_port_free and settings.port != 0:
        check_port(settings.host, settings.port)
    check_gateways(settings, check_port_free=check_port_free)
    check_state(settings)
    return warnings


def check_state(settings: Settings) -> None:
    """Raise StartupError (one line, no password) if the ``state`` PostgreSQL database does
    not answer; the embedded SQLite file needs no check beyond its folder's."""
    if settings.state is None:
        return
    from davserver.web.health import probe_database

    reason = probe_database(settings.state)
    if reason is not None:
        raise StartupError(f"state database {settings.state_display} unreachable: {reason}")


def check_gateways(settings: Settings, *, check_port_free: bool = True) -> None:
    """Raise StartupError for an enabled gateway that could not start: credentials would
    travel in clear (no TLS and no ``allow_plain_login``) or its port cannot be bound."""
    gateways = settings.gateways
    for name, gateway, tls_use in (
        ("ftp", gateways.ftp, "FTPS"),
        ("smtp", gateways.smtp, "STARTTLS"),
    ):
        if not gateway.enabled:
            continue
        if not settings.tls.enabled and not gateway.allow_plain_login:
            raise StartupError(
                f"gateways.{name} needs tls.cert and tls.key ({tls_use}), or "
                f"gateways.{name}.allow_plain_login: true"
            )
        if check_port_free and gateway.port != 0:
            check_port(gateway.host or settings.host, gateway.port)
