"""The davserver command line: users, config checking, version, the systemd unit and the
server extra."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import trustme

from davserver.systemd_unit import HARDENING

pytestmark = pytest.mark.integration


REPO = Path(__file__).resolve().parents[2]


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "davserver.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    good.write_text(f"port: {free_port()}\nauth: {{digest: true}}\n", encoding="utf-8")
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


def test_check_config_checks_what_serve_would(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("root: data\ntls: {cert: cert.pem, key: missing.pem}\n", encoding="utf-8")
    r = cli("check-config", str(cfg))
    assert r.returncode == 2 and str(tmp_path / "missing.pem") in r.stderr, r.stderr
    cfg.write_text("root: data\ntls: {cert: cert.pem, key: other.pem}\n", encoding="utf-8")
    r = cli("check-config", str(cfg))
    assert r.returncode == 2 and "does not match" in r.stderr and "other.pem" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg.write_text(
            f"root: data\nport: {port}\ntls: {{cert: cert.pem, key: key.pem}}\n",
            encoding="utf-8",
        )
        r = cli("check-config", str(cfg))
        assert r.returncode == 2 and f"port {port}" in r.stderr and "in use" in r.stderr
        r = cli("check-config", str(cfg), "--skip-port-check")
        assert r.returncode == 0, r.stderr
        assert "TLS certificate and key match" in r.stdout
    # the flags of serve are checked too
    r = cli(
        "check-config",
        "--root",
        str(tmp_path / "d"),
        "--port",
        "0",
        "--tls-cert",
        "x.pem",
        "--tls-key",
        str(tmp_path / "key.pem"),
    )
    assert r.returncode == 2 and "x.pem" in r.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "d").exists()  # created nothing


def test_version() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    expected = pyproject["project"]["version"]
    assert version("davsync") == expected  # the installed metadata is the pyproject's
    for args in (["--version"], ["version"]):
        r = cli(*args)
        assert r.returncode == 0 and r.stdout.strip() == f"davserver {expected}", r


def test_without_server_extra_one_line_and_exit_1(tmp_path: Path) -> None:
    """A client-only install lacks the server libraries: simulated by making them
    unimportable in a real davserver process (test_client_install.py installs a wheel)."""
    code = (
        "import sys\n"
        "for name in ('wsgidav', 'cheroot'): sys.modules[name] = None\n"
        "from davserver.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    for args in (["serve", "--root", str(tmp_path / "r")], ["user", "list"], []):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 1, r
        assert r.stderr.count("\n") == 1 and "install davsync[server]" in r.stderr
        assert "wsgidav, cheroot" in r.stderr
    r = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("davserver ")
    assert not (tmp_path / "r").exists()


def parse_unit(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> values (a key may repeat), as systemd reads a unit file."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


def fake_systemctl(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A ``systemctl`` first on PATH that only records its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bindir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n', encoding="utf-8")
    script.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, log


def test_service_install_systemd_unit(tmp_path: Path) -> None:
    env, log = fake_systemctl(tmp_path)
    cfg = tmp_path / "davsync.yaml"
    data = tmp_path / "srv-data"
    cfg.write_text(f"root: {data}\nport: 443\n", encoding="utf-8")
    unit_file = tmp_path / "davserver.service"
    r = cli(
        "service", "install", "--systemd", "--config", str(cfg), "--output", str(unit_file), env=env
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {unit_file}" in r.stdout and "as user davsync" in r.stdout
    assert "systemctl daemon-reload && systemctl enable --now davserver.service" in r.stdout
    assert not log.exists()  # nothing run without --enable/--now
    unit = parse_unit(unit_file.read_text(encoding="utf-8"))
    assert unit["Service.User"] == ["davsync"] and unit["Service.Group"] == ["davsync"]
    exec_start = unit["Service.ExecStart"][0].split()
    assert exec_start[-3:] == ["serve", "--config", str(cfg)]
    assert Path(exec_start[0]).is_absolute()
    assert unit["Service.StateDirectory"] == ["davsync"]
    assert unit["Service.ReadWritePaths"] == [str(data)]
    for option in HARDENING:
        key, _, value = option.partition("=")
        assert unit[f"Service.{key}"] == [value]
    assert unit["Service.ProtectSystem"] == ["strict"] and unit["Service.NoNewPrivileges"] == [
        "yes"
    ]
    assert unit["Service.AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]  # port 443
    assert unit["Install.WantedBy"] == ["multi-user.target"]
    assert "Service.Environment" not in unit  # no secrets in the unit
    verify_unit(unit_file)

    r = cli(
        "service",
        "install",
        "--systemd",
        "--config",
        str(cfg),
        "--output",
        str(unit_file),
        "--now",
        env=env,
    )
    assert r.returncode == 0 and f"replaced {unit_file}" in r.stdout
    assert log.read_text(encoding="utf-8").splitlines() == [
        "daemon-reload",
        "enable --now davserver.service",
    ]
    r = cli("service", "uninstall", "--systemd", "--output", str(unit_file), env=env)
    assert r.returncode == 0 and f"removed {unit_file}" in r.stdout
    assert not unit_file.exists() and len(log.read_text(encoding="utf-8").splitlines()) == 2
    r = cli("service", "uninstall", "--systemd", "--output", str(unit_file), env=env)
    assert r.returncode == 0 and "nothing removed" in r.stdout


def test_service_install_default_root_prints_unit() -> None:
    r = cli("service", "install", "--systemd", "--output", "-")
    assert r.returncode == 0, r.stderr
    unit = parse_unit(r.stdout)
    assert unit["Service.ExecStart"][0].endswith("serve --root /var/lib/davsync")
    assert "Service.ReadWritePaths" not in unit  # StateDirectory= covers /var/lib/davsync
    assert unit["Service.CapabilityBoundingSet"] == [""]  # port 8080: no capability


def verify_unit(unit_file: Path) -> None:
    """``systemd-analyze verify`` when systemd's tools are installed."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    r = subprocess.run(
        [analyze, "verify", str(unit_file)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in r.stderr.splitlines()
        if unit_file.name in line and "is not executable" not in line
    ]
    assert not problems, r.stderr


def test_service_install_program_under_home_is_not_hidden(tmp_path: Path) -> None:
    """A program or data folder below /home stays reachable (ProtectHome=read-only, the data
    folder in ReadWritePaths=) and the command warns that the account may not read it."""
    cfg = tmp_path / "davsync.yaml"
    cfg.write_text("root: /home/ops/davsync-data\n", encoding="utf-8")
    r = cli("service", "install", "--systemd", "--config", str(cfg), "--output", "-")
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "/opt/davsync" in r.stderr
    unit = parse_unit(r.stdout)
    assert unit["Service.ProtectHome"] == ["read-only"]
    assert unit["Service.ReadWritePaths"] == ["/home/ops/davsync-data"]
