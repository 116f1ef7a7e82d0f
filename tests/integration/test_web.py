"""The web surfaces against a real server: /status and /metrics (operators only, 401/403
otherwise, no other site's data), /healthz, the listing page, GET / in a browser, the access
log, and no ERROR lines in normal operation."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import digest_client
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

HTML = {"Accept": "text/html,application/xhtml+xml"}


def wait_for_log(srv: DavServer, needle: str, timeout_s: float = 10.0) -> str:
    """The first output line containing ``needle`` (the log is written after the response)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in list(srv.output):
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}:\n" + "".join(srv.output[-40:]))


def test_status_needs_login_and_an_operator(server: DavServer) -> None:
    assert httpx.get(server.url + "status").status_code == 401
    for user in ("alice", "bob"):
        with digest_client(user) as c:
            for path in ("status", "status/alice", "status/bob", "metrics"):
                r = c.get(server.url + path)
                assert r.status_code == 403, (user, path)
                assert "alice" not in r.text and "bob" not in r.text


def test_status_shows_a_row_per_site_and_a_site_page(
    server: DavServer, alice: httpx.Client
) -> None:
    name = f"st-{uuid.uuid4().hex[:8]}.bin"
    assert alice.put(server.files_url("alice", name), content=b"x" * 10).status_code == 201
    with digest_client("oper") as oper:
        r = oper.get(server.url + "status")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        users = re.findall(r'<tr class="site" data-user="([^"]+)">', r.text)
        assert {"alice", "bob", "oper"} <= set(users)
        assert '<meta http-equiv="refresh"' in r.text and "<script" not in r.text
        site = oper.get(server.url + "status/alice")
        assert site.status_code == 200 and "site alice" in site.text
        assert oper.get(server.url + "status/nobody-here").status_code == 404
        assert oper.post(server.url + "status").status_code == 405


def test_metrics_parse_and_count_requests(server: DavServer, alice: httpx.Client) -> None:
    data = b"m" * 4096
    assert (
        alice.put(server.files_url("alice", f"m-{uuid.uuid4().hex[:8]}"), content=data).status_code
        == 201
    )
    with digest_client("oper") as oper:
        r = oper.get(server.url + "metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    puts = [
        s.value
        for s in families["davsync_http_requests"].samples
        if s.labels.get("method") == "PUT" and s.labels.get("status") == "201"
    ]
    assert puts and puts[0] >= 1
    received = [
        s.value for s in families["davsync_http_request_bytes"].samples if s.name.endswith("_total")
    ]
    assert received[0] >= len(data)
    assert "davsync_upload_sessions_open" in families
    assert "davsync_collection_available" in families


def test_healthz_needs_no_login(server: DavServer) -> None:
    r = httpx.get(server.url + "healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"files": "ok", "state": "ok", "database": "ok"}}
    assert httpx.head(server.url + "healthz").status_code == 200
    assert httpx.post(server.url + "healthz").status_code == 405


def test_listing_is_davsync_with_sizes_times_hashes_and_escaped_names(
    server: DavServer, alice: httpx.Client
) -> None:
    folder = f"list-{uuid.uuid4().hex[:8]}"
    assert alice.request("MKCOL", server.files_url("alice", folder)).status_code == 201
    assert (
        alice.request("MKCOL", server.files_url("alice", f"{folder}/sub folder")).status_code == 201
    )
    data = b"L" * 3000
    hostile = "a<b>&\"c'.txt"
    url = server.files_url("alice", folder + "/" + httpx.URL("/" + hostile).raw_path.decode()[1:])
    assert alice.put(url, content=data).status_code == 201
    r = alice.get(server.files_url("alice", folder + "/"), headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<title>davsync:" in page
    assert "WsgiDAV" not in page and "generator" not in page.lower() and "<footer" not in page
    assert "a&lt;b&gt;&amp;&#34;c&#39;.txt" in page and hostile not in page
    assert hashlib.sha256(data).hexdigest() in page
    assert "2.9 KiB" in page and 'title="3000 bytes"' in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", page)
    assert f'href="/remote.php/dav/files/alice/{folder}/sub%20folder/"' in page
    sub = alice.get(server.url + f"remote.php/dav/files/alice/{folder}/sub%20folder/")
    assert sub.status_code == 200 and "Empty folder." in sub.text


def test_browser_root_redirects_home_and_dav_clients_see_the_root(
    server: DavServer, alice: httpx.Client
) -> None:
    r = alice.get(server.url, headers=HTML)
    assert r.status_code == 302 and r.headers["location"] == "/dav/files/alice/"
    home = alice.get(server.url + "dav/files/alice/", headers=HTML)
    assert home.status_code == 200 and "logged in as alice" in home.text
    assert alice.request("PROPFIND", server.url, headers={"Depth": "1"}).status_code == 207
    assert alice.options(server.url).status_code == 200
    assert httpx.get(server.url, headers=HTML).status_code == 401


def test_access_log_line_and_no_error_lines_for_inventory(
    server: DavServer, alice: httpx.Client
) -> None:
    marker = uuid.uuid4().hex[:10]
    folder = server.files_url("alice", f"inv-{marker}/")
    assert alice.request("MKCOL", folder).status_code == 201
    assert alice.put(folder + "f.txt", content=b"abc").status_code == 201
    before = len(server.output)
    for encoding in ("identity", "gzip"):
        r = alice.get(folder + f"?inventory&m={marker}", headers={"Accept-Encoding": encoding})
        assert r.status_code == 200 and '"end":true' in r.text
    line = wait_for_log(server, f"?inventory&m={marker}")
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d 127\.0\.0\.1 \"alice\" "
        rf"\"GET /remote\.php/dav/files/alice/inv-{marker}/\?inventory&m={marker} HTTP/1\.1\" "
        r"200 \d+ 0 \d+\.\d{3}$",
        line.strip(),
    ), line
    assert not [x for x in server.output[before:] if " ERROR" in x or "Missing required" in x]


def test_failed_logins_are_logged_with_the_client_address(server: DavServer) -> None:
    name = f"nobody-{uuid.uuid4().hex[:8]}"
    with httpx.Client(auth=httpx.DigestAuth(name, "wrong")) as c:
        assert c.get(server.url + "dav/files/").status_code == 401
    line = wait_for_log(server, f"login failed for user '{name}'")
    assert "from 127.0.0.1" in line


@pytest.fixture()
def web_server(tmp_path: Path, request: pytest.FixtureRequest) -> DavServer:
    config, extra = request.param
    srv = start_server(tmp_path, config, extra=extra)
    request.addfinalizer(srv.stop)
    return srv


GRANTS = 'grants:\n  - {user: oper, homes: ["*"]}\n'


@pytest.mark.parametrize(
    "web_server",
    [(GRANTS + "metrics:\n  anonymous_networks: [127.0.0.0/8]\n", [])],
    indirect=True,
)
def test_metrics_for_an_anonymous_network_without_login(web_server: DavServer) -> None:
    r = httpx.get(web_server.url + "metrics")
    assert r.status_code == 200
    assert any(f.name == "davsync_http_requests" for f in text_string_to_metric_families(r.text))
    assert httpx.get(web_server.url + "status").status_code == 401  # only metrics are open


@pytest.mark.parametrize(
    "web_server", [(GRANTS + "metrics: {enabled: false}\n", [])], indirect=True
)
def test_metrics_can_be_switched_off(web_server: DavServer) -> None:
    with httpx.Client(auth=httpx.DigestAuth("oper", USERS["oper"])) as c:
        assert c.get(web_server.url + "metrics").status_code == 404
        assert c.get(web_server.url + "status").status_code == 200


@pytest.mark.parametrize("web_server", [(GRANTS, ["--log-format", "json"])], indirect=True)
def test_json_access_log(web_server: DavServer) -> None:
    marker = uuid.uuid4().hex[:10]
    assert httpx.get(web_server.url + f"healthz?m={marker}").status_code == 200
    line = wait_for_log(web_server, marker)
    entry = json.loads(line)
    assert entry["target"] == f"/healthz?m={marker}" and entry["status"] == 200
    assert entry["client"] == "127.0.0.1" and entry["method"] == "GET"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", entry["time"])
    # every other log line is JSON too
    with httpx.Client(auth=httpx.DigestAuth("alice", "wrong")) as c:
        c.get(web_server.url + "dav/files/alice/")
    failed = json.loads(wait_for_log(web_server, "login failed"))
    assert failed["level"] == "WARNING" and "127.0.0.1" in failed["message"]
    banner_end = next(i for i, x in enumerate(web_server.output) if x.startswith("URL: "))
    logged = [x for x in web_server.output[banner_end + 1 :] if x.strip()]
    assert logged and all(isinstance(json.loads(x), dict) for x in logged)


def test_listing_of_the_uploads_area_shows_chunks_as_files(
    server: DavServer, alice: httpx.Client
) -> None:
    session = f"{server.url}remote.php/dav/uploads/alice/web-{uuid.uuid4().hex[:8]}/"
    assert alice.request("MKCOL", session).status_code == 201
    assert alice.put(session + "00001", content=b"c" * 2048).status_code == 201
    page = alice.get(session, headers=HTML)
    assert page.status_code == 200
    assert '<tr class="file">' in page.text and "2.0 KiB" in page.text and ">00001<" in page.text
    root = alice.get(server.url + "dav/", headers=HTML)
    assert root.status_code == 200 and 'href="/dav/files/"' in root.text


def test_a_relative_root_as_make_serve_uses_it(tmp_path: Path) -> None:
    """``make serve`` runs ``davserver serve --root data``: every surface works with a root
    relative to the working folder (the health probe once built a file URI from it)."""
    srv = DavServer(Path("data"), cwd=tmp_path).start()
    try:
        assert httpx.get(srv.url + "healthz", timeout=30).status_code == 200
        auth = httpx.DigestAuth("admin", "admin-secret")
        put = httpx.put(srv.url + "dav/files/admin/a.txt", content=b"a", auth=auth, timeout=30)
        assert put.status_code == 201
        assert (tmp_path / "data" / "files" / "admin" / "a.txt").read_bytes() == b"a"
    finally:
        srv.stop()
