"""The ``ftp`` transport: FTPS (explicit TLS, ``ftps://``) with ftplib, for sites where only
FTP gets through.

- URL: ``ftps://host[:port]/folder/`` (port 21 by default); the folder is relative to the
  FTP login's root. ``ftp://`` (no TLS at all) only with ``allow_plain``.
- Listing: MLSD, folder by folder; each file's SHA-256 comes from ``HASH`` (the server's
  stored digest; ``XSHA256`` when HASH is missing).
- Upload: files go whole by STOR (there are no upload sessions; ``probe`` reports
  ``chunking=False``). When the connection drops mid-STOR, the transport reconnects, asks
  ``SIZE`` for what the server kept and continues with ``REST <offset>`` + STOR from there
  (the local file is re-read to keep the whole-file hash, but the kept part is not sent
  again); a server that does not keep partial uploads answers REST with 554 and the file
  is sent from the start. The modification time is set with ``MFMT``.
- Verification: after the STOR the server's SHA-256 is asked with ``HASH`` and returned as
  the commit result; a file counts as verified only when it equals the local SHA-256.
  FTP has no way to declare a hash with STOR, so this after-the-fact check is the
  verification.
"""

from __future__ import annotations

import calendar
import ftplib
import hashlib
import posixpath
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from syncclient.model import ListingMethod, RemoteFile, RemoteInventory
from syncclient.transports.base import (
    AuthError,
    PutResult,
    ServerInfo,
    SetupError,
    TransportError,
    UnreachableError,
    WrongURLError,
)

DEFAULT_PORT = 21
RESUME_ATTEMPTS = 3
MAX_FOLDERS = 1_000_000


class FtpReplyError(TransportError):
    """The FTP server answered with an error reply; 4xx replies are transient."""

    def __init__(self, reply: str, what: str) -> None:
        super().__init__(f"{what}: FTP {reply.strip()}")
        self.reply = reply.strip()
        self.transient = self.reply.startswith("4")


@dataclass(frozen=True, slots=True)
class FtpOptions:
    """Connection settings. ``ca_bundle``: PEM file to trust instead of the OS store."""

    url: str
    user: str | None = None
    password: str | None = None
    ca_bundle: Path | None = None
    allow_plain: bool = False
    timeout: float = 60.0
    connections: int = 4


def is_ftp_url(url: str) -> bool:
    """True for ``ftps://`` and ``ftp://`` URLs."""
    return urlsplit(url).scheme.lower() in ("ftp", "ftps")


class FtpTransport:
    """The Transport protocol over FTPS (see the module docstring). Thread-safe: each
    thread borrows its own logged-in connection from a small pool."""

    def __init__(self, opts: FtpOptions) -> None:
        split = urlsplit(opts.url)
        self.scheme = split.scheme.lower()
        if self.scheme == "ftp" and not opts.allow_plain:
            raise SetupError(
                f"{opts.url}: plain ftp:// sends the password unencrypted; use ftps:// "
                "(or allow plain FTP explicitly)"
            )
        if self.scheme not in ("ftp", "ftps") or not split.hostname:
            raise WrongURLError(f"{opts.url}: expected ftps://host[:port]/folder/")
        self.opts = opts
        self.base = opts.url if opts.url.endswith("/") else opts.url + "/"
        self.host = split.hostname
        self.port = split.port or DEFAULT_PORT
        self.root = posixpath.normpath("/" + unquote(split.path).strip("/"))
        self._idle: list[ftplib.FTP] = []
        self._lock = threading.Lock()

    # connections ----------------------------------------------------------------------

    def _connect(self) -> ftplib.FTP:
        ftp: ftplib.FTP
        with self._translated("connect"):
            if self.scheme == "ftps":
                context = ssl.create_default_context(
                    cafile=str(self.opts.ca_bundle) if self.opts.ca_bundle else None
                )
                tls = ftplib.FTP_TLS(context=context, timeout=self.opts.timeout)
                tls.connect(self.host, self.port)
                tls.auth()
                tls.login(self.opts.user or "", self.opts.password or "")
                tls.prot_p()
                ftp = tls
            else:
                ftp = ftplib.FTP(timeout=self.opts.timeout)
                ftp.connect(self.host, self.port)
                ftp.login(self.opts.user or "", self.opts.password or "")
            ftp.voidcmd("TYPE I")
        return ftp

    @contextmanager
    def _conn(self) -> Iterator[ftplib.FTP]:
        with self._lock:
            ftp = self._idle.pop() if self._idle else None
        if ftp is None:
            ftp = self._connect()
        try:
            yield ftp
        except BaseException:
            _drop(ftp)
            raise
        with self._lock:
            if len(self._idle) < self.opts.connections:
                self._idle.append(ftp)
                return
        _drop(ftp)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except TransportError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise SetupError(
                f"{what}: the server's certificate is not trusted ({exc.verify_message}); "
                "give its CA with server.ca_bundle"
            ) from exc
        except ftplib.error_perm as exc:
            reply = str(exc)
            if reply.startswith("530"):
                raise AuthError(f"{what}: login refused: {reply}") from exc
            raise FtpReplyError(reply, what) from exc
        except ftplib.error_temp as exc:
            raise FtpReplyError(str(exc), what) from exc
        except ftplib.Error as exc:
            raise FtpReplyError(str(exc), what) from exc
        except (OSError, EOFError) as exc:
            raise UnreachableError(f"{what}: {self.host}:{self.port}: {exc}") from exc

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    # Transport ------------------------------------------------------------------------

    def probe(self) -> ServerInfo:
        """Log in and look for the target folder."""
        with self._conn() as ftp, self._translated("probe"):
            exists = _is_dir(ftp, self.root)
        return ServerInfo(
            collection_exists=exists,
            inventory=True,
            chunking=False,
            notes=("FTP: whole files with REST resume, verified by HASH",),
        )

    def inventory(self) -> RemoteInventory:
        """Every file (with its stored SHA-256) and folder below the target folder."""
        files: dict[str, RemoteFile] = {}
        dirs: set[str] = set()
        with self._conn() as ftp, self._translated("listing"):
            if not _is_dir(ftp, self.root):
                return RemoteInventory({}, method=ListingMethod.MISSING, exists=False)
            pending = [""]
            while pending and len(dirs) < MAX_FOLDERS:
                rel_dir = pending.pop()
                for name, facts in ftp.mlsd(self._remote(rel_dir), ["type", "size", "modify"]):
                    rel = posixpath.join(rel_dir, name) if rel_dir else name
                    kind = facts.get("type", "")
                    if kind == "dir":
                        dirs.add(rel)
                        pending.append(rel)
                    elif kind == "file":
                        files[rel] = self._file(ftp, rel, facts)
        return RemoteInventory(files, frozenset(dirs), method=ListingMethod.PROPFIND)

    def _file(self, ftp: ftplib.FTP, rel: str, facts: dict[str, str]) -> RemoteFile:
        size = int(facts.get("size", "0"))
        return RemoteFile(
            rel, size, _mlsd_time_ns(facts.get("modify")), sha256=_sha256(ftp, self._remote(rel))
        )

    def stat(self, path: str) -> RemoteFile | None:
        """Size and stored SHA-256 of ``path``; None if absent."""
        with self._conn() as ftp, self._translated(f"HASH {path}"):
            try:
                reply = ftp.sendcmd(f"HASH {self._remote(path)}")
            except ftplib.error_perm as exc:
                if str(exc).startswith("550"):
                    return None
                raise
        size, digest = _parse_hash_reply(reply)
        return RemoteFile(path, size, sha256=digest)

    def download_digests(self, path: str) -> dict[str, str]:
        """RETR ``path`` and hash it here."""
        hashers = {name: hashlib.new(name) for name in ("md5", "sha1", "sha256")}

        def feed(block: bytes) -> None:
            for h in hashers.values():
                h.update(block)

        with self._conn() as ftp, self._translated(f"RETR {path}"):
            ftp.retrbinary(f"RETR {self._remote(path)}", feed)
        return {name: h.hexdigest() for name, h in hashers.items()}

    def make_dir(self, path: str) -> None:
        """MKD ``path`` (an existing folder is fine)."""
        with self._conn() as ftp, self._translated(f"MKD {path}"):
            _mkd(ftp, self._remote(path))

    def make_collection(self) -> None:
        """Create the target folder and its missing parents."""
        with self._conn() as ftp, self._translated("MKD (target folder)"):
            current = "/"
            for part in self.root.strip("/").split("/"):
                if part:
                    current = posixpath.join(current, part)
                    _mkd(ftp, current)

    def put(
        self, path: str, body: Iterable[bytes], length: int, sha1: str, mtime: int
    ) -> PutResult:
        """STOR ``path`` (resuming with REST after a dropped connection), set its mtime
        with MFMT and return the server's SHA-256 (from HASH) as the result."""
        remote = self._remote(path)
        offset = 0
        for attempt in range(RESUME_ATTEMPTS):
            try:
                with self._conn() as ftp, self._translated(f"STOR {path}"):
                    if attempt:
                        offset = _resume_offset(ftp, remote, length)
                    _store(ftp, remote, body, offset)
                break
            except UnreachableError:
                if attempt == RESUME_ATTEMPTS - 1:
                    raise
            except FtpReplyError as exc:
                if not exc.reply.startswith("426") or attempt == RESUME_ATTEMPTS - 1:
                    raise
        with self._conn() as ftp, self._translated(f"HASH {path}"):
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime))
            # A server without MFMT keeps its own time; the hash still decides.
            with suppress(ftplib.error_perm):
                ftp.sendcmd(f"MFMT {stamp} {remote}")
            digest = _parse_hash_reply(ftp.sendcmd(f"HASH {remote}"))[1]
        return PutResult(etag=None, hashes={"sha256": digest})

    def session_create(self, session: str, path: str, total: int) -> None:
        """Not offered over FTP (``probe`` says ``chunking=False``)."""
        raise TransportError("FTP has no upload sessions")

    def session_chunks(self, session: str) -> dict[int, int] | None:
        """Not offered over FTP: no session exists."""
        return None

    def session_put(
        self, session: str, n: int, body: Iterable[bytes], length: int, path: str, total: int
    ) -> None:
        """Not offered over FTP."""
        raise TransportError("FTP has no upload sessions")

    def session_commit(
        self, session: str, path: str, total: int, sha1: str, mtime: int
    ) -> PutResult:
        """Not offered over FTP."""
        raise TransportError("FTP has no upload sessions")

    def session_abort(self, session: str) -> None:
        """Nothing to abort over FTP."""
        return None

    def close(self) -> None:
        """Log out of every pooled connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for ftp in idle:
            try:
                ftp.quit()
            except (ftplib.Error, OSError, EOFError):
                ftp.close()


def _drop(ftp: ftplib.FTP) -> None:
    with suppress(OSError):
        ftp.close()


def _is_dir(ftp: ftplib.FTP, path: str) -> bool:
    try:
        ftp.cwd(path)
    except ftplib.error_perm:
        return False
    return True


def _mkd(ftp: ftplib.FTP, path: str) -> None:
    try:
        ftp.mkd(path)
    except ftplib.error_perm:
        if not _is_dir(ftp, path):
            raise


def _resume_offset(ftp: ftplib.FTP, remote: str, length: int) -> int:
    """What the server kept of an interrupted STOR (0 if nothing usable)."""
    try:
        size = int(ftp.sendcmd(f"SIZE {remote}").split()[1])
    except (ftplib.error_perm, ValueError, IndexError):
        return 0
    return size if 0 < size < length else 0


def _store(ftp: ftplib.FTP, remote: str, body: Iterable[bytes], offset: int) -> None:
    """STOR the bytes of ``body`` after ``offset`` (REST ``offset`` first when > 0); a 554
    to REST falls back to the whole file."""
    if offset:
        try:
            conn = ftp.transfercmd(f"STOR {remote}", rest=offset)
        except ftplib.error_perm as exc:
            if not str(exc).startswith(("554", "350")):
                raise
            offset = 0
            conn = ftp.transfercmd(f"STOR {remote}")
    else:
        conn = ftp.transfercmd(f"STOR {remote}")
    with conn:
        skip = offset
        for block in body:
            if skip >= len(block):
                skip -= len(block)
                continue
            conn.sendall(block[skip:] if skip else block)
            skip = 0
        if isinstance(conn, ssl.SSLSocket):
            conn.unwrap()  # close_notify: the server commits only a cleanly ended upload
        else:
            conn.shutdown(socket.SHUT_WR)
    ftp.voidresp()


def _sha256(ftp: ftplib.FTP, remote: str) -> str | None:
    for command in ("HASH", "XSHA256"):
        try:
            reply = ftp.sendcmd(f"{command} {remote}")
        except ftplib.error_perm:
            continue
        if command == "HASH":
            return _parse_hash_reply(reply)[1]
        return reply.split()[1].lower()
    return None


def _parse_hash_reply(reply: str) -> tuple[int, str]:
    """``213 SHA-256 0-<size> <hex> <path>`` -> (size, hex)."""
    parts = reply.split(" ", 4)
    if len(parts) < 4 or parts[0] != "213" or parts[1].upper() != "SHA-256":
        raise FtpReplyError(reply, "HASH (expected SHA-256; OPTS HASH SHA-256)")
    end = parts[2].partition("-")[2]
    return int(end or 0), parts[3].lower()


def _mlsd_time_ns(value: str | None) -> int | None:
    if not value:
        return None
    try:
        parsed = time.strptime(value[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return calendar.timegm(parsed) * 1_000_000_000
