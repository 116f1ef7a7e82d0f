"""The streamed PROPFIND answers byte for byte what WsgiDAV's own PROPFIND answers (the stock
handler is swapped back in on the same provider for comparison), and refuses what it refuses
before any byte of a 207 is sent."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator

import httpx
import pytest
from wsgidav.dav_provider import DAVProvider

from davserver.app import App, build_app
from davserver.dav.propfind import BLOCK_BYTES, BUFFERED_MEMBERS
from davserver.dav.provider import DavsyncDAVProvider
from davserver.settings import load_settings
from tests.support.configured import USERS, prepare_root

ALLPROP = b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
PROPNAME = b'<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
SOME = (
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:x="urn:x">'
    b"<D:prop><D:getetag/><D:getcontentlength/><D:resourcetype/><oc:checksums/>"
    b"<oc:fileid/><x:color/><x:unknown/><D:lockdiscovery/></D:prop></D:propfind>"
)
LISTING = (  # what rclone and the desktop clients ask for
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop>'
    b"<D:getlastmodified/><D:getcontentlength/><D:resourcetype/><D:getetag/>"
    b"<oc:checksums/><oc:permissions/><oc:size/><oc:id/></D:prop></D:propfind>"
)
PROPPATCH = (
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x"><D:set><D:prop>'
    b"<x:color>blue</x:color></D:prop></D:set></D:propertyupdate>"
)
MANY = BUFFERED_MEMBERS + 100
LOCKINFO = (
    b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    b"<D:locktype><D:write/></D:locktype></D:lockinfo>"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    tmp = tmp_path_factory.mktemp("propfind")
    root = tmp / "root"
    many = root / "files" / "alice" / "many"
    many.mkdir(parents=True)
    for i in range(MANY):
        (many / f"f{i:04d}.txt").write_bytes(b"x" * i)
    root = prepare_root(tmp, "auth:\n  basic_over_http: true\n", root=root)
    return build_app(load_settings(tmp / "config.yaml", {"root": root}))


@pytest.fixture(scope="module")
def alice(app: App) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=app.wsgi, remote_addr="127.0.0.1")
    with httpx.Client(
        transport=transport, base_url="http://dav.test", auth=("alice", USERS["alice"])
    ) as c:
        base = "/remote.php/dav/files/alice/pf/"
        assert c.request("MKCOL", base).status_code == 201
        assert c.request("MKCOL", base + "sub/").status_code == 201
        for name in ("a.txt", "b b.txt", "c&d.txt"):
            assert c.put(base + name, content=name.encode() * 10).status_code == 201
        assert c.request("PROPPATCH", base + "a.txt", content=PROPPATCH).status_code == 207
        assert c.request("LOCK", base + "b b.txt", content=LOCKINFO).status_code == 200
        yield c


def _stock(app: App) -> list[DavsyncDAVProvider]:
    """Every share provider, with WsgiDAV's own request handler put back."""
    providers: list[DavsyncDAVProvider] = []
    for provider in app.dav.provider_map.values():
        if isinstance(provider, DavsyncDAVProvider):
            provider.custom_request_handler = types.MethodType(  # type: ignore[method-assign]
                DAVProvider.custom_request_handler, provider
            )
            providers.append(provider)
    assert providers
    return providers


def _restore(providers: list[DavsyncDAVProvider]) -> None:
    for provider in providers:
        del provider.custom_request_handler


@pytest.mark.parametrize(
    "body",
    [b"", ALLPROP, PROPNAME, SOME, LISTING],
    ids=["empty", "all", "names", "some", "listing"],
)
@pytest.mark.parametrize("depth", ["0", "1"])
@pytest.mark.parametrize("path", ["pf/", "pf/a.txt", "pf/b b.txt", "", "many/"])
def test_answer_equals_wsgidav_answer(
    app: App, alice: httpx.Client, body: bytes, depth: str, path: str
) -> None:
    url = "/remote.php/dav/files/alice/" + path
    ours = alice.request("PROPFIND", url, content=body, headers={"Depth": depth})
    providers = _stock(app)
    try:
        stock = alice.request("PROPFIND", url, content=body, headers={"Depth": depth})
    finally:
        _restore(providers)
    assert ours.status_code == stock.status_code == 207
    assert _without_timeouts(ours.content) == _without_timeouts(stock.content)
    assert "content-length" in stock.headers and "connection" not in stock.headers
    streamed = path == "many/" and depth == "1"
    assert ("content-length" not in ours.headers) == streamed  # large listings stream
    assert (ours.headers.get("connection") == "close") == streamed


def _without_timeouts(xml: bytes) -> bytes:
    """Lock timeouts count down between the two requests."""
    return re.sub(rb"Second-[0-9]+", b"Second-N", xml)


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("pf/missing.txt", b"", {"Depth": "1"}, 404),
        ("pf/", b"<D:nonsense xmlns:D='DAV:'/>", {"Depth": "1"}, 400),
        ("pf/", ALLPROP, {"Depth": "1", "If-Match": '"no-such-etag"'}, 412),
    ],
)
def test_refusals_come_before_the_multistatus(
    alice: httpx.Client, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = alice.request(
        "PROPFIND", "/remote.php/dav/files/alice/" + path, content=body, headers=headers
    )
    assert r.status_code == status


def test_large_listing_is_complete(alice: httpx.Client) -> None:
    r = alice.request("PROPFIND", "/remote.php/dav/files/alice/many/", headers={"Depth": "1"})
    assert r.status_code == 207
    assert r.content.count(b"</D:response>") == MANY + 1
    assert r.content.endswith(b"</D:multistatus>")
    assert len(r.content) > 2 * BLOCK_BYTES  # several blocks
