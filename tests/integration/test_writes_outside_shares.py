"""A write outside every share (a wrong URL such as ``/files/alice/x``) is 405 with a body that
says where files go; reads there (the virtual root clients probe) still answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/files/alice/x.txt"),
        ("PUT", "/x.txt"),
        ("MKCOL", "/new/"),
        ("DELETE", "/remote.php"),
    ],
)
def test_a_write_outside_the_shares_says_where_files_go(
    tmp_path: Path, method: str, path: str
) -> None:
    with inprocess_app(tmp_path) as app, client_for(app, "alice") as c:
        answer = c.request(method, path, content=b"abc" if method == "PUT" else b"")
        assert answer.status_code == 405
        assert "files go below /remote.php/dav/files/alice/" in answer.text
        assert c.request("PROPFIND", "/", headers={"Depth": "1"}).status_code == 207
        assert not list(tmp_path.rglob("x.txt"))
