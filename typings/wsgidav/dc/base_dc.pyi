from abc import ABC, abstractmethod
from typing import Any

from _typeshed.wsgi import WSGIEnvironment
from wsgidav.wsgidav_app import WsgiDAVApp

class BaseDomainController(ABC):
    wsgidav_app: WsgiDAVApp
    # WsgiDAV's configuration: a nested dictionary of settings (YAML-shaped) of any type.
    config: dict[str, Any]
    def __init__(self, wsgidav_app: WsgiDAVApp, config: dict[str, Any]) -> None: ...
    @abstractmethod
    def get_domain_realm(self, path_info: str, environ: WSGIEnvironment | None) -> str: ...
    @abstractmethod
    def require_authentication(self, realm: str, environ: WSGIEnvironment | None) -> bool: ...
    def is_share_anonymous(self, path_info: str) -> bool: ...
    @abstractmethod
    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: WSGIEnvironment
    ) -> bool: ...
    @abstractmethod
    def supports_http_digest_auth(self) -> bool: ...
    # The hashed A1 value of the user's credentials, or False for an unknown user.
    def digest_auth_user(
        self, realm: str, user_name: str, environ: WSGIEnvironment
    ) -> str | bool: ...
