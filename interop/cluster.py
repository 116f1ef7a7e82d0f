"""Several ``davserver serve`` nodes on loopback ports behind one nginx load balancer.

The nodes share one *backend* (:class:`Backend`: the data folder and the settings that say
where state and file bytes live: shared local disk + SQLite today, PostgreSQL + S3 when those
settings are given). nginx terminates TLS and spreads requests round-robin over the nodes,
streaming request bodies (``proxy_request_buffering off``), with no body size limit, and
overwrites every ``X-Forwarded-*`` header; the nodes trust it through
``server.trusted_proxies``.

The site configuration nginx runs is :data:`LB_SITE` rendered by :func:`render_lb_site`; the
operator documentation (docs/SCALEOUT.md) shows the same template rendered with
:data:`DOC_EXAMPLE`, and a test keeps the two identical.

Every process is started by this module and stopped by PID (:meth:`Cluster.stop`); a node can
be killed (any signal, e.g. ``SIGKILL``) and restarted on the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from interop import accounts
from interop.nginx import nginx_conf
from interop.processes import terminate
from interop.stock import HOST, StockServer, _launch
from interop.tools import find_tool, free_port, wait_for_port

if TYPE_CHECKING:
    from interop.ceph import CephCluster

NODE_STARTUP_S = 60.0
LB_CONNECTIONS = 2048  # the LOCK race opens 200 client + 200 upstream connections at once

LB_SITE = """\
    upstream davsync_nodes {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {listen} ssl;
        server_name {server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        client_max_body_size 0;
        client_header_timeout 30s;
        location / {{
            proxy_pass http://davsync_nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port "";
            proxy_set_header Forwarded "";
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
"""

# The values docs/SCALEOUT.md renders LB_SITE with (two nodes on a private network).
DOC_EXAMPLE: dict[str, Any] = {
    "nodes": ["10.0.0.11:8080", "10.0.0.12:8080"],
    "listen": "443",
    "server_name": "dav.example.org",
    "cert": "/etc/ssl/davsync/fullchain.pem",
    "key": "/etc/ssl/davsync/privkey.pem",
}


def render_lb_site(nodes: list[str], listen: str, server_name: str, cert: str, key: str) -> str:
    """The ``upstream`` and ``server`` blocks of the load balancer: ``nodes`` are
    ``host:port`` of the davserver nodes, ``listen`` nginx's listen address, ``cert``/``key``
    the PEM files of its TLS certificate."""
    servers = "\n".join(f"        server {node} max_fails=1 fail_timeout=5s;" for node in nodes)
    return LB_SITE.format(
        servers=servers, listen=listen, server_name=server_name, cert=cert, key=key
    )


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Backend:
    """What every node shares: ``root`` (the data folder) and ``settings`` (YAML settings
    such as where state lives), plus ``env`` for the node processes. ``name`` says which
    engines it uses, for reports; ``stop`` stops the engines started for it (if any)."""

    name: str
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stop: Callable[[], None] = _nothing
    pids: dict[str, int] = field(default_factory=dict)  # engine processes, by name
    folders: tuple[Path, ...] = ()  # engine data outside ``root`` (removed by ``stop``)


def local_backend(root: Path) -> Backend:
    """Files on one shared local folder, state in its SQLite database (WAL)."""
    return Backend("local disk + SQLite", root)


def engines_settings(
    state_url: str, ceph: CephCluster, storage_url: str, credentials: Path
) -> dict[str, Any]:
    """Settings storing state in PostgreSQL at ``state_url`` and file bytes at ``storage_url``
    (``s3://bucket/prefix``) on ``ceph``; its keys are written to the INI file
    ``credentials`` (mode 0600)."""
    credentials.write_text(
        f"[default]\naws_access_key_id = {ceph.access_key}\n"
        f"aws_secret_access_key = {ceph.secret_key}\n",
        encoding="utf-8",
    )
    os.chmod(credentials, 0o600)
    return {
        "state": state_url,
        "storage": storage_url,
        "s3": {
            "endpoint": ceph.endpoint,
            "region": ceph.region,
            "credentials_file": str(credentials),
        },
    }


ENGINES = "PostgreSQL + S3 (Ceph radosgw)"


def engines_backend(work: Path, *, storage_url: str = "s3://davsync/scaleout") -> Backend:
    """State on a throwaway PostgreSQL (``interop.postgres``), file bytes on a throwaway
    single-node Ceph radosgw (``interop.ceph``); its ``stop`` stops both. Raises UnavailableError
    when an engine is not installed."""
    from interop.ceph import start_ceph
    from interop.postgres import postgres_cluster

    work.mkdir(parents=True, exist_ok=True)
    engines = contextlib.ExitStack()
    try:
        pg = engines.enter_context(postgres_cluster())  # a folder the postgres user can reach
        ceph = start_ceph(work / "ceph")
        engines.callback(ceph.stop)
        settings = engines_settings(pg.url, ceph, storage_url, work / "s3-credentials")
    except BaseException:
        engines.close()
        raise
    pids = {"postgres": pg.pid, **{f"ceph-{name}": p.pid for name, p in ceph.procs.items()}}
    return Backend(
        ENGINES, work / "root", settings, stop=engines.close, pids=pids, folders=(pg.folder,)
    )


BACKENDS = ("local", "engines")


def backend_for(kind: str, work: Path) -> Backend:
    """The backend named ``kind`` (one of :data:`BACKENDS`: ``local`` is shared local disk
    + SQLite, ``engines`` PostgreSQL + Ceph radosgw), its engines started under ``work``.
    Raises UnavailableError when an engine cannot run here, ValueError for an unknown name."""
    if kind == "local":
        return local_backend(work / "root")
    if kind == "engines":
        return engines_backend(work)
    raise ValueError(f"unknown scale-out backend {kind!r} (known: {', '.join(BACKENDS)})")


def node_settings(backend: Backend, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The backend's settings, with the sections of ``extra`` merged in (key by key) and the
    load balancer (loopback) added as a trusted proxy."""
    settings: dict[str, Any] = dict(backend.settings)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    server = dict(settings.get("server", {}))
    server["trusted_proxies"] = [*server.get("trusted_proxies", []), f"{HOST}/32"]
    settings["server"] = server
    return settings


def write_node_config(work: Path, backend: Backend, extra: dict[str, Any] | None = None) -> Path:
    """Write the nodes' YAML config (see ``node_settings``) into ``work``; returns its path."""
    config = work / "node.yaml"
    text = yaml.safe_dump(node_settings(backend, extra), sort_keys=True)
    config.write_text(text, encoding="utf-8")
    return config


def davserver_cli(*args: str) -> list[str]:
    """The command line of ``davserver ARGS`` with this Python."""
    return [sys.executable, "-m", "davserver.cli", *args]


def add_user(backend: Backend, config: Path, name: str, password: str) -> None:
    """Create user ``name`` in the shared state (RuntimeError with the output on failure)."""
    accounts.add_user(backend.root, name, password, config=config, env=backend.env)


@dataclass
class Node:
    """One ``davserver serve`` process on a fixed loopback port (kept across restarts)."""

    index: int
    port: int
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    detached: bool = False  # its own session, so it outlives the starting process

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return f"http://{HOST}:{self.port}/"

    @property
    def pid(self) -> int:
        """The PID of the running process."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Node:
        """Start the process and wait until it accepts connections (RuntimeError if not)."""
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=self.detached,
            )
        if not wait_for_port(HOST, self.port, NODE_STARTUP_S) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"node {self.index} did not start:\n{self.log_text()}")
        return self

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL, as a crash) and wait for the process to end."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def restart(self) -> Node:
        """Start a new process on the same port (after :meth:`kill` or :meth:`stop`)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        terminate(self.proc)

    def log_text(self) -> str:
        """The node's output so far (the last 20 000 characters)."""
        if not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")[-20_000:]


@dataclass
class Cluster:
    """Running nodes and the load balancer in front. ``url`` is the balancer's base URL."""

    backend: Backend
    config: Path
    nodes: list[Node]
    lb: StockServer

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT/`` of the load balancer."""
        return self.lb.url

    def files_url(self, user: str, path: str = "", base: str | None = None) -> str:
        """URL of ``path`` in ``user``'s home, through ``base`` (default: the balancer)."""
        return f"{base or self.url}remote.php/dav/files/{user}/{path}"

    def add_user(self, name: str, password: str) -> None:
        """Create a user in the shared state."""
        add_user(self.backend, self.config, name, password)

    def stop(self) -> None:
        """Stop the balancer and every node this cluster started."""
        self.lb.stop()
        for node in self.nodes:
            node.stop()


def start_nodes(
    work: Path,
    backend: Backend,
    count: int,
    *,
    settings: dict[str, Any] | None = None,
    detached: bool = False,
) -> tuple[Path, list[Node]]:
    """Write the node config (``settings`` merged over the backend's) and start ``count``
    nodes; returns (config, nodes). On failure the nodes already started are stopped."""
    work.mkdir(parents=True, exist_ok=True)
    config = write_node_config(work, backend, settings)
    env = {**os.environ, **backend.env}
    nodes: list[Node] = []
    try:
        for index in range(count):
            port = free_port(HOST)
            cmd = davserver_cli(
                "serve",
                "--root",
                str(backend.root),
                "--config",
                str(config),
                "--host",
                HOST,
                "--port",
                str(port),
            )
            log = work / f"node-{index}.log"
            nodes.append(Node(index, port, cmd, env, log, detached=detached).start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return config, nodes


def start_lb(
    work: Path, nodes: list[Node], cert: Path, key: str | Path, *, detached: bool = False
) -> StockServer:
    """nginx on a free loopback port with TLS (``cert``/``key``), round-robin over ``nodes``.
    Raises UnavailableError without nginx."""
    binary = find_tool("nginx", sbin=True)
    lb_work = work / "nginx"
    lb_work.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    site = render_lb_site(
        [f"{HOST}:{node.port}" for node in nodes],
        f"{HOST}:{port}",
        "localhost",
        str(cert),
        str(key),
    )
    conf = lb_work / "nginx.conf"
    conf.write_text(nginx_conf(lb_work, site, connections=LB_CONNECTIONS), encoding="utf-8")
    server = StockServer("nginx load balancer", lb_work, "", "", log=lb_work / "nginx.out")
    server.url = f"https://{HOST}:{port}/"
    cmd = [binary, "-c", str(conf), "-p", str(lb_work)]
    if detached:
        cmd = ["setsid", *cmd]
    return _launch(server, cmd, port, lb_work)


def start_cluster(
    work: Path,
    backend: Backend,
    cert: Path,
    key: Path,
    *,
    nodes: int = 2,
    settings: dict[str, Any] | None = None,
) -> Cluster:
    """``nodes`` davserver nodes over ``backend`` (``settings`` merged over its settings) and
    nginx in front with TLS (``cert`` and ``key``, PEM files). Everything started is stopped
    again if a later step fails."""
    config, started = start_nodes(work, backend, nodes, settings=settings)
    try:
        lb = start_lb(work, started, cert, key)
    except BaseException:
        for node in started:
            node.stop()
        raise
    return Cluster(backend, config, started, lb)
