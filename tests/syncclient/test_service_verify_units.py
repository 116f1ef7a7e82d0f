"""Pure parts of verify, pause and service install."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from syncclient import cli, service
from syncclient.config import load_config
from syncclient.model import RemoteFile
from syncclient.pause import flag_path, pause, paused, resume
from syncclient.verify import Recorded, Status, local_status, server_status

pytestmark = pytest.mark.unit

REC = Recorded("a.txt", 3, "a" * 64, "b" * 40)


def test_server_status() -> None:
    assert server_status(REC, None) == (Status.MISSING, "not on the server any more", "")
    assert server_status(REC, RemoteFile("a.txt", 3, sha256="A" * 64))[0] is Status.OK
    assert server_status(REC, RemoteFile("a.txt", 3, sha256="c" * 64))[0] is Status.MISMATCH
    assert server_status(REC, RemoteFile("a.txt", 4, sha256="a" * 64))[:1] == (Status.MISMATCH,)
    assert server_status(REC, RemoteFile("a.txt", 3, sha1="b" * 40)) == (Status.OK, "", "sha1")
    assert server_status(REC, RemoteFile("a.txt", 3, md5="x" * 32)) is None


def test_local_status() -> None:
    assert local_status(REC, None) == (Status.OK, "")
    assert local_status(REC, "a" * 64) == (Status.OK, "")
    assert local_status(REC, "f" * 64)[0] is Status.MISMATCH


def test_pause_flag_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None, {("state_dir",): tmp_path / "st"})
    assert paused(cfg) is None and resume(cfg) is False
    first = pause(cfg, "backup window", now=100.0)
    assert first == {"since": 100.0, "reason": "backup window"}
    assert pause(cfg, now=200.0) == first  # pausing again keeps since and reason
    assert paused(cfg) == first and flag_path(cfg) == tmp_path / "st" / "paused"
    assert resume(cfg) is True and paused(cfg) is None


CMD = ["/opt/davsync/bin/syncclient", "daemon", "--config", "/etc/syncclient/site 1.toml"]


def _parse(unit: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(unit)
    return cp


def test_systemd_unit_text() -> None:
    unit = _parse(service.systemd_unit(CMD, user=False))
    s = unit["Service"]
    assert s["ExecStart"] == (
        '/opt/davsync/bin/syncclient daemon --config "/etc/syncclient/site 1.toml"'
    )
    assert s["Nice"] == "10" and s["IOSchedulingClass"] == "idle"
    assert s["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Unit"]["After"] == "network-online.target"
    assert _parse(service.systemd_unit(CMD, user=True))["Install"]["WantedBy"] == ("default.target")
    for key in s:
        assert "password" not in key.lower() and "Environment" not in key


def test_systemd_quoting_escapes_specials() -> None:
    unit = service.systemd_unit(["/x/sync client", "--config", '/a/50%"$x.toml'], user=True)
    assert 'ExecStart="/x/sync client" --config "/a/50%%\\"$$x.toml"' in unit


def test_sc_create_line() -> None:
    text = service.sc_create(
        [
            r"C:\Program Files\davsync\syncclient.exe",
            "daemon",
            "--config",
            r"C:\ProgramData\syncclient\config.toml",
        ]
    )
    first = text.splitlines()[0]
    assert first.startswith("sc.exe create syncclient binPath= ")
    assert r"\"C:\Program Files\davsync\syncclient.exe\" daemon --config" in first
    assert "start= delayed-auto" in first
    assert "restart/60000" in text


def _config(tmp_path: Path, with_pw: bool = True) -> Path:
    cfg = tmp_path / "client.toml"
    server = '[server]\nurl = "https://dav.example.org/x/"\nuser = "site1"\n'
    cfg.write_text(server + ('password_file = "pw.txt"\n' if with_pw else ""), encoding="utf-8")
    return cfg


def test_service_install_prints_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    code = cli.main(
        ["service", "install", "--systemd", "--user", "--config", str(cfg), "--output", "-"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    unit = _parse(out)
    assert unit["Service"]["ExecStart"].endswith(f"daemon --config {cfg}")
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "pw.txt" not in out


def test_service_install_writes_file_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, with_pw=False)
    dest = tmp_path / "units" / "syncclient.service"
    args = ["service", "install", "--systemd", "--config", str(cfg), "--output", str(dest)]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "names no server.password_file" in err
    assert "sudo systemctl enable --now syncclient.service" in out
    assert "Nice=10" in dest.read_text(encoding="utf-8")
    assert cli.main(args) == 1  # exists: refuses without --force
    capsys.readouterr()
    assert cli.main([*args, "--force"]) == 0


def test_service_install_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    assert cli.main(["service", "install", "--windows", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sc.exe create syncclient binPath= ")
    assert f"daemon --config {cfg}" in out and "not executed" in out
