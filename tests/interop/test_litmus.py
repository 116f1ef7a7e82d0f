"""litmus (the neon WebDAV conformance suite), all five groups, over HTTP and HTTPS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import PASSWORDS
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop, pytest.mark.slow]

GROUPS = ("basic", "copymove", "props", "locks", "http")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def _litmus_binary() -> str:
    path = shutil.which("litmus")
    if path is None:
        pytest.skip("litmus is not installed (make tools installs it from Debian as root)")
    return path


def run_litmus(url: str, user: str, password: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """Run every group; return the output and {group: (run, passed)}."""
    env = {**os.environ, "TESTS": " ".join(GROUPS)}
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


def _assert_all_passed(out: str, results: dict[str, tuple[int, int]]) -> None:
    assert set(results) == set(GROUPS), out
    failed = {g: r for g, r in results.items() if r[0] != r[1]}
    assert not failed, out
    assert "WARNING" not in out, out


def test_litmus_http_digest(server: DavServer) -> None:
    out, results = run_litmus(server.files_url("alice"), "alice", PASSWORDS["alice"])
    _assert_all_passed(out, results)


def test_litmus_https_basic(tls_server: DavServer) -> None:
    out, results = run_litmus(tls_server.files_url("alice"), "alice", PASSWORDS["alice"])
    _assert_all_passed(out, results)
