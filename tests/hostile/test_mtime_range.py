"""A modification time set by PROPPATCH (``lastmodified``, ``Win32LastModifiedTime``) is held
to the range ``X-OC-Mtime`` accepts: a time past what the state store can hold (in
nanoseconds, year 2262) was written to the file and then broke every listing of its folder
and every GET of it with a 500."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import client
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def _proppatch(name: str, value: str) -> bytes:
    ns = ' xmlns:Z="urn:schemas-microsoft-com:"' if name.startswith("Z:") else ""
    return (
        f'<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"{ns}><d:set><d:prop>'
        f"<{name}>{value}</{name}></d:prop></d:set></d:propertyupdate>"
    ).encode()


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("d:lastmodified", "253402300799"),  # 9999-12-31
        ("d:lastmodified", "-5"),
        ("Z:Win32LastModifiedTime", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ],
)
def test_an_out_of_range_modification_time_is_refused_and_breaks_nothing(
    hostile: DavServer, prop: str, value: str
) -> None:
    base = hostile.files_url("bob", f"mtime-{abs(hash(value)) % 10**8}/")
    with client("bob") as http:
        assert http.request("MKCOL", base).status_code == 201
        assert http.put(base + "f.txt", content=b"data").status_code == 201
        answer = http.request("PROPPATCH", base + "f.txt", content=_proppatch(prop, value))
        assert answer.status_code == 207, answer.text
        assert "HTTP/1.1 400" in answer.text and "out of range" in answer.text, answer.text
        listing = http.request("PROPFIND", base, headers={"Depth": "1"})
        assert listing.status_code == 207, listing.text
        assert http.get(base + "f.txt").content == b"data"
        assert http.request("DELETE", base).status_code == 204
