"""litmus, all five groups in one run, through the TLS load balancer in front of two nodes:
every request may land on either node, so locks, dead properties and Digest nonces must live
in the shared state. Every test must pass with no warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.cluster import Cluster
from tests.conftest import PASSWORDS
from tests.interop.test_litmus import GROUPS, run_litmus
from tests.scaleout.conftest import USER, lb_client

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]


def test_litmus_in_full_through_the_load_balancer(
    cluster_up: Cluster, ca_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cluster_up.files_url(USER, "litmus-lb/")
    with lb_client(ca_file) as client:
        client.request("DELETE", url)
        assert client.request("MKCOL", url).status_code == 201
    out, results = run_litmus(url, USER, PASSWORDS[USER], GROUPS)
    assert set(results) == set(GROUPS), out
    run = sum(r for r, _ in results.values())
    passed = sum(p for _, p in results.values())
    assert run > 0 and passed == run, out
    assert "WARNING" not in out, out
    # litmus skips one test over TLS by itself: expect100 ("skipping for SSL server")
    skipped = [line for line in out.splitlines() if "SKIPPED" in line]
    assert all("expect100" in line and "SSL" in line for line in skipped), out
    served = [node.log_text().count("PROPFIND") for node in cluster_up.nodes]
    assert all(served), f"a node served no PROPFIND: {served}"
    with capsys.disabled():
        print(
            f"\nlitmus through the load balancer ({cluster_up.backend.name}): {passed}/{run} passed"
        )
