"""Fixtures of the scale-out suite: one cluster (two davserver nodes over a shared backend,
nginx with TLS in front) for the whole suite. A test that kills a node restarts it before it
ends (``cluster_up`` checks every node is up before handing the cluster out).

The backend is chosen by ``DAVSYNC_SCALEOUT_BACKEND``: ``engines`` (the default: state in
PostgreSQL, file bytes on Ceph radosgw, the session's ``postgres`` and ``ceph`` engines of
tests/conftest.py, so a full run starts each engine once) or ``local`` (one shared local
folder + SQLite, as several nodes on one machine).
"""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from interop.accounts import basic_client
from interop.cluster import ENGINES, Backend, Cluster, backend_for, engines_settings, start_cluster
from interop.tools import require
from tests.conftest import PASSWORDS
from tests.support.ceph import BUCKET
from tests.support.postgres import fresh_database

USER = "alice"
# The LOCK race sends 200 requests of one user at once: enough workers per node, and a per-user
# concurrency cap above that (the default, all workers but two, would answer some with 429).
SETTINGS = {"server": {"threads": 48}, "limits": {"max_requests_per_user": 256}}


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA
) -> Iterator[Cluster]:
    """Two nodes behind the TLS load balancer, user ``alice`` created."""
    work = tmp_path_factory.mktemp("scaleout")
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = work / "lb-cert.pem", work / "lb-key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    kind = os.environ.get("DAVSYNC_SCALEOUT_BACKEND", "engines")
    if kind == "engines":
        ceph = request.getfixturevalue("ceph")
        state = fresh_database(request.getfixturevalue("postgres"))
        storage = f"s3://{BUCKET}/scaleout-{secrets.token_hex(4)}"
        settings = engines_settings(state, ceph, storage, work / "s3-credentials")
        backend = Backend(ENGINES, work / "root", settings)
    else:
        backend = require(lambda: backend_for(kind, work / "backend"))
    started = require(
        lambda: start_cluster(work / "cluster", backend, cert_file, key_file, settings=SETTINGS)
    )
    try:
        started.add_user(USER, PASSWORDS[USER])
        yield started
    finally:
        started.stop()
        backend.stop()


@pytest.fixture()
def cluster_up(request: pytest.FixtureRequest, cluster: Cluster) -> Cluster:
    """The cluster, with every node (and radosgw, if a test of the object store stopped it)
    running."""
    if cluster.backend.name == ENGINES:
        ceph = request.getfixturevalue("ceph")
        if "rgw" not in ceph.procs or ceph.procs["rgw"].poll() is not None:
            ceph.start_rgw()
    for node in cluster.nodes:
        if not node.alive():
            node.start()
    return cluster


def lb_client(ca_file: Path) -> httpx.Client:
    """alice through the load balancer (Basic over TLS)."""
    return basic_client(USER, verify=str(ca_file), timeout=120.0)


_PLAIN_HTTP_CONTEXT = ssl.create_default_context()  # unused on http://; shared, as it is costly


def node_client() -> httpx.Client:
    """alice straight to a node (plain HTTP, so Digest; nonces live in the shared state)."""
    return httpx.Client(
        auth=httpx.DigestAuth(USER, PASSWORDS[USER]), timeout=120.0, verify=_PLAIN_HTTP_CONTEXT
    )
