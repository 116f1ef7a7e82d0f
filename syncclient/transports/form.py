"""Form transport: uploads as HTML-form POSTs, for networks whose proxy blocks WebDAV verbs.

Everything goes through ``GET``, ``HEAD`` and ``POST`` (a davserver is required):

- probe and listing: ``HEAD``/``GET <collection>?inventory`` (the davsync inventory);
- a file: one ``multipart/form-data`` POST to its folder, declaring ``sha1`` and ``mtime``
  fields before the file part, streamed with a known ``Content-Length``; the server verifies
  the SHA-1, stores the file atomically and answers JSON with its own md5/sha1/sha256 and
  ETag, which the executor compares with the local hashes (a file is verified only then);
- folders: a POST with a ``mkdir`` field (the server creates missing parents);
- one file's hashes: ``HEAD`` of the file (``OC-Checksum`` and ``Repr-Digest``).

There are no resumable chunk sessions over forms: large files go whole, in one POST.

``FormTransport(opts, auto=True)`` is the ``--transport auto`` mode: it speaks WebDAV until
the server (or a proxy) refuses a WebDAV verb with 403/405/501 while ``GET`` still works,
then switches to forms for the rest of the run and says so once.
"""

from __future__ import annotations

import base64
import json
import posixpath
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlsplit

from syncclient.model import RemoteFile
from syncclient.transports.base import (
    AuthError,
    PutResult,
    ServerInfo,
    SetupError,
    StatusError,
    TransportError,
    WrongURLError,
)
from syncclient.transports.webdav import (
    NDJSON,
    WebDAVOptions,
    WebDAVTransport,
    _etag,
    parse_checksums,
)

BLOCKED_STATUS = frozenset({403, 405, 501})
"""What a proxy answers to a verb it blocks."""
JSON = "application/json"


def _field(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def _quoted(name: str) -> str:
    """A file name for Content-Disposition (UTF-8, quotes and backslashes escaped)."""
    if "\r" in name or "\n" in name:
        raise StatusError(400, f"file name {name!r} cannot be sent in a form")
    return name.replace("\\", "\\\\").replace('"', '\\"')


class FormBody:
    """A form of text ``fields`` then one file part, streamed from ``body`` (``length``
    bytes). Iterating again re-streams it with the same boundary (an auth challenge or a
    retry sends it again)."""

    def __init__(
        self, fields: list[tuple[str, str]], filename: str, body: Iterable[bytes], length: int
    ) -> None:
        boundary = "syncclient-" + uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            b"".join(_field(boundary, k, v) for k, v in fields)
            + (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{_quoted(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
        )
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._body = body
        self.length = len(self._head) + length + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from self._body
        yield self._tail


class FormTransport(WebDAVTransport):
    """See the module docstring. ``notify`` hears the one-time note of an ``auto`` switch."""

    def __init__(
        self,
        opts: WebDAVOptions,
        *,
        auto: bool = False,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(opts)
        self.using_form = not auto
        self.notify = notify
        self.switch_note = ""
        self._switch_lock = threading.Lock()

    # auto: WebDAV until a verb is blocked -------------------------------------------------

    def _switch(self, why: str) -> str:
        """Use forms from now on; the note to show (empty if already switched)."""
        with self._switch_lock:
            if self.using_form:
                return ""
            self.using_form = True
            self.switch_note = (
                f"WebDAV blocked: {why} refused while GET works (a proxy filtering methods?); "
                "falling back to form upload (POST)"
            )
            return self.switch_note

    def _blocked(self, exc: TransportError) -> bool:
        """Whether ``exc`` looks like a proxy refusing the verb while GET still works."""
        status = getattr(exc, "status", None)
        if not isinstance(exc, WrongURLError | AuthError) and status not in BLOCKED_STATUS:
            return False
        return self._inventory_reachable()

    def _inventory_reachable(self) -> bool:
        """Whether ``GET ?inventory`` answers for the collection or, if it does not exist
        yet, for its nearest existing parent."""
        split = urlsplit(self.base)
        segments = [s for s in split.path.split("/") if s]
        for i in range(len(segments), 0, -1):
            url = f"{split.scheme}://{split.netloc}/" + "/".join(segments[:i]) + "/?inventory"
            try:
                with self._translated(f"HEAD {url}"):
                    resp = self._client.request("HEAD", url)
            except TransportError:
                return False
            if resp.status_code == 200:
                return str(resp.headers.get("Content-Type", "")).startswith(NDJSON)
            if resp.status_code != 404:
                return False
        return False

    def _fall_back(self, verb: str, exc: TransportError) -> None:
        """Switch to forms if ``exc`` is a blocked verb (telling ``notify``), else raise it."""
        if not self._blocked(exc):
            raise exc
        note = self._switch(f"{verb} ({exc})")
        if note and self.notify is not None:
            self.notify(note)

    # probe and listing --------------------------------------------------------------------

    def probe(self) -> ServerInfo:
        """``HEAD ?inventory`` (in auto mode: WebDAV's PROPFIND first). After an ``auto``
        switch the notes carry the switch (the run reports the last probe's notes once)."""
        if not self.using_form:
            try:
                return super().probe()
            except (AuthError, WrongURLError, StatusError) as exc:
                if not self._blocked(exc):
                    raise
                self._switch("PROPFIND")
        note = self.switch_note
        what = f"HEAD {self.base}?inventory"
        with self._translated(what):
            resp = self._client.request("HEAD", self.base + "?inventory")
        if resp.status_code == 404:
            self.inventory_supported = True
            return ServerInfo(False, True, False, tuple(n for n in (note,) if n))
        if resp.status_code == 403:
            raise AuthError(f"{what}: user {self.opts.user!r} has no access to this folder")
        if resp.status_code != 200:
            raise self._status_error(resp, what)
        if not resp.headers.get("Content-Type", "").startswith(NDJSON):
            raise SetupError(
                f"{self.base} has no davsync inventory: the form transport needs a davsync server"
            )
        self.inventory_supported = True
        notes = [n for n in (note,) if n]
        notes.append("form upload: no resumable sessions, large files go in one POST")
        return ServerInfo(True, True, False, tuple(notes))

    def stat(self, path: str) -> RemoteFile | None:
        """``HEAD`` of the file: size, ETag, SHA-1 and SHA-256; None on 404."""
        if not self.using_form:
            return super().stat(path)
        url = self.url_of(path)
        headers = {"Want-Repr-Digest": "sha-256=10", "Accept-Encoding": "identity"}
        with self._translated(f"HEAD {url}"):
            resp = self._client.request("HEAD", url, headers=headers)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._status_error(resp, f"HEAD {url}")
        sums = parse_checksums(resp.headers.get("OC-Checksum", ""))
        repr_digest = resp.headers.get("Repr-Digest", "")
        if repr_digest.startswith("sha-256=:"):
            raw = base64.b64decode(repr_digest.split(":")[1])
            sums["sha256"] = raw.hex()
        return RemoteFile(
            path=path,
            size=int(resp.headers.get("Content-Length", "0")),
            mtime_ns=None,
            etag=_etag(resp.headers.get("ETag")),
            sha256=sums.get("sha256"),
            sha1=sums.get("sha1"),
            md5=sums.get("md5"),
        )

    # writing ------------------------------------------------------------------------------

    def _folder_url(self, folder: str) -> str:
        return self.url_of(folder.strip("/") + "/") if folder.strip("/") else self.base

    def _post(self, url: str, kind: str, length: int, body: Iterable[bytes]) -> PutResult:
        headers = {"Content-Type": kind, "Content-Length": str(length), "Accept": JSON}
        resp = self._request("POST", url, f"POST {url}", (200, 201), headers, body)
        try:
            doc = json.loads(resp.content)
        except ValueError as exc:
            raise StatusError(502, f"POST {url}: the answer is not JSON") from exc
        files = doc.get("files") or [{}]
        stored = files[-1]
        hashes = {k: str(stored[k]).lower() for k in ("sha256", "sha1", "md5") if stored.get(k)}
        return PutResult(etag=stored.get("etag"), hashes=hashes)

    def _mkdir_post(self, folder: str) -> None:
        boundary = "syncclient-" + uuid.uuid4().hex
        body = _field(boundary, "mkdir", folder) + f"--{boundary}--\r\n".encode()
        kind = f"multipart/form-data; boundary={boundary}"
        self._post(self.base, kind, len(body), [body])

    def make_dir(self, path: str) -> None:
        """POST ``mkdir=<path>`` to the collection (parents are made as needed)."""
        if not self.using_form:
            try:
                super().make_dir(path)
                return
            except (StatusError, WrongURLError) as exc:
                self._fall_back("MKCOL", exc)
        self._mkdir_post(path.strip("/"))

    def make_collection(self) -> None:
        """POST an empty ``mkdir`` to the collection URL: the server makes it and its parents."""
        if not self.using_form:
            try:
                super().make_collection()
                return
            except (StatusError, WrongURLError) as exc:
                self._fall_back("MKCOL", exc)
        self._mkdir_post("")

    def put(
        self, path: str, body: Iterable[bytes], length: int, sha1: str, mtime: int
    ) -> PutResult:
        """One form POST to the file's folder with ``sha1`` and ``mtime`` fields."""
        if not self.using_form:
            try:
                return super().put(path, body, length, sha1, mtime)
            except (StatusError, WrongURLError) as exc:
                self._fall_back("PUT", exc)
        folder, name = posixpath.split(path)
        form = FormBody([("sha1", sha1), ("mtime", str(mtime))], name, body, length)
        return self._post(self._folder_url(folder), form.content_type, form.length, form)

    # no upload sessions over forms ---------------------------------------------------------

    def session_create(self, session: str, path: str, total: int) -> None:
        """Upload sessions need WebDAV (501 over forms)."""
        if self.using_form:
            raise StatusError(501, "no upload sessions over form upload")
        super().session_create(session, path, total)
