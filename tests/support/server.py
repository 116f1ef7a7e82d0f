"""Run a real ``davserver serve`` process on a loopback port for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from interop.accounts import add_user as add_user
from interop.processes import terminate

STARTUP_TIMEOUT_S = 30.0


def run_cli(*args: str, stdin: str | None = None, root: Path | None = None) -> str:
    """Run ``davserver ARGS`` and return stdout; raises CalledProcessError on failure."""
    cmd = [sys.executable, "-m", "davserver.cli", *args]
    if root is not None:
        cmd += ["--root", str(root)]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


@dataclass
class DavServer:
    """A running server process. ``url`` ends with ``/``."""

    root: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    smtp: str = ""  # HOST:PORT of the e-mail gateway, when the server printed ``SMTP:``
    ftp_url: str = ""  # ``ftp://HOST:PORT/`` when the FTP gateway runs
    output: list[str] = field(default_factory=list)
    module: str = "davserver.cli"  # a test launcher may wrap the CLI (fault injection)
    cwd: Path | None = None  # working folder of the process (a relative ``root`` is below it)

    def start(self) -> DavServer:
        """Start on a free port and wait for the ``URL:`` line."""
        env = {**os.environ, "DAVSYNC_ADMIN_PASSWORD": "admin-secret", **self.env}
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "serve",
            "--root",
            str(self.root),
            "--port",
            "0",
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.cwd
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("SMTP: "):
                self.smtp = line[6:].strip()
            if line.startswith("FTP: "):
                self.ftp_url = line[5:].strip()
            if line.startswith("URL: "):
                self.url = line[5:].strip()
                _drain(self.proc, self.output)
                return self
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(self.output))

    def files_url(self, user: str, path: str = "") -> str:
        """URL of ``path`` in ``user``'s home (Nextcloud-style URL)."""
        return f"{self.url}remote.php/dav/files/{user}/{path}"

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM), then kill if needed."""
        terminate(self.proc)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _drain(proc: subprocess.Popen[str], sink: list[str]) -> None:
    """Keep reading the server's output in the background so it never blocks on a pipe
    (the last 2000 lines stay in ``sink`` for failure messages)."""
    import threading

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.append(line)
            del sink[:-2000]

    threading.Thread(target=pump, daemon=True).start()
