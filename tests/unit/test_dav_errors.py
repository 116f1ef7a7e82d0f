"""Provider errors become DAV statuses once, at the seam; only NotFound means "absent"."""

from __future__ import annotations

import pytest
from wsgidav.dav_error import DAVError

from davserver.dav.errors import stat_or_none
from providers.base import Entry
from providers.errors import StorageIOError
from providers.memory import MemoryProvider


class _FailingDisk(MemoryProvider):
    """A storage whose stat fails the way a broken disk does."""

    def stat(self, path: str) -> Entry:
        raise StorageIOError(f"cannot stat {path}: Input/output error")


def test_absent_is_none_and_present_is_the_entry() -> None:
    storage = MemoryProvider()
    storage.mkdir("alice")
    assert stat_or_none(storage, "alice/nothing") is None
    entry = stat_or_none(storage, "alice")
    assert entry is not None and entry.is_dir


def test_an_io_error_is_a_500_not_an_absent_file() -> None:
    with pytest.raises(DAVError) as info:
        stat_or_none(_FailingDisk(), "alice/a.txt")
    assert info.value.value == 500
    assert isinstance(info.value.__cause__, StorageIOError)


def test_an_invalid_path_is_a_400() -> None:
    with pytest.raises(DAVError) as info:
        stat_or_none(MemoryProvider(), "alice/../../etc")
    assert info.value.value == 400
