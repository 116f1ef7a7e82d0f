"""A site PC installs the client only: ``pip install davsync`` (a wheel built from this tree,
in a fresh venv) brings the sync client and ``davsync-inventory``, none of the server's
libraries, and a ``davserver`` that says which extra to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "davserver", "providers", "syncclient", "davtools")
SERVER_ONLY = (
    "wsgidav",
    "cheroot",
    "lxml",
    "argon2",
    "jinja2",
    "prometheus_client",
    "pyftpdlib",
    "aiosmtpd",
)


def _run(*cmd: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False
    )


def _needs_index(proc: subprocess.CompletedProcess[str], what: str) -> None:
    """Fail, or skip on a developer machine without a package index."""
    if proc.returncode == 0:
        return
    message = f"{what} failed (needs the package index):\n{proc.stdout}\n{proc.stderr}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message[-2000:])


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the davsync wheel installed without extras; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("client-install")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, src / name)
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", src)
    _needs_index(built, "building the wheel")
    (wheel,) = (tmp / "dist").glob("davsync-*.whl")
    venv = tmp / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel)
    _needs_index(installed, "pip install davsync (no extras)")
    return venv / "bin"


def test_client_only_install_has_no_server_libraries(client_venv: Path) -> None:
    for module in SERVER_ONLY:
        probe = _run(client_venv / "python", "-c", f"import {module}")
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, module


def test_client_only_install_runs_the_client(client_venv: Path) -> None:
    client = _run(client_venv / "syncclient", "--help", timeout=60)
    assert client.returncode == 0 and "syncclient" in client.stdout, client.stderr
    version = _run(client_venv / "syncclient", "--version", timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("syncclient "), version
    inventory = _run(client_venv / "davsync-inventory", "--help", timeout=60)
    assert inventory.returncode == 0 and "WebDAV" in inventory.stdout, inventory.stderr


def test_client_only_davserver_names_the_extra(client_venv: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    serve = _run(client_venv / "davserver", "serve", "--root", root, timeout=60)
    assert serve.returncode == 1
    assert serve.stderr.count("\n") == 1 and "install davsync[server]" in serve.stderr
    assert "Traceback" not in serve.stderr and not root.exists()
    version = _run(client_venv / "davserver", "--version", timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("davserver ")
