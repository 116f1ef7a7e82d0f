"""Large PUT bodies through the fast read path and the pipelined hashing lanes: with
Content-Length and chunked, sent in odd pieces, every stored digest equals hashlib's; a
declared digest that does not match a large body is refused and the old version stays."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

pytestmark = pytest.mark.integration

OC = "http://owncloud.org/ns"
SIZE = 9 * 1024 * 1024 + 12345  # many lane blocks, an odd tail


def pieces(data: bytes) -> Iterator[bytes]:
    """``data`` in pieces of odd sizes (some below, some above a read block)."""
    sizes = [1, 777, 65535, 65537, 300_001, 1_048_579]
    offset, i = 0, 0
    while offset < len(data):
        n = sizes[i % len(sizes)]
        yield data[offset : offset + n]
        offset += n
        i += 1


def stored_checksums(client: httpx.Client, url: str) -> dict[str, str]:
    r = client.request("PROPFIND", url, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    text = etree.fromstring(r.content).findtext(f".//{{{OC}}}checksum") or ""
    return {k.lower(): v for k, v in (tok.split(":", 1) for tok in text.split())}


def declared(data: bytes) -> dict[str, str]:
    return {
        "OC-Checksum": "SHA256:" + hashlib.sha256(data).hexdigest(),
        "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
    }


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_large_body_in_odd_pieces_hashes_like_hashlib(
    alice: httpx.Client, folder: str, framing: str
) -> None:
    data = os.urandom(SIZE)
    headers = declared(data)
    if framing == "content-length":
        headers["Content-Length"] = str(SIZE)
    r = alice.put(folder + "big.bin", content=pieces(data), headers=headers)
    assert r.status_code == 201, r.text
    assert stored_checksums(alice, folder + "big.bin") == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert (
        hashlib.sha256(alice.get(folder + "big.bin").content).digest()
        == hashlib.sha256(data).digest()
    )


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_wrong_digest_of_a_large_body_is_refused_and_nothing_replaced(
    alice: httpx.Client, folder: str, algorithm: str
) -> None:
    old = os.urandom(SIZE)
    assert alice.put(folder + "f.bin", content=old).status_code == 201
    new = bytearray(os.urandom(SIZE))
    intended = bytes(new)
    new[5 * 1024 * 1024 + 1] ^= 1  # one bit flipped deep inside, past many blocks
    headers = declared(intended)
    if algorithm == "md5":
        del headers["OC-Checksum"]
    else:
        del headers["Content-MD5"]
    r = alice.put(folder + "f.bin", content=pieces(bytes(new)), headers=headers)
    assert r.status_code == 400, r.text
    assert "mismatch" in r.text.lower()
    assert alice.get(folder + "f.bin").content == old
    assert stored_checksums(alice, folder + "f.bin")["sha256"] == hashlib.sha256(old).hexdigest()
