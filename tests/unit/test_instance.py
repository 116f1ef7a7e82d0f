"""The instance id on SQLite state: a file in the state folder, created once, then kept."""

from __future__ import annotations

import re
from pathlib import Path

from davserver.instance import FILE_NAME, load_instance_id


def test_first_start_creates_the_file_and_later_starts_keep_it(tmp_path: Path) -> None:
    first = load_instance_id(tmp_path / "state.sqlite", tmp_path)
    assert re.fullmatch(r"oc[0-9a-f]{10}", first)
    assert (tmp_path / FILE_NAME).read_text(encoding="utf-8") == first + "\n"
    assert load_instance_id(tmp_path / "state.sqlite", tmp_path) == first


def test_an_existing_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("ocabcdef0123\n", encoding="utf-8")
    assert load_instance_id(tmp_path / "state.sqlite", tmp_path) == "ocabcdef0123"
    assert (tmp_path / FILE_NAME).read_text(encoding="utf-8") == "ocabcdef0123\n"
