"""Per-test folders on the session server."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.server import DavServer


@pytest.fixture()
def folder(server: DavServer, alice: httpx.Client) -> str:
    """A fresh collection in alice's home; returns its URL (ending with ``/``)."""
    url = server.files_url("alice", f"t-{uuid.uuid4().hex[:10]}/")
    assert alice.request("MKCOL", url).status_code == 201
    return url
