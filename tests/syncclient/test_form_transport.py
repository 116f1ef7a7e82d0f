"""syncclient's form transport against a real davserver (Digest over plain HTTP)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.syncclient.conftest import ClientResult, remote_inventory, write_tree

pytestmark = pytest.mark.integration


def _verified(r: ClientResult) -> dict[str, dict[str, str]]:
    return {e["path"]: e for e in r.events() if e["event"] == "verified"}


def test_form_transport_syncs_a_tree_verified_by_the_servers_hashes(
    sync: object, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    files = {
        "top.csv": b"a,b\n" * 2000,
        "nested/deeper/data.bin": bytes(range(256)) * 400,
        "nested/empty.dat": b"",
        'name "quoted" & ümlaut.txt': b"unicode and quotes",
    }
    src = tmp_path / "src"
    write_tree(src, files)
    r = sync(src, target, "--transport", "form")  # type: ignore[operator]
    assert r.code == 0, r.stderr + r.stdout
    verified = _verified(r)
    assert set(verified) == set(files)
    assert {e["method"] for e in verified.values()} == {"put"}
    assert {e["verified_by"] for e in verified.values()} == {"commit-response"}
    inv = remote_inventory(alice_http, target)
    assert set(inv) == set(files)
    for rel, data in files.items():
        assert inv[rel]["sha256"] == hashlib.sha256(data).hexdigest(), rel
    again = sync(src, target, "--transport", "form")  # type: ignore[operator]
    assert again.code == 0, again.stderr + again.stdout
    assert again.summary()["nothing_transferred"] is True


def test_form_transport_large_file_goes_whole(
    sync: object, target: str, alice_http: httpx.Client, tmp_path: Path
) -> None:
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)
    src = tmp_path / "src"
    write_tree(src, {"big.bin": data})
    flags = ("--transport", "form", "--chunk-threshold", "1MiB", "--chunk-size", "512KiB")
    r = sync(src, target, *flags)  # type: ignore[operator]
    assert r.code == 0, r.stderr + r.stdout
    assert _verified(r)["big.bin"]["method"] == "put"
    assert r.summary()["chunks_sent"] == 0
    assert remote_inventory(alice_http, target)["big.bin"]["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def test_auto_stays_on_webdav_when_nothing_blocks_it(
    sync: object, target: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"a"})
    r = sync(src, target, "--transport", "auto")  # type: ignore[operator]
    assert r.code == 0, r.stderr + r.stdout
    notes = [e["message"] for e in r.events() if e["event"] == "note"]
    assert not any("form upload" in n for n in notes), notes
