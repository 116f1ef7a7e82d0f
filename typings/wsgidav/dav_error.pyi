from typing import Final

from lxml import etree

HTTP_OK: Final = 200
HTTP_BAD_REQUEST: Final = 400
HTTP_UNAUTHORIZED: Final = 401
HTTP_FORBIDDEN: Final = 403
HTTP_NOT_FOUND: Final = 404
HTTP_METHOD_NOT_ALLOWED: Final = 405
HTTP_CONFLICT: Final = 409
HTTP_PRECONDITION_FAILED: Final = 412
HTTP_REQUEST_ENTITY_TOO_LARGE: Final = 413
HTTP_LOCKED: Final = 423
HTTP_INTERNAL_ERROR: Final = 500
HTTP_SERVICE_UNAVAILABLE: Final = 503
HTTP_INSUFFICIENT_STORAGE: Final = 507

# Status code -> "<code> <reason>", for the codes WsgiDAV names.
ERROR_DESCRIPTIONS: dict[int, str]

PRECONDITION_CODE_ProtectedProperty: Final = "{DAV:}cannot-modify-protected-property"
PRECONDITION_CODE_MissingLockToken: Final = "{DAV:}lock-token-submitted"
PRECONDITION_CODE_LockTokenMismatch: Final = "{DAV:}lock-token-matches-request-uri"
PRECONDITION_CODE_LockConflict: Final = "{DAV:}no-conflicting-lock"
PRECONDITION_CODE_PropfindFiniteDepth: Final = "{DAV:}propfind-finite-depth"

class DAVErrorCondition:
    condition_code: str
    hrefs: list[str]
    def __init__(self, condition_code: str) -> None: ...
    def add_href(self, href: str) -> None: ...
    def as_xml(self) -> etree._Element: ...
    def as_string(self) -> str: ...

class DAVError(Exception):
    value: int
    context_info: str | None
    src_exception: BaseException | None
    err_condition: DAVErrorCondition | None
    add_headers: list[tuple[str, str]] | None
    add_body: bool
    def __init__(
        self,
        status_code: int,
        context_info: str | None = None,
        *,
        src_exception: BaseException | None = None,
        err_condition: DAVErrorCondition | str | None = None,
        add_headers: list[tuple[str, str]] | None = None,
        add_body: bool = True,
    ) -> None: ...
    def get_user_info(self) -> str: ...
    def get_response_page(self) -> tuple[str, bytes]: ...

def get_http_status_code(v: DAVError | int) -> int: ...
def get_http_status_string(v: DAVError | int) -> str: ...
def get_response_page(v: object) -> tuple[str, bytes]: ...

# Any exception (or other value) becomes a 500 DAVError; a DAVError is returned as it is.
def as_DAVError(e: object) -> DAVError: ...
