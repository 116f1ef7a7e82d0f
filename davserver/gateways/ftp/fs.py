"""pyftpdlib's filesystem over WebDAV: the user's home, reached only by in-process requests.

The FTP root ``/`` is the user's home (``/dav/files/<user>``); pyftpdlib normalises every
client path against it (``..`` cannot climb above ``/``), and ``validpath`` refuses anything
else, so a path outside the home gets ``550`` before any request is made. Every operation
is one or two WebDAV requests (PROPFIND, GET, MKCOL, DELETE, MOVE; uploads see
``staging``), so access rules, locks and limits are the server's own. RNFR/RNTO replaces an
existing file with a file (as ``rename(2)``) but never replaces a folder, nor a file with a
folder. Errors surface as ``FilesystemError`` with a reason, which pyftpdlib answers as
``550 <reason>.``.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Any

from pyftpdlib.filesystems import AbstractedFS, FilesystemError

from davserver.gateways.ftp.dav import ChunkStream, DavRefusedError, DavSession, Entry, body_chunks
from davserver.gateways.ftp.staging import StagedUpload, staged_size
from davserver.gateways.inprocess import Response

_DIR_MODE = stat.S_IFDIR | 0o755
_FILE_MODE = stat.S_IFREG | 0o644


def _refused(exc: DavRefusedError) -> FilesystemError:
    return FilesystemError(str(exc))


class DownloadFile:
    """The readable file pyftpdlib sends during RETR: a streamed in-process GET."""

    def __init__(self, dav: DavSession, path: str) -> None:
        self.name = path
        self.closed = False
        self._dav = dav
        self._answer: Response | None = None
        self._stream = ChunkStream(())
        self._open(0)

    def _open(self, offset: int) -> None:
        if self._answer is not None:
            self._answer.close()
        try:
            self._answer = self._dav.download(self.name, offset)
        except DavRefusedError as exc:
            raise _refused(exc) from exc
        self._stream = ChunkStream(body_chunks(self._answer))

    def seek(self, offset: int, whence: int = 0) -> None:
        """REST before RETR: restart the download at ``offset``."""
        if whence != 0:
            raise FilesystemError("only absolute positions are supported")
        self._open(offset)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all remaining when negative); ``b""`` at the end."""
        return self._stream.read(size)

    def close(self) -> None:
        """Release the GET."""
        self.closed = True
        if self._answer is not None:
            self._answer.close()
            self._answer = None


class DavFS(AbstractedFS):  # type: ignore[misc]
    """The AbstractedFS of a logged-in FTP user (see the module docstring).

    ``cmd_channel.dav`` is the user's ``DavSession``. Entries seen by a listing are kept
    until the next command so that LIST/MLSD do not ask again for every name.
    """

    def __init__(self, root: str, cmd_channel: Any) -> None:
        super().__init__(root, cmd_channel)
        self.dav: DavSession = cmd_channel.dav
        self._seen: dict[str, Entry] = {}

    # --- paths

    def ftp2fs(self, ftppath: str) -> str:
        virtual = str(self.ftpnorm(ftppath)).lstrip("/")
        return posixpath.normpath(posixpath.join(str(self.root), virtual))

    def realpath(self, path: str) -> str:
        return posixpath.normpath(path)

    def validpath(self, path: str) -> bool:
        path = posixpath.normpath(path)
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def _check(self, path: str) -> str:
        if not self.validpath(path):
            raise FilesystemError("Outside your home folder")
        return posixpath.normpath(path)

    # --- lookups

    def forget(self) -> None:
        """Drop entries remembered from an earlier command."""
        self._seen.clear()

    def _entry(self, path: str) -> Entry | None:
        path = self._check(path)
        if path in self._seen:
            return self._seen[path]
        try:
            found = self.dav.entry(path)
        except DavRefusedError as exc:
            raise _refused(exc) from exc
        if found is not None:
            self._seen[path] = found
        return found

    def _existing(self, path: str) -> Entry:
        found = self._entry(path)
        if found is None:
            raise FilesystemError("No such file or directory")
        return found

    def stat(self, path: str) -> os.stat_result:
        found = self._existing(path)
        mode = _DIR_MODE if found.is_dir else _FILE_MODE
        t = int(found.mtime)
        return os.stat_result((mode, 0, 0, 1, 0, 0, found.size, t, t, t))

    lstat = stat

    def isfile(self, path: str) -> bool:
        try:
            found = self._entry(path)
        except FilesystemError:
            return False
        if found is not None:
            return not found.is_dir
        return self._staged(path) is not None

    def isdir(self, path: str) -> bool:
        try:
            found = self._entry(path)
        except FilesystemError:
            return False
        return found is not None and found.is_dir

    def islink(self, path: str) -> bool:
        return False

    def lexists(self, path: str) -> bool:
        try:
            return self._entry(path) is not None
        except FilesystemError:
            return False

    def _staged(self, path: str) -> int | None:
        try:
            return staged_size(self.dav, self._check(path))
        except DavRefusedError:
            return None

    def getsize(self, path: str) -> int:
        """The stored size; while an interrupted upload of ``path`` is staged, the staged
        bytes (what a client resuming with REST asks for)."""
        staged = self._staged(path)
        if staged is not None:
            return staged
        return self._existing(path).size

    def getmtime(self, path: str) -> float:
        return self._existing(path).mtime

    def entry(self, path: str) -> Entry:
        """The WebDAV entry of ``path`` (hashes included); FilesystemError if absent."""
        return self._existing(path)

    def listdir(self, path: str) -> list[str]:
        path = self._check(path)
        try:
            entries = self.dav.propfind(path + "/", 1)
        except DavRefusedError as exc:
            raise _refused(exc) from exc
        names: list[str] = []
        for found in entries:
            if found.path.rstrip("/") == path.rstrip("/"):
                continue
            self._seen[posixpath.join(path, found.name)] = found
            names.append(found.name)
        return sorted(names)

    def listdirinfo(self, path: str) -> list[str]:
        return self.listdir(path)

    def get_user_by_uid(self, uid: int) -> str:
        return self.dav.user

    def get_group_by_gid(self, gid: int) -> str:
        return self.dav.user

    # --- changes

    def chdir(self, path: str) -> None:
        if not self.isdir(path):
            raise FilesystemError("Not a directory")
        self.cwd = self.fs2ftp(path)

    def _do(self, method: str, path: str, *ok: int, headers: dict[str, str] | None = None) -> None:
        self._seen.clear()
        try:
            self.dav.expect(self.dav.request(method, path, headers=headers), method, *ok)
        except DavRefusedError as exc:
            raise _refused(exc) from exc

    def mkdir(self, path: str) -> None:
        self._do("MKCOL", self._check(path) + "/", 201)

    def rmdir(self, path: str) -> None:
        path = self._check(path)
        if path == self.root:
            raise FilesystemError("Cannot remove your home folder")
        if not self.isdir(path):
            raise FilesystemError("Not a directory")
        if self.listdir(path):
            raise FilesystemError("Directory not empty")
        self._do("DELETE", path + "/", 204, 200)

    def remove(self, path: str) -> None:
        found = self._existing(path)
        if found.is_dir:
            raise FilesystemError("Is a directory (use RMD)")
        self._do("DELETE", self._check(path), 204, 200)

    def rename(self, src: str, dst: str) -> None:
        src, dst = self._check(src), self._check(dst)
        if src == self.root:
            raise FilesystemError("Cannot rename your home folder")
        if src.startswith(dst.rstrip("/") + "/"):
            raise FilesystemError("Cannot move a file or folder onto a folder that contains it")
        if dst == src or dst.startswith(src + "/"):
            raise FilesystemError("Cannot move a folder onto itself or into itself")
        replaced = self._entry(dst)
        if replaced is not None and replaced.is_dir:
            raise FilesystemError("A folder of that name exists; RNTO replaces only files")
        if replaced is not None and self._existing(src).is_dir:
            raise FilesystemError("A file of that name exists; a folder does not replace it")
        headers = {"Destination": self.dav.url_of(dst), "Overwrite": "T"}
        self._do("MOVE", src, 201, 204, headers=headers)

    def chmod(self, path: str, mode: int) -> None:
        raise FilesystemError("Permissions are managed by the server")

    def utime(self, path: str, timeval: float) -> None:
        """MFMT: set the modification time (PROPPATCH of ``lastmodified``, unix seconds)."""
        path = self._check(path)
        self._seen.clear()
        body = (
            '<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:">'
            f"<d:set><d:prop><d:lastmodified>{int(timeval)}</d:lastmodified></d:prop></d:set>"
            "</d:propertyupdate>"
        ).encode()
        try:
            answer = self.dav.request(
                "PROPPATCH", path, headers={"Content-Type": "application/xml"}, body=body
            )
            self.dav.expect(answer, "PROPPATCH", 207)
        except DavRefusedError as exc:
            raise _refused(exc) from exc
        if b" 200 " not in answer.body:
            why = "out of range" if b"out of range" in answer.body else "not accepted"
            raise FilesystemError(f"The modification time is {why}")

    def mkstemp(self, *args: Any, **kwargs: Any) -> Any:
        raise FilesystemError("STOU is not supported")

    def open(self, filename: str, mode: str) -> DownloadFile | StagedUpload:
        path = self._check(filename)
        self._seen.clear()
        found = self._entry(path)
        if found is not None and found.is_dir:
            raise FilesystemError("Is a directory")
        try:
            if "r" in mode and "+" not in mode:
                if found is None:
                    raise FilesystemError("No such file or directory")
                return DownloadFile(self.dav, path)
            if not self.isdir(posixpath.dirname(path)):
                raise FilesystemError("The parent folder does not exist")
            return StagedUpload(self.dav, path, mode)
        except DavRefusedError as exc:
            raise _refused(exc) from exc
