"""WsgiDAV resources over a davsync ``Provider``.

``FileResource`` and ``FolderResource`` map a share path (``/files/<user>/...``) to a storage
path (``<user>/...``) and delegate every operation to the provider, translating its errors.
``VirtualFolder`` serves the share root and the area index (``/files``) so that clients that
walk every path segment (Windows Explorer) find each one.

Writes: WsgiDAV's PUT calls ``begin_write`` -> ``writelines`` -> ``close`` -> ``end_write``.
``begin_write`` validates the request's digest and mtime headers before any byte is read;
``end_write`` commits the staged bytes, verifying length and digests and applying ``X-OC-Mtime``
in the same atomic step, so the ETag WsgiDAV then sends describes the final state.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, final
from urllib.parse import quote

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_NOT_FOUND,
    HTTP_PRECONDITION_FAILED,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection

from davserver.dav import lock_null, properties
from davserver.dav.errors import stat_or_none, translated
from davserver.dav.request import DavRequest
from davserver.dav.writes import BodySink, queue_commit_headers, writable_destination
from davserver.http.environ import Environ
from davserver.namespace import SHARES, storage_to_share_path
from davserver.nextcloud import webdav_alias
from davserver.uploads.protocol import MAX_MTIME_S
from providers import paths
from providers.base import Entry, ListingDigests, WriteHandle
from providers.hashing import Digests

if TYPE_CHECKING:
    from lxml import etree
    from wsgidav._types import PropertyValue
    from wsgidav.dav_provider import DAVProvider, _DAVResource
    from wsgidav.dav_provider import _DAVResource as _ResourceBase

    from davserver.context import ServerContext
    from davserver.dav.host import DavHost
else:  # a mixin at run time; to the type checker, the WsgiDAV resource it is mixed into
    _ResourceBase = object


_HREF_SAFE = "/!*'(),$-_|."
"""What WsgiDAV's ``get_href`` leaves unquoted (besides letters and digits)."""


class StorageResource(_ResourceBase):
    """What file and folder resources share: storage path, entry, properties, access."""

    provider: DavHost
    environ: Environ
    path: str
    is_collection: bool
    known_digests: Digests | None = None
    listed_href: str | None = None
    """WsgiDAV's href (before the alias), when the folder listing this member wrote it."""

    def _init_storage(self, area: str, storage_path: str, entry: Entry | None) -> None:
        self.area = area
        self.storage_path = storage_path
        self.entry = entry

    # --- identity -------------------------------------------------------------------------

    @property
    def ctx(self) -> ServerContext:
        """The server context (storage, access policy, limits)."""
        return self.provider.ctx

    @property
    def request(self) -> DavRequest:
        """The typed view of this request."""
        return DavRequest(self.environ)

    @property
    def user(self) -> str:
        """The authenticated user of this request ("" if none)."""
        return self.request.user

    @property
    def home(self) -> str:
        """The home this resource lies in."""
        return self.storage_path.split("/", 1)[0]

    @property
    def writable(self) -> bool:
        """True if the current user may change this resource."""
        return bool(self.ctx.policy.can_write(self.user, self.home))

    @property
    def file_id(self) -> str:
        """The stable file id (oc:fileid)."""
        return self._entry().file_id

    @property
    def oc_id(self) -> str:
        """The ownCloud-style id: file id followed by the instance id."""
        return f"{self._entry().file_id}{self.ctx.instance_id}"

    def get_ref_url(self) -> str:
        """The key of locks and dead properties: the URL under the first share, whichever
        share the request came through, so a lock taken at ``/remote.php/dav/...`` also binds
        ``/dav/...`` (every share serves the same tree)."""
        return quote(SHARES[0] + self.get_preferred_path())

    @property
    def size(self) -> int:
        """Bytes of the file, or of every file below the collection (oc:size)."""
        return self._entry().size

    def get_href(self) -> str:
        """WsgiDAV's href, written under ``/remote.php/webdav`` for requests that came in
        through that alias."""
        href = self.listed_href
        if href is None:
            href = super().get_href()
        return webdav_alias.href_for(self.environ, href)

    def _entry(self) -> Entry:
        if self.entry is None:
            raise DAVError(HTTP_NOT_FOUND)
        return self.entry

    def _share_path_for(self, dest_path: str) -> str:
        """Storage path for a share path such as a COPY/MOVE destination (403 if the user
        may not write there)."""
        return writable_destination(self.ctx, self.user, dest_path)

    # --- common live properties ------------------------------------------------------------

    def get_creation_date(self) -> float:
        return self._entry().ctime_ns / 1e9

    def get_last_modified(self) -> float:
        return self._entry().mtime_ns / 1e9

    def get_etag(self) -> str | None:
        return self.entry.etag if self.entry else None

    def support_etag(self) -> bool:
        return True

    def get_display_name(self) -> str:
        return paths.name_of(self.storage_path)

    def get_digests(self) -> Digests:
        """The content digests (files only): ``known_digests`` if a listing fetched them."""
        if self.known_digests is not None:
            return self.known_digests
        with translated():
            return self.ctx.storage.digests(self.storage_path)

    def apply_mtime(self, mtime_ns: int) -> None:
        """Set the modification time (PROPPATCH lastmodified / Win32LastModifiedTime); 400
        outside the range ``X-OC-Mtime`` accepts (the state store keeps nanoseconds in a
        64-bit integer: a later time would break every listing of the file's folder)."""
        if not self.writable:
            raise DAVError(HTTP_FORBIDDEN)
        if not 0 <= mtime_ns < MAX_MTIME_S * 1_000_000_000:
            raise DAVError(
                HTTP_BAD_REQUEST,
                context_info=f"modification time out of range: {mtime_ns // 1_000_000_000}",
            )
        with translated():
            self.entry = self.ctx.storage.set_mtime(self.storage_path, mtime_ns)

    def set_last_modified(self, dest_path: str, time_stamp: str | None, *, dry_run: bool) -> bool:
        if not dry_run:
            if time_stamp is None:  # an empty element (float(None) raises the same)
                raise TypeError("no time stamp")
            self.apply_mtime(int(float(time_stamp) * 1_000_000_000))
        return True

    # --- property plumbing -----------------------------------------------------------------

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names = super().get_property_names(is_allprop=is_allprop)
        if is_allprop:  # RFC 4331: quota properties are not part of allprop
            names = [n for n in names if not n.startswith("{DAV:}quota-")]
        names.extend(properties.names_for(self, is_allprop=is_allprop))
        return names

    def get_property_value(self, name: str) -> PropertyValue:
        prop = properties.REGISTRY.get(name)
        if prop is not None and prop.getter is not None and prop.applies_to(self):
            return prop.getter(self)
        if name == "{DAV:}getetag":
            etag = self.get_etag()
            if etag is None:
                raise DAVError(HTTP_NOT_FOUND)
            return f'"{etag}"'
        return super().get_property_value(name)

    def set_property_value(
        self, name: str, value: etree._Element | None, *, dry_run: bool = False
    ) -> object:
        prop = properties.REGISTRY.get(name)
        if prop is not None and prop.setter is not None:
            if not self.writable:
                raise DAVError(HTTP_FORBIDDEN)
            prop.setter(self, value, dry_run)
            if not prop.store_as_dead or self.provider.prop_manager is None:
                return True
        return super().set_property_value(name, value, dry_run=dry_run)

    # --- delete / copy / move ---------------------------------------------------------------

    def delete(self) -> None:
        with translated():
            self.ctx.storage.delete(self.storage_path)
        self.remove_all_properties(recursive=True)
        self.remove_all_locks(recursive=True)

    def support_recursive_delete(self) -> bool:
        return True

    def support_recursive_move(self, dest_path: str) -> bool:
        return True

    def move_recursive(self, dest_path: str) -> None:
        """Move to a free destination in one rename (a collection with all members)."""
        dest = self._share_path_for(dest_path)
        with translated():
            self.ctx.storage.move(self.storage_path, dest, overwrite=False)
        self._move_dead_props(dest_path, is_move=True, with_children=self.is_collection)
        self.remove_all_locks(recursive=True)
        if not self.is_collection:
            self._apply_request_mtime(dest)

    def _apply_request_mtime(self, dest: str) -> None:
        mtime_ns = self.request.mtime_ns
        if mtime_ns is not None:
            with translated():
                self.ctx.storage.set_mtime(dest, mtime_ns)
            self.request.add_response_header("X-OC-Mtime", "accepted")

    def _move_dead_props(self, dest_path: str, *, is_move: bool, with_children: bool) -> None:
        pm = self.provider.prop_manager
        if pm is None:
            return
        src_url = self.get_ref_url()
        dest_url = quote(SHARES[0] + dest_path)
        if is_move:
            pm.move_properties(src_url, dest_url, with_children=with_children, environ=self.environ)
        else:
            pm.copy_properties(src_url, dest_url, self.environ)


class FileResource(StorageResource, DAVNonCollection):
    """A stored file (``entry`` is None while a PUT creates it)."""

    def __init__(
        self,
        provider: DavHost,
        path: str,
        environ: Environ,
        area: str,
        storage_path: str,
        entry: Entry | None,
    ) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self.provider = provider
        self._init_storage(area, storage_path, entry)
        self._handle: WriteHandle | None = None

    def get_content_length(self) -> int:
        return self._entry().size

    def get_content_type(self) -> str:
        guessed, _ = mimetypes.guess_type(self.storage_path, strict=False)
        return guessed or "application/octet-stream"

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> BinaryIO:
        with translated():
            return self.ctx.storage.open_read(self.storage_path)

    # --- PUT --------------------------------------------------------------------------------

    def begin_write(self, *, content_type: str | None = None) -> BodySink:
        """Validate the request's headers, then open a staged write (nothing visible yet).

        A new file under ``If-Match`` (``*`` or any tags) is 412 before the body is read: no
        current representation matches (RFC 9110 13.1.1); WsgiDAV checks it only for an
        existing resource."""
        request = self.request
        if self.entry is None and "HTTP_IF_MATCH" in self.environ:
            raise DAVError(
                HTTP_PRECONDITION_FAILED, context_info="If-Match, but there is no such file"
            )
        self._expected = request.expected_digests()
        self._mtime_ns = request.mtime_ns
        self._length = request.declared_length
        self._check_size(self._length)
        with translated():
            self._handle = handle = self.ctx.storage.begin_write(self.storage_path)
        return BodySink(handle.write, translated)

    def _check_size(self, length: int | None) -> None:
        limit = self.ctx.max_put_bytes
        if length is not None and limit is not None and length > limit:
            raise DAVError(HTTP_REQUEST_ENTITY_TOO_LARGE, context_info=f"limit is {limit} bytes")
        if length is not None and length > 0:
            with translated():
                available = self.ctx.storage.free_space()
            if available is not None and length > available:
                raise DAVError(
                    HTTP_INSUFFICIENT_STORAGE,
                    context_info=f"not enough free space for the {length} bytes announced",
                )

    def end_write(self, *, with_errors: bool) -> None:
        """Commit the staged bytes (or abort on errors); raises DAVError on a failed check."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if with_errors:
            handle.abort()
            return
        if_match, if_none_match_any = self.request.write_preconditions()
        with translated():
            result = handle.commit(
                expected_size=self._length,
                expected_digests=self._expected,
                mtime_ns=self._mtime_ns,
                if_match=if_match,
                if_none_match_any=if_none_match_any,
            )
        self.entry = result.entry
        queue_commit_headers(
            self.request,
            self.ctx,
            entry=result.entry,
            digests=result.digests,
            mtime_applied=self._mtime_ns is not None,
        )

    # --- copy / move ------------------------------------------------------------------------

    def handle_move(self, dest_path: str) -> bool:
        """Replace an existing destination atomically (WsgiDAV then answers 204)."""
        dest = self._share_path_for(dest_path)
        if not self._exists_as_file(dest):
            return False
        with translated():
            self.ctx.storage.move(self.storage_path, dest, overwrite=True)
        self._move_dead_props(dest_path, is_move=True, with_children=False)
        self.remove_all_locks(recursive=True)
        self._apply_request_mtime(dest)
        return True

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        """Replace an existing destination atomically (WsgiDAV then answers 204)."""
        dest = self._share_path_for(dest_path)
        if not self._exists_as_file(dest):
            return False
        with translated():
            self.ctx.storage.copy(self.storage_path, dest, overwrite=True)
        self._move_dead_props(dest_path, is_move=False, with_children=False)
        self._apply_request_mtime(dest)
        return True

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        dest = self._share_path_for(dest_path)
        with translated():
            if is_move:
                self.ctx.storage.move(self.storage_path, dest, overwrite=True)
            else:
                self.ctx.storage.copy(self.storage_path, dest, overwrite=True)
        self._move_dead_props(dest_path, is_move=is_move, with_children=False)
        self._apply_request_mtime(dest)

    def _exists_as_file(self, storage_path: str) -> bool:
        entry = stat_or_none(self.ctx.storage, storage_path)
        return entry is not None and not entry.is_dir


@final  # (so the type checker knows ``type(x) is not ListedFile`` rules it out)
class ListedFile(NamedTuple):
    """A file met in a folder listing, before (and usually instead of) its resource: what
    a PROPFIND of the plain live properties needs (entry, digests the listing knew, href as
    ``get_href`` gives it). ``resource()`` makes the ``FileResource`` for everything else.
    (A named tuple: one is made per file of a listing, and those are made fastest.)"""

    folder: FolderResource
    entry: Entry
    digests: Digests | None
    href: str

    def resource(self) -> StorageResource:
        """The resource ``FolderResource.iter_members_with_digests`` makes for this file."""
        return self.folder._resource_for(self.entry, self.digests)


class FolderResource(StorageResource, DAVCollection):
    """A stored collection (a home or a folder below it)."""

    def __init__(
        self,
        provider: DavHost,
        path: str,
        environ: Environ,
        area: str,
        storage_path: str,
        entry: Entry,
    ) -> None:
        DAVCollection.__init__(self, path, environ)
        self.provider = provider
        self._init_storage(area, storage_path, entry)
        self._members: list[Entry] | None = None
        self._href_base: str | None = None

    def _list(self) -> list[Entry]:
        if self._members is None:
            with translated():
                self._members = self.ctx.storage.listdir(self.storage_path)
        return self._members

    def get_member_names(self) -> list[str]:
        return [e.name for e in self._list()]

    def get_member(self, name: str) -> StorageResource | None:
        for e in self._list():
            if e.name == name:
                return self._resource_for(e)
        return None

    def get_member_list(self) -> list[StorageResource]:
        return [self._resource_for(e) for e in self._list()]

    def iter_members(self) -> Iterator[StorageResource]:
        """The members, made into resources one at a time; the folder is listed at once (its
        errors are raised by this call, not by the iteration)."""
        entries = self._list()
        return (self._resource_for(e) for e in entries)

    def iter_members_with_digests(self) -> Iterator[StorageResource]:
        """``iter_members``, with ``known_digests`` set on the files whose digests the
        provider's listing already knew (``providers.base.ListingDigests``; a provider
        without it lists as ``iter_members`` does)."""
        storage = self.ctx.storage
        if not isinstance(storage, ListingDigests):
            return self.iter_members()
        with translated():
            listed = storage.listdir_with_digests(self.storage_path)
        listed.reverse()
        return self._released(listed)

    def iter_listed(self, *, with_digests: bool) -> Iterator[StorageResource | ListedFile]:
        """The members as ``iter_members`` (``with_digests``: ``iter_members_with_digests``)
        gives them, except that files come as ``ListedFile`` records, with no resource made
        (with digests asked for: only the files whose digests the listing knew)."""
        storage = self.ctx.storage
        if not with_digests:
            listed: list[tuple[Entry, Digests | None]] = [(e, None) for e in self._list()]
        elif isinstance(storage, ListingDigests):
            with translated():
                listed = storage.listdir_with_digests(self.storage_path)
        else:  # resources, whose digests the caller then fetches in batches
            return self.iter_members()
        listed.reverse()
        return self._released_listed(listed, with_digests=with_digests)

    def _released_listed(
        self, listed: list[tuple[Entry, Digests | None]], *, with_digests: bool
    ) -> Iterator[StorageResource | ListedFile]:
        shown: str | None = None  # the href base as the client sees it (alias applied)
        while listed:
            e, digests = listed.pop()
            if e.is_dir or shown is None or (with_digests and digests is None):
                yield self._resource_for(e, digests)
                if shown is None and self._href_base is not None:
                    shown = webdav_alias.href_for(self.environ, self._href_base)
                continue
            yield ListedFile(self, e, digests, shown + quote(e.name, safe=_HREF_SAFE))

    def _released(self, listed: list[tuple[Entry, Digests | None]]) -> Iterator[StorageResource]:
        """The members of ``listed`` (in reverse order) as resources, each entry let go once
        its resource is made, so a long listing's memory shrinks as it is sent."""
        while listed:
            e, digests = listed.pop()
            yield self._resource_for(e, digests)

    def _resource_for(self, e: Entry, digests: Digests | None = None) -> StorageResource:
        path = storage_to_share_path(self.area, e.path)
        member: StorageResource
        if e.is_dir:
            member = FolderResource(self.provider, path, self.environ, self.area, e.path, e)
        else:
            member = FileResource(self.provider, path, self.environ, self.area, e.path, e)
            member.known_digests = digests
        member.listed_href = self._member_href(member, e)
        return member

    def _member_href(self, member: StorageResource, e: Entry) -> str:
        """WsgiDAV's href (before the alias) of ``member``, made from entry ``e``: WsgiDAV
        quotes the whole path, so a member's href is the folder part, the same for every
        member (taken from the first one), then the member's quoted name (and ``/``)."""
        tail = quote(e.name, safe=_HREF_SAFE) + ("/" if e.is_dir else "")
        base = self._href_base
        if base is None:
            href: str = DAVCollection.get_href(member)
            if not href.endswith(tail):  # pragma: no cover - not how WsgiDAV quotes
                return href
            base = self._href_base = href[: len(href) - len(tail)]
        return base + tail

    def get_used_bytes(self) -> int:
        with translated():
            return int(self.ctx.storage.usage(self.storage_path).used)

    def get_available_bytes(self) -> int | None:
        with translated():
            available = self.ctx.storage.usage(self.storage_path).available
        return None if available is None else int(available)

    def create_empty_resource(self, name: str) -> FileResource:
        """For PUT: a pending file (nothing on disk until commit). For LOCK on an unmapped
        URL: a pending file too, created only once the lock is granted (``lock_null``). For
        anything else: a real empty file, created only if nothing is there yet."""
        with translated():
            child = paths.join(self.storage_path, name)
        path = storage_to_share_path(self.area, child)
        res = FileResource(self.provider, path, self.environ, self.area, child, None)
        method = self.environ.get("REQUEST_METHOD")
        if method == "LOCK":
            lock_null.defer_creation(self.environ, res)
        elif method != "PUT":
            with translated():
                handle = self.ctx.storage.begin_write(child)
                res.entry = handle.commit(expected_size=0, if_none_match_any=True).entry
        return res

    def create_collection(self, name: str) -> None:
        with translated():
            self.ctx.storage.mkdir(paths.join(self.storage_path, name))

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        """Depth-0 copy of a collection: create the destination collection."""
        dest = self._share_path_for(dest_path)
        if stat_or_none(self.ctx.storage, dest) is None:
            with translated():
                self.ctx.storage.mkdir(dest)
        self._move_dead_props(dest_path, is_move=is_move, with_children=False)


class VirtualFolder(DAVCollection):
    """A read-only collection whose members are fixed names (share root, area index)."""

    def __init__(
        self,
        provider: DAVProvider,
        path: str,
        environ: Environ,
        members: list[str],
        child_factory: Callable[[str, Environ], _DAVResource | None],
    ) -> None:
        DAVCollection.__init__(self, path, environ)
        self.provider = provider
        self._members = members
        self._child_factory = child_factory

    def get_member_names(self) -> list[str]:
        return list(self._members)

    def get_member(self, name: str) -> _DAVResource | None:
        if name not in self._members:
            return None
        return self._child_factory(self.path.rstrip("/") + "/" + name, self.environ)

    def get_display_name(self) -> str:
        return str(self.path).rstrip("/").rsplit("/", 1)[-1]

    def get_etag(self) -> str:
        return "v-" + "-".join(self._members).encode().hex()[:32]

    def support_etag(self) -> bool:
        return True

    def get_property_value(self, name: str) -> PropertyValue:
        if name == "{DAV:}getetag":
            return f'"{self.get_etag()}"'
        if name == f"{{{properties.OC_NS}}}permissions":
            return "G"
        return super().get_property_value(name)

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names: list[str] = super().get_property_names(is_allprop=is_allprop)
        return [*names, f"{{{properties.OC_NS}}}permissions"]
