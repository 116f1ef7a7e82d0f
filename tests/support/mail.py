"""Helpers for the e-mail gateway tests: a gateway on an in-process app, messages, smtplib."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import trustme

from davserver.app import App, build_app
from davserver.gateways.mail.server import MailGateway
from davserver.settings import load_settings
from tests.support.configured import USERS, prepare_root


@dataclass
class MailTarget:
    """Where a gateway listens and how to trust it."""

    host: str
    port: int
    ca_file: Path

    def tls_context(self) -> ssl.SSLContext:
        """A client context trusting the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def write_tls(tmp: Path, ca: trustme.CA) -> tuple[Path, Path, Path]:
    """(cert, key, ca) PEM files for 127.0.0.1."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert_file, key_file, ca_file


def tls_config(tmp: Path, ca: trustme.CA, smtp: str = "", extra: str = "") -> tuple[str, Path]:
    """A config enabling TLS and the SMTP gateway (``smtp``: more keys of gateways.smtp)."""
    cert, key, ca_file = write_tls(tmp, ca)
    smtp_block = "{enabled: true, port: 0" + (", " + smtp if smtp else "") + "}"
    text = f"tls: {{cert: '{cert}', key: '{key}'}}\ngateways: {{smtp: {smtp_block}}}\n" + extra
    return text, ca_file


@dataclass
class RunningGateway:
    """An App and its mail gateway, in this process."""

    app: App
    gateway: MailGateway
    target: MailTarget

    @property
    def files(self) -> Path:
        """The homes folder."""
        return self.app.context.settings.files_dir


@contextmanager
def running_gateway(
    tmp: Path, ca: trustme.CA, smtp: str = "", extra: str = ""
) -> Iterator[RunningGateway]:
    """Build an App with the gateway enabled on a free port; stop both afterwards."""
    config, ca_file = tls_config(tmp, ca, smtp, extra)
    root = prepare_root(tmp, config)
    settings = load_settings(tmp / "config.yaml", {"root": root})
    app = build_app(settings)
    gateway = MailGateway(settings, app.wsgi, http_host="127.0.0.1", http_port=8080)
    gateway.start()
    host, port = gateway.address
    running = RunningGateway(app, gateway, MailTarget(host, port, ca_file))
    try:
        yield running
    finally:
        running.gateway.stop()
        if app.context.uploads is not None:
            app.context.uploads.stop_maintenance()


@contextmanager
def smtp_login(
    target: MailTarget, user: str = "alice", password: str | None = None
) -> Iterator[smtplib.SMTP]:
    """An SMTP session after STARTTLS and AUTH as ``user``."""
    with smtplib.SMTP(target.host, target.port, timeout=120) as smtp:
        smtp.starttls(context=target.tls_context())
        smtp.login(user, USERS[user] if password is None else password)
        yield smtp


def attachment_message(
    files: dict[str, bytes], *, md5: dict[str, str] | None = None, sender: str = "site@example.org"
) -> EmailMessage:
    """A message with a text body and ``files`` attached (optional Content-MD5 per name)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "drop@davsync.example"
    msg["Subject"] = "data"
    msg.set_content("files attached\n")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
        if md5 and name in md5:
            part = list(msg.iter_attachments())[-1]
            part["Content-MD5"] = md5[name]
    return msg


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()
