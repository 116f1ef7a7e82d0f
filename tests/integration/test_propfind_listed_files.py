"""Files met in a listing are answered from their entries (``ListedFile``), without a
resource each: the bytes must be exactly those the resource path writes, for any mix of the
plain live properties, odd names, folders, files changed behind the server's back, the
``/remote.php/webdav`` alias and Depth infinity."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from davserver.app import App
from davserver.dav import propfind
from davserver.dav.resources import FolderResource
from tests.support.inprocess import client_for, inprocess_app
from tests.support.spies import first_arguments

OC = "http://owncloud.org/ns"
FILES = "/remote.php/dav/files/alice/"
ALIAS = "/remote.php/webdav/"
NAMES = [
    "a.txt",
    "with space.bin",
    "amp&ersand.csv",
    "semi;colon=equals,comma",
    "ünïcødé-名前.dat",
    "quote'and(paren).log",
    "plus+hash#.txt",
    "empty",
]
PROPS = [
    "<D:getcontentlength/>",
    "<D:getetag/>",
    "<D:getlastmodified/>",
    "<D:resourcetype/>",
    "<oc:checksums/>",
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with inprocess_app(tmp_path) as app:
        yield app


@pytest.fixture
def alice(app: App, tmp_path: Path) -> Iterator[httpx.Client]:
    """Files put over HTTP (ETags from their hashes) and, with the names the in-process
    transport cannot send, written on disk and then listed once (ETags from ``lstat``)."""
    with client_for(app, "alice") as c:
        for folder in ("d/", "d/sub/", "d/sub/deeper/"):
            assert c.request("MKCOL", FILES + quote(folder)).status_code == 201
        for i, name in enumerate(NAMES):
            body = name.encode() * i
            if name.isascii():
                assert c.put(FILES + "d/" + quote(name), content=body).status_code == 201
                assert c.put(FILES + "d/sub/" + quote(name), content=body[:3]).status_code == 201
            else:
                folder = next(tmp_path.rglob("alice/d/sub")).parent
                (folder / name).write_bytes(body)
                (folder / "sub" / name).write_bytes(body[:3])
        for folder in ("d/", "d/sub/"):
            r = c.request(
                "PROPFIND", FILES + folder, content=body_for(PROPS), headers={"Depth": "1"}
            )
            assert r.status_code == 207
        yield c


def body_for(props: list[str]) -> bytes:
    inner = "".join(props)
    return (
        f'<D:propfind xmlns:D="DAV:" xmlns:oc="{OC}"><D:prop>{inner}</D:prop></D:propfind>'
    ).encode()


def both_ways(
    client: httpx.Client, url: str, body: bytes, depth: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[httpx.Response, httpx.Response]:
    """The answer with listed files, then the same request answered through resources."""
    fast = client.request("PROPFIND", url, content=body, headers={"Depth": depth})
    with monkeypatch.context() as m:
        m.setattr(propfind, "_LISTED", {})
        slow = client.request("PROPFIND", url, content=body, headers={"Depth": depth})
    return fast, slow


def test_listed_files_answer_byte_for_byte_as_resources(
    alice: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(13)
    for round_ in range(40):
        props = rng.sample(PROPS, rng.randint(1, len(PROPS)))
        url = (FILES if round_ % 2 else ALIAS) + "d/"
        fast, slow = both_ways(alice, url, body_for(props), "1", monkeypatch)
        assert fast.status_code == slow.status_code == 207, fast.text
        assert fast.content == slow.content, props


def test_a_file_changed_behind_the_servers_back_is_rehashed_in_both_ways(
    app: App, alice: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    changed = next(tmp_path.rglob("alice/d/a.txt"))
    changed.write_bytes(b"changed on disk")
    os.utime(changed, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    sha1 = hashlib.sha1(b"changed on disk").hexdigest().encode()
    first = alice.request("PROPFIND", FILES + "d/", content=body_for(PROPS), headers={"Depth": "1"})
    assert sha1 in first.content  # re-hashed (and the folder's size and ETag brought up to date)
    fast, slow = both_ways(alice, FILES + "d/", body_for(PROPS), "1", monkeypatch)
    assert fast.content == slow.content
    assert sha1 in fast.content


def test_depth_infinity_with_listed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = "limits:\n  propfind_infinity: true\n"
    with inprocess_app(tmp_path, config) as app, client_for(app, "alice") as c:
        assert c.request("MKCOL", FILES + "t/").status_code == 201
        assert c.request("MKCOL", FILES + "t/in/").status_code == 201
        for name in NAMES[:4]:
            assert c.put(FILES + "t/" + quote(name), content=b"x").status_code == 201
            assert c.put(FILES + "t/in/" + quote(name), content=b"yy").status_code == 201
        fast, slow = both_ways(c, FILES + "t/", body_for(PROPS), "infinity", monkeypatch)
        assert fast.status_code == 207, fast.text
        assert fast.content == slow.content
        assert fast.content.count(b"<D:response") == 1 + 1 + 4 + 4


def test_listed_files_make_no_resources(
    alice: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fast path is for: a listing of files makes a resource for the folder and the
    first member only (its href gives the others')."""
    made = first_arguments(monkeypatch, FolderResource, "_resource_for")
    r = alice.request("PROPFIND", FILES + "d/", content=body_for(PROPS), headers={"Depth": "1"})
    assert r.status_code == 207
    assert r.content.count(b"<D:response") == 1 + 1 + len(NAMES)
    assert len(made) <= 2  # the folder "sub" and the first file


@pytest.mark.parametrize(
    "props",
    [
        [],  # an empty prop element
        ["<D:getetag/>", "<D:getetag/>"],  # a name asked twice
        ["<D:getetag/>", "<D:displayname/>"],  # one name the listed files do not answer
        ["<D:getcontentlength/>", "<oc:unknown/>"],  # a dead property nobody set: 404
    ],
)
def test_unusual_property_lists_answer_as_resources_do(
    alice: httpx.Client, monkeypatch: pytest.MonkeyPatch, props: list[str]
) -> None:
    fast, slow = both_ways(alice, FILES + "d/", body_for(props), "1", monkeypatch)
    assert fast.status_code == slow.status_code == 207
    assert fast.content == slow.content
