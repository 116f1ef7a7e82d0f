"""Folder ETags and sizes of the local provider beyond the shared contracts: changes made on
disk behind the provider's back, several provider instances (processes) on one store, and
stores created before folder states existed."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from providers.local import LocalProvider


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "root", tmp_path / "state"


def put(provider: LocalProvider, path: str, data: bytes) -> None:
    handle = provider.begin_write(path)
    handle.write(data)
    handle.commit()


def chain_tags(provider: LocalProvider) -> list[str]:
    return [provider.stat(p).etag for p in ("", "h", "h/a", "h/a/b", "h/a/b/c")]


def build(provider: LocalProvider) -> None:
    for folder in ("h", "h/a", "h/a/b", "h/a/b/c", "h/z"):
        provider.mkdir(folder)
    put(provider, "h/a/b/c/f.txt", b"12345")


def bump_mtime(path: Path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_file_rewritten_on_disk_is_noticed_by_listing_its_folder(
    store: tuple[Path, Path],
) -> None:
    provider = LocalProvider(*store)
    build(provider)
    before = chain_tags(provider)
    sibling = provider.stat("h/z").etag
    target = store[0] / "h/a/b/c/f.txt"
    target.write_bytes(b"changed behind the server's back")
    bump_mtime(target)
    provider.listdir("h/a/b/c")
    after = chain_tags(provider)
    assert all(b != a for b, a in zip(before, after, strict=True))
    assert provider.stat("h/z").etag == sibling
    assert provider.stat("h").size == len(b"changed behind the server's back")
    assert chain_tags(provider) == after  # noticed once, then stable


def test_file_added_on_disk_is_noticed_from_the_listing_above(
    store: tuple[Path, Path],
) -> None:
    provider = LocalProvider(*store)
    build(provider)
    before = chain_tags(provider)
    (store[0] / "h/a/b/c/new.bin").write_bytes(b"abc")
    provider.listdir("h/a/b")  # the changed folder is a member here: recounted one level
    after = chain_tags(provider)
    assert all(b != a for b, a in zip(before, after, strict=True))
    assert [provider.stat(p).size for p in ("h/a/b/c", "h")] == [8, 8]


def test_file_deleted_on_disk_is_noticed(store: tuple[Path, Path]) -> None:
    provider = LocalProvider(*store)
    build(provider)
    before = chain_tags(provider)
    (store[0] / "h/a/b/c/f.txt").unlink()
    provider.stat("h/a/b/c")
    assert all(b != a for b, a in zip(before, chain_tags(provider), strict=True))
    assert provider.stat("").size == 0


def test_every_instance_sees_the_same_folder_etags(store: tuple[Path, Path]) -> None:
    first, second = LocalProvider(*store), LocalProvider(*store)
    build(first)
    assert chain_tags(first) == chain_tags(second)
    put(second, "h/a/b/c/g.txt", b"from the other process")
    assert chain_tags(first) == chain_tags(second)
    assert first.stat("h").size == 5 + len(b"from the other process")


def test_store_from_before_folder_states_is_measured_on_open(
    store: tuple[Path, Path],
) -> None:
    provider = LocalProvider(*store)
    build(provider)
    provider.close()
    with sqlite3.connect(store[1] / "metadata.sqlite") as conn:
        conn.execute("DROP TABLE local_folders")
    reopened = LocalProvider(*store)
    assert [reopened.stat(p).size for p in ("", "h/a/b/c", "h/z")] == [5, 5, 0]
    before = chain_tags(reopened)
    put(reopened, "h/a/b/c/f.txt", b"x")
    assert all(b != a for b, a in zip(before, chain_tags(reopened), strict=True))


def test_reading_folder_etags_and_sizes_never_walks_the_tree(
    store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = LocalProvider(*store)
    build(provider)
    put(provider, "h/a/b/c/g.txt", b"more")

    def no_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tree was walked")

    monkeypatch.setattr("providers.local.tree.FolderTree.materialize", no_walk)
    monkeypatch.setattr("providers.local.fsview.FsView.walk_files", no_walk)
    for folder in ("", "h", "h/a", "h/a/b"):
        provider.stat(folder)
        provider.listdir(folder)
    put(provider, "h/a/b/c/f.txt", b"changed")
    assert provider.usage("h").used == provider.stat("").size == len(b"changed") + 4
