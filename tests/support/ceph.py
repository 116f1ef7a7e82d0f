"""Fixtures for tests that need a real S3 object store: a throwaway single-node Ceph radosgw.

``ceph`` (session scope) starts the cluster once (``interop.ceph.start_ceph``) and stops it at
the end; a missing Ceph skips the test on a developer machine and fails it under CI=true
(``interop.tools.require``). ``s3_target`` (per test) is a fresh bucket prefix on it, so tests
never see each other's objects. Tests using them are marked ``s3``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from interop.ceph import CephCluster, start_ceph
from interop.tools import require

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
