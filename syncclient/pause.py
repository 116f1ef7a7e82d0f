"""The pause flag: a file ``paused`` in the client's state folder (``--state-dir``, else the
per-user default). While it exists ``run --once`` sends nothing and exits 8 (backlog left),
and ``daemon`` sleeps through its passes. ``syncclient resume`` removes it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from syncclient.config import Config, default_state_root

FLAG = "paused"


def flag_path(cfg: Config) -> Path:
    """Where the pause flag lives for this configuration."""
    return (cfg.state_dir or default_state_root()) / FLAG


def pause(cfg: Config, reason: str = "", now: float | None = None) -> dict[str, Any]:
    """Set the flag (again: the first ``since`` is kept). Returns its content."""
    path = flag_path(cfg)
    old = paused(cfg)
    info = {
        "since": old["since"] if old else (time.time() if now is None else now),
        "reason": reason or (old or {}).get("reason", ""),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return info


def resume(cfg: Config) -> bool:
    """Remove the flag; False if it was not set."""
    try:
        flag_path(cfg).unlink()
    except FileNotFoundError:
        return False
    return True


def paused(cfg: Config) -> dict[str, Any] | None:
    """The flag's content ({"since", "reason"}) if paused, else None."""
    path = flag_path(cfg)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {"since": 0.0, "reason": "unreadable pause flag"}
    try:
        data = json.loads(text)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return {"since": float(data.get("since", 0.0)), "reason": str(data.get("reason", ""))}
