# Stub-only types (no such module exists in WsgiDAV, as ``_typeshed`` does not exist in the
# standard library): names for the shapes WsgiDAV passes around untyped. Import them only
# under ``if TYPE_CHECKING:``.

from collections.abc import Iterable
from typing import Literal, NotRequired, Protocol, TypeAlias, TypedDict, type_check_only

from _typeshed.wsgi import StartResponse, WSGIEnvironment
from lxml import etree
from wsgidav.dav_error import DAVError
from wsgidav.request_server import RequestServer

# A property value as a getter gives it to WsgiDAV: text, an lxml element for a structured
# value, an int or None for the quota byte counts.
PropertyValue: TypeAlias = etree._Element | str | int | None

# handle_delete / handle_copy / handle_move: True (done), False (WsgiDAV does it) or the
# (ref-url, error) pairs of what failed.
HandledOrErrors: TypeAlias = bool | list[tuple[str, DAVError]]

# One parsed If header: resource tag ("*" for untagged lists) -> its lists of conditions,
# each ``(not negated, "locktoken" | "entity", value)``.
IfHeaderDict: TypeAlias = dict[str, list[list[tuple[bool, str, str]]]]

@type_check_only
class LockDict(TypedDict):
    """A lock as ``LockManager`` and its storage pass it around. A lock handed to the
    storage's ``create`` has no ``token`` and ``expire`` yet; the storage adds them."""

    root: str  # the locked URL, normalised ("/" + path without surrounding slashes)
    type: Literal["write"]
    scope: Literal["shared", "exclusive"]
    depth: Literal["0", "infinity"]
    owner: bytes  # the <D:owner> element as XML bytes, possibly b""
    timeout: float  # seconds; -1 for infinite
    principal: str
    token: NotRequired[str]
    expire: NotRequired[float]  # seconds since the epoch

@type_check_only
class LockStorage(Protocol):
    """What ``LockManager`` calls on its storage (``LockStorageDict`` or a replacement)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def cleanup(self) -> None: ...
    def clear(self) -> None: ...
    def get(self, token: str) -> LockDict | None: ...
    def create(self, path: str, lock: LockDict) -> LockDict: ...
    def refresh(self, token: str, *, timeout: float | None) -> LockDict: ...
    def delete(self, token: str) -> bool: ...
    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[LockDict] | list[str]: ...

@type_check_only
class PropertyManager(Protocol):
    """The dead-property store of a provider (WsgiDAV checks it by duck typing); values are
    XML bytes."""

    def get_properties(
        self, norm_url: str, environ: WSGIEnvironment | None = None
    ) -> list[str]: ...
    def get_property(
        self, norm_url: str, name: str, environ: WSGIEnvironment | None = None
    ) -> bytes | None: ...
    def write_property(
        self,
        norm_url: str,
        name: str,
        property_value: bytes,
        dry_run: bool = False,
        environ: WSGIEnvironment | None = None,
    ) -> None: ...
    def remove_property(
        self,
        norm_url: str,
        name: str,
        dry_run: bool = False,
        environ: WSGIEnvironment | None = None,
    ) -> None: ...
    def remove_properties(self, norm_url: str, environ: WSGIEnvironment | None = None) -> None: ...
    def copy_properties(
        self, src_url: str, dest_url: str, environ: WSGIEnvironment | None = None
    ) -> None: ...
    def move_properties(
        self,
        src_url: str,
        dest_url: str,
        with_children: bool,
        environ: WSGIEnvironment | None = None,
    ) -> None: ...

@type_check_only
class ReadStream(Protocol):
    """What WsgiDAV does with ``get_content()``: seek (for a Range), read and close."""

    def read(self, size: int = ..., /) -> bytes: ...
    def seek(self, offset: int, /) -> object: ...
    def close(self) -> object: ...

@type_check_only
class WriteStream(Protocol):
    """What WsgiDAV does with ``begin_write()``: write the body (or writelines), then close."""

    def write(self, data: bytes, /) -> object: ...
    def writelines(self, lines: Iterable[bytes], /) -> object: ...
    def close(self) -> object: ...

@type_check_only
class MethodHandler(Protocol):
    """The ``default_handler`` of ``custom_request_handler``: a bound ``do_<METHOD>`` of the
    request's ``RequestServer``."""

    @property
    def __self__(self) -> RequestServer: ...
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse, /
    ) -> Iterable[bytes]: ...
