"""Fixtures for tests that need a real S3 object store: a throwaway single-node Ceph radosgw.

``ceph`` (session scope) starts the cluster once (``interop.ceph.start_ceph``) and stops it at
the end; a missing Ceph skips the test on a developer machine and fails it under CI=true
(``interop.tools.require``). ``s3_target`` (per test) is a fresh bucket prefix on it, so tests
never see each other's objects; ``s3_server`` (per test) a real ``davserver serve`` storing
on it. Tests using them are marked ``s3``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from interop.ceph import CephCluster, start_ceph
from interop.tools import require
from tests.support.server import DavServer, add_user

BUCKET = "davsync-tests"


@dataclass(frozen=True)
class S3Target:
    """Where a test may store objects: ``url`` is ``s3://bucket/prefix``."""

    cluster: CephCluster
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        """The ``storage:`` URL of this target."""
        return f"s3://{self.bucket}/{self.prefix}"


@pytest.fixture(scope="session")
def ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """A running single-node Ceph cluster with radosgw and an S3 user, for the session."""
    work: Path = tmp_path_factory.mktemp("ceph")
    cluster = require(lambda: start_ceph(work))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def s3_target(ceph: CephCluster) -> S3Target:
    """A fresh prefix in the test bucket on ``ceph`` (radosgw running again if a test had
    stopped it)."""
    if "rgw" not in ceph.procs or ceph.procs["rgw"].poll() is not None:
        ceph.start_rgw()
    return S3Target(ceph, BUCKET, "t-" + secrets.token_hex(6))


def s3_config(target: S3Target, credentials: Path) -> str:
    """The ``storage:`` and ``s3:`` settings of a server storing on ``target`` (the keys go
    to the INI file ``credentials``)."""
    cluster = target.cluster
    credentials.write_text(
        "[default]\n"
        f"aws_access_key_id = {cluster.access_key}\n"
        f"aws_secret_access_key = {cluster.secret_key}\n",
        encoding="utf-8",
    )
    return (
        f"storage: {target.url}\n"
        "s3:\n"
        f"  endpoint: {cluster.endpoint}\n"
        f"  region: {cluster.region}\n"
        f"  credentials_file: {credentials}\n"
    )


@pytest.fixture()
def s3_server(tmp_path: Path, s3_target: S3Target) -> Iterator[DavServer]:
    """A real ``davserver serve`` storing on ``s3_target`` (users alice, bob and oper with
    the passwords of tests.conftest.PASSWORDS); stopped after the test."""
    from tests.conftest import CONFIG, PASSWORDS

    root = tmp_path / "root"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG + s3_config(s3_target, tmp_path / "s3-credentials"), "utf-8")
    for name, password in PASSWORDS.items():
        add_user(root, name, password, config=config)
    server = DavServer(root, ["--config", str(config)]).start()
    try:
        yield server
    finally:
        server.stop()
