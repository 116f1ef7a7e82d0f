"""``/status.php`` and the OCS endpoints, served by one middleware.

Placed in WsgiDAV's middleware stack after ``ThrottleGate``/``HTTPAuthenticator`` and
``DavLimits``, so the OCS endpoints get exactly the authentication, login throttling and
per-user limits of WebDAV; ``/status.php`` is listed as an anonymous path in the
configuration (clients fetch it before they send credentials).

OCS envelope: ``{"ocs": {"meta": {...}, "data": ...}}`` as JSON when the query has
``format=json`` (or the client only accepts JSON), XML otherwise. v1 always answers HTTP 200
with ``statuscode`` 100; v2 mirrors the HTTP status (200).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from lxml import etree

from davserver.context import ServerContext
from davserver.dav.errors import translated
from davserver.http.environ import StartResponse, WSGIApp, authenticated_user
from davserver.nextcloud import payloads

STATUS_PATHS = ("/status.php",)
"""Paths of the unauthenticated status document (configured as anonymous paths)."""
_OCS_PREFIXES = {"/ocs/v1.php": 1, "/ocs/v2.php": 2}
_ENDPOINTS = ("/cloud/capabilities", "/cloud/user")


def _full_path(environ: dict[str, Any]) -> str:
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return path.rstrip("/") or "/"


def _wants_json(environ: dict[str, Any]) -> bool:
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    fmt = (query.get("format") or [""])[0].lower()
    if fmt:
        return fmt == "json"
    accept = str(environ.get("HTTP_ACCEPT", "")).lower()
    return "application/json" in accept and "xml" not in accept


def _xml_value(parent: Any, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_value(etree.SubElement(parent, str(key)), item)
    elif isinstance(value, list):
        for item in value:
            _xml_value(etree.SubElement(parent, "element"), item)
    elif isinstance(value, bool):
        parent.text = "1" if value else ""
    elif value is not None:
        parent.text = str(value)


def render(version: int, data: Any, *, as_json: bool) -> tuple[str, bytes]:
    """(content type, body) of a successful OCS response of API ``version`` (1 or 2)."""
    meta = {
        "status": "ok",
        "statuscode": 100 if version == 1 else 200,
        "message": "OK",
        "totalitems": "",
        "itemsperpage": "",
    }
    envelope = {"meta": meta, "data": data}
    if as_json:
        return "application/json; charset=utf-8", json.dumps({"ocs": envelope}).encode()
    root = etree.Element("ocs")
    _xml_value(root, envelope)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return "text/xml; charset=UTF-8", body


def _send(start_response: StartResponse, status: str, ctype: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class NextcloudEndpoints:
    """Serves ``GET /status.php`` and ``GET /ocs/v{1,2}.php/cloud/{capabilities,user}``;
    passes every other request on. Other methods on these paths get 405."""

    def __init__(self, next_app: WSGIApp, *, context: ServerContext) -> None:
        self.next_app = next_app
        self.ctx = context

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = _full_path(environ)
        if path in STATUS_PATHS:
            return self._only_get(environ, start_response, self._status)
        api, _, endpoint = path.partition(".php")
        version = _OCS_PREFIXES.get(api + ".php")
        if version is not None and endpoint in _ENDPOINTS:

            def serve(env: dict[str, Any], sr: StartResponse) -> list[bytes]:
                return self._ocs(env, sr, version, endpoint)

            return self._only_get(environ, start_response, serve)
        return self.next_app(environ, start_response)

    @staticmethod
    def _only_get(
        environ: dict[str, Any],
        start_response: StartResponse,
        handler: Callable[[dict[str, Any], StartResponse], list[bytes]],
    ) -> list[bytes]:
        if environ["REQUEST_METHOD"].upper() not in ("GET", "HEAD"):
            start_response(
                "405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")]
            )
            return [b""]
        body = handler(environ, start_response)
        return [b""] if environ["REQUEST_METHOD"].upper() == "HEAD" else body

    @staticmethod
    def _status(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        body = json.dumps(payloads.status()).encode()
        return _send(start_response, "200 OK", "application/json; charset=utf-8", body)

    def _ocs(
        self, environ: dict[str, Any], start_response: StartResponse, version: int, endpoint: str
    ) -> list[bytes]:
        if endpoint == "/cloud/capabilities":
            data = payloads.capabilities()
        else:
            user = authenticated_user(environ)
            with translated():
                data = payloads.user(self.ctx, user)
        ctype, body = render(version, data, as_json=_wants_json(environ))
        return _send(start_response, "200 OK", ctype, body)
