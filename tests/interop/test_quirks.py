"""Each entry of davserver.quirks.QUIRKS, proven on the wire (clients that hit them are in the
other interop tests: cadaver's ``propnames`` for propfind-propname)."""

from __future__ import annotations

import pytest
from lxml import etree

from davserver.quirks import QUIRKS, propname_as_wsgidav_name
from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop]

PROPNAME = b'<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><propname/></propfind>'


def test_every_quirk_says_why() -> None:
    names = [q.name for q in QUIRKS]
    assert len(names) == len(set(names))
    for quirk in QUIRKS:
        assert quirk.methods and quirk.affects and len(quirk.reason) > 40


def test_propname_rewrite_leaves_other_bodies_alone() -> None:
    assert propname_as_wsgidav_name(b"<propfind xmlns='DAV:'><allprop/></propfind>") is None
    assert propname_as_wsgidav_name(b"not xml propname") is None
    prop = b"<propfind xmlns='DAV:'><prop><propname/></prop></propfind>"
    assert propname_as_wsgidav_name(prop) is None  # only <propfind><propname/>
    rewritten = propname_as_wsgidav_name(PROPNAME)
    assert rewritten is not None and b"name" in rewritten and b"propname" not in rewritten


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_propfind_propname(endpoint: Endpoint) -> None:
    url = endpoint.files_url(f"quirk-propname-{endpoint.name}.txt")
    with endpoint.client() as http:
        assert http.put(url, content=b"x").status_code in (201, 204)
        patch = (
            '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-test:">'
            "<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set></D:propertyupdate>"
        )
        assert http.request("PROPPATCH", url, content=patch).status_code == 207
        r = http.request(
            "PROPFIND",
            url,
            headers={"Depth": "0", "Content-Type": "application/xml"},
            content=PROPNAME,
        )
    assert r.status_code == 207, r.text
    root = etree.fromstring(r.content)
    names = {el.tag for el in root.iterfind(".//{DAV:}prop/*")}
    assert {
        "{DAV:}getcontentlength",
        "{DAV:}getetag",
        "{DAV:}getlastmodified",
        "{http://owncloud.org/ns}checksums",
        "{urn:x-test:}colour",
    } <= names, names
    assert all(len(el) == 0 and not el.text for el in root.iterfind(".//{DAV:}prop/*"))
