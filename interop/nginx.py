"""The nginx configuration every harness shares: one foreground process (no master, one
worker) whose pid file, logs and temporary folders all live in the harness's work folder, and
no body size limit. A harness adds its own ``server`` (and ``upstream``) blocks."""

from __future__ import annotations

from pathlib import Path

PREAMBLE = """\
daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections {connections}; }}
"""

HTTP_PREAMBLE = """\
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    client_max_body_size 0;
"""


def nginx_conf(work: Path, http_blocks: str, *, head: str = "", connections: int = 64) -> str:
    """A complete nginx.conf: ``head`` (e.g. ``load_module``), the shared preamble with
    ``connections`` worker connections, and ``http_blocks`` (already indented, formatted
    text) inside the ``http`` block after the shared http settings."""
    return (
        (head + "\n" if head else "")
        + PREAMBLE.format(work=work, connections=connections)
        + "http {\n"
        + HTTP_PREAMBLE.format(work=work)
        + http_blocks
        + "}\n"
    )
