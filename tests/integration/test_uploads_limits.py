"""Upload limits (sessions per user, size, free space) and concurrent assembly (423)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cheroot import wsgi

from davserver.app import build_app
from davserver.auth.users import UserStore
from davserver.settings import load_settings
from tests.conftest import PASSWORDS
from tests.support.server import DavServer
from tests.support.uploads import client, start_server, uploads_url

pytestmark = pytest.mark.integration

LIMITED = """\
reserve_bytes: 1000000000000000000
uploads:
  max_sessions_per_user: 2
  max_upload_bytes: 1000000
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("limited"), LIMITED, users=("alice",))
    yield server
    server.stop()


def test_sessions_per_user_limited(limited: DavServer) -> None:
    with client("alice") as c:
        urls = [uploads_url(limited, "alice", f"lim-{i}/") for i in range(3)]
        assert c.request("MKCOL", urls[0]).status_code == 201
        assert c.request("MKCOL", urls[1]).status_code == 201
        r = c.request("MKCOL", urls[2])
        assert r.status_code == 507 and "open upload sessions" in r.text
        assert c.delete(urls[0]).status_code == 204
        assert c.request("MKCOL", urls[2]).status_code == 201
        for url in urls[1:]:
            assert c.delete(url).status_code == 204


def test_507_and_413_before_any_byte_is_stored(limited: DavServer) -> None:
    with client("alice") as c:
        big = uploads_url(limited, "alice", "too-big/")
        r = c.request("MKCOL", big, headers={"OC-Total-Length": "2000000"})
        assert r.status_code == 413
        r = c.request("MKCOL", big, headers={"OC-Total-Length": "1000"})
        assert r.status_code == 507 and "free space" in r.text
        session = uploads_url(limited, "alice", "no-space/")
        assert c.request("MKCOL", session).status_code == 201
        chunk = session + "000000000000000-000000000000999"
        r = c.put(chunk, content=b"x" * 1000, headers={"OC-Total-Length": "1000"})
        assert r.status_code == 507
        r = c.put(chunk, content=b"x" * 1000)
        assert r.status_code == 507
        listing = c.request("PROPFIND", session, headers={"Depth": "1"})
        assert listing.text.count("<D:response>") == 1  # the session only, no chunk
        assert c.delete(session).status_code == 204
        headers = {"Tus-Resumable": "1.0.0", "Upload-Metadata": "filename YQ=="}
        r = c.post(limited.files_url("alice"), headers={**headers, "Upload-Length": "2000000"})
        assert r.status_code == 413
        r = c.post(limited.files_url("alice"), headers={**headers, "Upload-Length": "10"})
        assert r.status_code == 507
        options = c.request("OPTIONS", limited.files_url("alice"))
        assert options.headers["tus-max-size"] == "1000000"


# --------------------------------------------------------------------------- 423


class PausingStorage:
    """Wraps a provider: the first write of an assembly blocks until ``release`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writing = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def begin_write(self, path: str) -> Any:
        handle = self.inner.begin_write(path)
        outer = self

        class Handle:
            def __getattr__(self, name: str) -> Any:
                return getattr(handle, name)

            def write(self, data: Any) -> None:
                outer.writing.set()
                assert outer.release.wait(60)
                handle.write(data)

        return Handle()


@pytest.fixture()
def inprocess(tmp_path: Path) -> Iterator[tuple[str, PausingStorage]]:
    settings = load_settings(
        None, {"root": tmp_path / "root", "auth": {"basic_over_http": True}}, environ={}
    )
    store = UserStore(
        settings.db_path, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    store.add("alice", PASSWORDS["alice"], digest_realm=settings.auth.realm)
    app = build_app(settings)
    app.context.ensure_home("alice")
    assert app.context.uploads is not None
    pausing = PausingStorage(app.context.uploads.storage)
    app.context.uploads.storage = pausing
    server = wsgi.Server(("127.0.0.1", 0), app.wsgi, numthreads=8)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr[:2]
    yield f"http://{host}:{port}/remote.php/dav/", pausing
    pausing.release.set()
    server.stop()
    thread.join(timeout=10)
    app.context.uploads.stop_maintenance()


def test_concurrent_move_while_assembling_is_423(inprocess: tuple[str, PausingStorage]) -> None:
    base, pausing = inprocess
    auth = "Basic " + base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()
    headers = {"Authorization": auth}
    session = base + "uploads/alice/busy/"
    target = base + "files/alice/busy.bin"
    move = {**headers, "Destination": target}
    with httpx.Client(headers=headers, timeout=60) as c:
        assert c.request("MKCOL", session).status_code == 201
        assert (
            c.put(session + "000000000000000-000000000000004", content=b"01234").status_code == 201
        )
        results: list[int] = []

        def first_move() -> None:
            with httpx.Client(timeout=60) as c1:
                results.append(c1.request("MOVE", session + ".file", headers=move).status_code)

        mover = threading.Thread(target=first_move)
        mover.start()
        assert pausing.writing.wait(30)
        assert c.request("MOVE", session + ".file", headers=move).status_code == 423
        late = c.put(session + "000000000000005-000000000000009", content=b"56789")
        assert late.status_code == 423
        assert c.delete(session).status_code == 423
        assert c.get(target).status_code == 404  # nothing visible while assembling
        pausing.release.set()
        mover.join(timeout=60)
        assert results == [201]
        assert c.request("MOVE", session + ".file", headers=move).status_code == 204
        assert c.get(target).content == b"01234"
