"""MOVE or COPY of a resource onto a folder that contains it (its parent, or the home
itself) is refused before anything is touched: WsgiDAV deletes an existing destination
before it moves, and that destination holds the source, so an unchecked request wiped the
whole folder (or the whole home, home folder included) and then answered an error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def _tree(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def _fill(http: httpx.Client, base: str) -> None:
    for folder in ("anc/", "anc/sub/"):
        assert http.request("MKCOL", base + folder).status_code == 201
    for name in ("anc/sub/f.txt", "anc/keep.txt"):
        assert http.put(base + name, content=b"data").status_code == 201


@pytest.mark.parametrize("method", ["MOVE", "COPY"])
@pytest.mark.parametrize("onto", ["anc", "anc/", "", "/"])
def test_move_or_copy_onto_an_ancestor_is_refused_and_deletes_nothing(
    hostile: DavServer, method: str, onto: str
) -> None:
    home = hostile.root / "files" / "bob"
    base = hostile.files_url("bob")
    with client("bob") as http:
        http.request("DELETE", base + "anc/")
        _fill(http, base)
        before = _tree(home)
        destination = base.rstrip("/") + ("/" + onto if onto not in ("", "/") else onto)
        answer = http.request(method, base + "anc/sub", headers={"Destination": destination})
        assert home.is_dir()
        assert _tree(home) == before
        assert answer.status_code == 403, answer.text
        assert "contains" in answer.text
        http.request("DELETE", base + "anc/")
