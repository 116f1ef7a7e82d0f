"""After verification: the audit manifest, post-actions (keep, delete, move to an archive
folder, delete after N days) and hook commands.

A post-action only ever touches a file whose (size, mtime_ns, inode) still equal what was
verified; a file that changed since is left alone (and re-sent later). A done-marker of the
file is consumed (deleted) with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from syncclient import SyncClientError
from syncclient.model import Digests, PostAction, PostPolicy

HOOK_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """A verified upload: what was sent, where, and what vouched for it."""

    path: str
    size: int
    mtime_ns: int
    digests: Digests
    url: str
    etag: str | None
    verified_by: str
    time: float


class Manifest:
    """Append-only JSONL audit log, one line per verified file, fsynced per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, r: Receipt, post: str = "") -> None:
        """Append ``r``. Raises OSError if the manifest cannot be written."""
        line = {
            "path": r.path,
            "size": r.size,
            "mtime": r.mtime_ns / 1e9,
            "mtime_ns": r.mtime_ns,
            "sha256": r.digests.sha256,
            "sha1": r.digests.sha1,
            "url": r.url,
            "etag": r.etag,
            "verified_by": r.verified_by,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.time)),
            "post_action": post,
        }
        data = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())


class PostActionError(SyncClientError):
    """A post-action could not be applied; the file stays where it is."""


def apply_post_action(
    root: Path, rel: str, policy: PostPolicy, size: int, mtime_ns: int, marker: str = ""
) -> str:
    """Apply ``policy`` to ``root/rel`` if it is unchanged. Returns what was done
    (``kept``, ``deleted``, ``moved to ...``, ``unchanged-skip``...).

    ``delete-after`` is applied by the caller only once due, as a delete.
    Raises PostActionError when the file changed since it was verified or on I/O errors.
    """
    action = policy.action
    if action is PostAction.KEEP:
        return "kept"
    path = root / rel
    try:
        st = path.stat()
    except FileNotFoundError:
        return "already gone"
    except OSError as exc:
        raise PostActionError(f"{rel}: cannot stat: {exc.strerror}") from exc
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        raise PostActionError(f"{rel}: changed since it was verified; left in place")
    try:
        if action is PostAction.MOVE:
            dest = _archive_path(root, policy.archive_dir) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(dest))
            done = f"moved to {dest}"
        else:
            path.unlink()
            done = "deleted"
        if marker:
            (root / (rel + marker)).unlink(missing_ok=True)
    except OSError as exc:
        raise PostActionError(f"{rel}: {exc.strerror or exc}") from exc
    return done


def _archive_path(root: Path, archive_dir: str) -> Path:
    p = Path(archive_dir)
    return p if p.is_absolute() else root / p


def archive_ignore_pattern(archive_dir: str) -> str | None:
    """The ignore pattern keeping an archive folder inside the source out of the scan."""
    if not archive_dir or Path(archive_dir).is_absolute():
        return None
    return "/" + archive_dir.strip("/").replace(os.sep, "/") + "/"


def run_hook(command: str, env: Mapping[str, str]) -> tuple[int, str]:
    """Run a hook through the shell with ``env`` added. Returns (exit code, short output);
    a timeout gives exit code -1."""
    try:
        proc = subprocess.run(
            command,
            shell=True,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=HOOK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {HOOK_TIMEOUT_S:g}s"
    except OSError as exc:
        return -1, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr)[-500:]
