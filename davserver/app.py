"""build_app(settings): the ONLY code that renders WsgiDAV's dict config and composes the stack.

davsync's middlewares are plain WSGI callables ``Name(next_app, *, deps...)`` whose typed
dependencies are passed here; the ones that must run inside WsgiDAV (after it resolved the
share, inside ``ErrorPrinter``, most after ``HTTPAuthenticator``) are mounted into its
``middleware_stack`` with ``davserver.dav.stack.mount``. Only the login pieces
(``ThrottleGate``, ``DavsyncDomainController``) still read ``config["davsync"]``: WsgiDAV
constructs the domain controller itself.

The returned ``App`` holds the WSGI callable and the server context (storage, users, policy),
so the CLI and tests can reach the same objects the requests use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver.access import AccessPolicy
from davserver.auth.domain_controller import DavsyncDomainController
from davserver.auth.gate import ThrottleGate
from davserver.auth.nonces import DigestNonceGuard, NonceRegistry
from davserver.auth.throttle import LoginThrottle
from davserver.auth.users import UserStore
from davserver.collection.origin import OriginScope
from davserver.collection.service import Collection, open_collection
from davserver.context import ServerContext
from davserver.dav.access_mw import AccessControl
from davserver.dav.extensions import DavsyncExtensions
from davserver.dav.limits_mw import DavLimits
from davserver.dav.lock_manager import install_lock_manager
from davserver.dav.lock_store import SQLiteLockStorage
from davserver.dav.prop_store import SQLitePropertyManager
from davserver.dav.provider import DavsyncDAVProvider, VirtualRootProvider
from davserver.dav.stack import mount
from davserver.dav.state_unavailable import StateUnavailable
from davserver.dav.streamed import RequestScope
from davserver.dav.streamed import install as install_streamed_log_filter
from davserver.gateways.form import AUTHENTICATED_USER_KEY, AppRef, FormUploads
from davserver.http.environ import WSGIApp
from davserver.instance import load_instance_id
from davserver.limits import RequestGuard
from davserver.namespace import SHARES
from davserver.nextcloud.ocs import STATUS_PATHS, NextcloudEndpoints
from davserver.nextcloud.webdav_alias import WebdavAlias
from davserver.quirks import RequestQuirks
from davserver.settings import Settings
from davserver.storage import open_storage
from davserver.uploads import gc_interval, open_upload_service
from davserver.web.front import WebFront
from davserver.web.listing import Listing

_log = logging.getLogger(__name__)


class _DropMisleadingWsgidavWarnings(logging.Filter):
    """WsgiDAV warns that Basic auth is enabled without SSL whenever Basic is accepted at all;
    davsync refuses Basic over plain HTTP itself (ThrottleGate), so the warning is wrong here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Basic authentication is enabled" not in record.getMessage()


_WSGIDAV_LEVELS = {
    0: logging.CRITICAL,
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
}
"""WsgiDAV's logger level for each ``verbose`` setting (as WsgiDAV's own logging set it)."""


def _route_wsgidav_logs(verbose: int) -> None:
    """Let WsgiDAV's records reach the process's handlers, at the level ``verbose`` asks."""
    logger = logging.getLogger("wsgidav")
    logger.setLevel(_WSGIDAV_LEVELS[min(verbose, 4)])
    logger.propagate = True  # the package turns it off at import


class _DropStreamedListingErrors(logging.Filter):
    """WsgiDAV logs an error for every response without Content-Length; a large PROPFIND is
    streamed on purpose (``davserver.dav.propfind``) and announces ``Connection: close``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Content-Length header in 207-response" not in record.getMessage()


@dataclass(frozen=True)
class App:
    """The WSGI application and what it was built from."""

    wsgi: WSGIApp
    context: ServerContext
    users: UserStore
    dav: WsgiDAVApp  # the WsgiDAV application inside the front layers (tests reach its providers)


def open_user_store(settings: Settings) -> UserStore:
    """The user store of ``settings`` (created if missing)."""
    return UserStore(settings.state_target)


def build_context(settings: Settings) -> ServerContext:
    """Open storage and derive the access policy (creates folders on first use)."""
    storage = open_storage(settings)  # local files, or S3 (storage: s3://...)
    collection = open_collection(settings, storage)  # its storage journals every arrival
    return ServerContext(
        settings=settings,
        storage=collection.storage,
        policy=AccessPolicy(settings.grants),
        instance_id=load_instance_id(settings.state_target, settings.state_path),
        uploads=open_upload_service(settings, collection.storage),
        collection=collection,
    )


def middleware_stack(
    settings: Settings,
    context: ServerContext,
    web: WebFront,
    files: DavsyncDAVProvider,
    whole_app: AppRef,
) -> list[object]:
    """WsgiDAV's ``middleware_stack``, outermost first: its own ``ErrorPrinter``,
    ``HTTPAuthenticator`` and ``RequestResolver`` with davsync's middlewares mounted between.

    ``ThrottleGate`` is the one WsgiDAV class of davsync's: it must find the
    ``HTTPAuthenticator`` WsgiDAV built and its domain controller."""
    return [
        ErrorPrinter,
        mount("StateUnavailable", StateUnavailable),
        ThrottleGate,
        mount(
            "DigestNonceGuard",
            partial(DigestNonceGuard, registry=NonceRegistry(db_path=settings.state_target)),
        ),
        HTTPAuthenticator,
        mount("WebdavAlias", partial(WebdavAlias, provider=files)),
        mount("DavLimits", partial(DavLimits, settings=settings)),
        mount("NextcloudEndpoints", partial(NextcloudEndpoints, context=context)),
        mount("AccessControl", partial(AccessControl, policy=context.policy)),
        mount(
            "FormUploads",
            partial(FormUploads, settings=settings, storage=context.storage, whole_app=whole_app),
        ),
        mount("OperatorPages", web.operator_pages),
        mount("RequestQuirks", partial(RequestQuirks, max_body=settings.limits.max_xml_body_bytes)),
        mount("DavsyncExtensions", DavsyncExtensions),
        mount("Listing", Listing),
        RequestResolver,
    ]


def wsgidav_config(
    settings: Settings,
    context: ServerContext,
    users: UserStore,
    web: WebFront | None = None,
    whole_app: AppRef | None = None,
) -> dict[str, Any]:
    """The WsgiDAV configuration for ``settings`` (with ``web``'s pages in the stack; form
    uploads run through ``whole_app`` once ``build_app`` fills it in)."""
    web = web or WebFront(context)
    provider_mapping: dict[str, Any] = {"/": VirtualRootProvider()}
    for share in SHARES:
        provider_mapping[share] = DavsyncDAVProvider(context)
    throttle = settings.auth.throttle
    stack = middleware_stack(
        settings, context, web, provider_mapping[SHARES[0]], whole_app or AppRef()
    )
    return {
        "provider_mapping": provider_mapping,
        "middleware_stack": stack,
        "http_authenticator": {
            "domain_controller": DavsyncDomainController,
            "accept_basic": True,
            "accept_digest": settings.auth.digest,
            "default_to_digest": settings.auth.digest,
            # an environ key (not a header): only in-process gateway requests can carry it
            "trusted_auth_header": AUTHENTICATED_USER_KEY,
        },
        "davsync": {  # read by ThrottleGate and DavsyncDomainController only
            "user_store": users,
            "throttle": LoginThrottle(
                max_failures=throttle.max_failures,
                window_s=throttle.window_s,
                lockout_s=throttle.lockout_s,
                db_path=settings.state_target,
                address_max_failures=throttle.address_max_failures,
                account_max_failures=throttle.account_max_failures,
            ),
            "realm": settings.auth.realm,
            "allow_anonymous_paths": list(STATUS_PATHS),
            "basic_over_http": settings.auth.basic_over_http,
        },
        "lock_storage": SQLiteLockStorage(
            settings.state_target,
            max_timeout_s=settings.limits.max_lock_timeout_s,
            max_locks_per_principal=settings.limits.max_locks_per_user,
        ),
        "property_manager": SQLitePropertyManager(settings.state_target),
        "dir_browser": {"enable": False},
        "hotfixes": {
            "emulate_win32_lastmod": False,
            "re_encode_path_info": True,
            "unquote_path_info": False,
        },
        "honor_mtime_header": False,
        "add_header_MS_Author_Via": True,
        "suppress_version_info": True,
        "verbose": settings.verbose,
        # WsgiDAV's records go through the process's handlers (text or JSON, one format):
        "logging": {"enable": False},
        "block_size": 256 * 1024,
    }


def build_app(settings: Settings) -> App:
    """Build the WSGI application for ``settings``."""
    context = build_context(settings)
    if context.uploads is not None:
        context.uploads.start_maintenance(gc_interval(settings))
    if isinstance(context.collection, Collection):
        context.collection.start()
    users = open_user_store(settings)
    web = WebFront(context)
    gateway_app = AppRef()
    config = wsgidav_config(settings, context, users, web, gateway_app)
    if not settings.auth.basic_over_http:
        logging.getLogger("wsgidav.wsgidav_app").addFilter(_DropMisleadingWsgidavWarnings())
    install_streamed_log_filter()
    _route_wsgidav_logs(settings.verbose)
    logging.getLogger("wsgidav.wsgidav_app").addFilter(_DropStreamedListingErrors())
    dav = WsgiDAVApp(config)
    install_lock_manager(dav)  # one lock query per ancestor walk instead of one per segment
    front = web.public(RequestScope(dav))
    guard = RequestGuard(front, trusted_proxies=settings.server.trusted_proxies)
    # Outermost: arrivals see the final client address and user (read lazily at commit).
    wsgi = OriginScope(web.watch(guard))
    gateway_app.app = wsgi  # in-process gateway requests run through all of it
    return App(wsgi=wsgi, context=context, users=users, dav=dav)
