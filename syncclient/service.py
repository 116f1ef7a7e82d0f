"""``syncclient service install|uninstall``: run ``syncclient daemon --config FILE`` in the
background, politely (low CPU and I/O priority) and restarted on failure. Credentials come from
the config's password file; nothing secret goes in a unit or a task.

- Linux: a systemd unit. The system unit runs as a dedicated account (``User=``, default
  ``syncclient``) with its state under ``/var/lib/syncclient`` (``StateDirectory=``) and its
  config in ``/etc/syncclient/config.toml``; a user unit (``--unit-scope user``) runs as the
  installing user.
- Windows: a Task Scheduler task (XML registered with ``schtasks /Create /XML``) that starts at
  boot, is started again every few minutes if it is not running (Task Scheduler's "restart on
  failure" alone does not cover a process that exits with an error), never times out and
  runs below normal priority, as SYSTEM or a named service account.

Pure builders (text, XML, argv); the CLI writes files and runs or prints the commands.
"""

from __future__ import annotations

import shlex
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath

NAME = "syncclient"
SERVICE_USER = "syncclient"
SYSTEM_STATE_DIR = "/var/lib/syncclient"
SYSTEM_CONFIG = "/etc/syncclient/config.toml"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
SYSTEM_ACCOUNTS = {"SYSTEM", "NT AUTHORITY\\SYSTEM", "S-1-5-18"}
TASK_REPEAT = "PT5M"  # how soon a stopped daemon is started again
TASK_BOOT_DELAY = "PT1M"


def daemon_command(exe: Sequence[str], config: Path | PureWindowsPath) -> list[str]:
    """The daemon's argv: ``EXE daemon --config CONFIG``."""
    return [*exe, "daemon", "--config", str(config)]


# systemd ------------------------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-+=:,@" for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def systemd_unit(command: Sequence[str], user: bool, run_as: str = SERVICE_USER) -> str:
    """The unit text. ``user``: a per-user unit (``systemctl --user``); else a system unit
    running as ``run_as`` with its state in ``/var/lib/syncclient``."""
    exec_start = " ".join(_systemd_quote(a) for a in command).replace("$", "$$")
    account = (
        []
        if user
        else [
            f"User={run_as}",
            f"Group={run_as}",
            f"StateDirectory={NAME}",
            "StateDirectoryMode=0700",
            f"Environment=SYNCCLIENT_STATE_DIR={SYSTEM_STATE_DIR}",
            "UMask=0077",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
        ]
    )
    return "\n".join(
        [
            "[Unit]",
            "Description=davsync client: send files to the davsync server",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            *account,
            f"ExecStart={exec_start}",
            "Restart=on-failure",
            "RestartSec=60",
            "Nice=10",
            "IOSchedulingClass=idle",
            "CPUSchedulingPolicy=batch",
            "KillSignal=SIGTERM",
            "TimeoutStopSec=120",
            "",
            "[Install]",
            f"WantedBy={'default.target' if user else 'multi-user.target'}",
            "",
        ]
    )


def enable_hint(
    unit_path: str, user: bool, run_as: str = SERVICE_USER, config: str = SYSTEM_CONFIG
) -> str:
    """How to finish the installation once the unit is written."""
    ctl = "systemctl --user" if user else "sudo systemctl"
    name = Path(unit_path).name if unit_path != "-" else f"{NAME}.service"
    lines = [
        f"{ctl} daemon-reload",
        f"{ctl} enable --now {name}",
        f"{ctl} status {name}",
        f"journalctl {'--user ' if user else ''}-u {name} -f   # its output",
    ]
    if user:
        lines.insert(0, "loginctl enable-linger $USER   # run without an interactive login")
    else:
        lines[:0] = [
            f"sudo useradd --system --home-dir {SYSTEM_STATE_DIR} --shell /usr/sbin/nologin "
            f"{run_as}   # once, if the account does not exist",
            f"sudo chown root:{run_as} {config} && sudo chmod 640 {config}",
            f"sudo chown {run_as} PASSWORD_FILE && sudo chmod 600 PASSWORD_FILE"
            "   # the file named by server.password_file",
        ]
    return "\n".join(lines)


def systemd_disable(unit_name: str, user: bool) -> list[list[str]]:
    """The commands that stop and disable the unit before its file is removed."""
    ctl = ["systemctl", "--user"] if user else ["systemctl"]
    return [[*ctl, "disable", "--now", unit_name]]


def systemd_reload(user: bool) -> list[str]:
    """``systemctl daemon-reload`` (after the unit file is gone)."""
    return ["systemctl", "--user", "daemon-reload"] if user else ["systemctl", "daemon-reload"]


# Windows Task Scheduler ---------------------------------------------------------------------


def is_system_account(account: str) -> bool:
    """Whether ``account`` is the local SYSTEM account (no password to store)."""
    return account.upper() in {a.upper() for a in SYSTEM_ACCOUNTS}


def task_xml(
    command: Sequence[str],
    account: str = "SYSTEM",
    working_dir: str = "",
    name: str = NAME,
) -> str:
    """The Task Scheduler definition (as text; ``write_task_xml`` stores it as UTF-16, the
    encoding ``schtasks /XML`` reads). Starts at boot, again every ``TASK_REPEAT`` if the
    daemon is not running (a second copy is never started), never times out, restarts on
    failure, runs below normal priority, on battery too."""
    ET.register_namespace("", TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
    info = sub(task, "RegistrationInfo")
    sub(info, "Description", "davsync client: sends files to the davsync server")
    sub(info, "URI", "\\" + name)
    triggers = sub(task, "Triggers")
    boot = sub(triggers, "BootTrigger")
    sub(boot, "Enabled", "true")
    sub(boot, "Delay", TASK_BOOT_DELAY)
    again = sub(triggers, "TimeTrigger")
    rep = sub(again, "Repetition")
    sub(rep, "Interval", TASK_REPEAT)
    sub(rep, "StopAtDurationEnd", "false")
    sub(again, "StartBoundary", "2020-01-01T00:00:00")
    sub(again, "Enabled", "true")
    principal = sub(sub(task, "Principals"), "Principal")
    principal.set("id", "Author")
    if is_system_account(account):
        sub(principal, "UserId", "S-1-5-18")
    else:
        sub(principal, "UserId", account)
        sub(principal, "LogonType", "Password")
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")  # in the order Task Scheduler itself exports them
    for tag, value in (
        ("MultipleInstancesPolicy", "IgnoreNew"),
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),
        ("RunOnlyIfNetworkAvailable", "false"),
    ):
        sub(settings, tag, value)
    idle = sub(settings, "IdleSettings")
    sub(idle, "StopOnIdleEnd", "false")
    sub(idle, "RestartOnIdle", "false")
    for tag, value in (
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("WakeToRun", "false"),
        ("ExecutionTimeLimit", "PT0S"),
        ("Priority", "7"),
    ):
        sub(settings, tag, value)
    restart = sub(settings, "RestartOnFailure")
    sub(restart, "Interval", "PT1M")
    sub(restart, "Count", "999")
    actions = sub(task, "Actions")
    actions.set("Context", "Author")
    exe = sub(actions, "Exec")
    sub(exe, "Command", command[0])
    sub(exe, "Arguments", subprocess.list2cmdline(list(command[1:])))
    if working_dir:
        sub(exe, "WorkingDirectory", working_dir)
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


def write_task_xml(path: Path, xml: str) -> None:
    """Store the task definition as UTF-16 with a byte-order mark (what ``schtasks`` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(xml.replace("\n", "\r\n").encode("utf-16"))
    tmp.replace(path)


def schtasks_create(xml_path: str, account: str = "SYSTEM", name: str = NAME) -> list[str]:
    """The ``schtasks`` argv registering the task (``/RP *`` asks for the account's
    password; SYSTEM has none)."""
    argv = ["schtasks", "/Create", "/TN", name, "/XML", xml_path, "/F"]
    if is_system_account(account):
        return [*argv, "/RU", "SYSTEM"]
    return [*argv, "/RU", account, "/RP", "*"]


def schtasks_run(name: str = NAME) -> list[str]:
    """Start the task now (instead of waiting for the next boot)."""
    return ["schtasks", "/Run", "/TN", name]


def schtasks_query(name: str = NAME) -> list[str]:
    """Show the task's state, last run time and last result."""
    return ["schtasks", "/Query", "/TN", name, "/V", "/FO", "LIST"]


def schtasks_delete(name: str = NAME) -> list[list[str]]:
    """Stop the running daemon and remove the task."""
    return [["schtasks", "/End", "/TN", name], ["schtasks", "/Delete", "/TN", name, "/F"]]


def cmd_line(argv: Sequence[str]) -> str:
    """``argv`` as one Windows command line."""
    return subprocess.list2cmdline(list(argv))


def shell_line(command: Sequence[str]) -> str:
    """``command`` as one POSIX shell line."""
    return shlex.join(command)
