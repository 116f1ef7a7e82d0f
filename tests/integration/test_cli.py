"""The davserver command line: users and config checking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "davserver.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_user_add_list_remove(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    assert (
        cli("user", "add", "carol", "--password-stdin", "--root", root, stdin="pw\n").returncode
        == 0
    )
    again = cli("user", "add", "carol", "--password-stdin", "--root", root, stdin="pw\n")
    assert again.returncode == 1 and "carol" in again.stderr
    bad = cli("user", "add", "../evil", "--password-stdin", "--root", root, stdin="pw\n")
    assert bad.returncode == 1
    assert cli("user", "list", "--root", root).stdout.split() == ["carol"]
    assert (tmp_path / "root" / "files" / "carol").is_dir()
    assert cli("user", "remove", "carol", "--root", root).returncode == 0
    assert cli("user", "list", "--root", root).stdout.split() == []
    assert (tmp_path / "root" / "files" / "carol").is_dir()  # files are kept


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("port: 8443\nauth: {digest: true}\n", encoding="utf-8")
    assert cli("check-config", str(good)).returncode == 0
    assert cli("check-config", "--config", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: eighty\nauth: {digets: true}\n", encoding="utf-8")
    r = cli("check-config", str(bad))
    assert r.returncode == 2
    assert "port" in r.stderr and "auth.digets" in r.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("port: [\n", encoding="utf-8")
    r = cli("check-config", str(broken))
    assert r.returncode == 2 and "YAML" in r.stderr


def test_serve_refuses_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tls: {cert: only-cert.pem}\n", encoding="utf-8")
    r = cli("serve", "--config", str(cfg), "--root", str(tmp_path / "r"), "--port", "0")
    assert r.returncode == 2 and "tls" in r.stderr
