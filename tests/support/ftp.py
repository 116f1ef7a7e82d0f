"""A real ``davserver serve`` with the FTP gateway (FTPS with a trustme certificate)."""

from __future__ import annotations

import ftplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import trustme

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

FTP_CONFIG = """\
auth:
  throttle: {max_failures: 4, lockout_s: 30}
gateways:
  ftp:
    login_failure_delay_s: 0.1
"""


@dataclass
class FtpEndpoint:
    """A running server and where its FTP gateway listens."""

    server: DavServer
    host: str
    port: int
    ca_file: Path
    root: Path

    def client(self, user: str = "alice", password: str | None = None) -> ftplib.FTP_TLS:
        """A logged-in FTP_TLS client with a private data channel (PROT P), binary mode."""
        ftp = self.connect()
        ftp.login(user, password if password is not None else USERS[user])
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
        return ftp

    def connect(self) -> ftplib.FTP_TLS:
        """An FTP_TLS client connected (AUTH TLS not yet sent)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        ftp = ftplib.FTP_TLS(context=context, timeout=30)
        ftp.connect(self.host, self.port)
        return ftp

    def home(self, user: str) -> Path:
        """The user's home on disk."""
        return self.root / "files" / user


def write_tls(tmp: Path, ca: trustme.CA) -> tuple[Path, Path, Path]:
    """Certificate, key and CA files for 127.0.0.1."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert_file, key_file, ca_file


def start_ftp_server(
    tmp: Path, ca: trustme.CA, config: str = FTP_CONFIG, module: str = "davserver.cli"
) -> FtpEndpoint:
    """Start an HTTPS server with ``--ftp-port 0`` and return its FTP endpoint."""
    cert_file, key_file, ca_file = write_tls(tmp, ca)
    extra = ["--tls-cert", str(cert_file), "--tls-key", str(key_file), "--ftp-port", "0"]
    server = start_server(tmp, config, extra=extra, module=module)
    parts = urlsplit(server.ftp_url)
    assert parts.scheme == "ftp" and parts.port, server.output
    return FtpEndpoint(server, parts.hostname or "", parts.port, ca_file, server.root)
