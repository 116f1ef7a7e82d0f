"""nginx as a strict proxy in front of davserver: only GET, HEAD, POST and OPTIONS pass
(``limit_except ... { deny all; }``), so every WebDAV verb (PROPFIND, PUT, MKCOL, MOVE,
LOCK, ...) is answered 403 by the proxy, as in organisations whose web filter allows only
what browsers send. The form transport of the sync client must get through it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from interop.nginx import nginx_conf
from interop.stock import HOST, StockServer, _launch
from interop.tools import find_tool, free_port

ALLOWED = "GET POST HEAD OPTIONS"

PROXY_CONF = """\
    server {{
        listen {host}:{port};
        server_name localhost;
        location / {{
            limit_except {allowed} {{ deny all; }}
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
"""


def start_blocking_proxy(work: Path, upstream_url: str, allowed: str = ALLOWED) -> StockServer:
    """nginx on a free loopback port forwarding the methods ``allowed`` (default
    ``GET POST HEAD OPTIONS``) to ``upstream_url`` (``http://host:port/``) and refusing every
    other method with 403.
    ``url`` of the result is the proxy's base URL. Raises UnavailableError without nginx."""
    binary = find_tool("nginx", sbin=True)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    conf = work / "nginx.conf"
    conf.write_text(
        nginx_conf(
            work,
            PROXY_CONF.format(
                host=HOST, port=port, allowed=allowed, upstream=urlsplit(upstream_url).netloc
            ),
        ),
        encoding="utf-8",
    )
    server = StockServer("nginx verb-blocking proxy", work, "", "", log=work / "nginx.out")
    server.url = f"http://{HOST}:{port}/"
    return _launch(server, [binary, "-c", str(conf), "-p", str(work)], port, work)
