"""Large staged files start their write-out while they are written (``sync_file_range``),
fall back to background flushes where that is refused, and never lose a byte either way."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

from providers.local import atomic, writeback
from providers.local.atomic import StagedFile

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="sync_file_range is Linux's"
)


@linux_only
def test_writeback_starts_on_a_file_and_declines_a_pipe(tmp_path: Path) -> None:
    with (tmp_path / "f").open("wb") as out:
        out.write(b"x" * 100_000)
        out.flush()
        assert writeback.start_writeback(out.fileno(), 0, 100_000) is True
    read_end, write_end = os.pipe()
    try:
        assert writeback.start_writeback(write_end, 0, 10) is False  # ESPIPE: not supported
    finally:
        os.close(read_end)
        os.close(write_end)


@linux_only
def test_writeback_reports_a_real_failure() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError):
        writeback.start_writeback(fd, 0, 10)  # EBADF: not something to ignore


def write_staged(path: Path, blocks: int) -> tuple[str, os.stat_result]:
    block = os.urandom(1024 * 1024)
    staged = StagedFile(path)
    digest = hashlib.sha256()
    for i in range(blocks):
        data = block[i % 7 :] + block[: i % 7]
        staged.write(data)
        digest.update(data)
    st = staged.finish(time.time_ns(), 0o644)
    staged.landed()  # kept where it is (as if renamed onto a target)
    staged.close()
    return digest.hexdigest(), st


def test_a_large_staged_file_starts_writeback_in_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges: list[tuple[int, int]] = []
    real = atomic.start_writeback

    def recording(fd: int, offset: int, length: int) -> bool:
        ranges.append((offset, length))
        return real(fd, offset, length)

    monkeypatch.setattr(atomic, "start_writeback", recording)
    digest, st = write_staged(tmp_path / "big", 40)
    assert hashlib.sha256((tmp_path / "big").read_bytes()).hexdigest() == digest
    assert st.st_size == 40 * 1024 * 1024
    window = writeback.WRITEBACK_BYTES
    assert ranges[:2] == [(0, window), (window, window)]
    assert len(ranges) == 40 * 1024 * 1024 // window


def test_where_writeback_is_refused_background_flushes_take_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    flushes: list[int] = []
    monkeypatch.setattr(atomic, "start_writeback", lambda fd, o, n: asked.append(o) or False)
    real_flush = atomic._FileState.start_flush

    def counting(self: atomic._FileState) -> None:
        flushes.append(1)
        real_flush(self)

    monkeypatch.setattr(atomic._FileState, "start_flush", counting)
    digest, _ = write_staged(tmp_path / "big", 70)
    assert hashlib.sha256((tmp_path / "big").read_bytes()).hexdigest() == digest
    assert asked == [0]  # refused once: not asked again for this file
    assert len(flushes) == 70 // 32
