"""``syncclient service install|uninstall`` at its seams: the systemd unit and the Windows
Task Scheduler definition are parsed back and checked, the schtasks/systemctl command lines
are checked as built, and the CLI is driven with ``--output``/``--dry-run`` (nothing is
registered on this machine)."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from syncclient import cli, service

pytestmark = pytest.mark.unit

CMD = ["/opt/davsync/bin/syncclient", "daemon", "--config", "/etc/syncclient/site 1.toml"]
WIN_CMD = [
    r"C:\Program Files\davsync\syncclient.exe",
    "daemon",
    "--config",
    r"C:\ProgramData\syncclient\config.toml",
]
NS = {"t": service.TASK_NS}


def _parse(unit: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(unit)
    return cp


def test_system_unit_runs_as_dedicated_account() -> None:
    unit = _parse(service.systemd_unit(CMD, user=False))
    s = unit["Service"]
    assert s["ExecStart"] == (
        '/opt/davsync/bin/syncclient daemon --config "/etc/syncclient/site 1.toml"'
    )
    assert s["User"] == "syncclient" and s["Group"] == "syncclient"
    assert s["StateDirectory"] == "syncclient" and s["StateDirectoryMode"] == "0700"
    assert s["Environment"] == "SYNCCLIENT_STATE_DIR=/var/lib/syncclient"
    assert s["Nice"] == "10" and s["IOSchedulingClass"] == "idle"
    assert s["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Unit"]["After"] == "network-online.target"
    assert "/root" not in str(dict(s))
    for key, value in s.items():
        assert "password" not in (key + value).lower()
    assert _parse(service.systemd_unit(CMD, user=False, run_as="acq"))["Service"]["User"] == "acq"


def test_user_unit_has_no_account() -> None:
    unit = _parse(service.systemd_unit(CMD, user=True))
    assert "User" not in unit["Service"] and "StateDirectory" not in unit["Service"]
    assert unit["Install"]["WantedBy"] == "default.target"


def test_systemd_quoting_escapes_specials() -> None:
    unit = service.systemd_unit(["/x/sync client", "--config", '/a/50%"$x.toml'], user=True)
    assert 'ExecStart="/x/sync client" --config "/a/50%%\\"$$x.toml"' in unit


def _task(xml: str) -> ET.Element:
    return ET.fromstring(xml.split("\n", 1)[1])


def test_task_xml_starts_at_boot_and_restarts() -> None:
    xml = service.task_xml(WIN_CMD, "SYSTEM", r"C:\ProgramData\syncclient")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    task = _task(xml)
    assert task.tag == f"{{{service.TASK_NS}}}Task" and task.get("version") == "1.2"
    assert task.find("t:Triggers/t:BootTrigger/t:Enabled", NS).text == "true"  # type: ignore[union-attr]
    rep = task.find("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", NS)
    assert rep is not None and rep.text == service.TASK_REPEAT
    settings = task.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert settings.findtext("t:ExecutionTimeLimit", namespaces=NS) == "PT0S"
    assert settings.findtext("t:DisallowStartIfOnBatteries", namespaces=NS) == "false"
    assert settings.findtext("t:RestartOnFailure/t:Interval", namespaces=NS) == "PT1M"
    assert settings.findtext("t:RestartOnFailure/t:Count", namespaces=NS) == "999"
    assert task.findtext("t:Principals/t:Principal/t:UserId", namespaces=NS) == "S-1-5-18"
    assert task.find("t:Principals/t:Principal/t:LogonType", NS) is None
    exe = task.find("t:Actions/t:Exec", NS)
    assert exe is not None
    assert exe.findtext("t:Command", namespaces=NS) == WIN_CMD[0]
    assert exe.findtext("t:Arguments", namespaces=NS) == (
        r"daemon --config C:\ProgramData\syncclient\config.toml"
    )
    assert exe.findtext("t:WorkingDirectory", namespaces=NS) == r"C:\ProgramData\syncclient"


def test_task_xml_named_account_and_quoting() -> None:
    cmd = [*WIN_CMD[:3], r"C:\Site Data\sync client.toml"]
    task = _task(service.task_xml(cmd, r".\syncclient"))
    principal = task.find("t:Principals/t:Principal", NS)
    assert principal is not None
    assert principal.findtext("t:UserId", namespaces=NS) == r".\syncclient"
    assert principal.findtext("t:LogonType", namespaces=NS) == "Password"
    args = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    assert args == r'daemon --config "C:\Site Data\sync client.toml"'


def test_task_xml_file_is_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.xml"
    service.write_task_xml(path, service.task_xml(WIN_CMD))
    raw = path.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    text = raw.decode("utf-16")
    assert "\r\n" in text
    assert ET.fromstring(raw).tag.endswith("Task")  # the declared encoding matches the bytes


def test_schtasks_command_lines() -> None:
    assert service.schtasks_create(r"C:\x\t.xml") == [
        "schtasks", "/Create", "/TN", "syncclient", "/XML", r"C:\x\t.xml", "/F", "/RU", "SYSTEM"
    ]  # fmt: skip
    assert service.schtasks_create("t.xml", r"SITE\svc-sync")[-4:] == [
        "/RU", r"SITE\svc-sync", "/RP", "*"
    ]  # fmt: skip
    assert service.schtasks_delete() == [
        ["schtasks", "/End", "/TN", "syncclient"],
        ["schtasks", "/Delete", "/TN", "syncclient", "/F"],
    ]
    assert service.cmd_line(service.schtasks_create(r"C:\Program Data\t.xml")).count('"') == 2


def _config(tmp_path: Path, with_pw: bool = True) -> Path:
    cfg = tmp_path / "client.toml"
    server = '[server]\nurl = "https://dav.example.org/x/"\nuser = "site1"\n'
    cfg.write_text(server + ('password_file = "pw.txt"\n' if with_pw else ""), encoding="utf-8")
    return cfg


def test_install_prints_user_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    args = ["service", "install", "--systemd", "--unit-scope", "user", "--config", str(cfg)]
    code = cli.main([*args, "--output", "-"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    unit = _parse(out)
    assert unit["Service"]["ExecStart"].endswith(f"daemon --config {cfg}")
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "pw.txt" not in out


def test_user_flag_of_install_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["service", "install", "--systemd", "--user"])
    assert exc.value.code == 1
    assert "unrecognized arguments: --user" in capsys.readouterr().err


def test_install_writes_unit_and_hint_then_uninstall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, with_pw=False)
    dest = tmp_path / "units" / "syncclient.service"
    args = ["service", "install", "--systemd", "--config", str(cfg), "--output", str(dest)]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "names no server.password_file" in err
    assert "sudo useradd --system --home-dir /var/lib/syncclient" in out
    assert "sudo systemctl enable --now syncclient.service" in out
    assert "User=syncclient" in dest.read_text(encoding="utf-8")
    assert cli.main(args) == 1  # exists: refuses without --force
    capsys.readouterr()
    assert cli.main([*args, "--force", "--run-as", "acq"]) == 0
    assert "User=acq" in dest.read_text(encoding="utf-8")
    capsys.readouterr()
    un = ["service", "uninstall", "--systemd", "--output", str(dest)]
    assert cli.main([*un, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "systemctl disable --now syncclient.service" in out and dest.exists()
    assert "systemctl daemon-reload" in out
    assert cli.main([*un, "--dry-run", "--unit-scope", "user"]) == 0
    assert "systemctl --user disable --now" in capsys.readouterr().out


def test_install_windows_writes_task_and_prints_schtasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    xml = tmp_path / "task.xml"
    args = ["service", "install", "--windows", "--config", str(cfg), "--output", str(xml)]
    assert cli.main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {xml}" in out
    assert f"schtasks /Create /TN syncclient /XML {xml} /F /RU SYSTEM" in out
    assert "schtasks /Run /TN syncclient" in out and "schtasks /Query" in out
    task = ET.fromstring(xml.read_bytes())
    assert task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS).endswith(  # type: ignore[union-attr]
        f"daemon --config {cfg}"
    )
    assert cli.main(["service", "uninstall", "--windows", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schtasks /End /TN syncclient" in out
    assert "schtasks /Delete /TN syncclient /F" in out
