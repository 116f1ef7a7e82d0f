"""The FTP command handlers: pyftpdlib's, plus HASH/XMD5/XSHA1/XSHA256 and upload commits.

- Digests (draft-ietf-ftpext2-hash): ``OPTS HASH [name]`` shows or selects the algorithm
  (``SHA-256`` by default, ``SHA-1``, ``MD5``); ``HASH <file>`` answers
  ``213 SHA-256 0-<size> <hex> <file>``; ``XMD5``/``XSHA1``/``XSHA256 <file>`` answer
  ``250 <hex>``. All of them report the digests the server stored when the file was
  committed (``oc:checksums``); nothing is re-hashed.
- Uploads: the data handler decides when a STOR ended cleanly (the client closed the data
  connection, and over TLS sent ``close_notify``) and only then lets the staged upload
  commit; otherwise it keeps the received bytes for ``REST`` and answers ``426``.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any, ClassVar

from OpenSSL import SSL
from pyftpdlib.filesystems import FilesystemError
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.log import logger

from davserver.gateways.ftp.dav import DavRefusedError
from davserver.gateways.ftp.staging import StagedUpload

HASH_ALGORITHMS = {"SHA-256": "sha256", "SHA-1": "sha1", "MD5": "md5"}
DEFAULT_HASH = "SHA-256"
_DIGEST_COMMANDS = {"XMD5": "md5", "XSHA1": "sha1", "XSHA256": "sha256", "XSHA": "sha1"}


def _still_open(sock: Any) -> bool:
    """False when the peer has closed (or reset) ``sock``; nothing is consumed."""
    try:
        with socket.socket(fileno=os.dup(sock.fileno())) as raw:
            peeked = raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except (OSError, AttributeError):
        return False
    return peeked != b""


class _UploadEnd:
    """Data-channel mixin: commit a staged upload only after a clean end of the transfer."""

    ac_in_buffer_size = 256 * 1024  # fewer, larger pieces handed to the in-process PUT

    file_obj: Any
    receive: bool
    transfer_finished: bool
    socket: Any
    cmd_channel: Any
    _closed: bool
    _resp: tuple[str, Any]

    def close(self) -> None:
        upload = self.file_obj
        if (
            not self._closed
            and self.receive
            and isinstance(upload, StagedUpload)
            and not upload.closed
        ):
            self._finish(upload)
        super().close()  # type: ignore[misc]

    def _ended_cleanly(self) -> bool:
        """The client closed the data connection on purpose: over TLS with close_notify,
        and with its control connection still open (a crashed client drops both)."""
        if isinstance(self.socket, SSL.Connection) and not (
            self.socket.get_shutdown() & SSL.RECEIVED_SHUTDOWN
        ):
            return False
        return _still_open(self.cmd_channel.socket)

    def _finish(self, upload: StagedUpload) -> None:
        clean = self._ended_cleanly()
        complete = self.transfer_finished and clean
        try:
            upload.finish(complete)
        except DavRefusedError as exc:
            self.transfer_finished = False
            self._resp = (f"550 Not stored: {exc}; the previous version is unchanged.", logger.info)
            return
        if complete:
            return
        kept = upload.total
        why = ": the TLS data stream ended without close_notify" if not clean else ""
        self.transfer_finished = False
        self._resp = (
            f"426 Transfer interrupted{why}; nothing replaced, {kept} bytes kept "
            f"(REST {kept} then STOR resumes).",
            logger.info,
        )


class GatewayDTPHandler(_UploadEnd, DTPHandler):  # type: ignore[misc]
    """Plain data connections (only when plain logins are allowed)."""


class GatewayTLSDTPHandler(_UploadEnd, TLS_DTPHandler):  # type: ignore[misc]
    """TLS data connections (PROT P), with the handler's ``data_ssl_context``.

    Data connections negotiate at most TLS 1.2: a TLS 1.3 server sends session tickets
    after the handshake, a client that only writes (an upload) never reads them, and its
    kernel then resets the connection on close instead of ending it, which drops the end
    of the stream. The control connection negotiates up to TLS 1.3.
    """

    def __init__(self, sock: Any, cmd_channel: Any) -> None:
        control = cmd_channel.ssl_context
        cmd_channel.ssl_context = cmd_channel.data_ssl_context
        try:
            super().__init__(sock, cmd_channel)
        finally:
            cmd_channel.ssl_context = control


class _GatewayCommands:
    """Control-channel mixin: HASH and friends, and a fresh view of the files per command."""

    fs: Any
    proto_cmds: ClassVar[dict[str, dict[str, Any]]]
    _extra_feats: list[str]
    _available_facts: list[str]
    _current_facts: list[str]

    _hash_name = DEFAULT_HASH

    if TYPE_CHECKING:

        def respond(self, resp: str, logfun: Any = ...) -> None: ...  # FTPHandler's

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        forget = getattr(getattr(self, "fs", None), "forget", None)
        if forget is not None:
            forget()
        super().process_command(cmd, *args, **kwargs)  # type: ignore[misc]

    def _gateway_setup(self) -> None:
        self._extra_feats = [*getattr(self, "_extra_feats", []), self._hash_feature()]
        # No MLSD "unique" fact: WebDAV has no inode to give, and one value for every file
        # would tell clients that all files are the same.
        for name in ("_available_facts", "_current_facts"):
            facts = getattr(self, name, None)
            if facts is not None:
                setattr(self, name, [f for f in facts if f != "unique"])

    def _hash_feature(self) -> str:
        names = [n + ("*" if n == self._hash_name else "") for n in HASH_ALGORITHMS]
        return "HASH " + ";".join(names)

    def ftp_FEAT(self, line: str) -> None:
        extra = [f for f in self._extra_feats if not f.startswith("HASH ")]
        self._extra_feats = [*extra, self._hash_feature()]
        super().ftp_FEAT(line)  # type: ignore[misc]

    def ftp_OPTS(self, line: str) -> None:
        cmd, _, arg = line.strip().partition(" ")
        if cmd.upper() != "HASH":
            super().ftp_OPTS(line)  # type: ignore[misc]
            return
        if not arg:
            self.respond(f"200 {self._hash_name}")
        elif arg.upper() in HASH_ALGORITHMS:
            self._hash_name = arg.upper()
            self.respond(f"200 {self._hash_name}")
        else:
            self.respond("501 Unknown algorithm; choose one of " + ", ".join(HASH_ALGORITHMS))

    def _stored_digest(self, path: str, algorithm: str) -> tuple[int, str] | None:
        """(size, hex digest) of the stored file, or None after answering an error."""
        try:
            entry = self.fs.entry(path)
        except FilesystemError as exc:
            self.respond(f"550 {exc}.")
            return None
        if entry.is_dir:
            self.respond("550 Is a directory.")
            return None
        digest = entry.hashes.get(algorithm)
        if not digest:
            self.respond("550 The server has no stored digest of this file.")
            return None
        return entry.size, digest

    def ftp_HASH(self, path: str) -> None:
        found = self._stored_digest(path, HASH_ALGORITHMS[self._hash_name])
        if found is not None:
            size, digest = found
            shown = self.fs.fs2ftp(path)
            self.respond(f"213 {self._hash_name} 0-{size} {digest} {shown}")

    def _digest_command(self, cmd: str, path: str) -> None:
        found = self._stored_digest(path, _DIGEST_COMMANDS[cmd])
        if found is not None:
            self.respond(f"250 {found[1]}")

    def ftp_XMD5(self, path: str) -> None:
        self._digest_command("XMD5", path)

    def ftp_XSHA1(self, path: str) -> None:
        self._digest_command("XSHA1", path)

    def ftp_XSHA(self, path: str) -> None:
        self._digest_command("XSHA", path)

    def ftp_XSHA256(self, path: str) -> None:
        self._digest_command("XSHA256", path)


def _commands(base: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cmds = {k: v for k, v in base.items() if k != "STOU"}
    cmds["HASH"] = dict(perm="r", auth=True, arg=True, help="Syntax: HASH <SP> file-name")
    for name in _DIGEST_COMMANDS:
        cmds[name] = dict(perm="r", auth=True, arg=True, help=f"Syntax: {name} <SP> file-name")
    return cmds


class GatewayFTPHandler(_GatewayCommands, FTPHandler):  # type: ignore[misc]
    """Plain FTP (logins refused by the authorizer unless plain logins are allowed)."""

    proto_cmds = _commands(FTPHandler.proto_cmds)
    dtp_handler = GatewayDTPHandler
    use_sendfile = False

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        self._gateway_setup()


class GatewayTLSHandler(_GatewayCommands, TLS_FTPHandler):  # type: ignore[misc]
    """FTP with explicit TLS (AUTH TLS, PBSZ 0, PROT P)."""

    proto_cmds = _commands(TLS_FTPHandler.proto_cmds)
    dtp_handler = GatewayTLSDTPHandler
    use_sendfile = False
    data_ssl_context: Any = None

    @classmethod
    def prepare_contexts(cls) -> None:
        """Load the certificate into the control and data contexts (fails on a bad one)."""
        cls.get_ssl_context().set_min_proto_version(SSL.TLS1_2_VERSION)
        data = SSL.Context(SSL.TLS_SERVER_METHOD)
        data.set_min_proto_version(SSL.TLS1_2_VERSION)
        data.set_max_proto_version(SSL.TLS1_2_VERSION)
        data.use_certificate_chain_file(cls.certfile)
        data.use_privatekey_file(cls.keyfile)
        data.set_options(cls.ssl_options)
        cls.data_ssl_context = data

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        self._gateway_setup()
