"""The web surfaces of one server, built together and placed into the WSGI stack by
``davserver.app``:

- ``watch(app)``: outermost; ``RequestWatch`` feeding the access log, the login-failure log,
  the refusal tracker and the request metrics;
- ``public(app)``: in front of WsgiDAV (no login): ``GET /healthz``, and ``GET /metrics`` for
  clients in ``metrics.anonymous_networks``;
- ``operator_pages(app)``: mounted in WsgiDAV's stack after authentication: ``/status``,
  ``/status/<user>`` and ``/metrics`` for operators (a read grant on all homes; others 403);
- ``Listing`` (``davserver.web.listing``), mounted there too, replaces WsgiDAV's directory
  browser.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from prometheus_client import CollectorRegistry

from davserver.context import ServerContext
from davserver.limits import parse_networks
from davserver.storage import objects_probe
from davserver.web import health, metrics, status
from davserver.web.access_log import AccessLogger, AuthFailureLogger, Observer, RequestWatch
from davserver.web.health import HealthCheck
from davserver.web.refusals import RefusalTracker
from davserver.web.status import StatusPages
from davserver.web.wsgi import StartResponse, WSGIApp, auth_user, request_path, respond

READ_ONLY = ("GET", "HEAD")


def _method_not_allowed(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    return respond(
        environ,
        start_response,
        "405 Method Not Allowed",
        b"Only GET and HEAD.\n",
        headers=[("Allow", ", ".join(READ_ONLY))],
    )


_NOT_OPERATOR = (
    b"Only operators (a read grant on all homes) may see this page. To make a user one, add to"
    b" the server's config file (with the user's name) and restart it:\n"
    b'grants:\n  - {user: NAME, homes: ["*"], mode: read}\n'
)


class PublicEndpoints:
    """``/healthz`` always, ``/metrics`` for the anonymous networks; the rest goes to ``app``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        health_check: HealthCheck,
        registry: CollectorRegistry,
        metrics_enabled: bool,
        anonymous_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    ) -> None:
        self.app = app
        self.health_check = health_check
        self.registry = registry
        self.metrics_enabled = metrics_enabled
        self.anonymous_networks = anonymous_networks

    def _anonymous_allowed(self, addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr or "")
        except ValueError:
            return False
        return any(ip in net for net in self.anonymous_networks)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path == health.PATH:
            if environ.get("REQUEST_METHOD") not in READ_ONLY:
                return _method_not_allowed(environ, start_response)
            return self.health_check.serve(environ, start_response)
        if (
            path == metrics.PATH
            and self.metrics_enabled
            and environ.get("REQUEST_METHOD") in READ_ONLY
            and self._anonymous_allowed(environ.get("REMOTE_ADDR"))
        ):
            return metrics.serve_metrics(self.registry, environ, start_response)
        return self.app(environ, start_response)


class OperatorPages:
    """``/status``, ``/status/<user>`` and ``/metrics`` behind authentication, for operators."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        context: ServerContext,
        pages: StatusPages,
        registry: CollectorRegistry,
        metrics_enabled: bool,
    ) -> None:
        self.app = app
        self.context = context
        self.pages = pages
        self.registry = registry
        self.metrics_enabled = metrics_enabled

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        path = request_path(environ)
        is_status = path in (status.PATH, status.PATH + "/") or path.startswith(status.PATH + "/")
        is_metrics = path == metrics.PATH and self.metrics_enabled
        if not (is_status or is_metrics):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in READ_ONLY:
            return _method_not_allowed(environ, start_response)
        user = auth_user(environ)
        if user is None or not self.context.policy.can_read_all(user):
            return respond(environ, start_response, "403 Forbidden", _NOT_OPERATOR)
        if is_metrics:
            return metrics.serve_metrics(self.registry, environ, start_response)
        return self.pages.serve(environ, start_response, path[len(status.PATH) :].strip("/"))


class WebFront:
    """The web surfaces of a server over ``context`` (see the module docstring)."""

    def __init__(self, context: ServerContext) -> None:
        settings = context.settings
        self.context = context
        self.refusals = RefusalTracker()
        self.registry, self.request_metrics = metrics.new_registry(context)
        self.health_check = HealthCheck(
            settings.files_dir,
            settings.state_path,
            settings.state_target,
            objects_probe(settings),
        )
        self.pages = StatusPages(context, self.refusals)
        observers: list[Observer] = [AuthFailureLogger(), self.refusals, self.request_metrics]
        if settings.log.access:
            observers.insert(0, AccessLogger(settings.log.format))
        self.observers = observers

    def watch(self, app: WSGIApp) -> WSGIApp:
        """``app`` wrapped in the request watch (outermost layer)."""
        return RequestWatch(app, self.observers)

    def public(self, app: WSGIApp) -> WSGIApp:
        """``app`` (WsgiDAV) behind the endpoints that need no login."""
        cfg = self.context.settings.metrics
        return PublicEndpoints(
            app,
            health_check=self.health_check,
            registry=self.registry,
            metrics_enabled=cfg.enabled,
            anonymous_networks=parse_networks(cfg.anonymous_networks),
        )

    def operator_pages(self, app: WSGIApp) -> WSGIApp:
        """``app`` behind the operator pages (mounted after authentication)."""
        return OperatorPages(
            app,
            context=self.context,
            pages=self.pages,
            registry=self.registry,
            metrics_enabled=self.context.settings.metrics.enabled,
        )
