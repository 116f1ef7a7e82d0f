"""WebDAV transport over httpx: the only module that imports httpx.

- davserver: ``GET <collection>?inventory`` lists the whole tree in one request; large files
  go through resumable chunk sessions (Nextcloud chunking v2: ``MKCOL``
  ``.../dav/uploads/<user>/<id>``, ``PUT <id>/<n>``, ``MOVE <id>/.file``).
- any other WebDAV server: ``PROPFIND Depth: 1`` per folder, plain ``PUT``; ``oc:checksums``
  is read when the server offers it.

Network behaviour: HTTP/1.1 keep-alive with a pooled connection per parallel transfer, no
``Expect: 100-continue``, HTTPS_PROXY/NO_PROXY honoured (``trust_env``), the OS trust store
unless a CA bundle is configured. Read and write timeouts are the stall timeout: a
connection that moves no byte for that long fails with StalledError and is retried on a new
connection; so does an answer that trickles in at under ``MIN_BYTES_PER_STALL`` bytes per
stall timeout. A commit's answer is awaited longer, by the time the server may take to
assemble the file (``ASSEMBLY_BYTES_PER_S``). Basic auth is used over HTTPS, Digest over
plain HTTP (unless told otherwise).

Failures a new user hits first are named with their fix (``diagnose``): an untrusted
certificate (``--ca-bundle``), ``http://`` to a TLS port, a URL that is not a folder of the
server, a login with no password configured; a server's own text for an error status is
kept in the message.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import defusedxml.ElementTree as SafeET
import httpx

from syncclient.model import ListingMethod, RemoteFile, RemoteInventory
from syncclient.transports import diagnose
from syncclient.transports.base import (
    AuthError,
    PutResult,
    ServerInfo,
    SetupError,
    StalledError,
    StatusError,
    TransportError,
    UnreachableError,
    WrongURLError,
)

USER_AGENT = "syncclient/0.1"
NDJSON = "application/x-ndjson"
DAV_NS = "{DAV:}"
OC_NS = "{http://owncloud.org/ns}"
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>"
    b"<oc:checksums/></d:prop></d:propfind>"
)
MAX_FOLDERS = 1_000_000
ASSEMBLY_BYTES_PER_S = 20 * 1024 * 1024
"""The slowest assembly a commit (``MOVE .file``) waits for: the server answers only once
the whole file is copied from its chunks, hashed and stored, which for a large file takes
far longer than the stall timeout (with nothing sent meanwhile)."""
MIN_BYTES_PER_STALL = 1024
"""A response body must bring at least this many bytes per stall timeout (or end): a peer
that trickles a byte now and then never trips the read timeout and would hold a run (and
a signal to stop it) forever."""
_FILES_URL = re.compile(r"^(?P<prefix>.*)/dav/files/(?P<user>[^/]+)/")
_UPLOADS_PATH = re.compile(r"/dav/uploads(/|$)")


@dataclass(frozen=True, slots=True)
class WebDAVOptions:
    """Connection settings. ``auth``: ``auto`` (Basic over HTTPS, Digest over HTTP),
    ``basic`` or ``digest``. ``ca_bundle``: PEM file to trust instead of the OS store."""

    url: str
    user: str | None = None
    password: str | None = None
    ca_bundle: Path | None = None
    auth: str = "auto"
    connect_timeout: float = 20.0
    stall_timeout: float = 60.0
    connections: int = 4


def _ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return ssl.create_default_context()


def _auth(opts: WebDAVOptions) -> httpx.Auth | None:
    if opts.user is None or opts.password is None:
        return None
    mode = opts.auth
    if mode == "auto":
        mode = "basic" if opts.url.lower().startswith("https:") else "digest"
    if mode == "basic":
        return httpx.BasicAuth(opts.user, opts.password)
    return httpx.DigestAuth(opts.user, opts.password)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_checksums(text: str) -> dict[str, str]:
    """``SHA1:abc MD5:def`` (space or comma separated) -> {"sha1": "abc", "md5": "def"}."""
    out: dict[str, str] = {}
    for token in re.split(r"[\s,]+", text.strip()):
        alg, sep, value = token.partition(":")
        if sep and value:
            name = alg.lower().replace("-", "")
            out[name] = value.lower()
    return out


def _http_date_ns(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(text).timestamp()) * 1_000_000_000
    except (TypeError, ValueError):
        return None


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.removeprefix("W/").strip('"')


class TrickleError(httpx.ReadTimeout):
    """A response body arrived slower than ``MIN_BYTES_PER_STALL`` per stall timeout."""


class _TrickleGuard(httpx.SyncByteStream):
    """A response body that raises TrickleError when a stall window (``window`` seconds)
    brings fewer than ``MIN_BYTES_PER_STALL`` bytes."""

    def __init__(self, inner: httpx.SyncByteStream, window: float) -> None:
        self._inner = inner
        self._window = window

    def __iter__(self) -> Iterator[bytes]:
        started, got = time.monotonic(), 0
        for chunk in self._inner:
            got += len(chunk)
            now = time.monotonic()
            if now - started >= self._window:
                if got < MIN_BYTES_PER_STALL:
                    raise TrickleError(f"{got} bytes in {now - started:.0f}s")
                started, got = now, 0
            yield chunk

    def close(self) -> None:
        self._inner.close()


class WebDAVTransport:
    """See the module docstring. Thread-safe: one pooled httpx client for all threads."""

    def __init__(self, opts: WebDAVOptions) -> None:
        self.base = opts.url if opts.url.endswith("/") else opts.url + "/"
        self.opts = opts
        self._client = httpx.Client(
            auth=_auth(opts),
            verify=_ssl_context(opts.ca_bundle),
            trust_env=True,
            http1=True,
            http2=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=opts.connect_timeout,
                read=opts.stall_timeout,
                write=opts.stall_timeout,
                pool=opts.stall_timeout * 2,
            ),
            limits=httpx.Limits(
                max_connections=opts.connections + 2,
                max_keepalive_connections=opts.connections + 2,
            ),
            headers={"User-Agent": USER_AGENT},
            event_hooks={"response": [self._guard_body]},
        )
        m = _FILES_URL.match(self.base)
        self._uploads = f"{m['prefix']}/dav/uploads/{m['user']}/" if m else None
        self.inventory_supported: bool | None = None
        self._lock = threading.Lock()
        self._speaks_tls: bool | None = None
        self._speaks_plain: bool | None = None

    # plumbing -----------------------------------------------------------------------------

    def url_of(self, path: str) -> str:
        """Absolute URL of ``path`` below the collection."""
        return self.base + quote(path, safe="/")

    def _guard_body(self, response: httpx.Response) -> None:
        """Read every response body through a _TrickleGuard (an httpx response hook)."""
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _TrickleGuard(response.stream, self.opts.stall_timeout)

    def _session_url(self, session: str) -> str:
        if self._uploads is None:
            raise StatusError(501, "no upload area for this URL")
        return self._uploads + quote(session, safe="")

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise UnreachableError(f"{what}: connect timed out") from exc
            if isinstance(exc, TrickleError):
                raise StalledError(
                    f"{what}: the server sends its answer too slowly ({exc}; at least "
                    f"{MIN_BYTES_PER_STALL} bytes per {self.opts.stall_timeout:g}s expected)"
                ) from exc
            raise StalledError(f"{what}: no progress for {self.opts.stall_timeout:g}s") from exc
        except httpx.ConnectError as exc:
            if diagnose.is_untrusted_certificate(exc):
                raise SetupError(diagnose.untrusted_certificate(self.base, exc)) from exc
            if diagnose.is_plain_http_on_tls(exc) or self._plain_port_for_https():
                raise SetupError(diagnose.plain_port_for_https(self.base)) from exc
            raise UnreachableError(f"{what}: cannot connect: {exc}") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if self._tls_port_for_http():
                raise SetupError(diagnose.tls_port_for_http(self.base)) from exc
            raise UnreachableError(f"{what}: connection dropped: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UnreachableError(f"{what}: {exc}") from exc

    def _plain_port_for_https(self) -> bool:
        """Whether an ``https://`` URL points at a port that speaks plain HTTP (asked once)."""
        if not self.base.lower().startswith("https:"):
            return False
        with self._lock:
            if self._speaks_plain is None:
                self._speaks_plain = diagnose.speaks_plain_http(
                    self.base, self.opts.connect_timeout
                )
            return self._speaks_plain

    def _tls_port_for_http(self) -> bool:
        """Whether an ``http://`` URL points at a port that speaks TLS (asked once: a dropped
        plain-HTTP connection then means the scheme is wrong, not the network)."""
        if not self.base.lower().startswith("http:"):
            return False
        with self._lock:
            if self._speaks_tls is None:
                self._speaks_tls = diagnose.speaks_tls(self.base, self.opts.connect_timeout)
            return self._speaks_tls

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        ok: Iterable[int],
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        t = self._client.timeout
        with self._translated(what):
            resp = self._client.request(
                method,
                url,
                headers=headers,
                content=content,
                timeout=httpx.USE_CLIENT_DEFAULT
                if read_timeout is None
                else httpx.Timeout(
                    connect=t.connect, read=read_timeout, write=t.write, pool=t.pool
                ),
            )
        if resp.status_code in ok:
            return resp
        raise self._status_error(resp, what)

    def _status_error(self, resp: httpx.Response, what: str) -> TransportError:
        if resp.status_code == 401:
            if self.opts.user is None or self.opts.password is None:
                return AuthError(
                    f"{what}: the server asks for a login and no "
                    f"{'user' if self.opts.user is None else 'password'} is configured: "
                    f"{diagnose.LOGIN_FIX} (HTTP 401)"
                )
            return AuthError(f"{what}: {self._auth_refusal(resp)} (HTTP 401)")
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        try:
            body = resp.read()
        except httpx.HTTPError:
            body = b""
        said = diagnose.server_explanation(resp.headers.get("Content-Type", ""), body)
        return StatusError(resp.status_code, what, retry_after, said)

    def _auth_refusal(self, resp: httpx.Response) -> str:
        """Why a 401 happened: refused credentials, or a challenge the client did not answer
        (e.g. a Basic-only server such as nginx over plain HTTP, where the client uses Digest)."""
        auth = self._client.auth
        ours = (
            "basic"
            if isinstance(auth, httpx.BasicAuth)
            else "digest"
            if isinstance(auth, httpx.DigestAuth)
            else None
        )
        offered = {
            c.split(None, 1)[0].lower()
            for c in resp.headers.get_list("WWW-Authenticate")
            if c.strip()
        }
        if ours is None or not offered or ours in offered:
            return (
                f"the server refused the password of user {self.opts.user!r} (wrong user name "
                "or password: check the password file or SYNCCLIENT_PASSWORD)"
            )
        names = ", ".join(sorted(x.capitalize() for x in offered))
        return (
            f"the server offers only {names} authentication and the client uses "
            f"{ours.capitalize()} (set --auth to match; Basic over plain HTTP sends the password "
            "readable, prefer HTTPS)"
        )

    # probe and listing --------------------------------------------------------------------

    def probe(self) -> ServerInfo:
        """PROPFIND Depth 0 on the collection, then ``HEAD ?inventory`` to detect davserver.

        Raises AuthError (401, or 403 on the collection), UnreachableError, StatusError.
        """
        what = f"PROPFIND {self.base}"
        path = urlsplit(self.base).path
        if _UPLOADS_PATH.search(path) and not _FILES_URL.match(path):
            raise WrongURLError(
                diagnose.not_a_folder(
                    self.base, self.opts.user, "it is the area of resumable upload sessions"
                )
            )
        with self._translated(what):
            resp = self._client.request(
                "PROPFIND", self.base, headers={"Depth": "0"}, content=PROPFIND_BODY
            )
        if resp.status_code == 403:
            raise AuthError(
                f"{what}: user {self.opts.user!r} has no access to this folder (HTTP 403); "
                f"a user writes below {diagnose.folder_url_hint(self.base, self.opts.user)}"
            )
        if resp.status_code == 404:
            return ServerInfo(False, False, False, ("the target collection does not exist yet",))
        if resp.status_code in (405, 501):
            raise WrongURLError(
                diagnose.not_a_folder(
                    self.base, self.opts.user, f"PROPFIND answered HTTP {resp.status_code}"
                )
            )
        if resp.status_code != 207:
            raise self._status_error(resp, what)
        if not _is_collection(resp.content, self.base):
            raise WrongURLError(diagnose.not_a_folder(self.base, self.opts.user, "it is a file"))
        return self._features()

    def _features(self) -> ServerInfo:
        with self._translated("HEAD ?inventory"):
            resp = self._client.request("HEAD", self.base + "?inventory")
        inventory = resp.status_code == 200 and resp.headers.get("Content-Type", "").startswith(
            NDJSON
        )
        self.inventory_supported = inventory
        notes: list[str] = []
        if not inventory:
            notes.append(
                "server has no davsync inventory endpoint: listing with PROPFIND Depth 1 per folder"
            )
        chunking = inventory and self._uploads is not None
        if not chunking:
            notes.append("no resumable upload sessions: large files go by plain PUT")
        return ServerInfo(True, inventory, chunking, tuple(notes))

    def inventory(self) -> RemoteInventory:
        """The whole tree: via ``?inventory`` when supported, else PROPFIND Depth 1 per folder.

        Raises TransportError; a truncated inventory (no trailer) is a transient error.
        """
        if self.inventory_supported is None:
            info = self.probe()
            if not info.collection_exists:
                return RemoteInventory({}, method=ListingMethod.MISSING, exists=False)
        if self.inventory_supported:
            return self._ndjson_inventory()
        return self._propfind_inventory()

    def _ndjson_inventory(self) -> RemoteInventory:
        files: dict[str, RemoteFile] = {}
        dirs: set[str] = set()
        what = f"GET {self.base}?inventory"
        trailer: dict[str, Any] | None = None
        with (
            self._translated(what),
            self._client.stream(
                "GET", self.base + "?inventory", headers={"Accept": NDJSON}
            ) as resp,
        ):
            if resp.status_code == 404:
                return RemoteInventory({}, method=ListingMethod.MISSING, exists=False)
            if resp.status_code != 200:
                raise self._status_error(resp, what)
            for n, line in enumerate(resp.iter_lines()):
                if not line.strip():
                    continue
                obj = json.loads(line)
                if n == 0:
                    if obj.get("inventory") != 1:
                        raise StatusError(502, f"{what}: not an inventory response")
                elif obj.get("end"):
                    trailer = obj
                elif obj.get("type") == "dir":
                    dirs.add(obj["path"])
                else:
                    files[obj["path"]] = RemoteFile(
                        path=obj["path"],
                        size=int(obj["size"]),
                        mtime_ns=obj.get("mtime_ns"),
                        etag=obj.get("etag"),
                        sha256=obj.get("sha256"),
                        sha1=obj.get("sha1"),
                        md5=obj.get("md5"),
                    )
        if trailer is None or trailer.get("count") != len(files) + len(dirs):
            raise UnreachableError(f"{what}: listing truncated")
        return RemoteInventory(files, frozenset(dirs), ListingMethod.INVENTORY)

    def _propfind(self, url: str, depth: str) -> list[tuple[str, RemoteFile | None]]:
        """(relative path, file or None for a folder) per response element."""
        resp = self._request(
            "PROPFIND",
            url,
            f"PROPFIND {url}",
            (207,),
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            content=PROPFIND_BODY,
        )
        try:
            tree = SafeET.fromstring(resp.content)
        except Exception as exc:  # defusedxml raises several unrelated types
            raise StatusError(502, f"PROPFIND {url}: unreadable XML ({exc})") from exc
        base_path = unquote(urlsplit(self.base).path)
        out: list[tuple[str, RemoteFile | None]] = []
        for node in tree.iter(DAV_NS + "response"):
            href = node.findtext(DAV_NS + "href") or ""
            full = unquote(urlsplit(urljoin(url, href)).path)
            if not full.startswith(base_path):
                continue
            rel = full[len(base_path) :].strip("/")
            out.append((rel, _remote_from_props(rel, node)))
        return out

    def _propfind_inventory(self) -> RemoteInventory:
        files: dict[str, RemoteFile] = {}
        dirs: set[str] = set()
        queue = [""]
        seen = {""}
        while queue and len(seen) < MAX_FOLDERS:
            folder = queue.pop()
            url = self.url_of(folder + "/") if folder else self.base
            try:
                items = self._propfind(url, "1")
            except StatusError as exc:
                if exc.status == 404 and folder == "":
                    return RemoteInventory({}, method=ListingMethod.MISSING, exists=False)
                raise
            for rel, item in items:
                if rel == folder or not rel:
                    continue
                if item is None:
                    dirs.add(rel)
                    if rel not in seen:
                        seen.add(rel)
                        queue.append(rel)
                else:
                    files[rel] = item
        return RemoteInventory(files, frozenset(dirs), ListingMethod.PROPFIND)

    def stat(self, path: str) -> RemoteFile | None:
        """PROPFIND Depth 0 on one file; None on 404."""
        try:
            items = self._propfind(self.url_of(path), "0")
        except StatusError as exc:
            if exc.status == 404:
                return None
            raise
        for _rel, item in items:
            if item is not None:
                return RemoteFile(
                    path, item.size, item.mtime_ns, item.etag, item.sha256, item.sha1, item.md5
                )
        return None

    def download_digests(self, path: str) -> dict[str, str]:
        """GET the file and hash it (sha256, sha1, md5)."""
        url = self.url_of(path)
        hs = {"sha256": hashlib.sha256(), "sha1": hashlib.sha1(), "md5": hashlib.md5()}
        with (
            self._translated(f"GET {url}"),
            self._client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp,
        ):
            if resp.status_code != 200:
                raise self._status_error(resp, f"GET {url}")
            for block in resp.iter_raw(1024 * 1024):
                for h in hs.values():
                    h.update(block)
        return {k: h.hexdigest() for k, h in hs.items()}

    # writing ------------------------------------------------------------------------------

    def make_dir(self, path: str) -> None:
        """MKCOL one folder below the collection (its parent must exist); 405 = exists."""
        url = self.url_of(path.strip("/") + "/")
        self._request("MKCOL", url, f"MKCOL {url}", (201, 405))

    def make_collection(self) -> None:
        """Create the target collection and any missing parents."""
        self._make_collection()

    def _make_collection(self) -> None:
        split = urlsplit(self.base)
        segments = [s for s in split.path.split("/") if s]
        root = f"{split.scheme}://{split.netloc}/"
        missing: list[str] = []
        for i in range(len(segments), 0, -1):
            url = root + "/".join(segments[:i]) + "/"
            resp = self._request(
                "PROPFIND",
                url,
                f"PROPFIND {url}",
                (207, 404),
                headers={"Depth": "0"},
                content=PROPFIND_BODY,
            )
            if resp.status_code == 207:
                break
            missing.append(url)
        for url in reversed(missing):
            try:
                self._request("MKCOL", url, f"MKCOL {url}", (201, 405))
            except StatusError as exc:
                if exc.status in (403, 404, 409):
                    raise WrongURLError(
                        diagnose.not_a_folder(
                            self.base, self.opts.user, f"MKCOL {url}: HTTP {exc.status}"
                        )
                    ) from exc
                raise

    def put(
        self, path: str, body: Iterable[bytes], length: int, sha1: str, mtime: int
    ) -> PutResult:
        """PUT with OC-Checksum and X-OC-Mtime; 200/201/204 succeed."""
        url = self.url_of(path)
        headers = {
            "Content-Length": str(length),
            "Content-Type": "application/octet-stream",
            "OC-Checksum": f"SHA1:{sha1}",
            "X-OC-Mtime": str(mtime),
        }
        try:
            resp = self._request("PUT", url, f"PUT {url}", (200, 201, 204), headers, body)
        except StatusError as exc:
            if exc.status == 405:
                raise WrongURLError(
                    diagnose.not_a_folder(self.base, self.opts.user, f"PUT {url}: HTTP 405")
                ) from exc
            raise
        return _put_result(resp)

    def session_create(self, session: str, path: str, total: int) -> None:
        """MKCOL the session folder (201; 405 = it exists already)."""
        url = self._session_url(session)
        headers = {"Destination": self.url_of(path), "OC-Total-Length": str(total)}
        self._request("MKCOL", url, f"MKCOL {url}", (201, 405), headers)

    def session_chunks(self, session: str) -> dict[int, int] | None:
        """PROPFIND Depth 1 on the session: chunk number -> size; None on 404."""
        url = self._session_url(session) + "/"
        what = f"PROPFIND {url}"
        with self._translated(what):
            resp = self._client.request(
                "PROPFIND", url, headers={"Depth": "1"}, content=PROPFIND_BODY
            )
        if resp.status_code == 404:
            return None
        if resp.status_code != 207:
            raise self._status_error(resp, what)
        try:
            tree = SafeET.fromstring(resp.content)
        except Exception as exc:  # defusedxml raises several unrelated types
            raise StatusError(502, f"{what}: unreadable XML ({exc})") from exc
        out: dict[int, int] = {}
        for node in tree.iter(DAV_NS + "response"):
            href = unquote(urlsplit(node.findtext(DAV_NS + "href") or "").path).rstrip("/")
            name = href.rsplit("/", 1)[-1]
            length = node.findtext(f".//{DAV_NS}getcontentlength")
            if name.isdigit() and length is not None and length.strip().isdigit():
                out[int(name)] = int(length)
        return out

    def session_put(
        self, session: str, n: int, body: Iterable[bytes], length: int, path: str, total: int
    ) -> None:
        """PUT one chunk with Destination and OC-Total-Length."""
        url = f"{self._session_url(session)}/{n}"
        headers = {
            "Content-Length": str(length),
            "Content-Type": "application/octet-stream",
            "Destination": self.url_of(path),
            "OC-Total-Length": str(total),
        }
        self._request("PUT", url, f"PUT {url}", (200, 201, 204), headers, body)

    def session_commit(
        self, session: str, path: str, total: int, sha1: str, mtime: int
    ) -> PutResult:
        """MOVE ``<session>/.file`` onto the destination (201/204). The answer is awaited
        for the stall timeout plus the time the server may take to assemble ``total`` bytes
        (``ASSEMBLY_BYTES_PER_S``)."""
        url = f"{self._session_url(session)}/.file"
        headers = {
            "Destination": self.url_of(path),
            "OC-Total-Length": str(total),
            "OC-Checksum": f"SHA1:{sha1}",
            "X-OC-Mtime": str(mtime),
            "Overwrite": "T",
        }
        wait = self.opts.stall_timeout + total / ASSEMBLY_BYTES_PER_S
        resp = self._request(
            "MOVE", url, f"MOVE {url}", (200, 201, 204), headers, read_timeout=wait
        )
        return _put_result(resp)

    def session_abort(self, session: str) -> None:
        """DELETE the session (404 is fine)."""
        url = self._session_url(session) + "/"
        self._request("DELETE", url, f"DELETE {url}", (200, 204, 404))

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


def _is_collection(xml: bytes, base: str) -> bool:
    """Whether a PROPFIND Depth 0 answer for ``base`` describes a collection (an answer
    that cannot be read is given the benefit of the doubt)."""
    try:
        tree = SafeET.fromstring(xml)
    except Exception:  # defusedxml raises several unrelated types
        return True
    rtype = tree.find(f".//{DAV_NS}propstat/{DAV_NS}prop/{DAV_NS}resourcetype")
    return rtype is None or rtype.find(DAV_NS + "collection") is not None


def _put_result(resp: httpx.Response) -> PutResult:
    return PutResult(
        etag=_etag(resp.headers.get("ETag") or resp.headers.get("OC-ETag")),
        hashes=parse_checksums(resp.headers.get("OC-Checksum", "")),
    )


def _remote_from_props(rel: str, node: Any) -> RemoteFile | None:
    """A RemoteFile from a PROPFIND <response>, or None if it is a collection."""
    props: dict[str, Any] = {}
    for propstat in node.iter(DAV_NS + "propstat"):
        status = propstat.findtext(DAV_NS + "status") or ""
        if " 200 " not in status + " ":
            continue
        for prop in propstat.iter(DAV_NS + "prop"):
            for child in prop:
                props[child.tag] = child
    rtype = props.get(DAV_NS + "resourcetype")
    if rtype is not None and rtype.find(DAV_NS + "collection") is not None:
        return None
    length = props.get(DAV_NS + "getcontentlength")
    size = int((length.text or "0").strip()) if length is not None else 0
    sums: dict[str, str] = {}
    checks = props.get(OC_NS + "checksums")
    if checks is not None:
        sums = parse_checksums(" ".join(t for t in checks.itertext()))
    modified = props.get(DAV_NS + "getlastmodified")
    etag = props.get(DAV_NS + "getetag")
    return RemoteFile(
        path=rel,
        size=size,
        mtime_ns=_http_date_ns(modified.text if modified is not None else None),
        etag=_etag(etag.text if etag is not None else None),
        sha256=sums.get("sha256"),
        sha1=sums.get("sha1"),
        md5=sums.get("md5"),
    )
