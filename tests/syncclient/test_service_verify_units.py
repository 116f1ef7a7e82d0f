"""Pure parts of verify and pause."""

from __future__ import annotations

from pathlib import Path

import pytest

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
