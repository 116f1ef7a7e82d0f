"""litmus (the neon WebDAV conformance suite): each of the five groups over plain HTTP with
Digest and over HTTPS with Basic (a server with Digest turned off, so litmus answers a Basic
challenge). Every test of every group must pass, with no warnings."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from interop.tools import require_tool
from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop, pytest.mark.slow]

GROUPS = ("basic", "copymove", "props", "locks", "http")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def _litmus_binary() -> str:
    return require_tool("litmus")


def run_litmus(
    url: str, user: str, password: str, groups: tuple[str, ...] = GROUPS
) -> tuple[str, dict[str, tuple[int, int]]]:
    """Run ``groups``; return the output and {group: (run, passed)}."""
    env = {**os.environ, "TESTS": " ".join(groups)}
    proc = subprocess.run(
        [_litmus_binary(), url, user, password],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    out = proc.stdout + proc.stderr
    results = {m[1]: (int(m[2]), int(m[3])) for m in SUMMARY.finditer(out)}
    return out, results


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_litmus(endpoint: Endpoint, group: str) -> None:
    # each group in its own folder so that groups never see each other's leftovers
    url = endpoint.files_url(f"litmus-{endpoint.name}-{group}/")
    with endpoint.client() as client:
        client.request("DELETE", url)
        assert client.request("MKCOL", url).status_code == 201
    out, results = run_litmus(url, endpoint.user, endpoint.password, (group,))
    assert set(results) == {group}, out
    run, passed = results[group]
    assert run > 0 and run == passed, out
    assert "WARNING" not in out, out
    # litmus itself skips one test over TLS: expect100 ("skipping for SSL server")
    skipped = [line for line in out.splitlines() if "SKIPPED" in line]
    allowed = "expect100" if endpoint.scheme == "basic" else None
    assert all(allowed and allowed in line and "SSL" in line for line in skipped), out
