"""What the server keeps of a trigger command's output: a bounded tail, one printable line."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from davserver.collection.actions import OUTPUT_TAIL_BYTES, ActionError, run_command

BIG_OUTPUT = 64 * 1024 * 1024


def _largest_deleted_open_file() -> int:
    """The size of the largest deleted regular file this process holds open (Linux)."""
    largest = 0
    fd_dir = Path("/proc/self/fd")
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
            if not target.endswith("(deleted)"):
                continue
            largest = max(largest, os.stat(entry).st_size)
        except OSError:
            continue
    return largest


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_huge_output_is_not_kept_on_disk(tmp_path: Path) -> None:
    """A command printing without end must not fill the server's disk with its output."""
    gate = tmp_path / "gate"
    written = tmp_path / "written"
    code = (
        "import os, sys, time\n"
        f"block = b'y' * (1 << 20)\n"
        f"for _ in range({BIG_OUTPUT} >> 20): sys.stdout.buffer.write(block)\n"
        "sys.stdout.buffer.flush()\n"
        f"open({str(written)!r}, 'w').close()\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
        "sys.exit(1)\n"
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_command({"argv": [sys.executable, "-c", code], "pass_file": False}, {}, 60)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not written.exists():
            assert time.monotonic() < deadline, "the command did not write its output"
            time.sleep(0.05)
        held = _largest_deleted_open_file()
    finally:
        gate.touch()
        worker.join(60)
    assert held < 1024 * 1024, f"{held} bytes of command output kept in a temporary file"
    assert len(errors) == 1 and isinstance(errors[0], ActionError)
    message = str(errors[0])
    assert message.startswith("exit status 1: ")
    assert len(message) <= OUTPUT_TAIL_BYTES + 100


def test_output_pipe_held_by_an_escaped_child_does_not_hold_the_worker(tmp_path: Path) -> None:
    """A command whose child left its process group (and keeps the output pipe open) still
    ends the run once the command itself exits."""
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(8)'],"
        " start_new_session=True)\n"
        "print('started a helper', flush=True)\n"
        "sys.exit(3)\n"
    )
    started = time.monotonic()
    with pytest.raises(ActionError, match="exit status 3: started a helper"):
        run_command({"argv": [sys.executable, "-c", code], "pass_file": False}, {}, 60)
    assert time.monotonic() - started < 15


def test_failure_message_is_one_printable_line(tmp_path: Path) -> None:
    """The failure text goes to the log (one line per event) and the status page: control
    characters from the command's output (newlines, escapes, NUL, bidi overrides) are shown
    escaped, not passed on."""
    code = (
        "import sys\n"
        "sys.stdout.write('first\\n2026-12-01 WARNING forged\\x1b[31m red\\x00 \\u202egnp.exe')\n"
        "sys.exit(2)\n"
    )
    with pytest.raises(ActionError) as caught:
        run_command({"argv": [sys.executable, "-c", code], "pass_file": False}, {}, 30)
    message = str(caught.value)
    assert message.isprintable(), repr(message)
    assert message == (
        "exit status 2: first\\n2026-12-01 WARNING forged\\x1b[31m red\\x00 \\u202egnp.exe"
    )


def test_output_is_kept_when_the_server_holds_many_descriptors() -> None:
    """A busy server has descriptors past select's limit of 1024: the command's output pipe
    gets one of them and must still be read (it was lost, and a full pipe would stall the
    command until its timeout)."""
    held: list[int] = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        for fd in held:
            os.close(fd)
        pytest.skip(f"cannot open descriptors past 1100 here: {exc}")
    try:
        code = "import sys; sys.stdout.write('x' * 200000 + 'boom'); sys.exit(7)"
        with pytest.raises(ActionError, match=r"exit status 7: x+boom$"):
            run_command({"argv": [sys.executable, "-c", code], "pass_file": False}, {}, 30)
    finally:
        for fd in held:
            os.close(fd)
