"""The local provider applies ``PathPolicy(windows_compatible=True)`` to every new name:
PUT (begin and commit), MKCOL, MOVE and COPY destinations; existing names stay usable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.errors import ConflictError, InvalidPathError
from providers.local import LocalProvider
from providers.paths import PathPolicy

pytestmark = pytest.mark.unit


@pytest.fixture()
def portable(tmp_path: Path) -> Iterator[LocalProvider]:
    provider = LocalProvider(
        tmp_path / "root", tmp_path / "state", path_policy=PathPolicy(windows_compatible=True)
    )
    yield provider
    provider.close()


def put(provider: LocalProvider, path: str, data: bytes = b"x") -> None:
    handle = provider.begin_write(path)
    handle.write(data)
    handle.commit()


@pytest.mark.parametrize("name", ["CON", "nul.txt", "a.", "a ", "a:b", "com1.log"])
def test_reserved_names_refused_everywhere(portable: LocalProvider, name: str) -> None:
    put(portable, "ok.txt")
    with pytest.raises(InvalidPathError):
        portable.begin_write(name)
    with pytest.raises(InvalidPathError):
        portable.mkdir(name)
    with pytest.raises(InvalidPathError):
        portable.copy("ok.txt", name, overwrite=True)
    with pytest.raises(InvalidPathError):
        portable.move("ok.txt", name, overwrite=True)
    assert [e.name for e in portable.listdir("")] == ["ok.txt"]


def test_case_clash_refused(portable: LocalProvider) -> None:
    put(portable, "Report.txt", b"one")
    portable.mkdir("Data")
    with pytest.raises(ConflictError):
        portable.begin_write("report.TXT")
    with pytest.raises(ConflictError):
        portable.mkdir("DATA")
    with pytest.raises(ConflictError):
        portable.copy("Report.txt", "REPORT.txt", overwrite=False)
    put(portable, "Report.txt", b"two")  # the same name is an overwrite, not a clash
    assert sorted(e.name for e in portable.listdir("")) == ["Data", "Report.txt"]


def test_clash_checked_again_at_commit(portable: LocalProvider) -> None:
    first = portable.begin_write("Log.txt")
    second = portable.begin_write("log.txt")  # both pass the early check
    first.write(b"a")
    second.write(b"b")
    first.commit()
    with pytest.raises(ConflictError):
        second.commit()
    assert [e.name for e in portable.listdir("")] == ["Log.txt"]


def test_concurrent_case_variants_one_wins(portable: LocalProvider) -> None:
    names = ["Same.bin", "same.bin", "SAME.bin", "sAmE.bin"]
    barrier = threading.Barrier(len(names))
    outcomes: list[str] = []

    def create(name: str) -> None:
        handle = portable.begin_write(name)
        handle.write(name.encode())
        barrier.wait(10)
        try:
            handle.commit()
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("clash")

    threads = [threading.Thread(target=create, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["clash"] * 3 + ["ok"]
    assert len(portable.listdir("")) == 1


def test_existing_reserved_names_stay_usable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "CON").write_bytes(b"made elsewhere")
    provider = LocalProvider(root, tmp_path / "state", path_policy=PathPolicy(True))
    try:
        assert provider.open_read("sub/CON").read() == b"made elsewhere"
        put(provider, "sub/CON", b"overwritten")
        assert provider.open_read("sub/CON").read() == b"overwritten"
        provider.move("sub/CON", "sub/console", overwrite=False)
    finally:
        provider.close()


def test_default_policy_allows_them(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "root", tmp_path / "state")
    try:
        for name in ("CON", "a:b", "Report.txt", "report.txt"):
            put(provider, name)
        assert len(provider.listdir("")) == 4
    finally:
        provider.close()
