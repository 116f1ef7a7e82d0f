"""WsgiDAV resources of the uploads area, over ``davserver.uploads.UploadService``.

URL layout inside a share (``/remote.php/dav`` or ``/dav``)::

    /uploads/                      the area index: lists the requesting user only
    /uploads/<user>/               the user's open sessions (MKCOL here creates one)
    /uploads/<user>/<session>/     a Nextcloud-style session: its chunks (PUT, PROPFIND)
    /uploads/<user>/<session>/<n>  one chunk (PUT stores it atomically, DELETE drops it)
    /uploads/<user>/<session>/.file    MOVE it to a files URL to assemble the upload
    /uploads/<user>/tus-<id>       a tus upload (PATCH/HEAD/DELETE: see ``davserver.dav.tus``)

The same ``DavHost`` serves ``/files`` and ``/uploads``, so WsgiDAV's MOVE of
``.file`` onto a files URL stays inside one provider. WsgiDAV calls ``handle_move`` first:
for an existing destination the upload is assembled over it there (WsgiDAV answers 204),
otherwise ``move_recursive`` assembles it (201). Response headers (``ETag``, ``OC-ETag``,
``OC-FileId``, ``OC-Checksum``, ``X-OC-Mtime``) are queued for the extensions middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Generic, NoReturn, Protocol, TypeVar
from urllib.parse import unquote, urlparse

from wsgidav.dav_error import HTTP_CONFLICT, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection

from davserver.dav.errors import bad_request, forbidden, stat_or_none
from davserver.dav.request import DavRequest
from davserver.dav.resources import VirtualFolder
from davserver.dav.upload_errors import upload_translated
from davserver.dav.writes import BodySink, queue_commit_headers, writable_destination
from davserver.http.environ import Environ
from davserver.namespace import Location, resolve
from davserver.uploads import protocol
from davserver.uploads.service import ChunkUpload, UploadService
from davserver.uploads.store import KIND_TUS, Chunk, Session
from providers.errors import InvalidPathError

if TYPE_CHECKING:
    from wsgidav._types import PropertyValue
    from wsgidav.dav_provider import _DAVResource
    from wsgidav.dav_provider import _DAVResource as _ResourceBase

    from davserver.dav.host import DavHost
else:  # a mixin at run time; to the type checker, the WsgiDAV resource it is mixed into
    _ResourceBase = object

ASSEMBLE_NAME = ".file"


def upload_resource(
    provider: DavHost, loc: Location, environ: Environ
) -> VirtualFolder | UploadsHome | SessionCollection | TusUploadResource | UploadMember | None:
    """The resource at ``loc`` (area ``uploads``), or None.

    Raises DAVError 403 for another user's uploads, 409 for a chunk PUT into a session
    that was already committed.
    """
    service = provider.ctx.uploads
    user = DavRequest(environ).user
    if service is None:
        return None
    if loc.kind == "area-index":
        members = [user] if user else []
        return VirtualFolder(provider, "/uploads", environ, members, provider.get_resource_inst)
    if loc.kind != "home":
        return None
    if loc.home != user:
        raise forbidden("upload sessions are only visible to the user who created them")
    parts = loc.storage_path.split("/")
    if len(parts) == 1:
        return UploadsHome(provider, environ, service, user)
    if len(parts) > 3:
        return None
    with upload_translated():
        session = service.find_session(user, parts[1])
    if session is None:
        return None
    if len(parts) == 2:
        if session.committed:
            return None
        if session.kind == KIND_TUS:
            return TusUploadResource(provider, environ, service, session)
        return SessionCollection(provider, environ, service, session)
    return _session_member(provider, environ, service, session, parts[2])


def _session_member(
    provider: DavHost,
    environ: Environ,
    service: UploadService,
    session: Session,
    name: str,
) -> UploadMember | None:
    if session.kind == KIND_TUS:
        return None
    if name == ASSEMBLE_NAME:
        return AssembleResource(provider, environ, service, session)
    if session.committed:
        if environ.get("REQUEST_METHOD") == "PUT":
            raise DAVError(
                HTTP_CONFLICT,
                context_info=f"upload session {session.name!r} was already committed; "
                "start a new session",
            )
        return None
    with upload_translated():
        chunk = service.find_chunk(session, name)
    if chunk is None:
        return None
    return ChunkResource(provider, environ, service, session, name, chunk)


def files_destination(provider: DavHost, environ: Environ, share_path: str) -> str:
    """The storage path of a files-area share path the user may write (DAVError 403/400
    otherwise; see ``writes.writable_destination``)."""
    return writable_destination(provider.ctx, DavRequest(environ).user, share_path)


def header_destination(provider: DavHost, environ: Environ) -> str | None:
    """The storage path of the request's ``Destination`` URL (None if absent).

    Raises DAVError 400 if it is not a files URL, 403 if the user may not write there.
    """
    raw = environ.get("HTTP_DESTINATION")
    if not raw:
        return None
    try:
        loc = resolve(unquote(urlparse(raw, allow_fragments=False).path))
    except InvalidPathError as exc:
        raise bad_request(f"Destination: {exc}") from exc
    if loc.kind != "home" or loc.area != "files":
        raise bad_request("Destination must be a URL below /files/<user>/")
    return files_destination(provider, environ, "/files/" + loc.storage_path)


def total_length_header(environ: Environ) -> int | None:
    """``OC-Total-Length`` (None if absent). DAVError 400 if malformed."""
    raw = environ.get("HTTP_OC_TOTAL_LENGTH")
    if raw is None:
        return None
    with upload_translated():
        return protocol.parse_count(raw, "OC-Total-Length")


class _UploadResourceMixin(_ResourceBase):
    """Shared identity of upload resources: quoted getetag, no moves or copies."""

    provider: DavHost
    environ: Environ

    def get_property_value(self, name: str) -> PropertyValue:
        if name == "{DAV:}getetag":
            etag = self.get_etag()
            return None if etag is None else f'"{etag}"'
        return super().get_property_value(name)

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        raise forbidden("upload sessions and chunks cannot be copied")

    def handle_move(self, dest_path: str) -> bool:
        raise forbidden(f"to assemble an upload, MOVE <session>/{ASSEMBLE_NAME}")

    def support_recursive_move(self, dest_path: str) -> bool:
        return False


class _Named(Protocol):
    @property
    def name(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_Named)
MemberT = TypeVar("MemberT", bound="_DAVResource")


class _ListedCollection(
    _UploadResourceMixin,
    DAVCollection,
    Generic[ItemT, MemberT],
):
    """A collection whose members come from one list of named items, read once per request."""

    _items: list[ItemT] | None = None

    def _load(self) -> list[ItemT]:
        raise NotImplementedError

    def _member(self, item: ItemT) -> MemberT:
        raise NotImplementedError

    def _list(self) -> list[ItemT]:
        if self._items is None:
            with upload_translated():
                self._items = self._load()
        return self._items

    def get_member_names(self) -> list[str]:
        return [item.name for item in self._list()]

    def get_member_list(self) -> list[MemberT]:
        return [self._member(item) for item in self._list()]

    def get_member(self, name: str) -> MemberT | None:
        return next((self._member(i) for i in self._list() if i.name == name), None)

    def support_etag(self) -> bool:
        return True


class UploadsHome(_ListedCollection[Session, "SessionCollection | TusUploadResource"]):
    """``/uploads/<user>``: the user's open sessions; MKCOL below it creates one."""

    def __init__(
        self,
        provider: DavHost,
        environ: Environ,
        service: UploadService,
        user: str,
    ) -> None:
        DAVCollection.__init__(self, f"/uploads/{user}", environ)
        self.provider = provider
        self.service = service
        self.user = user

    def _load(self) -> list[Session]:
        return self.service.active_sessions(self.user)

    def _member(self, item: Session) -> SessionCollection | TusUploadResource:
        return _session_resource(self.provider, self.environ, self.service, item)

    def get_display_name(self) -> str:
        return self.user

    def get_etag(self) -> str:
        stamp = max((s.updated_at for s in self._list()), default=0.0)
        return f"uploads-{len(self._list())}-{int(stamp * 1e6)}"

    def create_collection(self, name: str) -> None:
        """MKCOL: open a session (version 2 when a Destination header is given)."""
        destination = header_destination(self.provider, self.environ)
        total = total_length_header(self.environ)
        with upload_translated():
            self.service.create_chunked(self.user, name, destination=destination, total=total)

    def create_empty_resource(self, name: str) -> NoReturn:
        raise forbidden("PUT chunks into a session: MKCOL /uploads/<user>/<session>/ first")

    def delete(self) -> None:
        raise forbidden("the uploads collection itself cannot be deleted")

    def handle_delete(self) -> bool:
        raise forbidden("the uploads collection itself cannot be deleted")


def _session_resource(
    provider: DavHost, environ: Environ, service: UploadService, s: Session
) -> SessionCollection | TusUploadResource:
    if s.kind == KIND_TUS:
        return TusUploadResource(provider, environ, service, s)
    return SessionCollection(provider, environ, service, s)


class SessionCollection(_ListedCollection[Chunk, "UploadMember"]):
    """``/uploads/<user>/<session>``: the chunks received so far (PROPFIND shows sizes)."""

    def __init__(
        self,
        provider: DavHost,
        environ: Environ,
        service: UploadService,
        session: Session,
    ) -> None:
        DAVCollection.__init__(self, f"/uploads/{session.owner}/{session.name}", environ)
        self.provider = provider
        self.service = service
        self.session = session

    def _load(self) -> list[Chunk]:
        return self.service.chunks(self.session)

    def _member(self, item: Chunk) -> ChunkResource:
        return self._chunk_resource(item)

    def get_member(self, name: str) -> UploadMember | None:
        if name == ASSEMBLE_NAME:
            return AssembleResource(self.provider, self.environ, self.service, self.session)
        return super().get_member(name)

    def _chunk_resource(self, chunk: Chunk | None, name: str | None = None) -> ChunkResource:
        return ChunkResource(
            self.provider,
            self.environ,
            self.service,
            self.session,
            name or (chunk.name if chunk else ""),
            chunk,
        )

    def get_display_name(self) -> str:
        return self.session.name

    def get_creation_date(self) -> float:
        return self.session.created_at

    def get_last_modified(self) -> float:
        return self.session.updated_at

    def get_etag(self) -> str:
        return f"{self.session.directory}-{int(self.session.updated_at * 1e6)}"

    def create_empty_resource(self, name: str) -> ChunkResource:
        """PUT of a new chunk: a pending chunk (nothing stored before its body is complete)."""
        if self.environ.get("REQUEST_METHOD") != "PUT":
            raise forbidden("chunks are created by PUT only")
        if name == ASSEMBLE_NAME:
            raise forbidden(f"{ASSEMBLE_NAME} is reserved: MOVE it to assemble the upload")
        return self._chunk_resource(None, name)

    def create_collection(self, name: str) -> None:
        raise forbidden("upload sessions hold chunks only")

    def support_recursive_delete(self) -> bool:
        return True

    def handle_delete(self) -> bool:
        """DELETE aborts the session (423 while it is being assembled)."""
        with upload_translated():
            self.service.abort(self.session.owner, self.session.name)
        return True

    def delete(self) -> None:
        self.handle_delete()


class ChunkResource(_UploadResourceMixin, DAVNonCollection):
    """One chunk; ``chunk`` is None while its first PUT is being received."""

    def __init__(
        self,
        provider: DavHost,
        environ: Environ,
        service: UploadService,
        session: Session,
        name: str,
        chunk: Chunk | None,
    ) -> None:
        DAVNonCollection.__init__(self, f"/uploads/{session.owner}/{session.name}/{name}", environ)
        self.provider = provider
        self.service = service
        self.session = session
        self.name = name
        self.chunk = chunk
        self._upload: ChunkUpload | None = None

    def _require(self) -> Chunk:
        if self.chunk is None:
            raise DAVError(404)
        return self.chunk

    def get_content_length(self) -> int:
        return self._require().size

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def get_content(self) -> BinaryIO:
        with upload_translated():
            return self.service.open_chunk(self.session, self._require())

    def support_ranges(self) -> bool:
        return True

    def get_etag(self) -> str | None:
        return self.chunk.file.split(".", 1)[0] if self.chunk else None

    def support_etag(self) -> bool:
        return True

    def get_creation_date(self) -> float:
        return self._require().created_at

    def get_last_modified(self) -> float:
        return self._require().created_at

    def get_display_name(self) -> str:
        return self.name

    def begin_write(self, *, content_type: str | None = None) -> BodySink:
        """Check the chunk (name, range, length, overlap, space) before reading the body."""
        destination = header_destination(self.provider, self.environ)
        total = total_length_header(self.environ)
        length = DavRequest(self.environ).declared_length
        with upload_translated():
            self._upload = self.service.begin_chunk(
                self.session.owner,
                self.session.name,
                self.name,
                length=length,
                total=total,
                destination=destination,
            )
        return BodySink(self._upload.write, upload_translated)

    def end_write(self, *, with_errors: bool) -> None:
        """Record the chunk if the body was complete (atomically), else drop it."""
        upload, self._upload = self._upload, None
        if upload is None:
            return
        if with_errors:
            upload.abort()
            return
        with upload_translated():
            self.chunk = upload.commit()

    def handle_delete(self) -> bool:
        with upload_translated():
            self.service.delete_chunk(self.session.owner, self.session.name, self.name)
        return True


class AssembleResource(_UploadResourceMixin, DAVNonCollection):
    """``<session>/.file``: the file the chunks make; MOVE assembles it (see module doc)."""

    def __init__(
        self,
        provider: DavHost,
        environ: Environ,
        service: UploadService,
        session: Session,
    ) -> None:
        path = f"/uploads/{session.owner}/{session.name}/{ASSEMBLE_NAME}"
        DAVNonCollection.__init__(self, path, environ)
        self.provider = provider
        self.service = service
        self.session = session

    def get_content_length(self) -> int:
        if self.session.committed:
            return 0
        with upload_translated():
            return sum(c.size for c in self.service.chunks(self.session))

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def get_content(self) -> NoReturn:
        raise forbidden(f"{ASSEMBLE_NAME} cannot be read; MOVE it to assemble the upload")

    def begin_write(self, *, content_type: str | None = None) -> NoReturn:
        raise forbidden(f"{ASSEMBLE_NAME} is reserved: MOVE it to assemble the upload")

    def get_etag(self) -> str | None:
        return None

    def support_etag(self) -> bool:
        return False

    def support_ranges(self) -> bool:
        return False

    def handle_move(self, dest_path: str) -> bool:
        """Assemble over an existing destination (WsgiDAV then answers 204)."""
        dest = files_destination(self.provider, self.environ, dest_path)
        if stat_or_none(self.provider.ctx.storage, dest) is None:
            return False
        self._assemble(dest)
        return True

    def support_recursive_move(self, dest_path: str) -> bool:
        return True

    def move_recursive(self, dest_path: str) -> list[tuple[str, DAVError]]:
        """Assemble into a new destination (WsgiDAV then answers 201)."""
        self._assemble(files_destination(self.provider, self.environ, dest_path))
        return []

    def handle_delete(self) -> bool:
        raise forbidden(f"DELETE the session, not {ASSEMBLE_NAME}, to abort an upload")

    def _assemble(self, dest: str) -> None:
        request = DavRequest(self.environ)
        expected = request.expected_digests()
        mtime_ns = request.mtime_ns
        total = total_length_header(self.environ)
        with upload_translated():
            result = self.service.assemble(
                self.session.owner,
                self.session.name,
                dest,
                expected_digests=expected,
                total=total,
                mtime_ns=mtime_ns,
            )
        queue_commit_headers(
            request,
            self.provider.ctx,
            entry=result.entry,
            digests=result.digests,
            mtime_applied=mtime_ns is not None,
        )


class TusUploadResource(_UploadResourceMixin, DAVNonCollection):
    """A tus upload as WebDAV sees it: its size so far; DELETE terminates it."""

    def __init__(
        self,
        provider: DavHost,
        environ: Environ,
        service: UploadService,
        session: Session,
    ) -> None:
        DAVNonCollection.__init__(self, f"/uploads/{session.owner}/{session.name}", environ)
        self.provider = provider
        self.service = service
        self.session = session

    def get_content_length(self) -> int:
        with upload_translated():
            return self.service.tus_state(self.session.owner, self.session.name).offset

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def get_content(self) -> NoReturn:
        raise forbidden("a tus upload cannot be read before it is complete")

    def get_etag(self) -> str | None:
        return None

    def support_etag(self) -> bool:
        return False

    def support_ranges(self) -> bool:
        return False

    def get_creation_date(self) -> float:
        return self.session.created_at

    def get_last_modified(self) -> float:
        return self.session.updated_at

    def handle_delete(self) -> bool:
        with upload_translated():
            self.service.abort(self.session.owner, self.session.name)
        return True


UploadMember = ChunkResource | AssembleResource
"""What a session collection holds: its chunks and ``.file``."""
