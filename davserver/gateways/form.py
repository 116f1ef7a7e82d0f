"""HTML form upload: ``multipart/form-data`` POST to a collection, one in-process PUT per file.

``FormUploads`` sits in WsgiDAV's middleware stack right after access control, so the POST
itself has already been through everything a WebDAV request goes through: the login
throttle, Basic-over-HTTP policy, Digest nonce checks, authentication (Basic or Digest), the
per-user request slots and the home/grant check for a write. Then:

1. **Cross-site check** (``same_origin``): see docs/SECURITY.md. A refused POST is 403 and
   its body is not read.
2. The body is parsed as it streams (``form_parts.read_form``): each file part goes to its
   own staging file under ``<state>/form-staging/``, text fields stay in memory (bounded).
3. Missing folders (the target collection itself, and ``mkdir`` fields) are created by
   in-process ``MKCOL`` requests, parents first.
4. Each file becomes one in-process ``PUT <collection>/<file name>`` with a known
   ``Content-Length``, the declared hashes as ``OC-Checksum`` and an ``mtime`` field as
   ``X-OC-Mtime``, run through the whole application (``InProcessClient``) as the user the
   POST authenticated: locks, limits, reserve, hash verification, the atomic commit and the
   arrival journal (protocol ``form``) are the PUT's own. An in-process ``PROPFIND`` then
   reads the stored digests for the answer.
5. The answer is ``201`` with JSON (``Accept: application/json``) or a small HTML page. Files
   are stored in body order; the first refused file stops the rest and its status (400 for
   a hash mismatch, 423 locked, 507 no space, ...) becomes the answer's; files stored before
   it stay stored and are listed.

Declared hashes and times (text fields, anywhere in the form):
``<field>.sha256`` / ``.sha1`` / ``.md5`` / ``.mtime`` apply to the files of the file field
``<field>``; plain ``sha256`` / ``sha1`` / ``md5`` / ``mtime`` to all files of the form.
A value may list several entries (separated by white space or commas), which go to the files
in order; more entries than files is 400.

``GET <collection>?upload`` answers a standalone upload page (``form_pages.upload_page``).
Anything else, including tus ``POST`` (``Tus-Resumable``), chunk uploads and a POST to a
file, passes through untouched.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import defusedxml.ElementTree as SafeET

from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.resources import FileResource, FolderResource
from davserver.errors import DavserverError
from davserver.gateways.form_pages import UPLOAD_QUERY, result_page, upload_page
from davserver.gateways.form_parts import (
    FormContent,
    FormError,
    FormLimits,
    StagedFile,
    boundary_of,
    read_form,
)
from davserver.gateways.inprocess import InProcessClient, Response
from davserver.http.environ import StartResponse, WSGIApp, authenticated_user
from davserver.namespace import resolve_in_share
from davserver.settings import Settings
from providers.base import Provider
from providers.errors import InvalidPathError

AUTHENTICATED_USER_KEY = "davsync.gateway.user"
"""environ key naming a user a gateway has already authenticated. WsgiDAV's authenticator
trusts it (``http_authenticator.trusted_auth_header``); it is an environ key, not an HTTP
header, so no client can set it: only in-process requests carry it."""

PROTOCOL = "form"
ALGORITHMS = ("sha256", "sha1", "md5")
STAGING_DIR = "form-staging"
STALE_STAGING_S = 3600.0
_LIST_SPLIT = re.compile(r"[\s,]+")
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:getetag/><d:getcontentlength/><oc:checksums/></d:prop></d:propfind>"
)
_log = logging.getLogger(__name__)


class _RefusedError(DavserverError):
    """A form POST (or one of its files) refused; ``files`` lists what was stored before."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.files: list[dict[str, Any]] = []


class AppRef:
    """The whole application (``App.wsgi``), filled in by ``build_app`` once it exists: the
    middleware stack is built before the layers around it, and in-process requests must run
    through all of them (the arrival journal's origin scope, the request guard, the access
    log) exactly as a request from the network does."""

    def __init__(self) -> None:
        self.app: WSGIApp | None = None


def as_user(app: WSGIApp, user: str) -> WSGIApp:
    """``app`` with every request marked as authenticated for ``user`` (in-process only)."""

    def run(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ[AUTHENTICATED_USER_KEY] = user
        return app(environ, start_response)

    return run


# --------------------------------------------------------------------------- cross-site


def _origin_key(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _host_key(environ: dict[str, Any], scheme_of: str) -> tuple[str, int] | None:
    """(host, port) this request was sent to, port defaulting by the Origin's scheme."""
    host = str(environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST") or "")
    host = host.split(",")[0].strip()
    if not host:
        return None
    return _origin_key(f"{scheme_of}://{host}/")


def same_origin(environ: dict[str, Any]) -> tuple[bool, str]:
    """Whether a form POST may be accepted (see docs/SECURITY.md, "Form upload"), and why not.

    - ``Origin`` present: it must name this server (host and port);
    - else ``Referer`` present: the same;
    - else ``Sec-Fetch-Site`` present: it must be ``same-origin`` or ``none``;
    - else a request that looks like a browser's (``User-Agent: Mozilla/...``) is refused;
      anything else (curl, scripts, syncclient) is accepted: without a browser there is no
      cross-site request to forge.
    """
    for key, name in (("HTTP_ORIGIN", "Origin"), ("HTTP_REFERER", "Referer")):
        value = environ.get(key)
        if value is None:
            continue
        theirs = _origin_key(str(value))
        scheme = urlsplit(str(value)).scheme or "http"
        if theirs is None or theirs != _host_key(environ, scheme):
            return False, f"cross-site form POST refused ({name}: {str(value)[:100]})"
        return True, ""
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        if str(fetch_site).strip().lower() in ("same-origin", "none"):
            return True, ""
        return False, f"cross-site form POST refused (Sec-Fetch-Site: {fetch_site})"
    if str(environ.get("HTTP_USER_AGENT", "")).startswith("Mozilla/"):
        return False, "a browser's form POST must carry Origin or Referer"
    return True, ""


# --------------------------------------------------------------------------- declared values


def declared_values(content: FormContent) -> list[dict[str, str]]:
    """Per staged file: the declared ``sha256``/``sha1``/``md5``/``mtime`` (module docstring).
    Raises _RefusedError (400) when a field lists more entries than there are files."""
    out: list[dict[str, str]] = [{} for _ in content.files]
    by_field: dict[str, list[int]] = {}
    for i, f in enumerate(content.files):
        by_field.setdefault(f.field, []).append(i)
    for key in (*ALGORITHMS, "mtime"):
        groups = [(key, list(range(len(content.files))))]
        groups += [(f"{name}.{key}", idx) for name, idx in by_field.items()]
        for field_name, indexes in groups:
            entries = [e for v in content.values(field_name) for e in _LIST_SPLIT.split(v) if e]
            if len(entries) > len(indexes):
                raise _RefusedError(
                    400,
                    f"field {field_name!r} lists {len(entries)} values for {len(indexes)} file(s)",
                )
            for i, entry in zip(indexes, entries, strict=False):
                out[i][key] = entry
    return out


def _put_headers(declared: dict[str, str], size: int) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    sums = " ".join(f"{alg.upper()}:{declared[alg]}" for alg in ALGORITHMS if alg in declared)
    if sums:
        headers["OC-Checksum"] = sums
    if "mtime" in declared:
        headers["X-OC-Mtime"] = declared["mtime"]
    return headers


def _stored_digests(answer: Response) -> tuple[str | None, dict[str, str]]:
    """(ETag, {algorithm: hex}) from a PROPFIND Depth 0 answer."""
    try:
        tree = SafeET.fromstring(answer.body)
    except Exception:  # defusedxml raises several unrelated types
        return None, {}
    etag = tree.findtext(".//{DAV:}getetag")
    text = tree.findtext(".//{http://owncloud.org/ns}checksum") or ""
    sums: dict[str, str] = {}
    for token in text.split():
        alg, _, value = token.partition(":")
        sums[alg.lower()] = value.lower()
    return (etag.strip('"') if etag else None), sums


def _explanation(answer: Response) -> str:
    """The short reason an in-process request was refused."""
    found = answer.explanation()
    return f"{answer.status} {answer.reason}" + (f": {found}" if found else "")


# --------------------------------------------------------------------------- middleware


class FormUploads:
    """See the module docstring. ``whole_app`` is the whole application the uploads run
    through (filled in by ``build_app``), ``storage`` where the files land."""

    def __init__(
        self, next_app: WSGIApp, *, settings: Settings, storage: Provider, whole_app: AppRef
    ) -> None:
        self.next_app = next_app
        form = settings.gateways.form
        self.enabled = form.enabled
        self.limits = FormLimits(
            max_parts=form.max_parts,
            max_files=form.max_files,
            max_field_bytes=form.max_field_bytes,
            max_file_bytes=settings.limits.max_put_bytes,
            reserve_bytes=settings.reserve_bytes,
        )
        self.staging = settings.state_path / STAGING_DIR
        self.storage = storage
        self._whole = whole_app
        _remove_stale(self.staging)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        provider = environ.get("wsgidav.provider")
        method = environ["REQUEST_METHOD"].upper()
        if self.enabled and isinstance(provider, DavsyncDAVProvider):
            if method == "POST" and _is_form_post(environ):
                target = self._target(environ, provider)
                if target is not None:
                    return self._post(environ, start_response, provider, target)
            elif method in ("GET", "HEAD") and _wants_page(environ):
                res = provider.get_resource_inst(environ["PATH_INFO"], environ)
                if isinstance(res, FolderResource) and res.area == "files":
                    url = _collection_url(environ)
                    return _send(environ, start_response, 200, "text/html", upload_page(url))
        return self.next_app(environ, start_response)

    @staticmethod
    def _target(environ: dict[str, Any], provider: DavsyncDAVProvider) -> tuple[str, bool] | None:
        """The share path of the collection a form POST stores into and whether it exists,
        or None to pass the request on (a file, the uploads area, outside any home)."""
        path = environ.get("PATH_INFO") or "/"
        try:
            loc = resolve_in_share(provider.share_path, path)
        except InvalidPathError:
            return None
        if loc.kind != "home" or loc.area != "files":
            return None
        res = provider.get_resource_inst(path, environ)
        if isinstance(res, FileResource):
            return None
        return "/" + "/".join(s for s in path.split("/") if s), isinstance(res, FolderResource)

    # --- the POST --------------------------------------------------------------------------

    def _post(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        provider: DavsyncDAVProvider,
        target: tuple[str, bool],
    ) -> Iterable[bytes]:
        url = _collection_url(environ)
        ok, why = same_origin(environ)
        if not ok:
            _log.warning("refused form POST to %s from %s: %s", url, environ["REMOTE_ADDR"], why)
            return _answer(environ, start_response, url, 403, why, [], close=True)
        content: FormContent | None = None
        try:
            content = self._read(environ)
            files, message = self._store(environ, provider, target, content)
        except (_RefusedError, FormError) as exc:
            files = exc.files if isinstance(exc, _RefusedError) else []
            unread = content is None  # refused before the body's end: the connection closes
            return _answer(environ, start_response, url, exc.status, str(exc), files, close=unread)
        finally:
            if content is not None:
                content.discard()
        return _answer(environ, start_response, url, 201, message, files)

    def _read(self, environ: dict[str, Any]) -> FormContent:
        boundary = boundary_of(str(environ.get("CONTENT_TYPE", "")))
        if boundary is None:
            raise _RefusedError(400, "multipart/form-data without a boundary")
        raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
        length = int(raw_length) if raw_length else None
        if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            length = None
        if length is not None:
            available = self.storage.free_space()
            if available is not None and length > available:
                raise _RefusedError(507, f"{length} bytes sent, {available} available")
        try:
            return read_form(environ["wsgi.input"], length, boundary, self.staging, self.limits)
        finally:
            environ["wsgidav.all_input_read"] = 1

    def _store(
        self,
        environ: dict[str, Any],
        provider: DavsyncDAVProvider,
        target_exists: tuple[str, bool],
        content: FormContent,
    ) -> tuple[list[dict[str, Any]], str]:
        target, exists = target_exists
        unused = [f for f in content.files if not f.filename and not f.size]
        for f in unused:  # a file input left empty in a browser
            f.path.unlink(missing_ok=True)
            content.files.remove(f)
        folders = [v.strip("/") for v in content.values("mkdir") if v.strip("/")]
        if not content.files and not content.values("mkdir"):
            raise _RefusedError(400, "the form carries no file (a file part needs a filename)")
        for f in content.files:
            if f.filename in ("", ".", ".."):
                raise _RefusedError(400, f"invalid file name {f.filename!r}")
        declared = declared_values(content)
        app = self._whole.app
        if app is None:
            raise RuntimeError("FormUploads before build_app filled in the whole application")
        session = _Session(app, environ, provider.share_path)
        if not exists:
            session.make_dirs(target)
        for folder in folders:
            session.make_dirs(f"{target}/{folder}")
        stored: list[dict[str, Any]] = []
        for f, values in zip(content.files, declared, strict=True):
            try:
                stored.append(session.put(f"{target}/{f.filename}", f, values))
            except _RefusedError as exc:
                stored.append({"name": f.filename, "status": "refused", "error": str(exc)})
                exc.files = stored
                raise
        noun = "file" if len(stored) == 1 else "files"
        return stored, f"{len(stored)} {noun} stored" + (
            f", {len(folders)} folder(s) made" if folders else ""
        )


class _Session:
    """The in-process requests of one form POST, as its authenticated user."""

    def __init__(self, app: WSGIApp, environ: dict[str, Any], share: str) -> None:
        self.share = share
        self.user = authenticated_user(environ)
        self.client = InProcessClient(
            as_user(app, self.user),
            host=str(environ.get("SERVER_NAME") or "127.0.0.1"),
            port=int(str(environ.get("SERVER_PORT") or "0") or 0),
        )
        self.addr = str(environ.get("REMOTE_ADDR") or "")
        self.secure = environ.get("wsgi.url_scheme") == "https"

    def _request(self, method: str, path: str, **kwargs: Any) -> Response:
        return self.client.request(
            method,
            self.share + path,
            credentials=None,
            client_addr=self.addr,
            protocol=PROTOCOL,
            secure=self.secure,
            **kwargs,
        )

    def make_dirs(self, path: str) -> None:
        """Create ``path`` (a share path) and its missing parents below the user's home."""
        segments = [s for s in path.split("/") if s]
        missing: list[str] = []
        for i in range(len(segments), 2, -1):  # /files/<home> itself is never created
            folder = "/" + "/".join(segments[:i]) + "/"
            probe = self._request("PROPFIND", folder, headers={"Depth": "0"}, body=_PROPFIND)
            if probe.status == 207:
                break
            if probe.status != 404:
                raise _RefusedError(probe.status, f"folder {folder}: {_explanation(probe)}")
            missing.append(folder)
        for folder in reversed(missing):
            made = self._request("MKCOL", folder)
            if made.status not in (201, 405):
                raise _RefusedError(made.status, f"cannot create {folder}: {_explanation(made)}")

    def put(self, path: str, f: StagedFile, declared: dict[str, str]) -> dict[str, Any]:
        """Store one staged file at ``path``; its stored digests, or _RefusedError."""
        with f.path.open("rb") as body:
            answer = self._request(
                "PUT", path, headers=_put_headers(declared, f.size), body=body, length=f.size
            )
        if answer.status not in (200, 201, 204):
            raise _RefusedError(answer.status, f"{f.filename}: {_explanation(answer)}")
        put_etag = (answer.headers.get("etag") or answer.headers.get("oc-etag") or "").strip('"')
        listed = self._request("PROPFIND", path, headers={"Depth": "0"}, body=_PROPFIND)
        etag, sums = _stored_digests(listed) if listed.status == 207 else (None, {})
        if put_etag and etag and etag.removeprefix("W/").strip('"') != put_etag:
            sums = {}  # replaced again meanwhile: these digests are not of our bytes
        if not sums:
            oc = answer.headers.get("oc-checksum", "")
            alg, _, value = oc.partition(":")
            sums = {alg.lower(): value.lower()} if value else {}
        return {
            "name": f.filename,
            "path": path.split("/", 3)[-1] if path.count("/") >= 3 else path,
            "status": "created" if answer.status == 201 else "replaced",
            "size": f.size,
            "md5": sums.get("md5"),
            "sha1": sums.get("sha1"),
            "sha256": sums.get("sha256"),
            "etag": put_etag or etag,
        }


# --------------------------------------------------------------------------- helpers


def _is_form_post(environ: dict[str, Any]) -> bool:
    if "HTTP_TUS_RESUMABLE" in environ:
        return False
    kind = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
    return kind == "multipart/form-data"


def _wants_page(environ: dict[str, Any]) -> bool:
    query = str(environ.get("QUERY_STRING", ""))
    return any(part.split("=", 1)[0] == UPLOAD_QUERY for part in query.split("&"))


def _collection_url(environ: dict[str, Any]) -> str:
    """The URL path of the requested collection, with a trailing slash (inside WsgiDAV's
    stack ``PATH_INFO`` is already decoded text: ``hotfixes.re_encode_path_info``)."""
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return quote(path.rstrip("/") + "/", safe="/!$&'()*+,;=:@~")


def _wants_json(environ: dict[str, Any]) -> bool:
    accept = str(environ.get("HTTP_ACCEPT", "")).lower()
    return "application/json" in accept and "text/html" not in accept.split(",")[0]


def _answer(
    environ: dict[str, Any],
    start_response: StartResponse,
    url: str,
    status: int,
    message: str,
    files: list[dict[str, Any]],
    *,
    close: bool = False,
) -> list[bytes]:
    if _wants_json(environ):
        key = "message" if 200 <= status < 300 else "error"
        doc = {"collection": url, key: message, "files": files}
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8") + b"\n"
        return _send(environ, start_response, status, "application/json", body, close=close)
    page = result_page(url, status, message, files)
    return _send(environ, start_response, status, "text/html", page, close=close)


def _send(
    environ: dict[str, Any],
    start_response: StartResponse,
    status: int,
    kind: str,
    body: bytes,
    *,
    close: bool = False,
) -> list[bytes]:
    headers = [
        ("Content-Type", f"{kind}; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if close:
        headers.append(("Connection", "close"))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [b""] if environ["REQUEST_METHOD"].upper() == "HEAD" else [body]


def _remove_stale(staging: Path) -> None:
    """Staging files a killed server left behind (older than an hour) are removed."""
    if not staging.is_dir():
        return
    cutoff = time.time() - STALE_STAGING_S
    for leftover in staging.glob("form-*.part"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            continue
