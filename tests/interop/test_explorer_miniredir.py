"""Windows Explorer's mapped drive (Microsoft-WebDAV-MiniRedir), replayed with httpx.

Explorer cannot run here; these tests send its documented request sequences with its headers
and check the response details it depends on (see interop/miniredir.py), over plain HTTP with
Digest and over HTTPS with Basic: the two set-ups Explorer's default ``BasicAuthLevel`` (1)
allows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from interop.miniredir import (
    LIST_BODY,
    MS_NS,
    USER_AGENT,
    MiniRedir,
    date_problems,
    dav_classes,
    lock_token,
    miniredir,
    propstat_statuses,
    responses,
    win32_proppatch_body,
    xml_problems,
)
from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop]

SHARE = "/remote.php/dav/files/alice"
D = "{DAV:}"


def _explorer(endpoint: Endpoint) -> MiniRedir:
    return MiniRedir(endpoint.origin, endpoint.auth(), endpoint.verify, endpoint.user)


def _folder(endpoint: Endpoint, name: str) -> str:
    """A fresh folder for one test in the user's home (its share path)."""
    with endpoint.client() as client:
        client.request("DELETE", endpoint.files_url(name + "/"))
        assert client.request("MKCOL", endpoint.files_url(name + "/")).status_code == 201
    return f"{SHARE}/{name}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_challenge_matches_explorer_defaults(endpoint: Endpoint) -> None:
    """HTTP offers Digest (Explorer sends no Basic over HTTP by default) and refuses Basic;
    HTTPS offers Basic."""
    with httpx.Client(verify=endpoint.verify, timeout=30.0) as anon:
        r = anon.request("PROPFIND", endpoint.origin + SHARE, headers={"Depth": "0"})
        assert r.status_code == 401
        challenge = r.headers.get("WWW-Authenticate", "")
        assert challenge.lower().startswith(endpoint.scheme), challenge
        if endpoint.scheme == "digest":
            basic = httpx.BasicAuth(endpoint.user, endpoint.password)
            r = anon.request(
                "PROPFIND", endpoint.origin + SHARE, headers={"Depth": "0"}, auth=basic
            )
            assert r.status_code == 401, "Basic must not be accepted over plain HTTP"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_map_drive_walks_every_segment(endpoint: Endpoint) -> None:
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify, endpoint.user) as ex:
        steps = ex.map_drive(SHARE)
    for step in steps:
        assert step.response.request.headers["User-Agent"] == USER_AGENT
        assert step.response.request.headers["translate"] == "f"
        assert not 300 <= step.status < 400, f"{step.name} redirected: {step.status}"
        if step.method == "OPTIONS":
            assert step.status == 200, step.name
            assert {"1", "2"} <= dav_classes(step.response), (step.name, step.response.headers)
            assert step.response.headers.get("MS-Author-Via") == "DAV", step.name
        else:
            assert step.status == 207, (step.name, step.response.text)
            body = step.response.content
            assert body.lstrip().startswith(b"<?xml"), step.name
            assert b'<D:multistatus xmlns:D="DAV:"' in body, step.name
            assert xml_problems(body) == [], (step.name, xml_problems(body))
            assert date_problems(body) == [], (step.name, date_problems(body))
    share_options = [s for s in steps if s.method == "OPTIONS" and s.path == SHARE]
    allow = {m.strip() for m in share_options[0].response.headers.get("Allow", "").split(",")}
    assert {"LOCK", "UNLOCK", "PROPPATCH", "MOVE", "DELETE"} <= allow, allow


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_collection_without_trailing_slash_is_not_redirected(endpoint: Endpoint) -> None:
    folder = _folder(endpoint, "ex-noslash")
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify) as ex:
        r = ex.propfind(folder, depth="1", body=LIST_BODY)
        assert r.status_code == 207, r.text
        assert xml_problems(r.content) == []
        r = ex.propfind(folder)
        assert r.status_code == 207
        r = ex.get(folder)
        assert not 300 <= r.status_code < 400, r.headers


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_missing_paths_are_plain_404(endpoint: Endpoint) -> None:
    folder = _folder(endpoint, "ex-missing")
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify) as ex:
        for path in (
            f"{folder}/desktop.ini",
            f"{folder}/Thumbs.db",
            f"{folder}/no-such-folder/desktop.ini",
            f"{SHARE}/ex-does-not-exist",
        ):
            r = ex.propfind(path)
            assert r.status_code == 404, (path, r.status_code, r.text[:300])
            r = ex.head(path)
            assert r.status_code == 404, (path, r.status_code)


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_upload_sequence(endpoint: Endpoint) -> None:
    folder = _folder(endpoint, "ex-upload")
    path = f"{folder}/Report 2025 ü.txt"
    data = b"instrument output\r\n" * 500
    modified = datetime(2025, 10, 9, 17, 54, 43, tzinfo=UTC)
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify, endpoint.user) as ex:
        steps = ex.upload(path, data, modified=modified)
        by_name = [(s.method, s.status) for s in steps]
        assert by_name == [
            ("PROPFIND", 404),
            ("PUT", 201),
            ("LOCK", 200),
            ("PROPPATCH", 207),
            ("HEAD", 200),
            ("PUT", 204),
            ("PROPPATCH", 207),
            ("UNLOCK", 204),
        ], [(s.name, s.status, s.response.text[:200]) for s in steps]
        lock = steps[2].response
        assert "Depth" not in lock.request.headers
        assert lock_token(lock), lock.headers
        assert xml_problems(lock.content) == []
        for patch in (steps[3], steps[6]):
            body = patch.response.content
            assert xml_problems(body) == [], xml_problems(body)
            statuses = propstat_statuses(body)
            assert statuses, body
            assert all(k.startswith(f"{{{MS_NS}}}") for k in statuses), statuses
            assert set(statuses.values()) == {"HTTP/1.1 200 OK"}, statuses
            # a real namespace declaration, as Win10 needs (not <urn:...:Win32...>)
            assert b'="urn:schemas-microsoft-com:"' in body
        assert steps[4].response.headers["Content-Length"] == "0"

        r = ex.get(path)
        assert r.status_code == 200 and r.content == data
        assert parsedate_to_datetime(r.headers["Last-Modified"]) == modified

        listing = ex.propfind(folder + "/", depth="1", body=LIST_BODY)
        assert listing.status_code == 207
        assert xml_problems(listing.content) == []
        assert date_problems(listing.content) == []
        entries = responses(listing.content)
        [(href, props)] = [(h, p) for h, p in entries.items() if h.endswith(".txt")]
        assert href.endswith("/Report%202025%20%C3%BC.txt"), href
        assert props[f"{D}getcontentlength"] == str(len(data))
        assert props[f"{D}getlastmodified"] == "Thu, 09 Oct 2025 17:54:43 GMT"
        assert props[f"{{{MS_NS}}}Win32FileAttributes"] == "00000020"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_rename_and_delete(endpoint: Endpoint) -> None:
    folder = _folder(endpoint, "ex-rename")
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify, endpoint.user) as ex:
        ex.upload(f"{folder}/old name.txt", b"x" * 10, modified=datetime.now(UTC))
        r = ex.move(f"{folder}/old name.txt", f"{folder}/new name.txt")
        assert r.status_code == 201, r.text
        assert ex.propfind(f"{folder}/old name.txt").status_code == 404
        assert ex.propfind(f"{folder}/new name.txt").status_code == 207
        # a rename onto an existing name with Overwrite: F is refused
        ex.put(f"{folder}/other.txt", b"y")
        r = ex.move(f"{folder}/new name.txt", f"{folder}/other.txt")
        assert r.status_code == 412, r.status_code
        # folders are renamed without a trailing slash, as Explorer sends them
        assert ex.request("MKCOL", "MKCOL", f"{folder}/sub").status_code == 201
        ex.put(f"{folder}/sub/inner.txt", b"z")
        r = ex.move(f"{folder}/sub", f"{folder}/sub renamed")
        assert r.status_code == 201, r.text
        assert ex.get(f"{folder}/sub renamed/inner.txt").content == b"z"
        assert ex.delete(f"{folder}/new name.txt").status_code == 204
        assert ex.delete(f"{folder}/sub renamed").status_code == 204
        assert ex.propfind(f"{folder}/sub renamed").status_code == 404


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_locked_file_refuses_other_writers(endpoint: Endpoint) -> None:
    """What Explorer's LOCK protects against: another client's PUT without the token."""
    folder = _folder(endpoint, "ex-lock")
    path = f"{folder}/locked.txt"
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify, endpoint.user) as ex:
        ex.put(path, b"")
        token = lock_token(ex.lock(path))
        assert token
        other = ex.client.request(
            "PUT", ex.url(path), content=b"intruder", headers={"Content-Type": "text/plain"}
        )
        assert other.status_code == 423, other.status_code
        assert ex.put(path, b"mine", token).status_code == 204
        assert ex.unlock(path, token).status_code == 204
        assert ex.get(path).content == b"mine"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_proppatch_win32_on_folder(endpoint: Endpoint) -> None:
    """Explorer also sets Win32 times on folders it creates."""
    folder = _folder(endpoint, "ex-folder-times")
    with miniredir(endpoint.origin, endpoint.auth(), endpoint.verify) as ex:
        when = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
        body = win32_proppatch_body(
            created=when, accessed=when, modified=when, attributes="00000010"
        )
        r = ex.proppatch(folder, body)
        assert r.status_code == 207, r.text
        assert set(propstat_statuses(r.content).values()) == {"HTTP/1.1 200 OK"}, r.text
        assert xml_problems(r.content) == []
