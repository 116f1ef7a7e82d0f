"""Stock WebDAV servers on loopback ports: WsgiDAV 4.4 (``wsgidav`` console script, a
``FilesystemProvider`` over a folder) and nginx with ``ngx_http_dav_module`` plus the
``dav-ext`` module (PROPFIND, OPTIONS). They exist so the bundled sync client can be tested
against servers that have none of davsync's extensions.

Both serve one share at ``/dav/`` for one user (``StockServer.user`` / ``.password``):
WsgiDAV with Basic and Digest (Digest challenge), nginx with Basic only (nginx has no Digest).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from interop.nginx import nginx_conf
from interop.processes import terminate
from interop.tools import find_file, find_tool, free_port, venv_tool, wait_for_port

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
NGINX_DAV_EXT = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")


@dataclass
class StockServer:
    """A running stock server. ``url`` is the share URL and ends with ``/``."""

    name: str
    root: Path
    user: str
    password: str
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    auth_schemes: tuple[str, ...] = field(default_factory=tuple)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        terminate(self.proc)

    def log_text(self) -> str:
        """The server's log output so far (for failure messages)."""
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")[-20_000:]


def _launch(server: StockServer, cmd: list[str], port: int, cwd: Path) -> StockServer:
    assert server.log is not None
    with server.log.open("wb") as sink:
        server.proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd)
    if not wait_for_port(HOST, port, STARTUP_TIMEOUT_S) or server.proc.poll() is not None:
        server.stop()
        raise RuntimeError(f"{server.name} did not start:\n{server.log_text()}")
    return server


def start_stock_wsgidav(work: Path, user: str, password: str) -> StockServer:
    """Stock WsgiDAV 4.4 serving ``work/share`` at ``/dav/`` (locks and dead properties in
    memory, ``honor_mtime_header`` on, as its sample configuration suggests)."""
    binary = venv_tool("wsgidav")
    root = work / "share"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    config = {
        "host": HOST,
        "port": port,
        "provider_mapping": {"/dav": str(root)},
        "http_authenticator": {
            "accept_basic": True,
            "accept_digest": True,
            "default_to_digest": True,
        },
        "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
        "lock_storage": True,
        "property_manager": True,
        "honor_mtime_header": True,
        "verbose": 2,
        "logging": {"enable_loggers": []},
    }
    config_file = work / "wsgidav.json"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    server = StockServer("stock WsgiDAV", root, user, password, log=work / "wsgidav.log")
    server.url = f"http://{HOST}:{port}/dav/"
    server.auth_schemes = ("digest", "basic")
    return _launch(server, [binary, "--config", str(config_file)], port, work)


def _htpasswd_line(user: str, password: str) -> str:
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}\n"


NGINX_CONF = """\
    server {{
        listen {host}:{port};
        server_name localhost;
        location /dav/ {{
            root {work}/www;
            auth_basic "davsync-interop";
            auth_basic_user_file {work}/htpasswd;
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            dav_access user:rw group:r all:r;
            create_full_put_path on;
            autoindex on;
        }}
    }}
"""


def start_nginx_dav(work: Path, user: str, password: str) -> StockServer:
    """nginx (Debian) with its DAV module and the dav-ext module serving ``/dav/``.

    Runs in the foreground as a single process (``master_process off``), so it writes the
    share as the user running the tests. Raises UnavailableError if nginx or the module is missing.
    """
    binary = find_tool("nginx")
    find_file(NGINX_DAV_EXT, "libnginx-mod-http-dav-ext")
    port = free_port(HOST)
    root = work / "www" / "dav"
    root.mkdir(parents=True, exist_ok=True)
    (work / "htpasswd").write_text(_htpasswd_line(user, password), encoding="utf-8")
    os.chmod(work / "htpasswd", 0o600)
    conf = work / "nginx.conf"
    conf.write_text(
        nginx_conf(
            work,
            NGINX_CONF.format(work=work, host=HOST, port=port),
            head=f"load_module {NGINX_DAV_EXT};",
        ),
        encoding="utf-8",
    )
    server = StockServer("nginx DAV", root, user, password, log=work / "nginx.out")
    server.url = f"http://{HOST}:{port}/dav/"
    server.auth_schemes = ("basic",)
    return _launch(server, [binary, "-c", str(conf), "-p", str(work)], port, work)
