"""litmus (all five groups) against a real davserver whose storage is S3 on Ceph radosgw:
MOVE and COPY as namespace operations, ranged reads and locks/properties must look to a stock
WebDAV client exactly as on local files."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORDS, digest_client
from tests.interop.test_litmus import GROUPS, run_litmus
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.s3]


def test_litmus_on_s3(s3_server: DavServer) -> None:
    url = s3_server.files_url("alice", "litmus-s3/")
    with digest_client("alice") as client:
        assert client.request("MKCOL", url).status_code == 201
    out, results = run_litmus(url, "alice", PASSWORDS["alice"])
    assert set(results) == set(GROUPS), out
    for group, (run, passed) in results.items():
        assert run > 0 and run == passed, f"{group}: {passed}/{run}\n{out}"
    assert "WARNING" not in out, out
    total = sum(run for run, _ in results.values())
    print(f"litmus on S3: {sum(p for _, p in results.values())}/{total} passed")
