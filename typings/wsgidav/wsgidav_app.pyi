from collections.abc import Iterable
from typing import Any

from _typeshed.wsgi import StartResponse, WSGIEnvironment
from wsgidav._types import PropertyManager
from wsgidav.dav_provider import DAVProvider
from wsgidav.lock_man.lock_manager import LockManager

class WsgiDAVApp:
    # WsgiDAV's configuration: a nested dictionary of settings (YAML-shaped) of any type.
    config: dict[str, Any]
    lock_manager: LockManager | None
    prop_manager: PropertyManager | None
    provider_map: dict[str, DAVProvider]
    def __init__(self, config: dict[str, Any]) -> None: ...
    def add_provider(
        self, share: str, provider: DAVProvider | str | dict[str, Any], *, readonly: bool = False
    ) -> DAVProvider: ...
    def resolve_provider(self, path: str) -> tuple[str | None, DAVProvider | None]: ...
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]: ...
