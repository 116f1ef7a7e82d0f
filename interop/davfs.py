"""Mount a share with davfs2 (Debian ``davfs2``, FUSE): the Linux analogue of Explorer's mapped
network drive.

``DavfsMount`` writes a private configuration (``davfs2.conf``) and secrets file, mounts with
``mount.davfs`` and unmounts with ``umount`` (davfs2 uploads dirty files before it exits).
The configuration uses:

- ``secrets``: the credentials (mode 600), so nothing is asked interactively (``ask_auth 0``);
- ``trust_ca_cert``: the CA of the server's certificate, for HTTPS;
- ``use_locks 1``: LOCK while a file is open for writing, as davfs2 does by default;
- ``delay_upload 0``: upload as soon as a written file is closed;
- ``file_refresh`` / ``dir_refresh`` 1 s: look at the server again quickly.

davfs2 runs its daemon as the ``davfs2`` user, which must be able to reach the cache folder;
so the mount's work folder is created with mode 755 outside pytest's private temp folders.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from interop.tools import UnavailableError, find_tool, require_root

MOUNT_TIMEOUT_S = 90.0
UMOUNT_TIMEOUT_S = 300.0


def preflight() -> str:
    """The path of ``mount.davfs``; raises UnavailableError (with the reason) if davfs2 cannot
    mount here: not installed, not root, or no usable FUSE device."""
    binary = find_tool("mount.davfs")
    require_root("mounting with davfs2")
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as exc:
        raise UnavailableError(f"FUSE is not available here (/dev/fuse: {exc.strerror})") from exc
    os.close(fd)
    return binary


def _quote(value: str) -> str:
    """Quote a davfs2 config/secrets value (spaces, quotes and backslashes escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass
class DavfsMount:
    """One davfs2 mount of ``url`` (a collection URL ending with ``/``)."""

    url: str
    user: str
    password: str
    ca: Path | None = None
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="davsync-davfs-")))
    mounted: bool = False
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work.chmod(0o755)
        self.mountpoint = self.work / "mnt"
        self.cache = self.work / "cache"
        self.conf = self.work / "davfs2.conf"
        self.secrets = self.work / "secrets"

    def write_config(self) -> None:
        """Write davfs2.conf and the secrets file."""
        self.mountpoint.mkdir(exist_ok=True)
        self.cache.mkdir(exist_ok=True)
        self.cache.chmod(0o777)  # davfs2's daemon user writes here
        lines = [
            f"secrets {self.secrets}",
            f"cache_dir {self.cache}",
            "ask_auth 0",
            "use_locks 1",
            "delay_upload 0",
            "file_refresh 1",
            "dir_refresh 1",
            "gui_optimize 0",
        ]
        if self.ca is not None:
            ca_copy = self.work / "ca.pem"
            shutil.copyfile(self.ca, ca_copy)
            ca_copy.chmod(0o644)
            lines.append(f"trust_ca_cert {ca_copy}")
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.secrets.write_text(
            f"{self.url} {_quote(self.user)} {_quote(self.password)}\n", encoding="utf-8"
        )
        self.secrets.chmod(0o600)

    def mount(self) -> None:
        """Mount (raises RuntimeError with davfs2's messages on failure)."""
        binary = preflight()
        self.write_config()
        uid, gid = os.getuid(), os.getgid()
        proc = subprocess.run(
            [binary, self.url, str(self.mountpoint), "-o", f"conf={self.conf},uid={uid},gid={gid}"],
            capture_output=True,
            text=True,
            timeout=MOUNT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        self.log.append(proc.stdout + proc.stderr)
        if proc.returncode != 0 or not os.path.ismount(self.mountpoint):
            raise RuntimeError(
                f"mount.davfs failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        self.mounted = True

    def unmount(self) -> None:
        """Unmount, waiting for davfs2 to upload what is still dirty; lazily if it hangs."""
        if not self.mounted:
            return
        try:
            proc = subprocess.run(
                ["umount", str(self.mountpoint)],
                capture_output=True,
                text=True,
                timeout=UMOUNT_TIMEOUT_S,
                check=False,
            )
            self.log.append(proc.stdout + proc.stderr)
        except subprocess.TimeoutExpired:
            subprocess.run(["umount", "-l", str(self.mountpoint)], timeout=60, check=False)
        deadline = time.monotonic() + 30
        while os.path.ismount(self.mountpoint) and time.monotonic() < deadline:
            time.sleep(0.5)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", str(self.mountpoint)], timeout=60, check=False)
        self.mounted = False

    def cleanup(self) -> None:
        """Unmount and remove the work folder."""
        self.unmount()
        shutil.rmtree(self.work, ignore_errors=True)

    def path(self, rel: str) -> Path:
        """``rel`` inside the mount."""
        return self.mountpoint / rel


def readdir_is_broken(path: Path) -> bool:
    """True if listing ``path`` fails with EINVAL: on some machines davfs2's readdir fails that
    way against every server (a FUSE platform limit, not a server defect)."""
    try:
        os.listdir(path)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return True
        raise
    return False
