"""``/healthz`` turns 503 when the storage is read-only, for real: the server's root is
bind-mounted read-only over itself while the server runs (needs root and mount rights, as the
tmpfs of the disk-full test; skipped with the reason otherwise), and 200 again once the
mount is gone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configured import start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[DavServer]:
    srv = start_server(tmp_path, "reserve_bytes: 0\n", {"alice": "alice-pw"})
    yield srv
    srv.stop()


@pytest.fixture()
def make_read_only(server: DavServer) -> Iterator[Path]:
    """Bind-mounts the server's root read-only over itself; unmounted afterwards."""
    root = server.root
    done = _run("mount", "--bind", str(root), str(root))
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount: {done.stderr.strip() or done.returncode}")
    try:
        done = _run("mount", "-o", "remount,bind,ro", str(root))
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr.strip() or done.returncode}")
        yield root
    finally:
        _run("umount", "-l", str(root))


def test_healthz_is_503_on_read_only_storage_and_recovers(
    server: DavServer, make_read_only: Path
) -> None:
    r = httpx.get(server.url + "healthz", timeout=30)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "failing"
    assert body["checks"]["files"] == "EROFS" and body["checks"]["state"] == "EROFS"
    assert str(make_read_only) not in r.text  # no paths to anonymous callers
    assert _run("umount", "-l", str(make_read_only)).returncode == 0  # lazily: files are open
    r = httpx.get(server.url + "healthz", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"


def test_healthz_is_200_on_writable_storage(server: DavServer) -> None:
    r = httpx.get(server.url + "healthz", timeout=30)
    assert r.status_code == 200 and r.json()["checks"]["files"] == "ok"
