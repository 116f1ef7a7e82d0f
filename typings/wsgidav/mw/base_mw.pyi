from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
from wsgidav.wsgidav_app import WsgiDAVApp

class BaseMiddleware(ABC):
    wsgidav_app: WsgiDAVApp
    next_app: WSGIApplication
    # WsgiDAV's configuration: a nested dictionary of settings (YAML-shaped) of any type.
    config: dict[str, Any]
    verbose: int
    def __init__(
        self, wsgidav_app: WsgiDAVApp, next_app: WSGIApplication, config: dict[str, Any]
    ) -> None: ...
    @abstractmethod
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]: ...
    def is_disabled(self) -> bool: ...
    # The setting at the dotted ``key_path`` (any type, as configured).
    def get_config(self, key_path: str, default: Any = ...) -> Any: ...
