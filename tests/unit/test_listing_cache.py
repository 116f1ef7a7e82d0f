"""Kept listings (``providers.local.listing_cache``): what is reused, what is read afresh.

The property that matters: a listing by a long-lived provider (which keeps listings) equals,
after any sequence of changes made through the provider, behind its back, or by another
provider on the same store, the listing of a provider that has never listed before."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.local.listing_cache import KeptFile, ListingCache
from providers.local.metadata import MetadataStore
from providers.local.provider import LocalProvider
from tests.support.spies import first_arguments


def put(provider: LocalProvider, path: str, data: bytes) -> None:
    handle = provider.begin_write(path)
    handle.write(data)
    handle.commit()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalProvider]:
    provider = LocalProvider(tmp_path / "root", tmp_path / "state")
    provider.mkdir("d")
    provider.mkdir("d/sub")
    for i in range(20):
        put(provider, f"d/f{i:02d}", f"file {i}".encode() * i)
    put(provider, "d/sub/inner", b"inner")
    yield provider
    provider.close()


def fresh_listing(tmp_path: Path, path: str) -> list[tuple[object, object]]:
    """What a provider that never listed before answers."""
    other = LocalProvider(tmp_path / "root", tmp_path / "state")
    try:
        return list(other.listdir_with_digests(path))
    finally:
        other.close()


def kept(name: str, n: int) -> dict[str, KeptFile]:
    return {f"{name}/{i}": object() for i in range(n)}  # type: ignore[misc]


def test_cache_keeps_by_version_and_drops_the_least_recent_folders() -> None:
    cache = ListingCache(max_files=10)
    cache.put("a", 1, kept("a", 4))
    cache.put("b", 1, kept("b", 4))
    assert cache.get("a", 2) is None  # another version: dropped
    assert cache.get("a", 1) is None
    cache.put("a", 2, kept("a", 4))
    assert cache.get("b", 1) is not None  # b is now the most recent
    cache.put("c", 1, kept("c", 4))  # 12 > 10: a goes
    assert cache.get("a", 2) is None
    assert cache.get("b", 1) is not None and cache.get("c", 1) is not None
    cache.put("huge", 1, kept("huge", 11))  # more than the bound: not kept, nothing dropped
    assert cache.get("huge", 1) is None and cache.get("b", 1) is not None


def test_second_listing_reads_no_file_rows(
    store: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.listdir_with_digests("d")
    asked = first_arguments(monkeypatch, MetadataStore, "get_many")
    assert store.listdir_with_digests("d") == first
    assert asked == ["d/sub"]  # the folder member only; the files came from the kept listing


def test_changes_behind_the_back_are_seen_even_with_the_same_size_and_mtime(
    store: LocalProvider, tmp_path: Path
) -> None:
    store.listdir_with_digests("d")
    target = tmp_path / "root" / "d" / "f05"
    before = target.stat()
    target.write_bytes(b"X" * before.st_size)  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime; ctime moves
    listed = dict((e.path, (e, d)) for e, d in store.listdir_with_digests("d"))
    entry, digests = listed["d/f05"]
    assert digests is None  # the row no longer describes the file: re-hashed when asked
    assert entry.etag.startswith("s-")
    assert store.listdir_with_digests("d") == fresh_listing(tmp_path, "d")


def test_any_sequence_of_changes_lists_as_a_fresh_provider_does(
    store: LocalProvider, tmp_path: Path
) -> None:
    """Random changes through the provider, behind its back and through a second provider
    on the same store; after each, the long-lived provider lists as a new one would."""
    rng = random.Random(7)
    other = LocalProvider(tmp_path / "root", tmp_path / "state")
    root = tmp_path / "root"
    try:
        for step in range(60):
            names = [e.name for e in store.listdir("d") if not e.is_dir]
            name = rng.choice(names) if names else "f00"
            action = rng.randrange(9)
            if action == 0:
                put(store, f"d/n{step}", os.urandom(rng.randrange(50)))
            elif action == 1:
                put(other, f"d/{name}", os.urandom(rng.randrange(50)))  # another process
            elif action == 2 and names:
                store.delete(f"d/{name}")
            elif action == 3 and names:
                store.move(f"d/{name}", f"d/m{step}", overwrite=False)
            elif action == 4 and names:
                store.set_mtime(f"d/{name}", 1_600_000_000_000_000_000 + step)
            elif action == 5 and names:
                (root / "d" / name).write_bytes(os.urandom(8))  # behind the back
            elif action == 6 and names:
                store.digests(f"d/{name}")  # re-hash (records digests)
            elif action == 7:
                put(store, f"d/sub/s{step}", b"below")  # changes the member folder
            else:
                (root / "d" / f"b{step}").write_bytes(b"new behind the back")
            mine = store.listdir_with_digests("d")
            assert mine == store.listdir_with_digests("d"), step
            assert mine == fresh_listing(tmp_path, "d"), (step, action)
    finally:
        other.close()
