"""``syncclient service install``: a systemd unit (or the Windows ``sc.exe`` command line)
that runs ``syncclient daemon --config FILE`` politely: low CPU and I/O priority, restarted on
failure. Credentials come from the config's password file; nothing secret goes in the unit.
Pure text builders; the CLI writes or prints them.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

NAME = "syncclient"


def daemon_command(exe: Sequence[str], config: Path) -> list[str]:
    """The daemon's argv: ``EXE daemon --config CONFIG``."""
    return [*exe, "daemon", "--config", str(config)]


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-+=:,@" for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def systemd_unit(command: Sequence[str], user: bool) -> str:
    """The unit text. ``user``: a per-user unit (``systemctl --user``), else a system one."""
    exec_start = " ".join(_systemd_quote(a) for a in command).replace("$", "$$")
    return "\n".join(
        [
            "[Unit]",
            "Description=davsync client: send files to the davsync server",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
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


def enable_hint(unit_path: str, user: bool) -> str:
    """How to enable the unit once written."""
    ctl = "systemctl --user" if user else "sudo systemctl"
    name = Path(unit_path).name if unit_path != "-" else f"{NAME}.service"
    lines = [
        f"{ctl} daemon-reload",
        f"{ctl} enable --now {name}",
        f"{ctl} status {name}",
    ]
    if user:
        lines.insert(0, "loginctl enable-linger $USER   # run without an interactive login")
    return "\n".join(lines)


def sc_create(command: Sequence[str], name: str = NAME) -> str:
    """The ``sc.exe`` command lines creating an equivalent Windows service (not executed)."""
    bin_path = subprocess.list2cmdline(list(command))
    quoted = '"' + bin_path.replace('"', '\\"') + '"'
    return "\n".join(
        [
            f"sc.exe create {name} binPath= {quoted} start= delayed-auto "
            f'DisplayName= "davsync client"',
            f"sc.exe failure {name} reset= 86400 actions= restart/60000/restart/60000//",
            f'sc.exe description {name} "Sends files to the davsync server"',
        ]
    )


def shell_line(command: Sequence[str]) -> str:
    """``command`` as one POSIX shell line."""
    return shlex.join(command)
