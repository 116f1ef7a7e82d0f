"""Live progress counts bytes as they are sent (chunks and PUT bodies), not only verified
files: the stats lines and JSON stats move during one large chunked upload, a terminal gets
bars (one per large file), and a resumed upload says how much an earlier run had sent."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest

from syncclient.output import Reporter, Stats
from syncclient.transfer.bandwidth import TokenBucket
from syncclient.transfer.body import FileBody
from tests.syncclient.conftest import password_file, run_client, write_tree

MiB = 1024 * 1024


@pytest.mark.unit
def test_body_sent_again_takes_back_its_progress(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    wire: list[int] = []
    progress: list[int] = []
    body = FileBody(
        path, 100, 800, TokenBucket(0), threading.Event(), wire.append, 300, progress.append
    )
    assert sum(len(b) for b in body) == 800
    assert sum(progress) == 800
    assert sum(len(b) for b in body) == 800  # a retry sends the same bytes again
    assert sum(progress) == 800, "progress never exceeds the body"
    assert sum(wire) == 1600, "the wire counts every byte sent"
    assert progress[3] == -800


@pytest.mark.unit
def test_stats_count_bytes_in_flight() -> None:
    st = Stats(files_queued=2, bytes_queued=30 * MiB)
    st.begin_file("big.bin", 20 * MiB)
    st.file_progress("big.bin", 5 * MiB)
    st.add(bytes_wire=5 * MiB)
    assert st.done() == 5 * MiB
    assert "files 0/2  5.0 MiB/30.0 MiB" in st.line()
    st.file_progress("other", 7)  # not in flight: ignored
    st.end_file("big.bin", 20 * MiB)
    assert st.done() == 20 * MiB and st.files_verified == 1
    st.begin_file("empty", 0)
    st.end_file("empty", 0)
    assert st.files_verified == 2, "an empty file counts as verified too"


@pytest.mark.unit
def test_terminal_shows_bars_for_large_files_and_messages_above() -> None:
    err = io.StringIO()
    rep = Reporter("tty", err=err, large_file=MiB, tick=0.05)
    st = Stats(files_queued=2, bytes_queued=3 * MiB)
    st.begin_file("data/large.bin", 2 * MiB)
    st.begin_file("small.txt", 10)
    st.file_progress("data/large.bin", MiB)
    rep.start(st)
    deadline = time.monotonic() + 10
    while "1.0/2.0 MiB" not in err.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    rep.message("note: hello")
    rep.stop()
    out = err.getvalue()
    assert "files 0/2" in out
    assert "data/large.bin" in out, "a large file gets its own bar"
    assert "small.txt" not in out, "small files share the total bar"
    assert "1.0/2.0 MiB" in out, "the large file's bar counts its bytes in flight"
    assert "1.0/3.0 MiB" in out, "so does the total bar"
    assert "note: hello" in out
    assert "\x1b[" in out  # drawn for a terminal


def _args(tmp: Path, src: Path, target: str, *flags: str) -> list[str]:
    return [
        "run",
        "--once",
        str(src),
        target,
        "--user",
        "alice",
        "--password-file",
        str(password_file(tmp)),
        "--state-dir",
        str(tmp / "state"),
        "--chunk-size",
        "1MiB",
        "--chunk-threshold",
        "1MiB",
        "--parallel",
        "1",
        *flags,
    ]


@pytest.mark.integration
def test_stats_lines_move_during_one_chunked_upload(target: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"video.bin": b"v" * (6 * MiB)})
    r = run_client(
        tmp_path,
        *_args(tmp_path, src, target, "--bwlimit", "2MiB", "--stats-interval", "0.4"),
    )
    assert r.code == 0, r.stderr
    before = [
        float(m.group(1))
        for m in re.finditer(r"files 0/1  ([\d.]+) MiB/6\.0 MiB", r.stderr)
        if float(m.group(1)) > 0
    ]
    assert len(before) >= 2, f"no progress before the file was verified:\n{r.stderr}"
    assert before == sorted(before) and before[0] < 6
    assert re.search(r"sending video\.bin [\d.]+ MiB/6\.0 MiB", r.stderr)


@pytest.mark.integration
def test_json_stats_and_resumed_bytes_in_the_summary(target: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"video.bin": b"r" * (8 * MiB)})
    first = run_client(
        tmp_path,
        *_args(
            tmp_path,
            src,
            target,
            "--json",
            "--stats-interval",
            "0.2",
            "--bwlimit",
            "2MiB",
            "--max-bytes",
            "3MiB",
            "--cutoff",
            "hard",
        ),
    )
    assert first.code == 8, first.stderr + first.stdout
    stats = [e for e in first.events() if e["event"] == "stats"]
    moving = [e for e in stats if e["files_verified"] == 0 and e["bytes_done"] > 0]
    assert moving, "JSON stats show bytes in flight"
    assert moving[-1]["in_flight"][0]["path"] == "video.bin"
    second = run_client(tmp_path, *_args(tmp_path, src, target))
    assert second.code == 0, second.stderr
    m = re.search(r"resumed ([\d.]+) MiB from an earlier run", second.stderr)
    assert m is not None, second.stderr
    assert 1.0 <= float(m.group(1)) <= 3.0
