"""The cheroot server around the WSGI app: threads, timeouts, header limits, TLS.

Idle and slow connections cost file descriptors rather than workers, so the soft limit on
open files is raised to the hard one (at most ``MAX_OPEN_FILES``): a flood of connections
then meets the per-address cap before it meets ``EMFILE``.
"""

from __future__ import annotations

import contextlib
import resource
from typing import Any

from cheroot import wsgi

from davserver.cheroot_guard import DeferredHandshakeAdapter, harden
from davserver.dav.reasons import install_reason_phrases, quiet_expected_outcomes
from davserver.sendfile_gateway import SendfileGateway
from davserver.settings import Settings

MAX_OPEN_FILES = 65536


def raise_open_files_limit(most: int = MAX_OPEN_FILES) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards the hard limit (never above ``most``, never
    lowering it); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = most if hard == resource.RLIM_INFINITY else min(hard, most)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_server(settings: Settings, app: Any) -> wsgi.Server:
    """A cheroot server bound to settings.host/port (not started; call prepare()/serve())."""
    install_reason_phrases()
    quiet_expected_outcomes()
    raise_open_files_limit()
    server = wsgi.Server(
        (settings.host, settings.port),
        app,
        numthreads=settings.server.threads,
        timeout=settings.server.timeout_s,
        server_name="davsync",
    )
    server.gateway = SendfileGateway  # whole-file GETs over plain HTTP use sendfile
    server.max_request_header_size = settings.server.max_request_header_bytes
    harden(
        server,
        max_headers=settings.server.max_request_headers,
        header_timeout_s=settings.server.header_timeout_s,
        listen_backlog=settings.server.listen_backlog,
        max_connections_per_address=settings.server.max_connections_per_address,
        linger_s=settings.server.linger_s,
        trusted_proxies=settings.server.trusted_proxies,
    )
    if settings.tls.enabled:
        assert settings.tls.cert is not None and settings.tls.key is not None
        server.ssl_adapter = DeferredHandshakeAdapter(str(settings.tls.cert), str(settings.tls.key))
    return server
