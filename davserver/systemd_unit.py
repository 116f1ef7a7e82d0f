"""``davserver service install|uninstall --systemd``: a hardened system unit for the server.

The unit runs ``davserver serve`` as a dedicated account (``davsync`` by default), with its
data under ``/var/lib/davsync`` (``StateDirectory=``) unless the config names another root
(then that root is the only other writable path, ``ReadWritePaths=``), and with systemd's
sandboxing options on. Writing the unit never starts anything; ``--enable``/``--now`` run
``systemctl`` and say so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

UNIT_NAME = "davserver.service"
UNIT_PATH = Path("/etc/systemd/system") / UNIT_NAME
DEFAULT_ACCOUNT = "davsync"
STATE_DIRECTORY = "davsync"  # /var/lib/davsync
DEFAULT_ROOT = Path("/var/lib") / STATE_DIRECTORY
PRIVATE_HOMES = (Path("/home"), Path("/root"), Path("/run/user"))

#: Sandboxing for a network daemon that only reads its program and config and writes its data.
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
)


@dataclass(frozen=True)
class UnitSpec:
    """What the unit runs and may write."""

    command: list[str]
    account: str = DEFAULT_ACCOUNT
    writable: list[Path] = field(default_factory=list)
    privileged_port: bool = False
    protect_home: str = "yes"


def _quote(arg: str) -> str:
    """One ExecStart word: ``%`` escaped (systemd specifiers), quoted when needed."""
    arg = arg.replace("%", "%%")
    if arg and not re.search(r'[\s"\'\\;$]', arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def davserver_command() -> list[str]:
    """How this installation's ``davserver`` is started (absolute paths)."""
    script = Path(sys.executable).parent / "davserver"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    found = shutil.which("davserver")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "davserver.cli"]


def _under(path: Path, parents: Sequence[Path]) -> bool:
    return any(path == p or p in path.parents for p in parents)


def build_spec(
    *,
    config: Path | None,
    root: Path,
    state_dir: Path,
    port: int,
    account: str = DEFAULT_ACCOUNT,
    command: list[str] | None = None,
) -> tuple[UnitSpec, list[str]]:
    """The unit for serving ``root`` (state in ``state_dir``) on ``port``, and warnings."""
    base = command or davserver_command()
    args = [*base, "serve"]
    args += ["--config", str(config.absolute())] if config else ["--root", str(root)]
    warnings: list[str] = []
    writable = [p.absolute() for p in (root, state_dir) if not _under(p.absolute(), [DEFAULT_ROOT])]
    writable = sorted({p for p in writable if not any(q in p.parents for q in writable)})
    protect_home = "yes"
    program = Path(base[0])
    touched = [program, root.absolute(), *([config.absolute()] if config else [])]
    if any(_under(p, PRIVATE_HOMES) for p in touched):
        protect_home = "read-only"  # ReadWritePaths= still opens a root below /home
        warnings.append(
            f"{program} (or the data/config) lives under /home or /root: the {account} account "
            "may not be able to read it there; install davsync into e.g. /opt/davsync "
            "(python3 -m venv /opt/davsync && /opt/davsync/bin/pip install 'davsync[server]')"
        )
    spec = UnitSpec(
        command=args,
        account=account,
        writable=writable,
        privileged_port=0 < port < 1024,
        protect_home=protect_home,
    )
    return spec, warnings


def render_unit(spec: UnitSpec) -> str:
    """The text of ``davserver.service`` for ``spec``."""
    lines = [
        "# davserver: WebDAV sync server (written by 'davserver service install --systemd')",
        "[Unit]",
        "Description=davsync WebDAV server",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={spec.account}",
        f"Group={spec.account}",
        "ExecStart=" + " ".join(_quote(a) for a in spec.command),
        "Restart=on-failure",
        "RestartSec=5s",
        "TimeoutStopSec=30s",
        "UMask=0027",
        "LimitNOFILE=65536",
        f"StateDirectory={STATE_DIRECTORY}",
        "StateDirectoryMode=0700",
    ]
    if spec.writable:
        lines.append("ReadWritePaths=" + " ".join(_quote(str(p)) for p in spec.writable))
    lines += list(HARDENING)
    lines.append(f"ProtectHome={spec.protect_home}")
    if spec.privileged_port:
        lines += [
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        ]
    else:
        lines.append("CapabilityBoundingSet=")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


Runner = Callable[[list[str]], int]


def run_command(argv: list[str]) -> int:
    """Run ``argv`` (output goes to the terminal); its exit status."""
    print("running: " + " ".join(argv), flush=True)
    return subprocess.run(argv, check=False).returncode


def write_unit(text: str, path: Path) -> str:
    """Write the unit atomically (0644); returns ``"wrote"`` or ``"replaced"``."""
    verb = "replaced" if path.exists() else "wrote"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return verb


def account_exists(name: str) -> bool:
    """True when the user ``name`` exists on this machine."""
    try:
        import pwd
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def install_steps(spec: UnitSpec, *, enabled: bool) -> list[str]:
    """What the operator still has to do after the unit was written."""
    steps = []
    if not account_exists(spec.account):
        steps.append(
            f"useradd --system --home-dir {DEFAULT_ROOT} --shell /usr/sbin/nologin {spec.account}"
        )
    for path in spec.writable:
        steps.append(f"chown -R {spec.account}:{spec.account} {path}")
    if not enabled:
        steps.append(f"systemctl daemon-reload && systemctl enable --now {UNIT_NAME}")
    steps.append(f"journalctl -u {UNIT_NAME} -f   # start-up text, first admin password file")
    return steps
