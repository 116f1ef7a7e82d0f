"""``If-Match`` on a PUT to a name where no file is: 412, nothing stored, whatever the form
of the header (``*``, one tag, a list, a weak tag); on an existing file ``*`` matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.integration

URL = "/remote.php/dav/files/alice/"


@pytest.mark.parametrize("if_match", ["*", '"abc"', '"abc", "def"', 'W/"abc"'])
def test_if_match_on_a_new_name_is_412_and_stores_nothing(tmp_path: Path, if_match: str) -> None:
    with inprocess_app(tmp_path) as app, client_for(app, "alice") as c:
        put = c.put(URL + "new.txt", content=b"data", headers={"If-Match": if_match})
        assert put.status_code == 412, put.text
        assert c.get(URL + "new.txt").status_code == 404


def test_if_match_any_replaces_an_existing_file(tmp_path: Path) -> None:
    with inprocess_app(tmp_path) as app, client_for(app, "alice") as c:
        assert c.put(URL + "old.txt", content=b"one").status_code == 201
        put = c.put(URL + "old.txt", content=b"two", headers={"If-Match": "*"})
        assert put.status_code == 204, put.text
        assert c.get(URL + "old.txt").content == b"two"
