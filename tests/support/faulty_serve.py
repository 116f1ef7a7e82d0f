"""``python -m tests.support.faulty_serve serve ...``: the davserver CLI with I/O faults
injected below the local provider, switched on and off at run time.

``DAVSYNC_FAULT_FILE`` names a control file. While it exists, its first word selects a fault:

- ``write-eio``: every write to a staging file fails with EIO;
- ``fsync-eio``: the fsync of a finished staging file (at commit) fails with EIO;
- ``write-enospc``: every write to a staging file fails with ENOSPC.

Only the staging file primitives are patched: the provider's own error handling, clean-up and
error translation run unchanged.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from providers.local import atomic

_write = atomic.StagedFile.write
_finish = atomic.StagedFile.finish


def _fault() -> str:
    path = os.environ.get("DAVSYNC_FAULT_FILE")
    if not path:
        return ""
    try:
        words = Path(path).read_text(encoding="utf-8").split()
    except OSError:
        return ""
    return words[0] if words else ""


def _faulty_write(self: atomic.StagedFile, data: Any) -> None:
    fault = _fault()
    if fault == "write-eio":
        raise OSError(errno.EIO, "injected I/O error")
    if fault == "write-enospc":
        raise OSError(errno.ENOSPC, "injected: no space left on device")
    _write(self, data)


def _faulty_finish(self: atomic.StagedFile, mtime_ns: int, mode: int) -> os.stat_result:
    if _fault() == "fsync-eio":
        raise OSError(errno.EIO, "injected I/O error on fsync")
    return _finish(self, mtime_ns, mode)


atomic.StagedFile.write = _faulty_write  # type: ignore[method-assign]
atomic.StagedFile.finish = _faulty_finish  # type: ignore[method-assign]

if __name__ == "__main__":
    from davserver.cli import main

    raise SystemExit(main())
